//! The messages the functions pass through SQS: inventory → rotation (one per
//! account) and rotation/inventory → notifier (digests and run events). Plain serde types;
//! their JSON is the queue contract, so fields are only ever added.

use crate::report::AccountReport;
use serde::{Deserialize, Serialize};

/// One account to audit, sent by the inventory to the accounts queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMessage {
    /// Id shared by every message of one scheduled run.
    pub run_id: String,
    /// 12-digit account id.
    pub account_id: String,
    /// Account name from Organizations.
    pub account_name: String,
    /// Account email from Organizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_email: Option<String>,
    /// Force audit mode for this run (an event can never force enforce).
    #[serde(default)]
    pub dry_run: bool,
    /// Users whose keys are rotated now whatever their age.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub force_rotate: Vec<String>,
    /// A continuation: an earlier invocation handled the users up to and
    /// including this name (by name order) before its deadline; this one
    /// handles the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_after_user: Option<String>,
    /// Which part of the account this message is (0: the inventory's).
    #[serde(default, skip_serializing_if = "is_first_part")]
    pub part: u32,
}

fn is_first_part(part: &u32) -> bool {
    *part == 0
}

impl AccountMessage {
    /// The message for the rest of the account, after `last_user`.
    pub fn continuation(&self, last_user: &str) -> AccountMessage {
        AccountMessage { resume_after_user: Some(last_user.to_string()), part: self.part + 1, ..self.clone() }
    }
}

/// Who a digest is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    /// The account's email from Organizations: all users of the account.
    Account,
    /// A user's owner (from the owner tag): only that owner's users.
    Owner,
    /// A configured admin recipient: all users of the account.
    Admin,
}

/// What one recipient can see of one account's report (owners see only
/// their users).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSection {
    /// Why this recipient sees this account.
    pub recipient_kind: RecipientKind,
    /// The recipient's view of the account's report.
    pub report: AccountReport,
}

/// One email: everything one recipient gets from one run, across accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Run id.
    pub run_id: String,
    /// Email address.
    pub recipient: String,
    /// One section per account, by account id.
    pub sections: Vec<DigestSection>,
    /// Accounts of the run with no result when its wait ran out (admins only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_account_ids: Vec<String>,
}

impl Digest {
    /// The widest view among the sections (admin, then account, then owner).
    pub fn recipient_kind(&self) -> RecipientKind {
        let has = |kind| self.sections.iter().any(|s| s.recipient_kind == kind);
        if has(RecipientKind::Owner) && !has(RecipientKind::Account) && !has(RecipientKind::Admin) {
            RecipientKind::Owner
        } else if has(RecipientKind::Account) && !has(RecipientKind::Admin) {
            RecipientKind::Account
        } else {
            RecipientKind::Admin
        }
    }
}

/// What the notifications queue carries to the notifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotifierMessage {
    /// Send this digest now: an account of a run that is not in the run
    /// ledger (sent by hand) or that reported after the run was closed.
    Digest(Digest),
    /// Every account of the run has reported: send the run's digests.
    RunComplete {
        /// Run id.
        run_id: String,
    },
    /// Sent by the inventory with a delay: if the run's wait is over, send
    /// what is there; otherwise check again later.
    RunDeadline {
        /// Run id.
        run_id: String,
    },
}
