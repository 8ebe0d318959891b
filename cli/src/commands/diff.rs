//! `rekey diff`: the synthesized templates (or a `rekey synth` assembly's, `--app`) against the deployed ones
//! (stacks through `GetTemplate`, the member role through `DescribeStackSet`), resource by resource and property
//! by property, IAM changes called out.

use super::deploy::{connect, failure, prepare, runtime, Target};
use crate::exit::{VerbResult, FAILED, OK};
use crate::output::{emit, Format};
use rekey_deploy::diff::TemplateDiff;
use serde::Serialize;
use std::io::Write;

/// Compare the synthesized stacks with what is deployed.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit codes: 0 (with --fail: no difference), 1 with --fail when anything differs, 3 invalid config, \
4 build failed or the --app assembly cannot be read, 5 an AWS call failed.

Examples:
  rekey diff --config rekey.yaml --lambda-zip bootstrap.zip
  rekey diff --config rekey.yaml --fail   # in CI
  rekey diff --app cdk.out --fail         # the assembly `rekey synth` wrote, as it is")]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Exit with code 1 when anything differs.
    #[arg(long)]
    pub fail: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// One stack's difference, for JSON output.
#[derive(Debug, Serialize)]
pub struct StackDiff {
    /// `rekey-main (deployment account)`.
    pub stack: String,
    /// Whether anything differs.
    pub different: bool,
    /// Not deployed yet.
    pub new_stack: bool,
    /// The readable diff.
    pub text: String,
    /// IAM statements added (widening or not).
    pub iam_added: Vec<String>,
    /// IAM statements removed.
    pub iam_removed: Vec<String>,
}

/// Every stack's difference.
#[derive(Debug, Serialize)]
pub struct Diffs {
    /// In deploy order.
    pub stacks: Vec<StackDiff>,
}

impl Diffs {
    fn from(diffs: &[TemplateDiff]) -> Self {
        Diffs {
            stacks: diffs
                .iter()
                .map(|d| StackDiff {
                    stack: d.title.clone(),
                    different: !d.is_empty(),
                    new_stack: d.new_stack,
                    text: d.to_string(),
                    iam_added: d.iam.added.iter().map(ToString::to_string).collect(),
                    iam_removed: d.iam.removed.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        }
    }

    fn different(&self) -> bool {
        self.stacks.iter().any(|s| s.different)
    }
}

impl std::fmt::Display for Diffs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.stacks {
            writeln!(f, "{}", s.text)?;
        }
        let n = self.stacks.iter().filter(|s| s.different).count();
        write!(f, "{n} of {} stack(s) differ", self.stacks.len())
    }
}

/// Runs `rekey diff`.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let prepared = prepare(&args.target, true)?;
    let rt = runtime()?;
    let diffs = rt
        .block_on(async {
            let connected = connect(&prepared.config, &args.target).await?;
            rekey_deploy::diff_all(&connected.env(), &prepared.steps).await
        })
        .map_err(failure)?;
    let diffs = Diffs::from(&diffs);
    emit(out, args.output, &diffs)?;
    Ok(if args.fail && diffs.different() { FAILED } else { OK })
}
