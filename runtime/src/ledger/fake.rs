//! An in-memory [`RunLedger`] with the adapter's semantics (first report
//! wins, closed runs take no more reports), for unit tests of the handlers.

use super::{Closer, Recorded, RunLedger, RunRecord, RunState};
use crate::ports::PortError;
use crate::report::AccountReport;
use chrono::{DateTime, Utc};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// One run in memory.
#[derive(Debug)]
pub struct FakeRun {
    pub state: RunState,
    /// The sending lease: holder and end.
    pub lease: Option<(String, DateTime<Utc>)>,
    pub reports: BTreeMap<String, AccountReport>,
    pub sent: BTreeSet<String>,
}

/// The ledger.
#[derive(Debug, Default)]
pub struct FakeLedger {
    pub runs: RefCell<BTreeMap<String, FakeRun>>,
    /// Parts of accounts, by (run, account, part).
    pub parts: RefCell<BTreeMap<(String, String, u32), AccountReport>>,
}

impl RunLedger for FakeLedger {
    async fn open_run(&self, run: &RunRecord) -> Result<(), PortError> {
        self.runs.borrow_mut().entry(run.run_id.clone()).or_insert_with(|| FakeRun {
            state: RunState {
                run_id: run.run_id.clone(),
                account_ids: run.account_ids.clone(),
                started_at: run.started_at,
                done: 0,
                closed_by: None,
            },
            lease: None,
            reports: BTreeMap::new(),
            sent: BTreeSet::new(),
        });
        Ok(())
    }

    async fn record_account(&self, report: &AccountReport) -> Result<Recorded, PortError> {
        let mut runs = self.runs.borrow_mut();
        let Some(run) = runs.get_mut(&report.run_id) else { return Ok(Recorded::RunNotOpen) };
        if run.reports.contains_key(&report.account_id) {
            return Ok(Recorded::AlreadyRecorded);
        }
        if run.state.closed_by.is_some() {
            return Ok(Recorded::RunNotOpen);
        }
        run.reports.insert(report.account_id.clone(), report.clone());
        run.state.done += 1;
        Ok(Recorded::Counted { done: run.state.done, expected: run.state.expected() })
    }

    async fn run_state(&self, run_id: &str) -> Result<Option<RunState>, PortError> {
        Ok(self.runs.borrow().get(run_id).map(|r| r.state.clone()))
    }

    async fn close_run(&self, run_id: &str, closer: Closer) -> Result<bool, PortError> {
        let mut runs = self.runs.borrow_mut();
        let Some(run) = runs.get_mut(run_id) else { return Ok(false) };
        Ok(*run.state.closed_by.get_or_insert(closer) == closer)
    }

    async fn account_reports(&self, run_id: &str) -> Result<Vec<AccountReport>, PortError> {
        Ok(self.runs.borrow().get(run_id).map(|r| r.reports.values().cloned().collect()).unwrap_or_default())
    }

    async fn digest_sent(&self, run_id: &str, recipient: &str) -> Result<bool, PortError> {
        Ok(self.runs.borrow().get(run_id).is_some_and(|r| r.sent.contains(&recipient.to_lowercase())))
    }

    async fn mark_digest_sent(&self, run_id: &str, recipient: &str) -> Result<(), PortError> {
        if let Some(r) = self.runs.borrow_mut().get_mut(run_id) {
            r.sent.insert(recipient.to_lowercase());
        }
        Ok(())
    }

    async fn claim_sending(
        &self,
        run_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let mut runs = self.runs.borrow_mut();
        let Some(run) = runs.get_mut(run_id) else { return Ok(false) };
        match &run.lease {
            Some((other, end)) if other != holder && *end >= now => Ok(false),
            _ => {
                run.lease = Some((holder.to_string(), until));
                Ok(true)
            }
        }
    }

    async fn release_sending(&self, run_id: &str, holder: &str) -> Result<(), PortError> {
        if let Some(run) = self.runs.borrow_mut().get_mut(run_id) {
            if run.lease.as_ref().is_some_and(|(h, _)| h == holder) {
                run.lease = None;
            }
        }
        Ok(())
    }

    async fn record_part(&self, report: &AccountReport, part: u32) -> Result<(), PortError> {
        let key = (report.run_id.clone(), report.account_id.clone(), part);
        self.parts.borrow_mut().entry(key).or_insert_with(|| report.clone());
        Ok(())
    }

    async fn account_parts(&self, run_id: &str, account_id: &str) -> Result<Vec<AccountReport>, PortError> {
        Ok(self
            .parts
            .borrow()
            .iter()
            .filter(|((r, a, _), _)| r == run_id && a == account_id)
            .map(|(_, report)| report.clone())
            .collect())
    }
}
