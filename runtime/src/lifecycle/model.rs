//! Plain data the lifecycle engine decides over: what is known about an
//! account's users and keys (facts, read by the audit), the policy (from the
//! config), and what the engine decides (the plan). No I/O types here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// IAM user tag (value `YYYY-MM-DD`) that exempts a user until that date.
pub const EXEMPT_UNTIL_TAG: &str = "rekey:exempt-until";
/// IAM user tag explaining an exemption.
pub const EXEMPT_REASON_TAG: &str = "rekey:exempt-reason";
/// Prefix of the IAM user tag rekey writes when it deactivates a key:
/// `rekey:deactivated:<AccessKeyId>` = RFC 3339 time. IAM keeps no
/// deactivation time, so this is how the delete grace is measured.
pub const DEACTIVATED_TAG_PREFIX: &str = "rekey:deactivated:";
/// Prefix of the IAM user tag rekey writes when it first sees an inactive
/// key it did not deactivate: `rekey:seen-inactive:<AccessKeyId>` = RFC 3339 time.
pub const SEEN_INACTIVE_TAG_PREFIX: &str = "rekey:seen-inactive:";

/// Status of an access key, as IAM reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Disabled, but not deleted.
    Inactive,
}

/// One access key of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFacts {
    /// `AKIA...`.
    pub access_key_id: String,
    /// Active or inactive.
    pub status: KeyStatus,
    /// IAM's CreateDate.
    pub created: DateTime<Utc>,
    /// Last use, if IAM has seen one.
    pub last_used: Option<DateTime<Utc>>,
}

/// What the user's rekey secret says, if the user has one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretFacts {
    /// ARN of the secret.
    pub arn: String,
    /// Key id stored in the `AWSCURRENT` version.
    pub current_key_id: Option<String>,
    /// Key id stored in the `AWSPENDING` version (a rotation that did not finish).
    pub pending_key_id: Option<String>,
    /// When a rotation was recorded as started and has not finished (the
    /// secret's `rekey:rotation-started/<run>` tags, the earliest start),
    /// even if no key was stored yet.
    pub rotation_started: Option<DateTime<Utc>>,
    /// Until when the run that recorded the rotation holds it (its lease):
    /// while it holds, no other run touches the user. `None`: no record, or
    /// a record of an earlier rekey version (no lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_lease_until: Option<DateTime<Utc>>,
    /// The run holding the lease, for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_owner: Option<String>,
    /// The user's key ids just before the recorded rotation created its key:
    /// any other key was created by that rotation. `None` for a record of an
    /// earlier rekey version (creation times are compared instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_before_rotation: Option<Vec<String>>,
    /// The tag keys of the rotation's records (one per run that wrote one),
    /// so a finished rotation's records can be removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotation_record_tags: Vec<String>,
}

/// A key created by a crashed run's rotation is created moments after the
/// rotation was recorded. A key created more than this after the record was
/// made by someone else (the next daily run would have cleaned up long
/// before), so it is never taken for the rotation's key and deleted.
pub const ORPHAN_WINDOW: chrono::Duration = chrono::Duration::hours(12);

impl SecretFacts {
    /// Whether a rotation is recorded and another run's lease on it holds at `now`.
    pub fn rotation_leased_at(&self, now: DateTime<Utc>) -> bool {
        self.rotation_started.is_some() && self.rotation_lease_until.is_some_and(|until| now < until)
    }

    /// Whether `key` was created by the recorded rotation: not among the keys
    /// the user had when it started (or, for a record without them, created
    /// at or after its start), and within [`ORPHAN_WINDOW`] of the start.
    pub fn created_by_recorded_rotation(&self, key: &KeyFacts) -> bool {
        self.new_since_record(key) && self.rotation_started.is_some_and(|started| key.created < started + ORPHAN_WINDOW)
    }

    /// Whether `key` is newer than the recorded rotation's start: not among
    /// the keys the user had then (or, for a record without them, created at
    /// or after the start).
    pub fn new_since_record(&self, key: &KeyFacts) -> bool {
        let Some(started) = self.rotation_started else { return false };
        match &self.keys_before_rotation {
            Some(known) => !known.contains(&key.access_key_id),
            None => key.created >= started,
        }
    }
}

/// Everything the engine needs to know about one IAM user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFacts {
    /// IAM user name.
    pub user_name: String,
    /// IAM user ARN.
    pub user_arn: String,
    /// The user's keys (IAM allows at most two).
    pub keys: Vec<KeyFacts>,
    /// The user's tags (exemption tags, owner tag, rekey's own records).
    pub tags: BTreeMap<String, String>,
    /// Member of the configured exemption group.
    pub in_exemption_group: bool,
    /// The user's rekey secret, if one exists.
    pub secret: Option<SecretFacts>,
}

/// Everything the engine needs to know about one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name from Organizations (or the id in single-account mode).
    pub account_name: String,
    /// Account email from Organizations, when known.
    pub account_email: Option<String>,
    /// Every user of the account (all pages).
    pub users: Vec<UserFacts>,
}

/// The lifecycle policy, from `lifecycle` in the config plus per-run options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// A key expires at this age (days).
    pub rotate_after_days: u32,
    /// An expired key is deactivated at this age (days), after the replacement's grace.
    pub deactivate_after_days: u32,
    /// A deactivated key is deleted at this age (days), after the inactive grace.
    pub delete_after_days: u32,
    /// Each pending action is announced this many days ahead.
    pub warn_before_days: u32,
    /// Delete inactive keys rekey did not deactivate.
    pub delete_stale_inactive_keys: bool,
    /// Postpone deactivation of a key used within this many days.
    pub require_unused_days_before_deactivate: Option<u32>,
    /// Users whose keys are rotated now whatever their age (event or CLI).
    pub force_rotate: BTreeSet<String>,
    /// Name of the exemption IAM group, used to say why a member is exempt
    /// (`None`: the message says "the exemption group").
    pub exemption_group: Option<String>,
    /// `secrets.name_pattern`: a user whose name cannot be part of a secret
    /// name (see [`rekey_config::secret_name_problem`]) is reported, not rotated.
    #[serde(default = "default_secret_name_pattern")]
    pub secret_name_pattern: String,
}

fn default_secret_name_pattern() -> String {
    rekey_config::DEFAULT_SECRET_NAME_PATTERN.to_string()
}

impl Policy {
    /// The policy a config describes, with no forced users.
    pub fn from_config(lifecycle: &rekey_config::Lifecycle) -> Policy {
        Policy {
            rotate_after_days: lifecycle.rotate_after_days,
            deactivate_after_days: lifecycle.deactivate_after_days,
            delete_after_days: lifecycle.delete_after_days,
            warn_before_days: lifecycle.warn_before_days,
            delete_stale_inactive_keys: lifecycle.delete_stale_inactive_keys,
            require_unused_days_before_deactivate: lifecycle.require_unused_days_before_deactivate,
            force_rotate: BTreeSet::new(),
            exemption_group: lifecycle.exemption_group.as_ref().map(|g| g.as_str().to_string()),
            secret_name_pattern: default_secret_name_pattern(),
        }
    }

    /// The policy a whole config describes (the exemption group and the
    /// secret names as [`rekey_config::Names`] derives them), with no forced users.
    pub fn for_config(config: &rekey_config::Config) -> Policy {
        let names = config.names();
        Policy {
            exemption_group: Some(names.exemption_group),
            secret_name_pattern: names.secret_name_pattern,
            ..Policy::from_config(&config.lifecycle)
        }
    }
}

/// What rekey does (or, in audit mode, would do) to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Create a replacement key and store it in the user's secret (old key stays active).
    Rotate,
    /// Finish a rotation a crashed run left half done (verify and promote the pending version).
    CompleteRotation,
    /// Delete a key created by a crashed run whose secret was never stored, so the rotation can start over.
    DeleteOrphanKey,
    /// Set a key Inactive. The executor also writes the user tag
    /// `rekey:deactivated:<AccessKeyId>` = the run's time (see
    /// [`DEACTIVATED_TAG_PREFIX`]): the delete grace is measured from it.
    Deactivate,
    /// Delete a key. The executor should also remove the key's
    /// `rekey:deactivated:` / `rekey:seen-inactive:` tags (IAM allows 50 tags per user).
    Delete,
    /// Record that an inactive key rekey did not deactivate was first seen
    /// inactive now: the executor writes the user tag
    /// `rekey:seen-inactive:<AccessKeyId>` = the run's time (see
    /// [`SEEN_INACTIVE_TAG_PREFIX`]). Planned only with
    /// `delete_stale_inactive_keys`, since that tag starts the stale key's
    /// deletion grace. Not destructive.
    RecordInactiveSeen,
}

/// Why an action or warning exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The key reached `rotate_after_days`.
    Expired,
    /// The user is in the run's `force_rotate` list.
    Forced,
    /// The replacement has had its installation grace and the old key reached `deactivate_after_days`.
    ReplacementGraceOver,
    /// The key rekey deactivated reached `delete_after_days` and its inactive grace is over.
    InactiveGraceOver,
    /// An inactive key rekey did not deactivate (with `delete_stale_inactive_keys`).
    StaleInactiveKey,
    /// A crashed run left a pending rotation.
    InterruptedRotation,
    /// The old key was used recently (`require_unused_days_before_deactivate`).
    RecentlyUsed,
    /// Both keys are expired and active: no safe action.
    BothKeysExpired,
    /// Two active keys, and the older one was used after the newer one was
    /// created by someone other than rekey: the newer key may serve another
    /// application rather than replace the older one, so neither is deactivated.
    TwoKeysInUse,
    /// An expired key beside an inactive key that may not be deleted yet.
    InactiveKeyBlocksRotation,
    /// The user's name cannot be part of a Secrets Manager secret name (IAM
    /// allows `,`, Secrets Manager does not): rekey cannot store a new key.
    InvalidSecretName,
    /// An inactive key rekey did not deactivate, left alone.
    InactiveNotByRekey,
    /// A rekey tag on the user (exempt-until, deactivated, seen-inactive)
    /// has a value rekey cannot parse; the tag is ignored.
    MalformedTag,
    /// IAM reported more than two keys for the user: no safe action.
    TooManyKeys,
    /// Another run holds the lease of a rotation of this user: it is left
    /// alone until that rotation finishes or the lease expires.
    RotationInFlight,
}

/// One planned action. Everything a report or email line needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    /// Account id.
    pub account_id: String,
    /// IAM user name.
    pub user_name: String,
    /// The key acted on (for `Rotate`, the key being replaced).
    pub access_key_id: String,
    /// What is done.
    pub action: ActionKind,
    /// Why.
    pub reason: Reason,
    /// When it is due (at or before the planning time for actions taken now).
    pub due: DateTime<Utc>,
}

/// How loud a warning is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// An action is coming within `warn_before_days`.
    Warning,
    /// A human must act (no safe automatic action exists, or one was postponed).
    Critical,
}

/// An announcement: an action coming up, or a state that needs a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Account id.
    pub account_id: String,
    /// IAM user name.
    pub user_name: String,
    /// The key concerned; empty when the warning is about the user (a
    /// malformed exempt-until tag).
    pub access_key_id: String,
    /// The coming action, if any.
    pub upcoming: Option<ActionKind>,
    /// Why.
    pub reason: Reason,
    /// When the action is due, if any.
    pub due: Option<DateTime<Utc>>,
    /// Warning or critical.
    pub severity: Severity,
    /// Human-readable sentence.
    pub message: String,
}

/// Where a user stands after planning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UserStatus {
    /// Keys are fine or actions are planned.
    Managed,
    /// Exempt (group membership, or the exempt-until tag); reported, not acted on.
    Exempt {
        /// Why (group name, or the tag's reason).
        reason: String,
        /// Until when, for tag exemptions.
        until: Option<chrono::NaiveDate>,
    },
    /// No safe automatic action exists; a person must act.
    NeedsManualAction {
        /// What the person must do, and why.
        reason: String,
    },
}

/// The plan for one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPlan {
    /// IAM user name.
    pub user_name: String,
    /// Managed, exempt or needs manual action.
    pub status: UserStatus,
    /// Actions due now, in the order they must run.
    pub actions: Vec<PlannedAction>,
    /// Upcoming actions and problems.
    pub warnings: Vec<Warning>,
}

/// The plan for one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Account id.
    pub account_id: String,
    /// The planning time.
    pub now: DateTime<Utc>,
    /// One entry per user, in user-name order.
    pub users: Vec<UserPlan>,
}
