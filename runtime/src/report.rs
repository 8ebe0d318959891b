//! The run report: per account, per user, per key, what was planned or done
//! and with what result. Printed by `rekey rotate --output json`, logged as
//! the per-account run summary, and the input of notifications and metrics.

use crate::lifecycle::{ActionKind, Reason, UserStatus, Warning};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a run changed anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectiveMode {
    /// Nothing was changed; actions are reported as planned.
    Audit,
    /// Actions were executed.
    Enforce,
}

impl EffectiveMode {
    /// The mode of a run: the config's mode, unless the event asks for a dry
    /// run. An event can force audit, never enforce.
    pub fn resolve(configured: rekey_config::Mode, dry_run_requested: bool) -> EffectiveMode {
        match (configured, dry_run_requested) {
            (rekey_config::Mode::Enforce, false) => EffectiveMode::Enforce,
            _ => EffectiveMode::Audit,
        }
    }
}

/// The outcome of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountStatus {
    /// Audited (and in enforce mode, acted on); individual users may still have failed.
    Succeeded,
    /// The member role does not exist (yet) in the account: not a failure.
    NotEnrolled {
        /// What was tried.
        reason: String,
    },
    /// The account could not be audited.
    Failed {
        /// Why (no secret values, ever).
        error: String,
    },
}

/// The result of one action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ActionResult {
    /// Audit mode: would be done.
    Planned,
    /// Done. For rotations, the new key id (never the secret).
    Done {
        /// The key created, for `rotate` and `complete_rotation`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        new_access_key_id: Option<String>,
    },
    /// Not done because state changed since the audit (e.g. key already gone).
    Skipped {
        /// Why.
        why: String,
    },
    /// Attempted and failed.
    Failed {
        /// Why (no secret values, ever).
        error: String,
    },
}

/// One action and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReport {
    /// The key acted on.
    pub access_key_id: String,
    /// What.
    pub action: ActionKind,
    /// Why.
    pub reason: Reason,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub result: ActionResult,
}

/// One user's part of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReport {
    /// IAM user name.
    pub user_name: String,
    /// Managed, exempt or needs manual action.
    #[serde(flatten)]
    pub status: UserStatus,
    /// Owner email from the configured owner tag, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner_email: Option<String>,
    /// ARN of the user's secret, when one exists (never its value).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret_arn: Option<String>,
    /// Actions due now and their results.
    pub actions: Vec<ActionReport>,
    /// Upcoming actions and problems.
    pub warnings: Vec<Warning>,
    /// An error that stopped this user's processing (the account went on).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl UserReport {
    /// Whether a person should read about this user: an action, a warning,
    /// an error, or a manual action needed.
    pub fn has_news(&self) -> bool {
        !self.actions.is_empty()
            || !self.warnings.is_empty()
            || self.error.is_some()
            || matches!(self.status, UserStatus::NeedsManualAction { .. })
    }
}

/// One account's part of the report; also the per-account run summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReport {
    /// The run this belongs to.
    pub run_id: String,
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Account email from Organizations, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account_email: Option<String>,
    /// Audit or enforce, as actually run.
    pub mode: EffectiveMode,
    /// Succeeded, not enrolled or failed.
    #[serde(flatten)]
    pub status: AccountStatus,
    /// One entry per user, by name.
    pub users: Vec<UserReport>,
    /// Users left out of this copy of the report to fit a size limit (an
    /// SQS message or a ledger item); the full report is in the logs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub users_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Counts for metrics and summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Keys created (rotations done).
    pub rotated: u64,
    /// Keys deactivated.
    pub deactivated: u64,
    /// Keys deleted.
    pub deleted: u64,
    /// Warnings issued.
    pub warned: u64,
    /// Actions or users that failed.
    pub failed: u64,
    /// Exempt users.
    pub exempt: u64,
    /// Actions planned but not executed (audit mode).
    pub planned: u64,
}

impl AccountReport {
    /// A copy whose JSON fits in `max_bytes`: users with nothing to report
    /// go first, then users from the end of the list, counted in
    /// [`AccountReport::users_omitted`]. Digests are built from such copies,
    /// because a queue message or a ledger item has a size limit and a large
    /// account's report may not.
    pub fn fitted(&self, max_bytes: usize) -> AccountReport {
        let size = |r: &AccountReport| serde_json::to_vec(r).map(|v| v.len()).unwrap_or(usize::MAX);
        let mut out = self.clone();
        if size(&out) <= max_bytes {
            return out;
        }
        let before = out.users.len();
        out.users.retain(UserReport::has_news);
        out.users_omitted += before - out.users.len();
        // Drop users in halving steps, then one by one, so a very large
        // report does not cost one serialization per user.
        let mut step = out.users.len() / 2;
        while size(&out) > max_bytes && !out.users.is_empty() {
            let drop = step.max(1).min(out.users.len());
            out.users.truncate(out.users.len() - drop);
            out.users_omitted += drop;
            step /= 2;
        }
        out
    }

    /// Counts of this account's outcomes.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for user in &self.users {
            if matches!(user.status, UserStatus::Exempt { .. }) {
                c.exempt += 1;
            }
            if user.error.is_some() {
                c.failed += 1;
            }
            c.warned += user.warnings.len() as u64;
            for action in &user.actions {
                match (&action.result, action.action) {
                    (ActionResult::Planned, _) => c.planned += 1,
                    (ActionResult::Failed { .. }, _) => c.failed += 1,
                    (ActionResult::Done { .. }, ActionKind::Rotate | ActionKind::CompleteRotation) => c.rotated += 1,
                    (ActionResult::Done { .. }, ActionKind::Deactivate) => c.deactivated += 1,
                    (ActionResult::Done { .. }, ActionKind::Delete | ActionKind::DeleteOrphanKey) => c.deleted += 1,
                    // A tag write (lifecycle planner), not a key change.
                    (ActionResult::Done { .. }, ActionKind::RecordInactiveSeen) => {}
                    (ActionResult::Skipped { .. }, _) => {}
                }
            }
        }
        if matches!(self.status, AccountStatus::Failed { .. }) {
            c.failed += 1;
        }
        c
    }
}

/// A whole run (the CLI's `rotate --output json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Audit or enforce.
    pub mode: EffectiveMode,
    /// Every account, by id.
    pub accounts: Vec<AccountReport>,
}

impl RunReport {
    /// True when every account succeeded or is not enrolled, and no user or action failed.
    pub fn all_succeeded(&self) -> bool {
        self.accounts.iter().all(|a| !matches!(a.status, AccountStatus::Failed { .. }) && a.counts().failed == 0)
    }
}
