//! `rekey ls`: the stacks a config synthesizes to, and where each goes.
//! Needs no build: the templates are synthesized with a placeholder asset.

use crate::exit::{Failure, VerbResult, BUILD, INVALID_CONFIG, OK};
use crate::output::{emit, Format};
use rekey_config::Config;
use rekey_stacks::{DeployTarget, SynthesizedStack};
use rekey_synth::asset::LambdaAsset;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// List the stacks and where each is deployed.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help(
    "ls",
    "",
    "Example:\n  rekey ls\n  rekey ls --config rekey.yaml --output json\n  rekey ls --app cdk.out"
))]
pub struct Args {
    /// Configuration file; without it: `REKEY_CONFIG_FILE`, else `./rekey.yaml` when it exists, else the built-in
    /// default.
    #[arg(long, value_name = "FILE", conflicts_with = "app")]
    pub config: Option<PathBuf>,
    /// A cloud assembly written by `rekey synth`: list its stacks, placed by the config recorded in it.
    #[arg(short, long, value_name = "DIR")]
    pub app: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// One stack, as listed.
#[derive(Debug, Serialize)]
pub struct Listed {
    /// Stack name.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// `deployment-account`, `management-account` or `member-accounts-stackset`.
    pub target: &'static str,
    /// Where it goes, in words.
    pub destination: String,
    /// Template parameters without a default (supplied at deploy time).
    pub required_parameters: Vec<String>,
    /// The config's scope, `organization` or `account` (the same on every stack; here so the JSON stays a list).
    pub scope: rekey_config::Scope,
}

/// The whole listing, and the scope in words (last line of the text form).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Listing(pub Vec<Listed>, #[serde(skip)] pub String);

impl std::fmt::Display for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.0.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for (i, stack) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{:width$}  {}", stack.name, stack.destination)?;
        }
        write!(f, "\n{}", self.1)
    }
}

/// A stand-in asset for listing and for checking the stacks before a build:
/// only the hash differs from the real one, and nothing here reads it.
pub fn placeholder_asset() -> LambdaAsset {
    LambdaAsset { sha256: "0".repeat(64) }
}

/// Names of the stacks `config` synthesizes to, in deployment order.
pub fn stack_names(config: &Config) -> Vec<String> {
    rekey_stacks::synthesize(config, &placeholder_asset())
        .map(|stacks| stacks.into_iter().map(|s| s.name).collect())
        .unwrap_or_default()
}

/// Short machine name of a target.
pub fn target_name(target: DeployTarget) -> &'static str {
    match target {
        DeployTarget::DeploymentAccount => "deployment-account",
        DeployTarget::ManagementAccount => "management-account",
        DeployTarget::MemberAccountsStackSet => "member-accounts-stackset",
    }
}

/// Where a stack goes, in words, with the configured accounts, OUs and region.
pub fn destination(config: &Config, target: DeployTarget) -> String {
    let region = &config.deployment.region;
    let deployment = config.deployment.account_id.as_ref().map(|a| a.to_string());
    let account = |id: Option<String>| id.unwrap_or_else(|| "the deploying credentials' account".to_string());
    match target {
        DeployTarget::DeploymentAccount => {
            format!("stack in the deployment account ({}), {region}", account(deployment))
        }
        DeployTarget::ManagementAccount => {
            format!("stack in the management account ({}), {region}", account(management_account(config)))
        }
        DeployTarget::MemberAccountsStackSet => {
            let org = config.organization.as_ref();
            let targets = match org.map(|o| o.target_ou_ids.as_slice()).unwrap_or_default() {
                [] => "every account of the organization".to_string(),
                ous => {
                    format!("the accounts under {}", ous.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(", "))
                }
            };
            let mut text = format!("service-managed StackSet (auto-deployment) to {targets}, {region}");
            if org.is_some_and(|o| o.include_management_account) {
                text.push_str(&format!(
                    "; plus a stack in the management account ({})",
                    account(management_account(config))
                ));
            }
            text
        }
    }
}

/// The management (or delegated-administrator) account, when known.
pub fn management_account(config: &Config) -> Option<String> {
    config
        .organization
        .as_ref()
        .and_then(|o| o.management_account_id.as_ref())
        .or(config.deployment.account_id.as_ref())
        .map(|a| a.to_string())
}

/// Template parameters that have no default.
pub fn required_parameters(stack: &SynthesizedStack) -> Vec<String> {
    stack.template.parameters.iter().filter(|(_, p)| p.default.is_none()).map(|(name, _)| name.clone()).collect()
}

/// Lists the stacks of the config (see `load_config`), or of the assembly `--app` names.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let (config, only) = match &args.app {
        Some(dir) => {
            let read = rekey_synth::assembly::read(dir).map_err(|e| {
                let code =
                    if matches!(e, rekey_synth::assembly::ReadError::Config { .. }) { INVALID_CONFIG } else { BUILD };
                Failure::new(code, e)
            })?;
            let names: Vec<String> = read.stacks.into_iter().map(|s| s.name).collect();
            (read.config, Some(names))
        }
        None => (super::load_config(args.config.as_deref())?, None),
    };
    let mut stacks = rekey_stacks::synthesize(&config, &placeholder_asset()).map_err(|e| Failure::new(BUILD, e))?;
    // The assembly's own stacks: the placements come from its recorded config, synthesized again (without the
    // asset, which placement does not depend on).
    if let Some(names) = &only {
        stacks.retain(|s| names.contains(&s.name));
    }
    let listing = Listing(
        stacks
            .iter()
            .map(|s| Listed {
                name: s.name.clone(),
                description: s.description.clone(),
                target: target_name(s.target),
                destination: destination(&config, s.target),
                required_parameters: required_parameters(s),
                scope: config.scope(),
            })
            .collect(),
        super::scope_text(&config),
    );
    emit(out, args.output, &listing)?;
    Ok(OK)
}
