//! `rekey rotate`: the whole flow in one process: inventory, each account
//! audited, planned and (enforce mode) rotated with bounded concurrency,
//! then the digests sent directly through SES (no queues).

use super::plan::{execute, planning_time, Invocation, ReportView};
use crate::exit::{Failure, VerbResult, FAILED, OK, USAGE};
use crate::output::{emit, Format};
use chrono::Utc;
use rekey_config::AccountId;
use rekey_runtime::plan_file::outcome::ApplyReport;
use rekey_runtime::run::RunOptions;
use std::io::Write;
use std::path::PathBuf;

/// Run inventory, rotation and notifications now, in this process.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help("rotate", "Uses the config's `mode` (audit unless it says enforce); `--dry-run` forces audit. \
Uses the standard AWS SDK configuration (profile, region, AWS_ENDPOINT_URL).\n\n\
`--force-user NAME` needs `--account` (NAME is forced in each account given); `--force-user ACCOUNT_ID/NAME` \
forces NAME in that account only, and without `--account` the run covers just the accounts named this way.\n\n\
`--plan FILE` (written by `rekey plan --out FILE`) runs exactly the reviewed actions: each account is audited \
again, and an action runs only if it is planned again and the user's keys are unchanged; the others are refused \
and reported. The whole file is refused (exit 6) when its checksum fails, the config changed, or it is older \
than `plan.max_age_hours`.", "\
Examples:\n  rekey rotate --config rekey.yaml --dry-run\n  rekey rotate --config rekey.yaml --account 111122223333 --force-user alice --output json\n  \
rekey rotate --config rekey.yaml --force-user 111122223333/alice\n  rekey rotate --config rekey.yaml --plan plan.json"))]
pub struct Args {
    /// Configuration file; without it: `REKEY_CONFIG_FILE`, else `./rekey.yaml` when it exists, else the built-in
    /// default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only this account (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Force audit mode: change nothing, still send the digests.
    #[arg(long)]
    pub dry_run: bool,
    /// Rotate this user's keys now whatever their age (repeatable): `NAME`
    /// with `--account`, or `ACCOUNT_ID/NAME`.
    #[arg(long = "force-user", value_name = "[ACCOUNT_ID/]NAME")]
    pub force_users: Vec<String>,
    /// Run exactly the reviewed plan in FILE (`rekey plan --out FILE`): its
    /// accounts, and of their actions only those whose facts are unchanged.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["accounts", "force_users"])]
    pub plan: Option<PathBuf>,
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
    if let Some(path) = args.plan.clone() {
        let config = super::load_config(args.config.as_deref())?;
        return apply(&args, &path, &config, out);
    }
    // Checked before anything else: a usage error must not start a run.
    let (account_ids, force_rotate) = scope(args.accounts, args.force_users)?;
    let config = super::load_config(args.config.as_deref())?;
    let options = RunOptions {
        run_id: rekey_runtime::inventory::run_id(Utc::now(), "rotate"),
        now: planning_time(Utc::now(), None),
        dry_run: args.dry_run,
        force_rotate,
        account_ids,
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

/// The run's accounts and forced users from `--account` and `--force-user`.
///
/// A bare `--force-user NAME` used to rotate NAME in every account of the
/// organization, where the same name may belong to unrelated users; it now
/// needs `--account`. `ACCOUNT_ID/NAME` (IAM user names cannot contain `/`)
/// forces NAME in that account only; without `--account`, the run covers
/// exactly the accounts named so.
fn scope(accounts: Vec<String>, force_users: Vec<String>) -> Result<(Vec<String>, Vec<String>), Failure> {
    let usage = |message: String| Failure::new(USAGE, anyhow::anyhow!(message));
    let mut named = Vec::new();
    for entry in &force_users {
        match entry.split_once('/') {
            Some((account, name)) => {
                if account.parse::<AccountId>().is_err() || name.is_empty() || name.contains('/') {
                    return Err(usage(format!(
                        "`--force-user {entry}`: expected `ACCOUNT_ID/NAME` with a 12-digit account id and a user name"
                    )));
                }
                if !accounts.is_empty() && !accounts.iter().any(|a| a == account) {
                    return Err(usage(format!(
                        "`--force-user {entry}` names account `{account}`, which is not among the `--account` \
                         options: add `--account {account}`, or drop the account from `--force-user`"
                    )));
                }
                if !named.iter().any(|a| a == account) {
                    named.push(account.to_string());
                }
            }
            None if accounts.is_empty() => {
                return Err(usage(format!(
                    "`--force-user {entry}` needs the account to rotate it in: add `--account ACCOUNT_ID`, or write \
                     `--force-user ACCOUNT_ID/{entry}` (without either, every account's `{entry}` would be rotated)"
                )));
            }
            None => {}
        }
    }
    let accounts = if accounts.is_empty() { named } else { accounts };
    Ok((accounts, force_users))
}

/// `--plan`: checks the file, then runs its accounts with only its actions.
fn apply(args: &Args, path: &std::path::Path, config: &rekey_config::Config, out: &mut dyn Write) -> VerbResult {
    let plan = super::reviewed::read(path, config, Utc::now())?;
    let options = RunOptions {
        run_id: rekey_runtime::inventory::run_id(Utc::now(), "rotate"),
        now: Utc::now(),
        dry_run: args.dry_run,
        force_rotate: Vec::new(),
        account_ids: plan.accounts.iter().map(|a| a.account_id.clone()).collect(),
        concurrency: args.concurrency.unwrap_or(config.lambda.rotation_max_concurrency) as usize,
        send_notifications: true,
    };
    let invocation = Invocation { config, profile: args.profile.as_deref(), region: args.region.as_deref(), options };
    let (outcome, reviews) = super::reviewed::execute(invocation, Some(plan.clone()))?;
    let applied = ApplyReport::new(&plan, &reviews, &outcome.report);
    let run = ReportView { report: &outcome.report, emails: &outcome.emails };
    emit(out, args.output, &super::reviewed::AppliedView { run, plan: &applied })?;
    Ok(if outcome.all_succeeded() && applied.all_ran() { OK } else { FAILED })
}
