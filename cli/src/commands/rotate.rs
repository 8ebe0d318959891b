//! `rekey rotate`: the whole flow in one process: inventory, each account
//! audited, planned and (enforce mode) rotated with bounded concurrency,
//! then the digests sent directly through SES (no queues).

use super::plan::{execute, planning_time, Invocation, ReportView};
use crate::exit::{VerbResult, FAILED, OK};
use crate::output::{emit, Format};
use chrono::Utc;
use rekey_config::Config;
use rekey_runtime::run::RunOptions;
use std::io::Write;
use std::path::PathBuf;

/// Run inventory, rotation and notifications now, in this process.
#[derive(Debug, clap::Args)]
#[command(after_help = "Uses the config's `mode` (audit unless it says enforce); `--dry-run` forces audit. \
Uses the standard AWS SDK configuration (profile, region, AWS_ENDPOINT_URL).\n\n\
Exit codes: 0 every account succeeded (or is not enrolled) and every email was sent; 1 an account, user, \
action or email failed (see the report); 2 `--account` not covered by the config; 3 invalid config or email \
template; 5 AWS set-up failed (credentials, Organizations).\n\n\
Examples:\n  rekey rotate --config rekey.yaml --dry-run\n  rekey rotate --config rekey.yaml --account 111122223333 --force-user alice --output json")]
pub struct Args {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Only this account (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Force audit mode: change nothing, still send the digests.
    #[arg(long)]
    pub dry_run: bool,
    /// Rotate this user's keys now whatever their age (repeatable).
    #[arg(long = "force-user", value_name = "NAME")]
    pub force_users: Vec<String>,
    /// Accounts processed at once (default: `lambda.rotation_max_concurrency`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub concurrency: Option<u32>,
    /// Output format: text, or the run report as JSON.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
    /// AWS profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region (default: the environment or profile, else `deployment.region`).
    #[arg(long)]
    pub region: Option<String>,
}

/// Runs the flow; exit 0 when everything succeeded, 1 otherwise.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let config = Config::load(&args.config)?;
    let options = RunOptions {
        run_id: rekey_runtime::inventory::run_id(Utc::now(), "rotate"),
        now: planning_time(Utc::now(), None),
        dry_run: args.dry_run,
        force_rotate: args.force_users,
        account_ids: args.accounts,
        concurrency: args.concurrency.unwrap_or(config.lambda.rotation_max_concurrency) as usize,
        send_notifications: true,
    };
    let outcome = execute(Invocation {
        config: &config,
        profile: args.profile.as_deref(),
        region: args.region.as_deref(),
        options,
    })?;
    emit(out, args.output, &ReportView { report: &outcome.report, emails: &outcome.emails })?;
    Ok(if outcome.all_succeeded() { OK } else { FAILED })
}
