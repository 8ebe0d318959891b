//! The run ledger: where one scheduled run's account reports are collected,
//! so that the notifier sends one digest per recipient per run instead of
//! one per account. The inventory opens a run with the accounts it queued;
//! each rotation records its account's report and counts it; the rotation
//! that completes the count asks the notifier to send, and a delayed
//! deadline message sends what is there if some account never reports.
//!
//! The port is a small trait ([`RunLedger`]) with a DynamoDB adapter in
//! `crate::aws::dynamodb` and an in-memory fake for unit tests.

#[cfg(test)]
pub(crate) mod fake;

use crate::ports::PortError;
use crate::report::AccountReport;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Largest report JSON kept in one ledger item (DynamoDB items hold 400 KB;
/// the rest is left for keys and attribute names).
pub const REPORT_LIMIT_BYTES: usize = 350_000;

/// Days a run stays in the ledger (DynamoDB TTL) after it started; enough
/// to look at a run's reports after the fact.
pub const RETENTION_DAYS: i64 = 7;

/// A run as the inventory opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    /// The run id shared by its messages.
    pub run_id: String,
    /// Every account queued, by id (the count the run waits for).
    pub account_ids: Vec<String>,
    /// When the inventory queued the run.
    pub started_at: DateTime<Utc>,
}

/// What closed a run: all accounts reported, or its wait ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closer {
    /// Every queued account recorded its report.
    Complete,
    /// `notifications.digest_wait_minutes` passed first.
    Deadline,
}

impl Closer {
    /// The name stored in the ledger: serde's (`complete`, `deadline`), so
    /// the item and the run's JSON name it alike.
    pub fn stored_name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => name,
            other => unreachable!("a unit variant serializes as its name, not {other:?}"),
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Closer> {
        serde_json::from_value(serde_json::Value::from(value)).ok()
    }
}

/// A run as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunState {
    /// Run id.
    pub run_id: String,
    /// The accounts queued.
    pub account_ids: Vec<String>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Accounts recorded so far.
    pub done: u32,
    /// Set once the digests are (being) sent.
    pub closed_by: Option<Closer>,
}

impl RunState {
    /// The number of accounts the run waits for.
    pub fn expected(&self) -> u32 {
        u32::try_from(self.account_ids.len()).unwrap_or(u32::MAX)
    }

    /// Whether every queued account has recorded its report.
    pub fn is_complete(&self) -> bool {
        self.done >= self.expected()
    }
}

/// What recording an account's report did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded and counted: `done` of `expected` accounts have reported.
    Counted {
        /// Accounts recorded, this one included.
        done: u32,
        /// Accounts queued.
        expected: u32,
    },
    /// This account was already recorded (SQS delivered its message again);
    /// the first report stands, since it holds what was actually done.
    AlreadyRecorded,
    /// The run is not in the ledger (an account message sent by hand) or is
    /// already closed (the account reported after the deadline): the caller
    /// sends this account's digests on their own.
    RunNotOpen,
}

/// Where runs are collected.
pub trait RunLedger {
    /// Opens a run; opening the same run again (an inventory retry) keeps the first record.
    fn open_run(&self, run: &RunRecord) -> impl Future<Output = Result<(), PortError>>;
    /// Records one account's report (fitted to [`REPORT_LIMIT_BYTES`] by the
    /// caller) and counts it, atomically, unless the run is closed or the
    /// account was recorded already.
    fn record_account(&self, report: &AccountReport) -> impl Future<Output = Result<Recorded, PortError>>;
    /// The run's state, `None` when unknown (or expired).
    fn run_state(&self, run_id: &str) -> impl Future<Output = Result<Option<RunState>, PortError>>;
    /// Closes the run for `closer`. True when the run is closed by `closer`
    /// (now, or by an earlier delivery of the same request); false when the
    /// other closer got there first and sends the digests.
    fn close_run(&self, run_id: &str, closer: Closer) -> impl Future<Output = Result<bool, PortError>>;
    /// Every account report recorded for the run, by account id.
    fn account_reports(&self, run_id: &str) -> impl Future<Output = Result<Vec<AccountReport>, PortError>>;
    /// Whether the run's digest to `recipient` was already sent.
    fn digest_sent(&self, run_id: &str, recipient: &str) -> impl Future<Output = Result<bool, PortError>>;
    /// Records that the run's digest to `recipient` was sent, so a redelivery
    /// sends only the digests still missing.
    fn mark_digest_sent(&self, run_id: &str, recipient: &str) -> impl Future<Output = Result<(), PortError>>;
    /// Takes the run's sending lease for `holder` (an SQS message id) until
    /// `until`, unless another holder's lease runs past `now`. True when
    /// `holder` holds it (again, for a redelivery of its own message). Only
    /// the holder sends the run's digests: two `run_complete` messages (two
    /// accounts that both saw the run complete, or SQS delivering one twice)
    /// handled at once would otherwise both find a digest unsent and both
    /// send it.
    fn claim_sending(
        &self,
        run_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, PortError>>;
    /// Gives the sending lease up, if `holder` holds it.
    fn release_sending(&self, run_id: &str, holder: &str) -> impl Future<Output = Result<(), PortError>>;
    /// Keeps the report of one part of an account that did not fit in one
    /// invocation (the rotation stopped before its deadline and queued the
    /// rest), without counting the account. The first report of a part
    /// stands (a redelivered part acted on nothing new). Parts are kept
    /// whether or not the run is open, so the final part finds them.
    fn record_part(&self, report: &AccountReport, part: u32) -> impl Future<Output = Result<(), PortError>>;
    /// The parts recorded for an account in a run, in part order.
    fn account_parts(
        &self,
        run_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Vec<AccountReport>, PortError>>;
}
