//! `rekey plan`: audits every covered account in-process (whatever the
//! config's mode) and prints each planned action and warning per account,
//! user and key, with its reason and due date. Changes nothing, sends nothing.

use crate::exit::{Failure, VerbResult, AWS, FAILED, INVALID_CONFIG, OK, USAGE};
use crate::output::{emit, Format};
use chrono::{DateTime, NaiveDate, Utc};
use rekey_config::Config;
use rekey_runtime::inventory::InventoryError;
use rekey_runtime::lifecycle::Severity;
use rekey_runtime::notify::{code, reason_text};
use rekey_runtime::report::{AccountReport, AccountStatus, ActionResult, EffectiveMode, ReportRow, RowKind, RunReport};
use rekey_runtime::run::{run as run_flow, RunError, RunOptions, RunOutcome};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;

/// Show what rekey would do in each account, without changing anything.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help("plan", "Runs in audit mode whatever the config's `mode` says, with the standard AWS SDK \
configuration (profile, region, AWS_ENDPOINT_URL).\n\n\
`--out FILE` also writes the plan file that `rekey rotate --plan FILE` applies after review \
(docs/review-workflow.md).", "\
Examples:\n  rekey plan --config rekey.yaml\n  rekey plan --config rekey.yaml --account 111122223333 --at 2027-03-01 --output json\n  \
rekey plan --config rekey.yaml --out plan.json"))]
pub struct Args {
    /// Configuration file; without it: `REKEY_CONFIG_FILE`, else `./rekey.yaml` when it exists, else the built-in
    /// default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only this account (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Plan as of this date (`YYYY-MM-DD`) instead of now, to see what is coming.
    #[arg(long, value_name = "DATE")]
    pub at: Option<NaiveDate>,
    /// Also write the plan file for `rekey rotate --plan` (not with `--at`:
    /// a plan file holds what is due now).
    #[arg(long, value_name = "FILE", conflicts_with = "at")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub output: PlanFormat,
    /// AWS profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region (default: the environment or profile, else `deployment.region`).
    #[arg(long)]
    pub region: Option<String>,
}

/// `--output` of `plan`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// One line per action and warning.
    #[default]
    Table,
    /// The run report.
    Json,
}

/// How a run was invoked, shared by `plan` and `rotate`.
pub(crate) struct Invocation<'a> {
    pub config: &'a Config,
    pub profile: Option<&'a str>,
    pub region: Option<&'a str>,
    pub options: RunOptions,
}

/// Runs the in-process flow on a fresh tokio runtime, mapping failures to exit codes.
pub(crate) fn execute(inv: Invocation<'_>) -> Result<RunOutcome, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(crate::exit::BUILD, e))?;
    runtime.block_on(async {
        let configured = inv.config.deployment.region.as_str();
        let sdk = rekey_sdk::load_for_cli(inv.profile, inv.region, configured, rekey_sdk::Calls::Small).await;
        let deps = rekey_runtime::wiring::run_deps(inv.config, &sdk).await.map_err(run_failure)?;
        run_flow(inv.config, &deps, &inv.options).await.map_err(run_failure)
    })
}

pub(crate) fn run_failure(e: RunError) -> Failure {
    let code = match &e {
        RunError::Inventory(InventoryError::NotCovered(_)) => USAGE,
        RunError::Template(_) => INVALID_CONFIG,
        RunError::Inventory(_) | RunError::Aws(_) => AWS,
    };
    Failure::new(code, e)
}

/// The run time: now, or `at` with the current time of day.
pub(crate) fn planning_time(now: DateTime<Utc>, at: Option<NaiveDate>) -> DateTime<Utc> {
    match at {
        Some(date) => date.and_time(now.time()).and_utc(),
        None => now,
    }
}

/// Plans every covered account; exit 0, or 1 when an account or user failed.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let config = super::load_config(args.config.as_deref())?;
    let now = planning_time(Utc::now(), args.at);
    let options = RunOptions {
        run_id: rekey_runtime::inventory::run_id(Utc::now(), "plan"),
        now,
        dry_run: true,
        force_rotate: Vec::new(),
        account_ids: args.accounts,
        concurrency: config.lambda.rotation_max_concurrency as usize,
        send_notifications: false,
    };
    let invocation =
        Invocation { config: &config, profile: args.profile.as_deref(), region: args.region.as_deref(), options };
    let (outcome, written) = match &args.out {
        Some(path) => {
            let (outcome, reviews) = super::reviewed::execute(invocation, None)?;
            let count = super::reviewed::write(path, &config, now, &outcome, &reviews)?;
            (outcome, Some((path, count)))
        }
        None => (execute(invocation)?, None),
    };
    if let Some((path, count)) = written {
        eprintln!("plan file `{}` written: {count} action(s) to review", path.display());
    }
    let format = match args.output {
        PlanFormat::Table => Format::Text,
        PlanFormat::Json => Format::Json,
    };
    emit(out, format, &ReportView { report: &outcome.report, emails: &[] })?;
    Ok(if outcome.all_succeeded() { OK } else { FAILED })
}

/// A run report as printed: `Display` is the table, `Serialize` the
/// [`RunReport`] JSON (plus `emails` for `rotate`).
#[derive(serde::Serialize)]
pub(crate) struct ReportView<'a> {
    #[serde(flatten)]
    pub report: &'a RunReport,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub emails: &'a [rekey_runtime::run::EmailOutcome],
}

impl fmt::Display for ReportView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        let mode = match r.mode {
            EffectiveMode::Audit => "audit: nothing was changed",
            EffectiveMode::Enforce => "enforce",
        };
        write!(f, "run {} ({mode}), {} account(s)", r.run_id, r.accounts.len())?;
        for a in &r.accounts {
            write_account(f, a)?;
        }
        if !self.emails.is_empty() {
            write!(f, "\n\nemails:")?;
            for e in self.emails {
                match &e.error {
                    None => write!(f, "\n  {} ({} account(s)): sent", e.recipient, e.account_ids.len())?,
                    Some(err) => {
                        write!(f, "\n  {} ({} account(s)): NOT SENT: {err}", e.recipient, e.account_ids.len())?
                    }
                }
            }
        }
        Ok(())
    }
}

/// One account: its status, its counts, and a table of its report rows
/// (the rows a digest and its CSV attachment list, from the same walk).
fn write_account(f: &mut fmt::Formatter<'_>, a: &AccountReport) -> fmt::Result {
    let status = match &a.status {
        AccountStatus::Succeeded => "ok".to_string(),
        AccountStatus::NotEnrolled { reason } => format!("not enrolled: {reason}"),
        AccountStatus::Failed { error } => format!("FAILED: {error}"),
    };
    write!(f, "\n\naccount {} ({}): {status}", a.account_id, a.account_name)?;
    let c = a.counts();
    write!(
        f,
        "\n  users {}, planned {}, rotated {}, deactivated {}, deleted {}, warnings {}, exempt {}, failures {}",
        a.users.len(),
        c.planned,
        c.rotated,
        c.deactivated,
        c.deleted,
        c.warned,
        c.exempt,
        c.failed
    )?;
    let rows: Vec<[String; 5]> = a.rows().map(|row| table_row(&row)).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let header = ["USER", "KEY", "ACTION", "DUE", "DETAIL"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        write!(f, "\n  {}", line.trim_end())?;
    }
    Ok(())
}

/// One report row as table cells: user, key, action, due, detail.
fn table_row(row: &ReportRow<'_>) -> [String; 5] {
    let user = row.user.user_name.clone();
    let none = || "-".to_string();
    match row.kind {
        RowKind::Action(act) => {
            let result = match &act.result {
                ActionResult::Planned => "planned".to_string(),
                ActionResult::Done { new_access_key_id: Some(k) } => format!("done (new key {k})"),
                ActionResult::Done { new_access_key_id: None } => "done".to_string(),
                ActionResult::Skipped { why } => format!("skipped: {why}"),
                ActionResult::Failed { error } => format!("FAILED: {error}"),
            };
            let due = act.due.format("%Y-%m-%d").to_string();
            let detail = format!("{result}: {}", reason_text(act.reason));
            [user, act.access_key_id.clone(), code(act.action), due, detail]
        }
        RowKind::Warning(w) => {
            let kind = match w.severity {
                Severity::Warning => "warning",
                Severity::Critical => "CRITICAL",
            };
            let what = w.upcoming.map(|k| format!("{kind}: {}", code(k))).unwrap_or(kind.to_string());
            let due = w.due.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_else(none);
            [user, w.access_key_id.clone(), what, due, w.message.clone()]
        }
        RowKind::Exempt { reason, until } => {
            let until = until.map(|d| format!(" until {d}")).unwrap_or_default();
            [user, none(), "exempt".into(), none(), format!("{reason}{until}")]
        }
        RowKind::Manual { reason } => [user, none(), "MANUAL ACTION".into(), none(), reason.to_string()],
        RowKind::Error(e) => [user, none(), "FAILED".into(), none(), e.to_string()],
        RowKind::ExemptionExpired(until) => {
            [user, none(), "EXEMPTION ENDED".into(), until.to_string(), "rekey manages the user's keys again".into()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_keeps_the_time_of_day() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T22:10:05Z").unwrap().to_utc();
        let at = NaiveDate::from_ymd_opt(2027, 3, 1);
        assert_eq!(planning_time(now, at).to_rfc3339(), "2027-03-01T22:10:05+00:00");
        assert_eq!(planning_time(now, None), now);
    }
}
