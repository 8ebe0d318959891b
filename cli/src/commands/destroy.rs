//! `rekey destroy`: deletes what `rekey deploy` created, in reverse order (the StackSet's instances before the
//! StackSet), after confirmation. Secrets the runtime created are kept unless `--delete-secrets`.

use super::deploy::{connect, failure, prepare, progress_mode, runtime, ProgressArg, Target, TerminalApprover};
use crate::exit::{VerbResult, OK};
use crate::output::{emit, Format};
use rekey_config::SecretStorage;
use rekey_deploy::{DestroyOptions, Options, Progress};
use std::io::Write;

/// Delete the stacks and the member-role StackSet.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help("destroy", "\
Secrets the runtime created (tag rekey:managed=true) are kept unless --delete-secrets is given; rekey says how \
many it keeps or deletes, and in which account (the deployment account, and the management account for central \
storage, or member storage with the management account in scope). Secrets held in member accounts (member \
storage) are not reachable from here and are always kept: before anything is deleted, rekey lists those accounts \
(the StackSet's) and prints how to delete their secrets by hand with each account's credentials.", "\
Examples:
  rekey destroy --config rekey.yaml
  rekey destroy --config rekey.yaml --force --delete-secrets
  rekey destroy --app cdk.out   # the stacks of the assembly `rekey synth` wrote"))]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Also delete the secrets the runtime created (tag `rekey:managed=true`), without a recovery window.
    #[arg(long)]
    pub delete_secrets: bool,
    /// How to show progress (default: `bar` on a terminal, `events` otherwise).
    #[arg(long, value_enum)]
    pub progress: Option<ProgressArg>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// Runs `rekey destroy`.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    // Only names and placements matter here: no Lambda build.
    let prepared = prepare(&args.target, false)?;
    let rt = runtime()?;
    let member_secrets =
        prepared.config.secrets.storage == SecretStorage::Member && prepared.config.organization.is_some();
    let flags = DestroyOptions { force: args.force, delete_secrets: args.delete_secrets, member_secrets };
    let mut stderr = std::io::stderr();
    // Progress, events and prompts go to stderr whatever the format (as with the CDK CLI): stdout holds only the
    // result, so `--output json` pipes into a parser and text output into a file.
    let progress_out: &mut dyn Write = &mut stderr;
    let mut progress = Progress::new(progress_mode(args.progress), progress_out);
    let result = rt.block_on(async {
        let connected = connect(&prepared.config, &args.target).await?;
        let mut secrets = vec![(connected.deployment_id.clone(), &connected.deployment.secrets)];
        // Central storage keeps every secret in the management (or delegated-admin) account; member storage keeps
        // the management account's own users' secrets there when it is in scope. Both are reachable from here.
        let management_holds_secrets = match prepared.config.secrets.storage {
            SecretStorage::Central => true,
            SecretStorage::Member => {
                prepared.config.organization.as_ref().is_some_and(|o| o.include_management_account)
            }
        };
        if management_holds_secrets && connected.management_id != connected.deployment_id {
            secrets.push((connected.management_id.clone(), &connected.management.secrets));
        }
        let options = Options::default();
        rekey_deploy::destroy(
            &connected.clients(),
            &prepared.steps,
            &secrets,
            flags,
            &options,
            &mut TerminalApprover,
            &mut progress,
        )
        .await
    });
    drop(progress);
    let report = result.map_err(failure)?;
    emit(out, args.output, &Summary(report))?;
    Ok(OK)
}

/// The destroy report, printable.
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Summary(rekey_deploy::DestroyReport);

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.0.deleted {
            writeln!(f, "deleted {s}")?;
        }
        for s in &self.0.absent {
            writeln!(f, "not deployed: {s}")?;
        }
        write!(f, "secrets deleted: {}, kept: {}", self.0.secrets_deleted.len(), self.0.secrets_kept.len())?;
        if !self.0.secrets_unreached_accounts.is_empty() {
            write!(
                f,
                "\nsecrets not reachable (member accounts, kept): {}",
                self.0.secrets_unreached_accounts.join(", ")
            )?;
        }
        Ok(())
    }
}
