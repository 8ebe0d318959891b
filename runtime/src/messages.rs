//! The messages the functions pass through SQS: inventory → rotation (one per
//! account) and rotation → notifier (one per recipient). Plain serde types;
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

/// One digest to send, sent by the rotation function to the notifications queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationMessage {
    /// Run id.
    pub run_id: String,
    /// Email address.
    pub recipient: String,
    /// Why this recipient gets it.
    pub recipient_kind: RecipientKind,
    /// The part of the account's report this recipient may see (owners see only their users).
    pub report: AccountReport,
}
