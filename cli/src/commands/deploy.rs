//! `rekey deploy`: synthesizes the stacks from the config (or reads them, with the config they came from, from a
//! `rekey synth` assembly with `--app`), publishes the Lambda asset, then creates or updates every stack and the
//! member-role StackSet through `rekey-deploy`. Also the setup `diff` and `destroy` share: the target flags,
//! loading the stacks, and connecting to the deployment and management accounts.

use crate::exit::{Failure, VerbResult, AWS, BUILD, FAILED, INVALID_CONFIG, OK};
use crate::output::{emit, Format};
use rekey_config::Config;
use rekey_deploy::deploy::resolve_bucket;
use rekey_deploy::sdk::{self, Session};
use rekey_deploy::{
    Approver, AssetUpload, Clients, DeployError, Options, Progress, ProgressMode, RequireApproval, StackTemplate, Step,
};
use rekey_sdk::resolve_region;
use rekey_synth::assembly;
use rekey_synth::asset::{self, PackagedAsset};
use rekey_synth::build::{self, BuildOptions};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Which stacks, with which config and credentials (shared by `deploy`, `diff` and `destroy`).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Configuration file; without it (and without `--app`): `REKEY_CONFIG_FILE`, else `./rekey.yaml` when it
    /// exists, else the built-in default.
    #[arg(long, value_name = "FILE", group = "source")]
    pub config: Option<PathBuf>,
    /// A cloud assembly written by `rekey synth`: deploy exactly its templates, Lambda asset and recorded config,
    /// without synthesizing again (each file is checked against its SHA-256).
    #[arg(short, long, value_name = "DIR", group = "source")]
    pub app: Option<PathBuf>,
    /// Only these stacks (names, or `main`, `member-role`, `inventory-role`, `vpc-endpoints`); default: all.
    #[arg(value_name = "STACK")]
    pub stacks: Vec<String>,
    /// AWS profile of the deployment account (default: the standard credential chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Region (default: the AWS SDK configuration, i.e. `AWS_REGION` or the profile, else `deployment.region`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Role to assume for the management (or delegated-admin) account, when the credentials are not already in it.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Use this prebuilt zip (with `bootstrap` at its root) instead of building the Lambda binary.
    #[arg(long, value_name = "PATH", conflicts_with = "app")]
    pub lambda_zip: Option<PathBuf>,
    /// Cargo profile of the Lambda build when no `--lambda-zip` is given.
    #[arg(long, value_name = "PROFILE", env = build::PROFILE_ENV, conflicts_with = "app")]
    pub lambda_profile: Option<String>,
}

/// `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    /// A live spinner with the latest event (needs a terminal).
    Bar,
    /// One line per event: `<time> <stack> <logical id> <type> <status> <reason>`.
    Events,
}

/// `--require-approval`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ApprovalArg {
    /// Never ask.
    Never,
    /// Ask when IAM permissions or resource policies widen.
    #[default]
    Broadening,
    /// Ask before every change.
    AnyChange,
}

/// Deploy the stacks and the member-role StackSet.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help("deploy", "\
Order: VPC endpoints, inventory role (management account), member-role StackSet (service-managed, \
auto-deployment to the target OUs or the organization root, one region) plus a plain member-role stack in the \
management account when it is in scope, then the main stack. Each stack goes through a change set; \
\"no changes\" is not an error.

With --app, the stacks, the Lambda asset and the config come from an assembly written by `rekey synth` \
(which records the validated config in it as rekey.config.json); nothing is synthesized or built again.", "\
Examples:
  rekey deploy --config rekey.yaml
  rekey synth --config rekey.yaml --out cdk.out && rekey deploy --app cdk.out
  rekey deploy --config rekey.yaml --lambda-zip bootstrap.zip --require-approval never --progress events
  rekey deploy --app cdk.out --no-execute   # change sets to review, nothing executed
  rekey deploy --config rekey.yaml --role-arn arn:aws:iam::111111111111:role/OrganizationAccountAccessRole main"))]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// How to show progress (default: `bar` on a terminal, `events` otherwise).
    #[arg(long, value_enum)]
    pub progress: Option<ProgressArg>,
    /// When to ask before executing a change.
    #[arg(long, value_enum, default_value_t)]
    pub require_approval: ApprovalArg,
    /// Create each stack's change set and print it, execute nothing (StackSets, which have no change sets, are
    /// left alone); review, then run without it.
    #[arg(long)]
    pub no_execute: bool,
    /// Write the stack outputs here as JSON (`{"<stack>": {"<key>": "<value>"}}`).
    #[arg(long, value_name = "FILE")]
    pub outputs_file: Option<PathBuf>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// The config, the placed stacks and the packaged asset.
pub struct Prepared {
    /// The validated config.
    pub config: Config,
    /// The stacks in deploy order, with where they go.
    pub steps: Vec<Step>,
    /// The Lambda asset the main template refers to.
    pub asset: PackagedAsset,
}

/// Loads the config, packages (or builds) the asset and synthesizes the stacks; with `--app`, reads all three from
/// the assembly instead. Without `with_asset` the templates refer to a placeholder asset (enough for `destroy`,
/// which needs only names and placements).
pub fn prepare(target: &Target, with_asset: bool) -> Result<Prepared, Failure> {
    if let Some(dir) = &target.app {
        return prepare_app(dir, target, with_asset);
    }
    let config = super::load_config(target.config.as_deref())?;
    let architecture = config.lambda.architecture;
    let packaged = match &target.lambda_zip {
        _ if !with_asset => PackagedAsset::from_zip_bytes(Vec::new()),
        Some(path) => {
            asset::package_prebuilt(path, architecture, config.templates()).map_err(|e| Failure::new(BUILD, e))?
        }
        None => {
            let options = BuildOptions::new(&config, target.lambda_profile.clone());
            let binary = build::build_bootstrap(&options).map_err(|e| Failure::new(BUILD, e))?;
            asset::package_binary(&binary, architecture, config.templates()).map_err(|e| Failure::new(BUILD, e))?
        }
    };
    let stacks = rekey_stacks::synthesize(&config, &packaged.asset).map_err(|e| Failure::new(BUILD, e))?;
    let templates: Vec<StackTemplate> = stacks
        .iter()
        .map(|s| {
            Ok(StackTemplate {
                id: s.id,
                name: s.name.clone(),
                description: Some(s.description.clone()),
                template: serde_json::from_str(&s.template.to_json())?,
            })
        })
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| Failure::new(BUILD, e))?;
    let steps = rekey_deploy::place_stacks(&config, &templates, &target.stacks)
        .map_err(|e| Failure::new(crate::exit::USAGE, anyhow::anyhow!(e)))?;
    Ok(Prepared { config, steps, asset: packaged })
}

/// `--app DIR`: the stacks, the asset and the config exactly as `rekey synth` wrote them.
fn prepare_app(dir: &Path, target: &Target, with_asset: bool) -> Result<Prepared, Failure> {
    let read = assembly::read(dir).map_err(|e| {
        let code = if matches!(e, assembly::ReadError::Config { .. }) { INVALID_CONFIG } else { BUILD };
        Failure::new(code, e)
    })?;
    let templates: Vec<StackTemplate> = read
        .stacks
        .into_iter()
        .map(|s| StackTemplate {
            id: s.id,
            description: s.template.get("Description").and_then(serde_json::Value::as_str).map(str::to_string),
            name: s.name,
            template: s.template,
        })
        .collect();
    let asset = match read.lambda_asset {
        Some(asset) => asset,
        None if !with_asset => PackagedAsset::from_zip_bytes(Vec::new()),
        None => {
            return Err(Failure::new(
                BUILD,
                anyhow::anyhow!("`{}` holds no Lambda asset; run `rekey synth --out {0}` again", dir.display()),
            ))
        }
    };
    let steps = rekey_deploy::place_stacks(&read.config, &templates, &target.stacks)
        .map_err(|e| Failure::new(crate::exit::USAGE, anyhow::anyhow!(e)))?;
    Ok(Prepared { config: read.config, steps, asset })
}

/// Sessions in the deployment and management accounts.
pub struct Connected {
    /// The caller's account.
    pub deployment: Session,
    /// The management (or delegated-admin) account: `--role-arn`, or the caller.
    pub management: Session,
    /// Deployment account id.
    pub deployment_id: String,
    /// Management account id.
    pub management_id: String,
    /// The region.
    pub region: String,
}

impl Connected {
    /// The deploy environment over these sessions.
    pub fn clients(&self) -> Clients<'_, sdk::SdkCfn, sdk::SdkS3, sdk::SdkOrg> {
        Clients {
            deployment: &self.deployment.cfn,
            management: &self.management.cfn,
            assets: &self.deployment.s3,
            org: &self.management.org,
            deployment_account_id: self.deployment_id.clone(),
            management_account_id: self.management_id.clone(),
        }
    }
}

/// Connects to the deployment account and, with `--role-arn` (or when it is the same account), the management one.
pub async fn connect(config: &Config, target: &Target) -> Result<Connected, DeployError> {
    let configured = config.deployment.region.to_string();
    let (region, source) = resolve_region(target.region.as_deref(), target.profile.as_deref(), &configured).await;
    tracing::info!(region = %region, from = %source, "region");
    if region != configured {
        // The stacks go to `region`, the member-role StackSet instances to `deployment.region`: say so, since a
        // shell's AWS_REGION is easy to forget.
        eprintln!(
            "note: region {region} (from {source}); member-role instances stay in {configured} (deployment.region)"
        );
    }
    let base = rekey_sdk::load(target.profile.as_deref(), Some(&region), rekey_sdk::Calls::Transfers).await;
    let deployment = Session::new(&base);
    let deployment_id = deployment.account_id().await?;
    let configured =
        config.organization.as_ref().and_then(|o| o.management_account_id.as_ref()).map(ToString::to_string);
    let (management, management_id) = match &target.role_arn {
        Some(role) => {
            let session = Session::new(&rekey_sdk::assume_role(&base, role, "rekey-deploy").await);
            let id = session.account_id().await?;
            if let Some(want) = configured.as_ref().filter(|w| **w != id) {
                return Err(DeployError::Setup(format!(
                    "`--role-arn {role}` is in account `{id}`, but `organization.management_account_id` is `{want}`"
                )));
            }
            (session, id)
        }
        None => {
            if let Some(want) = configured.as_ref().filter(|w| **w != deployment_id) {
                return Err(DeployError::Setup(format!(
                    "the management account `{want}` is not the deployment account `{deployment_id}`; pass \
                     `--role-arn arn:aws:iam::{want}:role/<a role that may deploy stacks and StackSets>`"
                )));
            }
            (deployment.clone(), deployment_id.clone())
        }
    };
    Ok(Connected { deployment, management, deployment_id, management_id, region })
}

/// Maps a deploy error to its exit code: refused approval is 1, everything else an AWS-side failure (5).
pub fn failure(error: DeployError) -> Failure {
    let code = match &error {
        DeployError::NotApproved { .. } | DeployError::NotConfirmed { .. } => FAILED,
        DeployError::Template { .. } | DeployError::Read { .. } => BUILD,
        _ => AWS,
    };
    Failure::new(code, error)
}

/// Asks on the terminal; refuses when stdin is not one.
#[derive(Debug, Default)]
pub struct TerminalApprover;

impl Approver for TerminalApprover {
    fn confirm(&mut self, stack: &str, question: &str) -> Result<bool, DeployError> {
        if !std::io::stdin().is_terminal() {
            return Err(DeployError::NotApproved { stack: stack.to_string(), interactive: false });
        }
        eprint!("{question} (y/n) ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
    }
}

/// The progress mode: `--progress`, or a bar on a terminal.
pub fn progress_mode(arg: Option<ProgressArg>) -> ProgressMode {
    match arg {
        Some(ProgressArg::Bar) => ProgressMode::Bar,
        Some(ProgressArg::Events) => ProgressMode::Events,
        None if std::io::stderr().is_terminal() => ProgressMode::Bar,
        None => ProgressMode::Events,
    }
}

/// A tokio runtime for one verb.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Failure::new(BUILD, e))
}

/// What `rekey deploy` reports.
#[derive(Debug, Serialize)]
pub struct Deployed {
    /// Deployment account.
    pub deployment_account: String,
    /// Management account.
    pub management_account: String,
    /// What happened.
    #[serde(flatten)]
    pub report: rekey_deploy::DeployReport,
}

impl std::fmt::Display for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((url, uploaded)) = &self.report.asset {
            writeln!(f, "asset {url} {}", if *uploaded { "uploaded" } else { "already published" })?;
        }
        for s in &self.report.stacks {
            let what = match s.outcome {
                rekey_deploy::deploy::Outcome::Created => "created",
                rekey_deploy::deploy::Outcome::Updated => "updated",
                rekey_deploy::deploy::Outcome::Unchanged => "no changes",
                rekey_deploy::deploy::Outcome::Prepared => "change set prepared, not executed",
                rekey_deploy::deploy::Outcome::NotExecuted => {
                    "not changed (--no-execute; StackSets have no change sets)"
                }
            };
            writeln!(f, "  {}: {what}", s.title)?;
            if let Some(change_set) = &s.change_set {
                writeln!(f, "    change set {change_set}")?;
            }
            for change in &s.changes {
                writeln!(f, "    {change}")?;
            }
            if !s.ous_added.is_empty() {
                writeln!(f, "    instances created for newly targeted OUs: {}", s.ous_added.join(", "))?;
            }
            if !s.ous_removed.is_empty() {
                writeln!(f, "    instances deleted for OUs no longer targeted: {}", s.ous_removed.join(", "))?;
            }
            for (k, v) in &s.outputs {
                writeln!(f, "    {k} = {v}")?;
            }
        }
        write!(f, "deployed to account {} (management account {})", self.deployment_account, self.management_account)
    }
}

/// Runs `rekey deploy`.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let prepared = prepare(&args.target, true)?;
    let rt = runtime()?;
    let approval = match args.require_approval {
        ApprovalArg::Never => RequireApproval::Never,
        ApprovalArg::Broadening => RequireApproval::Broadening,
        ApprovalArg::AnyChange => RequireApproval::AnyChange,
    };
    let options = Options { approval, execute: !args.no_execute, ..Options::default() };
    let mut stderr = std::io::stderr();
    // Progress, events and prompts go to stderr whatever the format (as with the CDK CLI): stdout holds only the
    // result, so `--output json` pipes into a parser and text output into a file.
    let progress_out: &mut dyn Write = &mut stderr;
    let mut progress = Progress::new(progress_mode(args.progress), progress_out);
    let result = rt.block_on(async {
        let connected = connect(&prepared.config, &args.target).await?;
        let bucket =
            resolve_bucket(&asset::asset_bucket_name(&prepared.config), &connected.deployment_id, &connected.region);
        let upload = AssetUpload { bucket, key: prepared.asset.asset.object_key(), body: prepared.asset.zip.clone() };
        let needs_asset = prepared.steps.iter().any(|s| s.stack.template.to_string().contains(&upload.key));
        let report = rekey_deploy::deploy(
            &connected.clients(),
            &prepared.config,
            &prepared.steps,
            needs_asset.then_some(&upload),
            &options,
            &mut TerminalApprover,
            &mut progress,
        )
        .await?;
        Ok::<_, DeployError>(Deployed {
            deployment_account: connected.deployment_id.clone(),
            management_account: connected.management_id.clone(),
            report,
        })
    });
    drop(progress);
    let deployed = result.map_err(failure)?;
    if let Some(path) = &args.outputs_file {
        write_json(path, &deployed.report.outputs_json())?;
    }
    emit(out, args.output, &deployed)?;
    Ok(OK)
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).expect("json serializes") + "\n";
    std::fs::write(path, text)
        .map_err(|e| Failure::new(BUILD, anyhow::anyhow!("cannot write outputs file `{}`: {e}", path.display())))
}
