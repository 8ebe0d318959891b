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
#[command(after_help = crate::exit::after_help("diff", "", "\
Examples:
  rekey diff --config rekey.yaml --lambda-zip bootstrap.zip
  rekey diff --config rekey.yaml --fail   # in CI
  rekey diff --security-only              # IAM and resource-policy changes only
  rekey diff --app cdk.out --fail         # the assembly `rekey synth` wrote, as it is"))]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Exit with code 1 when anything differs (with `--security-only`: any security change).
    #[arg(long)]
    pub fail: bool,
    /// Only IAM and resource-policy changes: the IAM statements, IAM and policy resources, policy properties.
    #[arg(long)]
    pub security_only: bool,
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
            rekey_deploy::diff_all(&connected.clients(), &prepared.steps).await
        })
        .map_err(failure)?;
    let diffs: Vec<TemplateDiff> =
        if args.security_only { diffs.iter().map(TemplateDiff::security_only).collect() } else { diffs };
    let diffs = Diffs::from(&diffs);
    if args.output == Format::Text && crate::color::enabled_for_stdout() {
        writeln!(out, "{}", colorize(&diffs.to_string()))?;
    } else {
        emit(out, args.output, &diffs)?;
    }
    Ok(if args.fail && diffs.different() { FAILED } else { OK })
}

/// Additions green, removals red, modifications yellow, as `cdk diff` shows them on a terminal (`--no-color` or
/// `NO_COLOR` turn it off; never when stdout is not a terminal).
pub fn colorize(text: &str) -> String {
    const GREEN: &str = "\x1b[32m";
    const RED: &str = "\x1b[31m";
    const YELLOW: &str = "\x1b[33m";
    const RESET: &str = "\x1b[0m";
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let color = if trimmed.starts_with("[+]") || trimmed.starts_with("+ ") {
                Some(GREEN)
            } else if trimmed.starts_with("[-]") || trimmed.starts_with("- ") {
                Some(RED)
            } else if trimmed.starts_with("[~]") || trimmed.starts_with("~ ") {
                Some(YELLOW)
            } else {
                None
            };
            match color {
                Some(color) => format!("{color}{line}{RESET}"),
                None => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::colorize;

    #[test]
    fn additions_removals_and_changes_are_colored() {
        let text = "Stack rekey-main\nIAM statement changes:\n  + [Role] Allow x\nResources\n[-] AWS::SQS::Queue Q\n[~] T F\n    ~ P: 1 -> 2";
        assert_eq!(
            colorize(text),
            "Stack rekey-main\nIAM statement changes:\n\x1b[32m  + [Role] Allow x\x1b[0m\nResources\n\x1b[31m[-] AWS::SQS::Queue \
             Q\x1b[0m\n\x1b[33m[~] T F\x1b[0m\n\x1b[33m    ~ P: 1 -> 2\x1b[0m"
        );
    }
}
