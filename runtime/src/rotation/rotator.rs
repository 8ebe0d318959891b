//! The port through which the handlers and the in-process run drive the
//! rotation core, one account at a time (the real one is
//! `wiring::CoreRotator`; tests count or script accounts with fakes).

use super::{AccountPart, Deadline};
use crate::messages::AccountMessage;
use crate::report::AccountReport;
use chrono::{DateTime, Utc};
use std::future::Future;

/// Audits, plans and (enforce mode) rotates one account. Never fails as a
/// call: an account that could not be processed comes back with
/// [`AccountStatus::Failed`].
pub trait AccountRotator {
    /// Processes one account at `now`.
    fn rotate(&self, message: &AccountMessage, now: DateTime<Utc>) -> impl Future<Output = AccountReport>;

    /// Processes what `deadline` leaves time for: the rotation core stops
    /// starting users near it and says where to continue. A rotator without
    /// that notion processes the whole account.
    fn rotate_within(
        &self,
        message: &AccountMessage,
        now: DateTime<Utc>,
        deadline: &Deadline,
    ) -> impl Future<Output = AccountPart> {
        let _ = deadline;
        async move { AccountPart { report: self.rotate(message, now).await, continue_after: None } }
    }

    /// Called once an in-process run has processed every account (the
    /// real rotator announces `Run Completed` on the configured event bus);
    /// nothing by default.
    fn run_completed(&self, report: &crate::report::RunReport, now: DateTime<Utc>) -> impl Future<Output = ()> {
        let _ = (report, now);
        async {}
    }
}
