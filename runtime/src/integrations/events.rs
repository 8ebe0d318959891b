//! EventBridge lifecycle events from account reports (source `rekey`): one
//! per executed action (`Access Key Rotated`, `Access Key Deactivated`,
//! `Access Key Deleted`), one per new critical warning (`Manual Action
//! Needed`) and one per run (`Run Completed`); and the small port
//! ([`EventSink`]) through which they are put.
//!
//! A critical warning is new when Security Hub held no open rekey finding
//! for the key with the same reason before this run (so with
//! `integrations.security_hub` on, a blocked key is announced once, and
//! again only if it was settled in between or its reason changed). Without
//! Security Hub rekey keeps no state between runs that could tell, so every
//! critical warning is sent on every run; each carries a stable
//! `finding_id` to deduplicate on.
//!
//! Details carry ids, names, reasons and dates, never a secret value.

use super::findings::{finding_id, serde_name};
use crate::lifecycle::{ActionKind, Severity, Warning};
use crate::ports::PortResult;
use crate::report::{AccountReport, AccountStatus, ActionResult, Counts, EffectiveMode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;

/// The `Source` of every rekey event.
pub const SOURCE: &str = "rekey";
/// Most entries one `PutEvents` call takes.
pub const BATCH_LIMIT: usize = 10;

/// The `DetailType` of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DetailType {
    /// A key was rotated (a replacement created and stored).
    KeyRotated,
    /// A key was deactivated.
    KeyDeactivated,
    /// A key was deleted.
    KeyDeleted,
    /// A new critical warning: a person must act.
    ManualActionNeeded,
    /// A run has processed every account (or its wait ended).
    RunCompleted,
}

impl DetailType {
    /// The detail-type string rules match on.
    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::KeyRotated => "Access Key Rotated",
            DetailType::KeyDeactivated => "Access Key Deactivated",
            DetailType::KeyDeleted => "Access Key Deleted",
            DetailType::ManualActionNeeded => "Manual Action Needed",
            DetailType::RunCompleted => "Run Completed",
        }
    }
}

/// One event, ready to put.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub detail_type: DetailType,
    /// The event's `Detail`, a JSON object.
    pub detail: serde_json::Value,
    /// When.
    pub time: DateTime<Utc>,
}

/// The detail of a key event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyDetail {
    /// The run.
    pub run_id: String,
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user name.
    pub user_name: String,
    /// The key concerned (empty for a warning about the user itself).
    pub access_key_id: String,
    /// The action done (`rotate`, `deactivate`, `delete`...) or coming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why (`expired`, `both_keys_expired`...).
    pub reason: String,
    /// When it was (or is) due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    /// For a rotation, the new key's id (never its secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_access_key_id: Option<String>,
    /// What a person must do (`Manual Action Needed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The Security Hub finding id of the key, also a stable id to
    /// deduplicate on.
    pub finding_id: String,
}

/// The detail of `Run Completed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunDetail {
    /// The run.
    pub run_id: String,
    /// Audit or enforce.
    pub mode: EffectiveMode,
    /// Accounts with a report.
    pub accounts: u64,
    /// Accounts that failed.
    pub accounts_failed: u64,
    /// Accounts without a result when the run closed (its wait ended).
    pub accounts_missing: u64,
    /// Totals over the accounts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The events of one account's report: executed actions, then critical
/// warnings `is_new` accepts (see the module doc).
pub fn account_events(report: &AccountReport, now: DateTime<Utc>, is_new: impl Fn(&Warning) -> bool) -> Vec<Event> {
    let mut out = Vec::new();
    let detail = |user: &str, key: &str| KeyDetail {
        run_id: report.run_id.clone(),
        account_id: report.account_id.clone(),
        account_name: report.account_name.clone(),
        user_name: user.to_string(),
        access_key_id: key.to_string(),
        action: None,
        reason: String::new(),
        due: None,
        new_access_key_id: None,
        message: None,
        finding_id: finding_id(&report.account_id, user, key),
    };
    for user in &report.users {
        for a in &user.actions {
            let ActionResult::Done { new_access_key_id } = &a.result else { continue };
            let detail_type = match a.action {
                ActionKind::Rotate | ActionKind::CompleteRotation => DetailType::KeyRotated,
                ActionKind::Deactivate => DetailType::KeyDeactivated,
                ActionKind::Delete | ActionKind::DeleteOrphanKey => DetailType::KeyDeleted,
                // A tag write, not a key change.
                ActionKind::RecordInactiveSeen => continue,
            };
            let d = KeyDetail {
                action: Some(serde_name(&a.action)),
                reason: serde_name(&a.reason),
                due: Some(a.due),
                new_access_key_id: new_access_key_id.clone(),
                ..detail(&user.user_name, &a.access_key_id)
            };
            out.push(event(detail_type, &d, now));
        }
    }
    if report.status != AccountStatus::Succeeded {
        return out;
    }
    for user in &report.users {
        for w in user.warnings.iter().filter(|w| w.severity == Severity::Critical && is_new(w)) {
            let d = KeyDetail {
                action: w.upcoming.map(|a| serde_name(&a)),
                reason: serde_name(&w.reason),
                due: w.due,
                message: Some(w.message.clone()),
                ..detail(&user.user_name, &w.access_key_id)
            };
            out.push(event(DetailType::ManualActionNeeded, &d, now));
        }
    }
    out
}

/// `Run Completed` for a run whose accounts reported `reports` (and
/// `missing` accounts did not).
pub fn run_completed(
    run_id: &str,
    mode: EffectiveMode,
    reports: &[AccountReport],
    missing: usize,
    now: DateTime<Utc>,
) -> Event {
    let mut counts = Counts::default();
    for c in reports.iter().map(AccountReport::counts) {
        counts.rotated += c.rotated;
        counts.deactivated += c.deactivated;
        counts.deleted += c.deleted;
        counts.warned += c.warned;
        counts.failed += c.failed;
        counts.exempt += c.exempt;
        counts.planned += c.planned;
    }
    let detail = RunDetail {
        run_id: run_id.to_string(),
        mode,
        accounts: reports.len() as u64,
        accounts_failed: reports.iter().filter(|r| matches!(r.status, AccountStatus::Failed { .. })).count() as u64,
        accounts_missing: missing as u64,
        counts,
    };
    event(DetailType::RunCompleted, &detail, now)
}

fn event<T: Serialize>(detail_type: DetailType, detail: &T, time: DateTime<Utc>) -> Event {
    Event { detail_type, detail: serde_json::to_value(detail).expect("details serialize"), time }
}

/// An event bus.
pub trait EventSink: Send + Sync {
    /// `PutEvents` of at most [`BATCH_LIMIT`] events; one entry per event,
    /// `Some` for an event the bus refused.
    fn put(&self, events: &[Event]) -> impl Future<Output = PortResult<Vec<Option<super::EntryError>>>> + Send;
}
