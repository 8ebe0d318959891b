//! `rekey synth`: config -> Lambda asset (built or prebuilt) -> the stacks ->
//! a cloud assembly in `cdk.out/`. The config is checked first and the
//! stacks are synthesized once with a placeholder asset before the (slow)
//! build, so a bad config fails in milliseconds and writes nothing.

use super::ls::{destination, management_account, placeholder_asset, required_parameters};
use crate::exit::{Failure, VerbResult, BUILD, OK};
use crate::output::{emit, Format};
use rekey_config::Config;
use rekey_stacks::{DeployTarget, SynthesizedStack};
use rekey_synth::assembly::{self, Assembly, AssemblyStack, Environment, Publishing};
use rekey_synth::asset::{self, PackagedAsset};
use rekey_synth::asset_cache::{self, Provenance};
use rekey_synth::build::{self, BuildOptions};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Synthesize the stacks and the Lambda asset into a cloud assembly.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help("synth", "\
The Lambda binary is built with `cargo zigbuild` (installed into .tools/zig on first use) \
unless --lambda-zip is given. Nothing is written when the config is invalid; \
a failed build or write leaves the previous assembly as it was.", "\
Examples:
  rekey synth
  rekey synth --config rekey.yaml --out cdk.out
  rekey synth --config rekey.yaml --lambda-zip target/lambda/bootstrap.zip --output json"))]
pub struct Args {
    /// Configuration file; without it: `REKEY_CONFIG_FILE`, else `./rekey.yaml` when it exists, else the built-in
    /// default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the cloud assembly (replaced as a whole).
    #[arg(long, value_name = "DIR", default_value = "cdk.out")]
    pub out: PathBuf,
    /// Use this prebuilt zip (with `bootstrap` at its root) instead of building.
    #[arg(long, value_name = "PATH")]
    pub lambda_zip: Option<PathBuf>,
    /// Cargo profile of the Lambda build (`lambda`, the optimised default;
    /// `lambda-test` builds faster, unoptimised).
    #[arg(long, value_name = "PROFILE", env = build::PROFILE_ENV)]
    pub lambda_profile: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// One stack in the report.
#[derive(Debug, Serialize)]
pub struct StackReport {
    /// Stack name.
    pub name: String,
    /// `aws://ACCOUNT/REGION` as in the manifest.
    pub environment: String,
    /// Where it goes, in words.
    pub destination: String,
    /// The JSON template, relative to the assembly.
    pub template: String,
    /// Parameters to pass at deploy time.
    pub required_parameters: Vec<String>,
}

/// The asset in the report.
#[derive(Debug, Serialize)]
pub struct AssetReport {
    /// SHA-256 of the zip.
    pub sha256: String,
    /// The staged file, relative to the assembly.
    pub file: String,
    /// Size in bytes.
    pub bytes: usize,
    /// `built (PROFILE)` or the prebuilt zip's path.
    pub source: String,
}

/// What `synth` wrote.
#[derive(Debug, Serialize)]
pub struct Synthesized {
    /// The assembly directory.
    pub out: PathBuf,
    /// The stacks, in deployment order.
    pub stacks: Vec<StackReport>,
    /// The Lambda asset.
    pub asset: AssetReport,
    /// `organization` or `account`.
    pub scope: rekey_config::Scope,
    /// The scope in words.
    #[serde(skip)]
    pub scope_text: String,
}

impl std::fmt::Display for Synthesized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let out = self.out.display();
        writeln!(f, "synthesized {} stack(s) into {out}/", self.stacks.len())?;
        let width = self.stacks.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for stack in &self.stacks {
            writeln!(f, "  {:width$}  {}", stack.name, stack.destination)?;
            for parameter in &stack.required_parameters {
                writeln!(f, "  {:width$}  needs parameter {parameter} at deploy time", "")?;
            }
        }
        writeln!(
            f,
            "asset {} ({:.1} MB, {})",
            self.asset.file,
            self.asset.bytes as f64 / 1_000_000.0,
            self.asset.source
        )?;
        writeln!(f, "{}", self.scope_text)?;
        // A build without the `aws` feature has no `deploy`: name the one that does.
        let deploy = if cfg!(feature = "aws") { "rekey" } else { "cargo run -p rekey --" };
        write!(f, "next: {deploy} deploy --app {out}   (or `cdk deploy --app {out}` in a bootstrapped account)")
    }
}

/// Runs the whole synthesis.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let config = super::load_config(args.config.as_deref())?;
    // Fail on stack-level problems before spending minutes on a build.
    rekey_stacks::synthesize(&config, &placeholder_asset()).map_err(|e| Failure::new(BUILD, e))?;

    let architecture = config.lambda.architecture;
    let (packaged, source) = match &args.lambda_zip {
        Some(path) => (
            asset::package_prebuilt(path, architecture, config.templates()).map_err(|e| Failure::new(BUILD, e))?,
            path.display().to_string(),
        ),
        None => {
            let options = BuildOptions::new(&config, args.lambda_profile.clone());
            // Warm path: nothing that produced the asset changed, so cargo is not even started.
            let (packaged, provenance) = asset_cache::build_or_reuse_bootstrap(&options, config.templates())
                .map_err(|e| Failure::new(BUILD, e))?;
            let how = match provenance {
                Provenance::Reused => "reused, sources unchanged",
                Provenance::Built => "built",
            };
            (packaged, format!("{how} for {} with profile `{}`", architecture.lambda_name(), options.profile))
        }
    };

    let stacks = rekey_stacks::synthesize(&config, &packaged.asset).map_err(|e| Failure::new(BUILD, e))?;
    // The zip is moved into the assembly, not copied: a warm synth's memory is mostly this zip.
    let (sha256, file, zip_bytes) =
        (packaged.asset.sha256.clone(), packaged.asset.staged_file_name(), packaged.zip.len());
    let assembly = to_assembly(&config, &stacks, packaged);
    assembly::write(&args.out, &assembly).map_err(|e| Failure::new(BUILD, e))?;

    let report = Synthesized {
        stacks: stacks
            .iter()
            .zip(&assembly.stacks)
            .map(|(s, a)| StackReport {
                name: s.name.clone(),
                environment: a.environment.uri(),
                destination: destination(&config, s.target),
                template: format!("{}.template.json", s.name),
                required_parameters: required_parameters(s),
            })
            .collect(),
        asset: AssetReport { sha256, file, bytes: zip_bytes, source },
        out: args.out,
        scope: config.scope(),
        scope_text: super::scope_text(&config),
    };
    emit(out, args.output, &report)?;
    Ok(OK)
}

/// The assembly of `stacks`: environments from the config, the main stack
/// after the VPC endpoints (its functions need them at run time), the asset
/// published to the configured bucket or the CDK bootstrap bucket.
pub fn to_assembly(config: &Config, stacks: &[SynthesizedStack], asset: PackagedAsset) -> Assembly {
    let region = config.deployment.region.to_string();
    let deployment = config.deployment.account_id.as_ref().map(|a| a.to_string());
    let vpc_stack = stacks.iter().find(|s| s.id == rekey_config::StackId::VpcEndpoints).map(|s| s.name.clone());
    let asset_ref = format!("{}.zip", asset.asset.sha256);
    let stacks = stacks
        .iter()
        .map(|stack| {
            let account = match stack.target {
                DeployTarget::DeploymentAccount => deployment.clone(),
                // A StackSet is created from the management account; as a
                // plain stack (what `cdk deploy` does with it) it lands there too.
                DeployTarget::ManagementAccount | DeployTarget::MemberAccountsStackSet => management_account(config),
            };
            let template_json = stack.template.to_json();
            let dependencies = match (&vpc_stack, stack.id) {
                (Some(vpc), rekey_config::StackId::Main) => vec![vpc.clone()],
                _ => Vec::new(),
            };
            AssemblyStack {
                name: stack.name.clone(),
                environment: Environment { account, region: region.clone() },
                uses_lambda_asset: template_json.contains(&asset_ref),
                template_yaml: stack.template.to_yaml(),
                template_json,
                dependencies,
            }
        })
        .collect();
    Assembly {
        stacks,
        lambda_asset: Some(asset),
        publishing: match &config.deployment.asset_bucket {
            Some(bucket) => Publishing::Bucket(bucket.clone()),
            None => Publishing::Bootstrap { qualifier: config.deployment.bootstrap_qualifier.clone() },
        },
        tags: config.deployment.tags.clone(),
        // What `rekey deploy --app` reads back: the one config the templates came from.
        config_json: Some(assembly::config_json(config)),
    }
}
