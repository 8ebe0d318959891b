//! Plan files: `rekey plan --out` writes the actions a person reviews, each
//! with the facts it was decided on; `rekey rotate --plan` runs exactly those
//! actions and nothing else.
//!
//! The protocol:
//! 1. `plan` audits every account in audit mode and records, per user with
//!    actions, the user's keys (id, status, creation date, last use) and the
//!    actions, with the run id, the SHA-256 of the canonical config
//!    ([`config_sha256`]) and the time; the file carries a SHA-256 checksum
//!    of its plan ([`PlanFile::seal`]).
//! 2. `rotate --plan` refuses the whole file ([`PlanFile::read`],
//!    [`ReviewedPlan::check`]) when its checksum fails, the config's SHA-256
//!    differs, or it is older than `plan.max_age_hours`.
//! 3. Otherwise each account is audited and planned again, and each user's
//!    new plan goes through [`screen::screen_user`] (a pure function) before
//!    anything is executed: only actions both planned then and planned now
//!    run, and only while the user's keys are the ones the plan saw; every
//!    other planned action is refused, with the reason ([`screen::Refusal`]).
//! 4. [`outcome::ApplyReport`] says which planned actions ran and which were
//!    refused and why.
//!
//! The checksum detects a damaged or hand-edited file; it is no signature
//! (anyone can recompute it): where the file is kept between the two jobs
//! must be trusted, as for any CI artifact.

pub mod outcome;
pub mod rotator;
pub mod screen;
#[cfg(test)]
mod tests;

pub use screen::{AccountReview, Refusal, RefusalReason};

use crate::lifecycle::{ActionKind, KeyFacts, KeyStatus, PlannedAction, Reason};
use chrono::{DateTime, Duration, Utc};
use rekey_config::Config;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format this version writes and reads.
pub const FORMAT: &str = "rekey-plan/1";

/// How far in the future a plan's time may be (clock skew between the CI
/// runners of the plan and apply jobs).
pub const CLOCK_SKEW_MINUTES: i64 = 5;

/// A plan file: the reviewed plan and its checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// SHA-256 (hex) of `plan` as compact JSON.
    pub checksum: String,
    /// What was reviewed.
    pub plan: ReviewedPlan,
}

/// What a person reviews: every account's actions with their facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewedPlan {
    /// [`FORMAT`].
    pub format: String,
    /// Id of the `plan` run.
    pub run_id: String,
    /// When the accounts were audited.
    pub created_at: DateTime<Utc>,
    /// SHA-256 of the config the plan was made with ([`config_sha256`]).
    pub config_sha256: String,
    /// Every account planned, by account id.
    pub accounts: Vec<PlannedAccount>,
}

/// One account's reviewed actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedAccount {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name (for the reviewer).
    pub account_name: String,
    /// Users with actions, by name.
    pub users: Vec<PlannedUser>,
}

/// One user's reviewed actions and the facts they were decided on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedUser {
    /// IAM user name.
    pub user_name: String,
    /// The user's keys when planned: an action runs only while they are unchanged.
    pub keys: Vec<KeyFact>,
    /// The actions, in the order they run.
    pub actions: Vec<PlannedStep>,
}

/// One key as the plan saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFact {
    /// `AKIA...`.
    pub access_key_id: String,
    /// Active or inactive.
    pub status: KeyStatus,
    /// IAM's CreateDate.
    pub created: DateTime<Utc>,
    /// Last use, for the reviewer. Not compared: a key in use is still
    /// rotated on age, and a usage rule that now postpones an action
    /// (`require_unused_days_before_deactivate`) removes it from the new
    /// plan, which refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<DateTime<Utc>>,
}

impl From<&KeyFacts> for KeyFact {
    fn from(k: &KeyFacts) -> Self {
        KeyFact { access_key_id: k.access_key_id.clone(), status: k.status, created: k.created, last_used: k.last_used }
    }
}

/// One reviewed action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedStep {
    /// The key acted on (for `rotate`, the key replaced).
    pub access_key_id: String,
    /// What is done.
    pub action: ActionKind,
    /// Why.
    pub reason: Reason,
    /// When it was due.
    pub due: DateTime<Utc>,
}

impl PlannedStep {
    /// Whether `action` is this step (same key, same kind; the reason and
    /// due date may have moved).
    pub fn is(&self, action: &PlannedAction) -> bool {
        self.access_key_id == action.access_key_id && self.action == action.action
    }
}

impl From<&PlannedAction> for PlannedStep {
    fn from(a: &PlannedAction) -> Self {
        PlannedStep { access_key_id: a.access_key_id.clone(), action: a.action, reason: a.reason, due: a.due }
    }
}

/// Why a plan file is refused as a whole.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanFileError {
    /// Not JSON, or not a plan file.
    #[error("not a rekey plan file: {0}")]
    Unreadable(String),
    /// Written by another format version.
    #[error("plan file format `{found}` is not `{FORMAT}`: plan again with this rekey version")]
    Format {
        /// The file's format.
        found: String,
    },
    /// The content does not match the checksum.
    #[error(
        "the plan file's checksum does not match its content (edited or damaged after `rekey plan` wrote it): plan \
         again and have the new plan reviewed"
    )]
    Checksum,
    /// The config is not the one the plan was made with.
    #[error(
        "the config changed since the plan (SHA-256 `{planned}` then, `{current}` now): plan again with the current \
         config and have the new plan reviewed"
    )]
    ConfigChanged {
        /// The plan's.
        planned: String,
        /// The current config's.
        current: String,
    },
    /// Older than `plan.max_age_hours`.
    #[error(
        "the plan was made {age_hours} hours ago ({created_at}), more than `plan.max_age_hours` ({max_hours}): plan \
         again and have the new plan reviewed"
    )]
    Stale {
        /// When it was made.
        created_at: DateTime<Utc>,
        /// Its age in whole hours.
        age_hours: i64,
        /// The limit.
        max_hours: u32,
    },
    /// Dated in the future.
    #[error("the plan is dated {created_at}, in the future: check the clock of the machine that ran `rekey plan`")]
    FromTheFuture {
        /// When it says it was made.
        created_at: DateTime<Utc>,
    },
}

/// SHA-256 (hex) of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the validated config as canonical JSON (fields in declaration
/// order, maps sorted): comments, key order and spacing in the YAML do not
/// count, any changed value does.
pub fn config_sha256(config: &Config) -> String {
    sha256(&serde_json::to_vec(config.file()).expect("the config serializes"))
}

impl ReviewedPlan {
    /// A plan made at `created_at` with `config`.
    pub fn new(run_id: &str, created_at: DateTime<Utc>, config: &Config, accounts: Vec<PlannedAccount>) -> Self {
        ReviewedPlan {
            format: FORMAT.to_string(),
            run_id: run_id.to_string(),
            created_at,
            config_sha256: config_sha256(config),
            accounts,
        }
    }

    fn checksum(&self) -> String {
        sha256(&serde_json::to_vec(self).expect("a plan serializes"))
    }

    /// Refuses the whole plan when `config` is not the one it was made
    /// with, or it is older than `plan.max_age_hours` at `now`.
    pub fn check(&self, config: &Config, now: DateTime<Utc>) -> Result<(), PlanFileError> {
        let current = config_sha256(config);
        if current != self.config_sha256 {
            return Err(PlanFileError::ConfigChanged { planned: self.config_sha256.clone(), current });
        }
        if self.created_at > now + Duration::minutes(CLOCK_SKEW_MINUTES) {
            return Err(PlanFileError::FromTheFuture { created_at: self.created_at });
        }
        let max_hours = config.plan.max_age_hours;
        if now - self.created_at > Duration::hours(i64::from(max_hours)) {
            let age_hours = (now - self.created_at).num_hours();
            return Err(PlanFileError::Stale { created_at: self.created_at, age_hours, max_hours });
        }
        Ok(())
    }

    /// The reviewed part of `account_id`; an account the plan does not hold
    /// has nothing to run.
    pub fn account(&self, account_id: &str) -> PlannedAccount {
        self.accounts
            .iter()
            .find(|a| a.account_id == account_id)
            .cloned()
            .unwrap_or_else(|| PlannedAccount { account_id: account_id.to_string(), ..PlannedAccount::default() })
    }

    /// Number of actions, for messages.
    pub fn action_count(&self) -> usize {
        self.accounts.iter().flat_map(|a| &a.users).map(|u| u.actions.len()).sum()
    }
}

impl PlanFile {
    /// The plan with its checksum.
    pub fn seal(plan: ReviewedPlan) -> Self {
        PlanFile { checksum: plan.checksum(), plan }
    }

    /// The file as written: indented JSON, for the reviewer.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a plan file serializes");
        text.push('\n');
        text
    }

    /// Parses a plan file and verifies its format and checksum.
    pub fn read(text: &str) -> Result<PlanFile, PlanFileError> {
        // The format first, so a file of another version says so rather
        // than failing on a field it does not know.
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PlanFileError::Unreadable(e.to_string()))?;
        match raw.pointer("/plan/format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(found) => return Err(PlanFileError::Format { found: found.to_string() }),
            None => return Err(PlanFileError::Unreadable("no `plan.format` field".to_string())),
        }
        let file: PlanFile = serde_json::from_value(raw).map_err(|e| PlanFileError::Unreadable(e.to_string()))?;
        if file.plan.checksum() != file.checksum {
            return Err(PlanFileError::Checksum);
        }
        Ok(file)
    }
}
