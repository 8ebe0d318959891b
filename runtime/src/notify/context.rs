//! What a digest's templates see ([`EmailContext`]): built in one walk over
//! the report's rows ([`crate::report::AccountReport::rows`], the walk the
//! CLI's table also uses), then summarized for people: counts by outcome,
//! what needs a person, one row of counts per account, active keys by age
//! band, and the one command that reads a stored key. Fields are only ever
//! added, so custom templates keep working (documented in `docs/emails.md`).

use super::render::{action_text, code, reason_text};
use crate::lifecycle::Severity;
use crate::messages::{Digest, RecipientKind};
use crate::report::{merge_bands, AccountReport, AccountStatus, ActionResult, AgeBands, EffectiveMode, RowKind};
use serde::Serialize;

/// Items of "needs a person" shown in a digest whose detail is not inline:
/// a screenful or two; the attachment has every one.
pub const NEEDS_PERSON_SHOWN: usize = 100;

/// Everything a template can use. A digest covers every account of a run
/// the recipient may see: the line lists are flat, each line naming its
/// account, and `accounts` lists the accounts themselves.
#[derive(Clone, Debug, Serialize)]
pub struct EmailContext {
    /// Run id.
    pub run_id: String,
    /// The account's id when the digest covers exactly one account, else empty.
    pub account_id: String,
    /// The account's name when the digest covers exactly one account, else empty.
    pub account_name: String,
    /// Accounts in this digest.
    pub account_count: usize,
    /// `audit` or `enforce`.
    pub mode: EffectiveMode,
    /// True in audit mode: nothing was changed.
    pub audit: bool,
    /// Actions plus warnings plus user errors plus failed and missing accounts (the subject's count).
    pub action_count: usize,
    /// This digest's recipient.
    pub recipient: String,
    /// `account`, `owner` or `admin`: the widest view among the accounts.
    pub recipient_kind: &'static str,
    /// The accounts, by id.
    pub accounts: Vec<AccountLine>,
    /// Accounts of the run with no result when its wait ran out (admins only).
    pub missing_accounts: Vec<String>,
    /// Actions, planned (audit) or with their result (enforce).
    pub actions: Vec<ActionLine>,
    /// Upcoming actions and problems.
    pub warnings: Vec<WarningLine>,
    /// Exempt users.
    pub exempt: Vec<ExemptLine>,
    /// Users a person must act on.
    pub manual: Vec<ManualLine>,
    /// Users whose processing failed.
    pub errors: Vec<ErrorLine>,
    /// Secrets holding new keys, and how to read them.
    pub secrets: Vec<SecretLine>,
    /// The first line for this audience: what to do and by when (owner),
    /// or the state of the account(s) at a glance.
    pub headline: String,
    /// Counts by outcome.
    pub summary: Summary,
    /// The same counts as labelled lines, in reading order.
    pub outcomes: Vec<OutcomeLine>,
    /// What needs a person: manual actions, failures, accounts that failed
    /// or did not report, exemptions that ended; all of them when the detail
    /// is inline, else the first [`NEEDS_PERSON_SHOWN`] (the rest are in the
    /// attachment).
    pub needs_person: Vec<PersonLine>,
    /// Items needing a person beyond those in `needs_person`.
    pub needs_person_more: usize,
    /// True when the per-key detail is in the body (the digest covers at
    /// most `notifications.inline_account_limit` accounts); otherwise the
    /// body has one row per account and the detail is in the attachment.
    pub detail_inline: bool,
    /// One row of counts per account (and per account without a result).
    pub account_rows: Vec<AccountRow>,
    /// Active keys by age band, youngest first (empty when no report had ages).
    pub age_bands: Vec<AgeBandLine>,
    /// Active keys counted in `age_bands`.
    pub age_band_total: u32,
    /// The one command that reads a stored key: `SECRET_ARN` is the
    /// placeholder for an ARN of `secrets` (and `REGION` for its fourth
    /// field, when the secrets are in several regions).
    pub read_command_template: String,
    /// The CSV attachment's file name; empty when nothing is attached.
    pub attachment_name: String,
    /// Rows of the full report (the CSV's lines after its header).
    pub attachment_rows: usize,
    /// `none`, `attached`, `split` (across several messages) or `pointer`
    /// (too large to attach: the full report is in the logs).
    pub attachment_state: &'static str,
    /// Messages the attachment is split across (1 when attached whole).
    pub attachment_parts: usize,
    /// One sentence saying where the full report is.
    pub attachment_note: String,
}

/// Counts by outcome over the digest's accounts.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    /// Keys replaced (rotations done).
    pub rotated: u64,
    /// Keys deactivated.
    pub deactivated: u64,
    /// Keys deleted.
    pub deleted: u64,
    /// Actions planned, not executed (audit mode).
    pub planned: u64,
    /// Warnings.
    pub warned: u64,
    /// Failed actions, users and accounts.
    pub failed: u64,
    /// Lines of `needs_person`.
    pub needs_person: u64,
    /// Exempt users.
    pub exempt: u64,
    /// Accounts of the run without a result.
    pub accounts_without_result: u64,
    /// Users in the digest.
    pub users: u64,
}

/// One labelled count of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct OutcomeLine {
    /// E.g. `rotated`.
    pub label: &'static str,
    /// How many.
    pub count: u64,
    /// True for counts a person should look at when not zero.
    pub attention: bool,
}

/// One item that needs a person.
#[derive(Clone, Debug, Serialize)]
pub struct PersonLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name (empty for an account without a result).
    pub account_name: String,
    /// IAM user, empty for a whole account.
    pub user: String,
    /// `manual`, `failed`, `action_failed`, `account_failed`, `no_result` or `exemption_ended`.
    pub kind: &'static str,
    /// What happened and what to do (may name values in backticks; the
    /// built-in HTML template shows them as code).
    pub what: String,
}

/// One account's counts.
#[derive(Clone, Debug, Serialize)]
pub struct AccountRow {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// `ok`, `failed` or `no result`.
    pub status: &'static str,
    /// Users reported.
    pub users: usize,
    /// Keys rotated.
    pub rotated: u64,
    /// Keys deactivated.
    pub deactivated: u64,
    /// Keys deleted.
    pub deleted: u64,
    /// Actions planned (audit).
    pub planned: u64,
    /// Warnings.
    pub warned: u64,
    /// Failures.
    pub failed: u64,
    /// Items needing a person.
    pub needs_person: u64,
    /// Exempt users.
    pub exempt: u64,
}

/// One age band of the chart.
#[derive(Clone, Debug, Serialize)]
pub struct AgeBandLine {
    /// E.g. `76-90 days (warning window)`.
    pub label: String,
    /// Active keys in the band.
    pub count: u32,
    /// Bar length, 0 to 100, relative to the largest band.
    pub percent: u32,
    /// `ok`, `warning`, `due` or `late`: the bar's colour.
    pub tone: &'static str,
}

/// One account of the digest.
#[derive(Clone, Debug, Serialize)]
pub struct AccountLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Why the recipient sees it: `account`, `owner` or `admin`.
    pub recipient_kind: &'static str,
    /// Set when the whole account failed.
    pub error: Option<String>,
    /// Users left out of the report to fit a size limit (see the run summary in the logs).
    pub users_omitted: usize,
}

/// One action line.
#[derive(Clone, Debug, Serialize)]
pub struct ActionLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Key acted on.
    pub access_key_id: String,
    /// E.g. `rotate`.
    pub action: String,
    /// Human sentence for the action.
    pub action_text: String,
    /// Human sentence for the reason.
    pub reason: String,
    /// Due date, `YYYY-MM-DD`.
    pub due: String,
    /// `planned`, `done`, `skipped` or `failed`.
    pub result: &'static str,
    /// Why skipped or failed, or the new key id.
    pub detail: Option<String>,
}

/// One warning line.
#[derive(Clone, Debug, Serialize)]
pub struct WarningLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Key concerned.
    pub access_key_id: String,
    /// `warning` or `critical`.
    pub severity: Severity,
    /// The sentence.
    pub message: String,
    /// Due date of the coming action, `YYYY-MM-DD`, if any.
    pub due: Option<String>,
}

/// One exempt user.
#[derive(Clone, Debug, Serialize)]
pub struct ExemptLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Why.
    pub reason: String,
    /// Until when, `YYYY-MM-DD`.
    pub until: Option<String>,
}

/// One user needing manual action.
#[derive(Clone, Debug, Serialize)]
pub struct ManualLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// What to do and why.
    pub reason: String,
}

/// One failed user.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// The error (no secret, ever).
    pub error: String,
}

/// One secret: where a user's current key is stored.
#[derive(Clone, Debug, Serialize)]
pub struct SecretLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Secret ARN.
    pub arn: String,
    /// The AWS CLI command that reads it (run by the user).
    pub read_command: String,
}

pub(crate) fn kind_name(kind: RecipientKind) -> &'static str {
    match kind {
        RecipientKind::Account => "account",
        RecipientKind::Owner => "owner",
        RecipientKind::Admin => "admin",
    }
}

fn date(d: &chrono::DateTime<chrono::Utc>) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl EmailContext {
    /// The context of one digest, with the default inline limit and nothing attached.
    pub fn from_digest(digest: &Digest) -> EmailContext {
        EmailContext::new(digest, rekey_config::DEFAULT_INLINE_ACCOUNT_LIMIT as usize)
    }

    /// The context of one digest whose per-key detail is inline up to
    /// `inline_account_limit` accounts; nothing attached yet (see
    /// [`EmailContext::attach`]).
    pub fn new(digest: &Digest, inline_account_limit: usize) -> EmailContext {
        let mut ctx = EmailContext::empty(digest, inline_account_limit);
        for section in &digest.sections {
            ctx.add_account(&section.report, section.recipient_kind);
        }
        for id in &digest.missing_account_ids {
            ctx.needs_person.push(PersonLine {
                account_id: id.clone(),
                account_name: String::new(),
                user: String::new(),
                kind: "no_result",
                what: "no result when this digest was sent (still running, or failed repeatedly: see the rotation \
                       queue's dead-letter queue)"
                    .into(),
            });
            ctx.account_rows.push(AccountRow::new(id, "", "no result"));
        }
        ctx.finish(digest);
        ctx
    }

    fn empty(digest: &Digest, inline_account_limit: usize) -> EmailContext {
        let mode = digest.sections.first().map_or(EffectiveMode::Audit, |s| s.report.mode);
        let single = (digest.sections.len() == 1).then(|| &digest.sections[0].report);
        EmailContext {
            run_id: digest.run_id.clone(),
            account_id: single.map(|r| r.account_id.clone()).unwrap_or_default(),
            account_name: single.map(|r| r.account_name.clone()).unwrap_or_default(),
            account_count: digest.sections.len(),
            mode,
            audit: mode == EffectiveMode::Audit,
            action_count: 0,
            recipient: digest.recipient.clone(),
            recipient_kind: kind_name(digest.recipient_kind()),
            accounts: Vec::new(),
            missing_accounts: digest.missing_account_ids.clone(),
            actions: Vec::new(),
            warnings: Vec::new(),
            exempt: Vec::new(),
            manual: Vec::new(),
            errors: Vec::new(),
            secrets: Vec::new(),
            headline: String::new(),
            summary: Summary::default(),
            outcomes: Vec::new(),
            needs_person: Vec::new(),
            needs_person_more: 0,
            detail_inline: digest.sections.len() + digest.missing_account_ids.len() <= inline_account_limit,
            account_rows: Vec::new(),
            age_bands: Vec::new(),
            age_band_total: 0,
            read_command_template: String::new(),
            attachment_name: String::new(),
            attachment_rows: 0,
            attachment_state: "none",
            attachment_parts: 0,
            attachment_note: String::new(),
        }
    }

    /// Adds one account: its line, its row of counts, and each of its report rows.
    fn add_account(&mut self, report: &AccountReport, kind: RecipientKind) {
        let error = match &report.status {
            AccountStatus::Failed { error } => Some(error.clone()),
            _ => None,
        };
        let mut row = AccountRow::new(&report.account_id, &report.account_name, "ok");
        if let Some(error) = &error {
            row.status = "failed";
            self.person(report, "", "account_failed", format!("could not be audited: {error}"));
        }
        self.accounts.push(AccountLine {
            account_id: report.account_id.clone(),
            account_name: report.account_name.clone(),
            recipient_kind: kind_name(kind),
            error,
            users_omitted: report.users_omitted,
        });
        let needs_before = self.needs_person.len();
        for r in report.rows() {
            self.add_row(report, &r.user.user_name, r.kind);
        }
        for user in &report.users {
            if let Some(arn) = &user.secret_arn {
                self.secrets.push(SecretLine {
                    account_id: report.account_id.clone(),
                    account_name: report.account_name.clone(),
                    user: user.user_name.clone(),
                    arn: arn.clone(),
                    read_command: read_command(arn),
                });
            }
        }
        let c = report.counts();
        (row.rotated, row.deactivated, row.deleted, row.planned) = (c.rotated, c.deactivated, c.deleted, c.planned);
        (row.warned, row.failed, row.exempt, row.users) = (c.warned, c.failed, c.exempt, report.users.len());
        row.needs_person = (self.needs_person.len() - needs_before) as u64;
        self.account_rows.push(row);
    }

    fn person(&mut self, report: &AccountReport, user: &str, kind: &'static str, what: String) {
        self.needs_person.push(PersonLine {
            account_id: report.account_id.clone(),
            account_name: report.account_name.clone(),
            user: user.to_string(),
            kind,
            what,
        });
    }

    /// Files one report row under its list (and under `needs_person` when a person must act).
    fn add_row(&mut self, report: &AccountReport, user: &str, kind: RowKind<'_>) {
        let (account_id, account_name, user_s) =
            (report.account_id.clone(), report.account_name.clone(), user.to_string());
        match kind {
            RowKind::Action(a) => {
                let (result, detail) = action_result(&a.result);
                if let ActionResult::Failed { error } = &a.result {
                    self.person(report, user, "action_failed", format!("{} failed: {error}", action_text(a.action)));
                }
                self.actions.push(ActionLine {
                    account_id,
                    account_name,
                    user: user_s,
                    access_key_id: a.access_key_id.clone(),
                    action: code(a.action),
                    action_text: action_text(a.action),
                    reason: reason_text(a.reason),
                    due: date(&a.due),
                    result,
                    detail,
                });
            }
            RowKind::Warning(w) => self.warnings.push(WarningLine {
                account_id,
                account_name,
                user: user_s,
                access_key_id: w.access_key_id.clone(),
                severity: w.severity,
                message: w.message.clone(),
                due: w.due.as_ref().map(date),
            }),
            RowKind::Exempt { reason, until } => self.exempt.push(ExemptLine {
                account_id,
                account_name,
                user: user_s,
                reason: reason.to_string(),
                until: until.map(|d| d.format("%Y-%m-%d").to_string()),
            }),
            RowKind::Manual { reason } => {
                self.person(report, user, "manual", reason.to_string());
                self.manual.push(ManualLine { account_id, account_name, user: user_s, reason: reason.to_string() });
            }
            RowKind::Error(error) => {
                self.person(report, user, "failed", error.to_string());
                self.errors.push(ErrorLine { account_id, account_name, user: user_s, error: error.to_string() });
            }
            RowKind::ExemptionExpired(until) => {
                let what = format!("the exemption ended on {until}: rekey manages the user's keys again");
                self.person(report, user, "exemption_ended", what);
            }
        }
    }

    /// The summary, the age chart, the headline and the read command, once every account is in.
    fn finish(&mut self, digest: &Digest) {
        let mut s = Summary::default();
        let mut bands: Option<AgeBands> = None;
        for section in &digest.sections {
            let c = section.report.counts();
            (s.rotated, s.deactivated, s.deleted) =
                (s.rotated + c.rotated, s.deactivated + c.deactivated, s.deleted + c.deleted);
            (s.planned, s.warned, s.failed, s.exempt) =
                (s.planned + c.planned, s.warned + c.warned, s.failed + c.failed, s.exempt + c.exempt);
            s.users += section.report.users.len() as u64;
            bands = merge_bands(bands, section.report.key_ages.as_ref());
        }
        s.needs_person = self.needs_person.len() as u64;
        if !self.detail_inline && self.needs_person.len() > NEEDS_PERSON_SHOWN {
            self.needs_person_more = self.needs_person.len() - NEEDS_PERSON_SHOWN;
            self.needs_person.truncate(NEEDS_PERSON_SHOWN);
        }
        s.accounts_without_result = digest.missing_account_ids.len() as u64;
        self.summary = s;
        self.outcomes = outcomes(&s, self.audit);
        if let Some(bands) = bands {
            (self.age_bands, self.age_band_total) = (age_band_lines(&bands), bands.total());
        }
        let failed_accounts = self.accounts.iter().filter(|a| a.error.is_some()).count();
        self.action_count = self.actions.len()
            + self.warnings.len()
            + self.errors.len()
            + failed_accounts
            + self.missing_accounts.len();
        self.read_command_template = read_command_template(&self.secrets);
        self.headline = super::headline::headline(self);
    }

    /// Says where the full report is: `state` is `attached`, `split` or
    /// `pointer`; `parts` the messages it is split across.
    pub fn attach(&mut self, name: &str, rows: usize, state: &'static str, parts: usize) {
        self.attachment_name = if state == "pointer" { String::new() } else { name.to_string() };
        self.attachment_rows = rows;
        self.attachment_state = state;
        self.attachment_parts = parts;
        self.attachment_note = match state {
            "attached" => format!("The full report ({rows} rows, one per key decision) is attached as {name}."),
            "split" => format!(
                "The full report ({rows} rows) is too large for one email: it is attached as {name} in {parts} parts, \
                 this message and {} more.",
                parts - 1
            ),
            "pointer" => format!(
                "The full report ({rows} rows) is too large to send by email: it is in the run summary in the logs \
                 (run {}).",
                self.run_id
            ),
            _ => String::new(),
        };
    }
}

impl AccountRow {
    fn new(account_id: &str, account_name: &str, status: &'static str) -> AccountRow {
        AccountRow {
            account_id: account_id.to_string(),
            account_name: account_name.to_string(),
            status,
            users: 0,
            rotated: 0,
            deactivated: 0,
            deleted: 0,
            planned: 0,
            warned: 0,
            failed: 0,
            needs_person: u64::from(status == "no result"),
            exempt: 0,
        }
    }
}

/// The result's name and its detail (why skipped or failed, or the new key).
pub(crate) fn action_result(result: &ActionResult) -> (&'static str, Option<String>) {
    match result {
        ActionResult::Planned => ("planned", None),
        ActionResult::Done { new_access_key_id } => {
            ("done", new_access_key_id.as_ref().map(|k| format!("new key {k}")))
        }
        ActionResult::Skipped { why } => ("skipped", Some(why.clone())),
        ActionResult::Failed { error } => ("failed", Some(error.clone())),
    }
}

fn outcomes(s: &Summary, audit: bool) -> Vec<OutcomeLine> {
    let line = |label, count, attention| OutcomeLine { label, count, attention };
    let mut out = Vec::new();
    if audit {
        out.push(line("planned", s.planned, false));
    } else {
        out.extend([line("rotated", s.rotated, false), line("deactivated", s.deactivated, false)]);
        out.push(line("deleted", s.deleted, false));
    }
    out.extend([
        line("warned", s.warned, false),
        line("failed", s.failed, true),
        line("needs a person", s.needs_person, true),
        line("exempt", s.exempt, false),
        line("accounts without a result", s.accounts_without_result, true),
    ]);
    out
}

fn age_band_lines(bands: &AgeBands) -> Vec<AgeBandLine> {
    let [early, r, d, x] = bands.limits;
    let labels = [
        format!("under {early} days"),
        format!("{early}-{r} days (warning window)"),
        format!("{r}-{d} days (due for rotation)"),
        format!("{d}-{x} days (due for deactivation)"),
        format!("over {x} days"),
    ];
    let tones = ["ok", "warning", "due", "late", "late"];
    let max = bands.counts.iter().copied().max().unwrap_or(0).max(1);
    labels
        .into_iter()
        .zip(bands.counts)
        .zip(tones)
        .map(|((label, count), tone)| AgeBandLine { label, count, percent: count * 100 / max, tone })
        .collect()
}

/// The secret's region (the ARN's fourth field), if it has one.
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// `aws secretsmanager get-secret-value ...` for a secret ARN, with the
/// ARN's region so it works from any default region.
pub fn read_command(arn: &str) -> String {
    match arn_region(arn) {
        Some(region) => format!(
            "aws secretsmanager get-secret-value --secret-id {arn} --region {region} --query SecretString --output text"
        ),
        None => format!("aws secretsmanager get-secret-value --secret-id {arn} --query SecretString --output text"),
    }
}

/// One command for every listed secret: `SECRET_ARN` stands for an ARN,
/// and the region is written out when all secrets share one.
fn read_command_template(secrets: &[SecretLine]) -> String {
    let mut regions: Vec<&str> = secrets.iter().filter_map(|s| arn_region(&s.arn)).collect();
    regions.sort_unstable();
    regions.dedup();
    let region = match regions.as_slice() {
        [one] => one,
        _ => "REGION",
    };
    format!("aws secretsmanager get-secret-value --secret-id SECRET_ARN --region {region} --query SecretString --output text")
}
