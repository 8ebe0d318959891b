//! Security Hub findings from an account's report: which keys need attention
//! (failing), which open findings this run settled (passed), and the small
//! port ([`FindingsSink`]) through which they are imported and resolved.
//!
//! A key's finding is FAILED when, after this run, it is
//! - overdue: a rotate, deactivate or delete is due and was only planned
//!   (audit mode), skipped or failed;
//! - blocked: a critical warning names it (the user needs a person,
//!   `needs_manual_action`).
//!
//! Keys of exempt users are never failing: an exemption is an accepted risk,
//! and a user whose `rekey:exempt-until` date passed is no longer exempt, so
//! its overdue key is failing like any other. Every finding rekey imported
//! earlier that is still open and is not failing now is set to PASSED and
//! RESOLVED: the key was rotated, deactivated or deleted by this run (enforce
//! mode), the user became exempt, or someone fixed it by hand. Users whose
//! state this run could not read (a per-user error, or users outside the part
//! of the account an invocation covered) keep their findings as they are.

use crate::lifecycle::{ActionKind, Severity, UserStatus};
use crate::ports::PortResult;
use crate::report::{AccountReport, AccountStatus, ActionResult, UserReport};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::future::Future;

/// `GeneratorId` of every rekey finding; with the account it selects rekey's own findings.
pub const GENERATOR_ID: &str = "rekey/access-key-lifecycle";
/// The ASFF finding type (namespace `Software and Configuration Checks`).
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices/IAM access key rotation";
/// Most findings one `BatchImportFindings` or `BatchUpdateFindings` call takes.
pub const BATCH_LIMIT: usize = 100;
/// ASFF limits on `Title` and `Description`.
const TITLE_LIMIT: usize = 256;
const DESCRIPTION_LIMIT: usize = 1024;
const REMEDIATION_LIMIT: usize = 512;

/// The stable id of the finding about `key` of `user` in `account`: each run
/// updates the same finding rather than adding one.
pub fn finding_id(account_id: &str, user_name: &str, access_key_id: &str) -> String {
    format!("rekey/{account_id}/{user_name}/{access_key_id}")
}

/// The product ARN of the default custom integration of `account` in `region`.
pub fn product_arn(partition: &str, region: &str, account_id: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default")
}

/// Compliance of a key, as the finding states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compliance {
    /// The key needs attention.
    Failed,
    /// Settled (rotated, deactivated, deleted, exempt, fixed by hand).
    Passed,
}

/// ASFF severity label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    /// Settled findings.
    Informational,
    /// Overdue keys (rekey will act, or would in enforce mode).
    Medium,
    /// Blocked keys: no safe automatic action exists, a person must act.
    High,
}

impl Label {
    /// The ASFF label.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Informational => "INFORMATIONAL",
            Label::Medium => "MEDIUM",
            Label::High => "HIGH",
        }
    }

    /// ASFF's normalized severity for the label (the middle of its range).
    pub fn normalized(self) -> i32 {
        match self {
            Label::Informational => 0,
            Label::Medium => 40,
            Label::High => 70,
        }
    }
}

/// One finding, ready to import (the adapter turns it into ASFF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// [`finding_id`].
    pub id: String,
    /// The account the finding is about (and that imports it).
    pub account_id: String,
    /// Region the finding is imported into.
    pub region: String,
    /// ARN partition of that region.
    pub partition: String,
    /// IAM user name.
    pub user_name: String,
    /// The key.
    pub access_key_id: String,
    /// One line.
    pub title: String,
    /// What is wrong, or what settled it.
    pub description: String,
    /// How loud.
    pub severity: Label,
    /// FAILED or PASSED.
    pub compliance: Compliance,
    /// The lifecycle reason (`expired`, `both_keys_expired`...) or `settled`.
    pub reason: String,
    /// What to do: names the user's secret and the command.
    pub remediation: String,
    /// When the finding was first imported (kept across updates).
    pub created_at: DateTime<Utc>,
    /// This run's time.
    pub updated_at: DateTime<Utc>,
    /// This run.
    pub run_id: String,
}

/// A rekey finding Security Hub holds open (FAILED, not resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenFinding {
    /// Its id.
    pub id: String,
    /// The user it is about.
    pub user_name: String,
    /// The key it is about.
    pub access_key_id: String,
    /// Its lifecycle reason, as imported.
    pub reason: String,
    /// When it was first imported.
    pub created_at: DateTime<Utc>,
}

/// One finding a batch call did not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryError {
    /// The finding id (or, for events, the entry's position).
    pub id: String,
    /// The service's error code.
    pub code: String,
    /// The service's message.
    pub message: String,
}

/// Security Hub in one account (the account's own credentials: findings of
/// the default integration must be imported by the account they are about).
pub trait FindingsSink: Send + Sync {
    /// rekey's open findings about `account_id` (`GetFindings`, all pages).
    fn open_findings(&self, account_id: &str) -> impl Future<Output = PortResult<Vec<OpenFinding>>> + Send;
    /// `BatchImportFindings` of at most [`BATCH_LIMIT`] findings; the ones refused.
    fn import(&self, findings: &[Finding]) -> impl Future<Output = PortResult<Vec<EntryError>>> + Send;
    /// `BatchUpdateFindings` setting `Workflow.Status` to RESOLVED on at most
    /// [`BATCH_LIMIT`] findings (a provider cannot change the workflow through
    /// an import once a finding exists); the ones refused.
    fn resolve(&self, ids: &[String]) -> impl Future<Output = PortResult<Vec<EntryError>>> + Send;
}

/// The way to each account's Security Hub.
pub trait FindingsAccounts: Send + Sync {
    /// Security Hub adapter type.
    type Sink: FindingsSink;
    /// The account's Security Hub, entered with its own credentials.
    fn open(&self, account_id: &str) -> impl Future<Output = PortResult<Self::Sink>> + Send;
}

/// Which users of the account this report covers: an invocation that
/// stopped near its deadline covers the users after `after` up to and
/// including `through`; the findings of other users are left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Covered {
    /// Users after this one (exclusive); `None`: from the first.
    pub after: Option<String>,
    /// Users up to this one (inclusive); `None`: to the last.
    pub through: Option<String>,
}

impl Covered {
    /// Every user.
    pub fn all() -> Covered {
        Covered::default()
    }

    /// Whether `user` is in the range.
    pub fn contains(&self, user: &str) -> bool {
        self.after.as_deref().is_none_or(|a| user > a) && self.through.as_deref().is_none_or(|t| user <= t)
    }
}

/// What the findings are built with besides the report.
#[derive(Clone, Debug)]
pub struct FindingContext<'a> {
    /// Region the findings go to.
    pub region: &'a str,
    /// Its partition.
    pub partition: &'a str,
    /// The config's names (the user's secret name).
    pub names: &'a rekey_config::Names,
    /// This run's time.
    pub now: DateTime<Utc>,
    /// The users this report covers.
    pub covered: &'a Covered,
}

/// Why a key is failing.
struct Problem {
    severity: Label,
    reason: String,
    title: String,
    description: String,
}

/// The findings to import for `report` given the findings Security Hub holds
/// open (`open`): every failing key (created or updated), then every open
/// finding this run settled (PASSED). Empty for an account that could not be
/// audited (nothing is known about it).
pub fn account_findings(report: &AccountReport, open: &[OpenFinding], ctx: &FindingContext<'_>) -> Vec<Finding> {
    if report.status != AccountStatus::Succeeded {
        return Vec::new();
    }
    let opened: BTreeMap<&str, &OpenFinding> = open.iter().map(|f| (f.id.as_str(), f)).collect();
    let users: BTreeMap<&str, &UserReport> = report.users.iter().map(|u| (u.user_name.as_str(), u)).collect();
    let mut out = Vec::new();
    let mut failing = std::collections::BTreeSet::new();
    for user in &report.users {
        if user.error.is_some() || matches!(user.status, UserStatus::Exempt { .. }) {
            continue;
        }
        for (key, problem) in problems(user) {
            let id = finding_id(&report.account_id, &user.user_name, &key);
            let created_at = opened.get(id.as_str()).map_or(ctx.now, |f| f.created_at);
            let remediation = remediation(report, user, &key, ctx);
            failing.insert(id.clone());
            out.push(Finding {
                id,
                account_id: report.account_id.clone(),
                region: ctx.region.to_string(),
                partition: ctx.partition.to_string(),
                user_name: user.user_name.clone(),
                access_key_id: key,
                title: clip(&problem.title, TITLE_LIMIT),
                description: clip(&problem.description, DESCRIPTION_LIMIT),
                severity: problem.severity,
                compliance: Compliance::Failed,
                reason: problem.reason,
                remediation,
                created_at,
                updated_at: ctx.now,
                run_id: report.run_id.clone(),
            });
        }
    }
    for f in open {
        if failing.contains(&f.id) || !ctx.covered.contains(&f.user_name) {
            continue;
        }
        let user = users.get(f.user_name.as_str()).copied();
        if user.is_some_and(|u| u.error.is_some()) {
            continue;
        }
        let why = settled_because(user, &f.access_key_id, &report.run_id);
        out.push(Finding {
            id: f.id.clone(),
            account_id: report.account_id.clone(),
            region: ctx.region.to_string(),
            partition: ctx.partition.to_string(),
            user_name: f.user_name.clone(),
            access_key_id: f.access_key_id.clone(),
            title: clip(
                &format!("IAM access key {} of user {} no longer needs attention", f.access_key_id, f.user_name),
                TITLE_LIMIT,
            ),
            description: clip(&why, DESCRIPTION_LIMIT),
            severity: Label::Informational,
            compliance: Compliance::Passed,
            reason: "settled".to_string(),
            remediation: "No action needed.".to_string(),
            created_at: f.created_at,
            updated_at: ctx.now,
            run_id: report.run_id.clone(),
        });
    }
    out
}

/// The user's failing keys and why, blocked before overdue (a key both
/// blocked and overdue is reported as blocked: a person must act first).
fn problems(user: &UserReport) -> BTreeMap<String, Problem> {
    let mut out = BTreeMap::new();
    for w in user.warnings.iter().filter(|w| w.severity == Severity::Critical && !w.access_key_id.is_empty()) {
        out.entry(w.access_key_id.clone()).or_insert_with(|| Problem {
            severity: Label::High,
            reason: serde_name(&w.reason),
            title: format!("IAM access key {} of user {} needs manual action", w.access_key_id, user.user_name),
            description: w.message.clone(),
        });
    }
    for a in &user.actions {
        let overdue = matches!(a.action, ActionKind::Rotate | ActionKind::Deactivate | ActionKind::Delete)
            && !matches!(a.result, ActionResult::Done { .. });
        if !overdue {
            continue;
        }
        let what = match a.action {
            ActionKind::Rotate => "rotated",
            ActionKind::Deactivate => "deactivated",
            _ => "deleted",
        };
        let state = match &a.result {
            ActionResult::Planned => "rekey plans it (audit mode changes nothing)".to_string(),
            ActionResult::Skipped { why } => format!("rekey skipped it: {why}"),
            ActionResult::Failed { error } => format!("rekey's attempt failed: {error}"),
            ActionResult::Done { .. } => unreachable!("filtered above"),
        };
        out.entry(a.access_key_id.clone()).or_insert_with(|| Problem {
            severity: Label::Medium,
            reason: serde_name(&a.reason),
            title: format!("IAM access key {} of user {} is overdue to be {what}", a.access_key_id, user.user_name),
            description: format!(
                "Key {} of IAM user {} was due to be {what} on {} ({}); {state}.",
                a.access_key_id,
                user.user_name,
                a.due.format("%Y-%m-%d"),
                serde_name(&a.reason)
            ),
        });
    }
    out
}

/// Why an open finding is settled now.
fn settled_because(user: Option<&UserReport>, key: &str, run_id: &str) -> String {
    let Some(user) = user else {
        return format!("The IAM user no longer exists (run {run_id}).");
    };
    if let UserStatus::Exempt { reason, .. } = &user.status {
        return format!("The user is exempt from rotation ({reason}); run {run_id}.");
    }
    let done = user.actions.iter().find(|a| a.access_key_id == key && matches!(a.result, ActionResult::Done { .. }));
    match done.map(|a| a.action) {
        Some(ActionKind::Rotate | ActionKind::CompleteRotation) => {
            format!("rekey rotated key {key} in run {run_id}: its replacement is in the user's secret.")
        }
        Some(ActionKind::Deactivate) => format!("rekey deactivated key {key} in run {run_id}."),
        Some(ActionKind::Delete | ActionKind::DeleteOrphanKey) => format!("rekey deleted key {key} in run {run_id}."),
        _ => format!("Key {key} no longer needs attention (changed outside rekey, or no longer due); run {run_id}."),
    }
}

/// What to do about a failing key: the user's secret and the command.
fn remediation(report: &AccountReport, user: &UserReport, key: &str, ctx: &FindingContext<'_>) -> String {
    let secret = match &user.secret_arn {
        Some(arn) => format!("`{arn}`"),
        None => format!("`{}`", ctx.names.secret_name(&report.account_id, &user.user_name)),
    };
    if let UserStatus::NeedsManualAction { reason } = &user.status {
        return clip(
            &format!(
                "{reason}. Then `rekey rotate --account {} --force-user {}` rotates key {key}; the new key is stored \
                 in secret {secret}.",
                report.account_id, user.user_name
            ),
            REMEDIATION_LIMIT,
        );
    }
    clip(
        &format!(
            "rekey acts on key {key} in enforce mode; to act now, run `rekey rotate --account {} --force-user {}`. \
             Applications read the current key from secret {secret}.",
            report.account_id, user.user_name
        ),
        REMEDIATION_LIMIT,
    )
}

/// An enum's serde name (`expired`, `both_keys_expired`).
pub(crate) fn serde_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `text` cut to at most `limit` bytes, at a character boundary.
fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
