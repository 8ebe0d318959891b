//! Where security teams already look: Security Hub findings and EventBridge
//! lifecycle events, built from the account reports by pure functions
//! ([`findings::account_findings`], [`events::account_events`],
//! [`events::run_completed`]) and sent through two small ports
//! ([`FindingsSink`], [`EventSink`]; the AWS adapters are in
//! `aws/securityhub.rs` and `aws/eventbridge.rs`).
//!
//! [`Publisher::account`] runs after each account (or each part of one an
//! invocation covered): it reads the account's open rekey findings, imports
//! the failing and settled ones in batches of 100, resolves the settled ones,
//! then puts the account's events in batches of 10. Throttled calls and
//! refused entries are retried ([`Retry`]); what still fails is logged and
//! counted, never fatal to the run: the keys were already rotated. A dry run
//! (`rekey plan`, `rotate --dry-run`, an event asking for one) publishes
//! nothing; audit mode publishes findings (it never resolves one by acting,
//! since it acts on nothing).

pub mod events;
pub mod findings;
#[cfg(test)]
mod tests;

pub use events::{Event, EventSink};
pub use findings::{Covered, EntryError, Finding, FindingContext, FindingsAccounts, FindingsSink, OpenFinding};

use crate::ports::{PortError, PortResult};
use crate::report::AccountReport;
use chrono::{DateTime, Utc};
use rekey_config::RuntimeFeature;
use std::collections::BTreeMap;
use std::time::Duration;

/// The optional parts this binary was compiled with (the cargo features of
/// `runtime/Cargo.toml`; every build but the Lambda's has all of them).
pub const BUILT_WITH: &[RuntimeFeature] = &[
    #[cfg(feature = "security-hub")]
    RuntimeFeature::SecurityHub,
    #[cfg(feature = "event-bus")]
    RuntimeFeature::EventBus,
];

/// The parts `integrations` turns on that `built` lacks, in
/// [`RuntimeFeature::ALL`] order: a Lambda binary packaged for another
/// config (`rekey synth --lambda-zip`, a stale asset) must refuse to start
/// rather than leave a configured integration silently off.
pub fn not_built_with(integrations: &rekey_config::Integrations, built: &[RuntimeFeature]) -> Vec<RuntimeFeature> {
    integrations.runtime_features().into_iter().filter(|feature| !built.contains(feature)).collect()
}

/// The adapter of an integration this binary was compiled without. It has no
/// value, so a publisher with this type parameter never has that integration
/// on; [`not_built_with`] keeps a config that turns it on from getting here.
#[derive(Clone, Copy, Debug)]
pub enum NotBuilt {}

impl FindingsAccounts for NotBuilt {
    type Sink = NotBuilt;
    async fn open(&self, _: &str) -> PortResult<NotBuilt> {
        match *self {}
    }
}

impl FindingsSink for NotBuilt {
    async fn open_findings(&self, _: &str) -> PortResult<Vec<OpenFinding>> {
        match *self {}
    }
    async fn import(&self, _: &[Finding]) -> PortResult<Vec<EntryError>> {
        match *self {}
    }
    async fn resolve(&self, _: &[String]) -> PortResult<Vec<EntryError>> {
        match *self {}
    }
}

impl EventSink for NotBuilt {
    async fn put(&self, _: &[Event]) -> PortResult<Vec<Option<EntryError>>> {
        match *self {}
    }
}

/// How refused entries and throttled calls are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts per entry, the first included.
    pub attempts: u32,
    /// Pause before the second attempt, doubling after.
    pub pause: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 4, pause: Duration::from_millis(500) }
    }
}

/// What publishing one account did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Findings imported as FAILED.
    pub failing: usize,
    /// Findings set to PASSED and RESOLVED.
    pub resolved: usize,
    /// Events put.
    pub events: usize,
    /// What could not be done, one line each (logged).
    pub errors: Vec<String>,
}

/// Sends `items` in batches of `limit` through `call`, which returns the
/// refused items' keys; refused items and batches failing with a retryable
/// error are tried again up to `retry.attempts` times. Returns the items
/// that never went through, with the last error of each.
async fn send_batches<T, F, Fut>(
    items: Vec<T>,
    limit: usize,
    retry: Retry,
    key: impl Fn(&T) -> String,
    call: F,
) -> Vec<(String, String)>
where
    T: Clone,
    F: Fn(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = PortResult<Vec<EntryError>>>,
{
    let mut pending = items;
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut pause = retry.pause;
    for attempt in 1..=retry.attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        if attempt > 1 {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        let mut again = Vec::new();
        for batch in pending.chunks(limit) {
            match call(batch.to_vec()).await {
                Ok(refused) => {
                    for e in refused {
                        failed.insert(e.id.clone(), format!("{}: {}", e.code, e.message));
                        if let Some(item) = batch.iter().find(|i| key(i) == e.id) {
                            again.push(item.clone());
                        }
                    }
                    for item in batch.iter().filter(|i| !again.iter().any(|a| key(a) == key(i))) {
                        failed.remove(&key(item));
                    }
                }
                Err(e) => {
                    for item in batch {
                        failed.insert(key(item), e.to_string());
                    }
                    if e.is_retryable() {
                        again.extend(batch.iter().cloned());
                    }
                }
            }
        }
        pending = again;
    }
    failed.into_iter().collect()
}

/// Puts `events` in batches of [`events::BATCH_LIMIT`], retrying refused
/// entries; the number put and one line per event that was not.
pub async fn put_events<E: EventSink>(sink: &E, events: Vec<Event>, retry: Retry) -> (usize, Vec<String>) {
    let total = events.len();
    // Entries are keyed by their position in `events`, which the adapter's
    // per-entry answer refers to.
    let indexed: Vec<(usize, Event)> = events.into_iter().enumerate().collect();
    let failed = send_batches(
        indexed,
        events::BATCH_LIMIT,
        retry,
        |(i, _)| i.to_string(),
        |batch| async move {
            let only: Vec<Event> = batch.iter().map(|(_, e)| e.clone()).collect();
            let answers = sink.put(&only).await?;
            Ok(answers
                .into_iter()
                .zip(&batch)
                .filter_map(|(answer, (i, _))| answer.map(|e| EntryError { id: i.to_string(), ..e }))
                .collect())
        },
    )
    .await;
    let lines = failed.iter().map(|(i, e)| format!("event {i} not put: {e}")).collect();
    (total - failed.len(), lines)
}

/// Settings of the integrations, from `integrations` in the config.
#[derive(Clone, Debug)]
pub struct Publisher<A, E> {
    /// Security Hub, when `integrations.security_hub.enabled`.
    pub findings: Option<A>,
    /// The event bus, when `integrations.event_bus` is set.
    pub events: Option<E>,
    /// Region of the findings (`integrations.security_hub.region`, else the deployment region).
    pub region: String,
    /// The config's names (secret names in the findings' remediation).
    pub names: rekey_config::Names,
    /// Retries of refused entries.
    pub retry: Retry,
}

impl<A: FindingsAccounts, E: EventSink> Publisher<A, E> {
    /// A publisher for `config`, with the adapters the wiring built for the
    /// integrations that are on.
    pub fn new(config: &rekey_config::Config, findings: Option<A>, events: Option<E>) -> Self {
        let region =
            config.integrations.security_hub.region.as_ref().unwrap_or(&config.deployment.region).as_str().to_string();
        Publisher { findings, events, region, names: config.names(), retry: Retry::default() }
    }

    /// Whether anything is on.
    pub fn is_on(&self) -> bool {
        self.findings.is_some() || self.events.is_some()
    }

    /// Publishes one account's report (the users `covered`): findings, then
    /// events. Logs and returns what could not be done.
    pub async fn account(&self, report: &AccountReport, covered: &Covered, now: DateTime<Utc>) -> Published {
        let mut out = Published::default();
        let mut open = None;
        if let Some(accounts) = &self.findings {
            match self.findings(accounts, report, covered, now, &mut out).await {
                Ok(known) => open = Some(known),
                Err(e) => out.errors.push(format!("security hub: {e}")),
            }
        }
        if let Some(bus) = &self.events {
            // New critical warnings: no open finding of the key with the same reason before this run.
            let is_new = |w: &crate::lifecycle::Warning| {
                let id = findings::finding_id(&report.account_id, &w.user_name, &w.access_key_id);
                open.as_ref().is_none_or(|open: &Vec<OpenFinding>| {
                    !open.iter().any(|f| f.id == id && f.reason == findings::serde_name(&w.reason))
                })
            };
            let events = events::account_events(report, now, is_new);
            let (put, errors) = put_events(bus, events, self.retry).await;
            out.events = put;
            out.errors.extend(errors);
        }
        for e in &out.errors {
            tracing::warn!(run_id = %report.run_id, account_id = %report.account_id, error = %e, "integration not updated");
        }
        if self.is_on() {
            tracing::info!(
                run_id = %report.run_id,
                account_id = %report.account_id,
                failing = out.failing,
                resolved = out.resolved,
                events = out.events,
                errors = out.errors.len(),
                "integrations updated"
            );
        }
        out
    }

    /// Syncs the account's findings; returns the findings that were open before.
    async fn findings(
        &self,
        accounts: &A,
        report: &AccountReport,
        covered: &Covered,
        now: DateTime<Utc>,
        out: &mut Published,
    ) -> Result<Vec<OpenFinding>, PortError> {
        if report.status != crate::report::AccountStatus::Succeeded {
            return Ok(Vec::new());
        }
        let sink = accounts.open(&report.account_id).await?;
        let open = sink.open_findings(&report.account_id).await?;
        let partition = rekey_config::contract::partition(&self.region);
        let ctx = FindingContext { region: &self.region, partition, names: &self.names, now, covered };
        let all = findings::account_findings(report, &open, &ctx);
        let failed = send_batches(
            all.clone(),
            findings::BATCH_LIMIT,
            self.retry,
            |f| f.id.clone(),
            |batch| {
                let sink = &sink;
                async move { sink.import(&batch).await }
            },
        )
        .await;
        let imported: Vec<&Finding> = all.iter().filter(|f| !failed.iter().any(|(id, _)| id == &f.id)).collect();
        out.errors.extend(failed.iter().map(|(id, e)| format!("finding `{id}` not imported: {e}")));
        let to_resolve: Vec<String> =
            imported.iter().filter(|f| f.compliance == findings::Compliance::Passed).map(|f| f.id.clone()).collect();
        out.failing = imported.len() - to_resolve.len();
        let unresolved = send_batches(to_resolve.clone(), findings::BATCH_LIMIT, self.retry, Clone::clone, |batch| {
            let sink = &sink;
            async move { sink.resolve(&batch).await }
        })
        .await;
        out.resolved = to_resolve.len() - unresolved.len();
        out.errors.extend(unresolved.iter().map(|(id, e)| format!("finding `{id}` not resolved: {e}")));
        Ok(open)
    }

    /// Puts `Run Completed` for a run (`missing` accounts had no result).
    pub async fn run_completed(
        &self,
        run_id: &str,
        mode: crate::report::EffectiveMode,
        reports: &[AccountReport],
        missing: usize,
        now: DateTime<Utc>,
    ) {
        let Some(bus) = &self.events else { return };
        let event = events::run_completed(run_id, mode, reports, missing, now);
        let (_, errors) = put_events(bus, vec![event], self.retry).await;
        for e in errors {
            tracing::warn!(run_id, error = %e, "`Run Completed` not sent");
        }
    }
}

/// Publishes what one invocation did to an account: the users after
/// `message.resume_after_user` through `through` (`None`: to the last).
/// Nothing for a dry run, which changes nothing anywhere.
pub async fn publish_part<A: FindingsAccounts, E: EventSink>(
    publisher: &Publisher<A, E>,
    message: &crate::messages::AccountMessage,
    report: &AccountReport,
    through: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Published> {
    if message.dry_run || !publisher.is_on() {
        return None;
    }
    let covered = Covered { after: message.resume_after_user.clone(), through: through.map(str::to_string) };
    Some(publisher.account(report, &covered, now).await)
}
