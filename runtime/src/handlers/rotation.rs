//! The rotation function: one SQS record per account. Each record is
//! audited, planned and (enforce mode) acted on by the rotation core; the
//! account's summary is logged and its EMF metrics printed. Its report then
//! goes into the run ledger, and the account that completes the run queues
//! `run_complete` for the notifier, which sends one digest per recipient
//! for the whole run. An account whose run is not in the ledger (a message
//! sent by hand) or already closed gets its own digests queued directly.
//!
//! A record that failed as a whole is reported in `batchItemFailures` so SQS
//! redelivers only it; on its last delivery the failure is also recorded in
//! the run, so the run's digest says so instead of waiting for its deadline.
//! A not-enrolled account is not a failure.

use super::{
    Env, HandlerError, ACCOUNTS_MAX_RECEIVE_COUNT_ENV, ACCOUNTS_QUEUE_ENV, NOTIFICATIONS_QUEUE_ENV,
    RUN_LEDGER_TABLE_ENV,
};
use crate::aws::dynamodb::DynamoLedger;
use crate::aws::sqs::SqsQueue;
use crate::inventory::ports::{send_all, MessageQueue};
use crate::ledger::{Recorded, RunLedger, REPORT_LIMIT_BYTES};
use crate::messages::{AccountMessage, NotifierMessage};
use crate::notify::digests;
use crate::report::{AccountReport, AccountStatus};
use crate::rotation::{AccountPart, AccountRotator, Deadline};
use crate::wiring::CoreRotator;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use rekey_config::Config;

/// Largest report JSON put in a digest queued directly (SQS messages hold
/// 256 KB; the rest is left for the digest's envelope).
pub const DIGEST_REPORT_LIMIT_BYTES: usize = 200_000;

/// What the rotation function needs, built once per container (the rotation
/// core's own dependencies are [`crate::rotation::RotationDeps`]).
#[derive(Debug)]
pub struct RotationFunctionDeps<R, Q, L> {
    /// The validated config.
    pub config: Config,
    /// The rotation core.
    pub rotator: R,
    /// The queue client.
    pub queue: Q,
    /// Notifications queue URL.
    pub notifications_queue_url: String,
    /// Accounts queue URL: where the rest of an account goes when an
    /// invocation nears its deadline.
    pub accounts_queue_url: String,
    /// Where the run's reports are collected.
    pub ledger: L,
    /// Deliveries of an accounts-queue message before it moves to the
    /// dead-letter queue (the stack's redrive policy).
    pub max_receive_count: u32,
    /// The clock (`Utc::now` in Lambda; fixed in tests).
    pub clock: fn() -> DateTime<Utc>,
}

/// Largest part of an account report logged in one line, measured as the
/// line holds it (a JSON string, so quotes are escaped). CloudWatch Logs
/// takes events up to 256 KB; the line's other fields fit in the rest.
pub const LOG_PART_LIMIT_BYTES: usize = 200_000;

/// Logs the per-account run summary and prints its EMF metrics line. The
/// whole report (it holds no secret) follows in as many lines as needed
/// ([`report_log_parts`]): never truncated, since the logs are where a
/// reader finds the users a size-limited digest left out.
pub fn record_summary(report: &AccountReport, at: DateTime<Utc>) {
    let c = report.counts();
    let status = match &report.status {
        AccountStatus::Succeeded => "succeeded",
        AccountStatus::NotEnrolled { .. } => "not_enrolled",
        AccountStatus::Failed { .. } => "failed",
    };
    let parts = report_log_parts(report, LOG_PART_LIMIT_BYTES);
    tracing::info!(
        run_id = %report.run_id,
        account_id = %report.account_id,
        status,
        mode = ?report.mode,
        users = report.users.len(),
        rotated = c.rotated,
        deactivated = c.deactivated,
        deleted = c.deleted,
        planned = c.planned,
        warnings = c.warned,
        failures = c.failed,
        exempt = c.exempt,
        report_parts = parts.len(),
        "account summary"
    );
    let count = parts.len();
    for (i, part) in parts.iter().enumerate() {
        tracing::info!(
            run_id = %report.run_id,
            account_id = %report.account_id,
            part = i + 1,
            parts = count,
            report = %part,
            "account report part {} of {count}",
            i + 1
        );
    }
    crate::metrics::publish(report, at);
}

/// `report` as JSON in parts, each the report with a run of consecutive
/// users, no larger than `max_bytes` once escaped as a JSON string (a user
/// larger than that on its own is a part by itself, whole). Together the
/// parts hold every user, in order; a report without users is one part.
pub fn report_log_parts(report: &AccountReport, max_bytes: usize) -> Vec<String> {
    // Escaping works character by character, so a part's escaped size is
    // its shell's plus its users' plus one byte per comma between them:
    // each user is serialized once.
    let escaped_len = |json: &str| serde_json::to_string(json).expect("strings serialize").len() - 2;
    let to_json = |r: &AccountReport| serde_json::to_string(r).expect("reports serialize");
    let shell = report.header();
    let shell_len = escaped_len(&to_json(&shell));
    let user_lens: Vec<usize> =
        report.users.iter().map(|u| escaped_len(&serde_json::to_string(u).expect("reports serialize"))).collect();
    let mut parts = Vec::new();
    let mut start = 0;
    while start < report.users.len() || parts.is_empty() {
        let mut end = start;
        let mut len = shell_len;
        while end < report.users.len() {
            let added = user_lens[end] + usize::from(end > start);
            if end > start && len + added > max_bytes {
                break;
            }
            len += added;
            end += 1;
        }
        parts.push(to_json(&AccountReport { users: report.users[start..end].to_vec(), ..shell.clone() }));
        start = end;
    }
    parts
}

/// How many times SQS has delivered `record` (1 on the first delivery).
fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// Handles one batch with no deadline; returns the records to redeliver.
pub async fn handle<R: AccountRotator, Q: MessageQueue, L: RunLedger>(
    event: SqsEvent,
    deps: &RotationFunctionDeps<R, Q, L>,
) -> SqsBatchResponse {
    handle_within(event, deps, Deadline::none()).await
}

/// Handles one batch within the invocation's `deadline`; returns the
/// records to redeliver. An account the invocation cannot finish is a part:
/// its report so far is kept in the ledger and the rest of the account is
/// queued as a continuation; the last part's report carries every part's
/// users into the run, so no news of what was rotated is lost.
pub async fn handle_within<R: AccountRotator, Q: MessageQueue, L: RunLedger>(
    event: SqsEvent,
    deps: &RotationFunctionDeps<R, Q, L>,
    deadline: Deadline,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let (id, message): (String, AccountMessage) = match super::parse_record(&record, "an account message") {
            Ok(parsed) => parsed,
            Err(id) => {
                response.add_failure(id);
                continue;
            }
        };
        let now = (deps.clock)();
        let AccountPart { report, continue_after } = deps.rotator.rotate_within(&message, now, &deadline).await;
        record_summary(&report, now);
        if let Some(last_user) = continue_after {
            if let Err(e) = continue_account(deps, &message, &report, &last_user).await {
                // Redelivered: the users done are done, and the retry finds
                // them with nothing left to do.
                tracing::error!(message_id = %id, account_id = %report.account_id, error = %e, "the rest of the account could not be queued; the message will be retried");
                response.add_failure(id);
            }
            continue;
        }
        let report = with_earlier_parts(deps, &message, report).await;
        if let AccountStatus::Failed { error } = &report.status {
            response.add_failure(id.clone());
            let attempt = receive_count(&record);
            if attempt < deps.max_receive_count {
                tracing::error!(message_id = %id, account_id = %report.account_id, attempt, error = %error, "account failed; it will be retried");
                continue;
            }
            // Last delivery: the message goes to the dead-letter queue, and the
            // run learns of the failure now rather than at its deadline.
            tracing::error!(message_id = %id, account_id = %report.account_id, attempt, error = %error, "account failed for the last time; its message goes to the dead-letter queue");
        }
        report_to_run(deps, &report).await;
    }
    response
}

/// Keeps a part's report in the ledger, then queues the rest of the account.
async fn continue_account<R, Q: MessageQueue, L: RunLedger>(
    deps: &RotationFunctionDeps<R, Q, L>,
    message: &AccountMessage,
    report: &AccountReport,
    last_user: &str,
) -> Result<(), String> {
    deps.ledger.record_part(&report.fitted(REPORT_LIMIT_BYTES), message.part).await.map_err(|e| e.to_string())?;
    let body = serde_json::to_string(&message.continuation(last_user)).expect("messages serialize");
    send_all(&deps.queue, &deps.accounts_queue_url, vec![body]).await.map_err(|e| e.to_string())?;
    tracing::info!(account_id = %report.account_id, part = message.part, last_user, "deadline near: the rest of the account is queued");
    Ok(())
}

/// The account's whole report: the users of its earlier parts (in the
/// ledger), then this last part's. Without the ledger the last part's
/// report goes on alone; the earlier parts' users are in the logs.
async fn with_earlier_parts<R, Q, L: RunLedger>(
    deps: &RotationFunctionDeps<R, Q, L>,
    message: &AccountMessage,
    mut report: AccountReport,
) -> AccountReport {
    if message.part == 0 {
        return report;
    }
    match deps.ledger.account_parts(&message.run_id, &message.account_id).await {
        Ok(parts) => {
            let mut users = Vec::new();
            for part in parts {
                report.users_omitted += part.users_omitted;
                report.key_ages = crate::report::merge_bands(report.key_ages, part.key_ages.as_ref());
                users.extend(part.users);
            }
            users.append(&mut report.users);
            users.sort_by(|a, b| a.user_name.cmp(&b.user_name));
            users.dedup_by(|a, b| a.user_name == b.user_name);
            report.users = users;
        }
        Err(e) => {
            tracing::error!(account_id = %report.account_id, error = %e, "earlier parts of the account could not be read; its report covers the last part only");
        }
    }
    report
}

/// Records an account's report in its run, and queues `run_complete` when it
/// is the last one; falls back to queueing the account's own digests when
/// the run is not open or the ledger cannot be written, so no news is lost.
/// Never fails the record: the account's changes are made, and a retry would
/// not re-announce them.
async fn report_to_run<R, Q: MessageQueue, L: RunLedger>(deps: &RotationFunctionDeps<R, Q, L>, report: &AccountReport) {
    let run_id = &report.run_id;
    match deps.ledger.record_account(&report.fitted(REPORT_LIMIT_BYTES)).await {
        Ok(Recorded::Counted { done, expected }) => {
            tracing::info!(%run_id, account_id = %report.account_id, done, expected, "account recorded in its run");
            if done >= expected {
                let body = serde_json::to_string(&NotifierMessage::RunComplete { run_id: run_id.clone() })
                    .expect("messages serialize");
                if let Err(e) = send_all(&deps.queue, &deps.notifications_queue_url, vec![body]).await {
                    // The run's deadline will send the digests instead.
                    tracing::error!(%run_id, error = %e, "run_complete could not be queued; the run's deadline sends its digests");
                }
            }
            return;
        }
        Ok(Recorded::AlreadyRecorded) => {
            tracing::info!(%run_id, account_id = %report.account_id, "account already recorded in its run (a redelivery); the first report stands");
            return;
        }
        Ok(Recorded::RunNotOpen) => {
            tracing::info!(%run_id, account_id = %report.account_id, "run not open in the ledger; queueing this account's digests on their own");
        }
        Err(e) => {
            tracing::error!(%run_id, account_id = %report.account_id, error = %e, "run ledger unavailable; queueing this account's digests on their own");
        }
    }
    let fitted = report.fitted(DIGEST_REPORT_LIMIT_BYTES);
    let bodies: Vec<String> = digests(&deps.config, run_id, std::slice::from_ref(&fitted), &[])
        .into_iter()
        .map(|d| serde_json::to_string(&NotifierMessage::Digest(d)).expect("messages serialize"))
        .collect();
    if let Err(e) = send_all(&deps.queue, &deps.notifications_queue_url, bodies).await {
        tracing::error!(account_id = %report.account_id, error = %e, "digests could not be queued");
    }
}

/// The real dependencies, as the rotation function builds them at start-up:
/// the config from `env`'s `REKEY_CONFIG`, the notifications queue URL, the
/// run ledger table and the accounts queue's receive limit from `env`, the
/// rotation core on `sdk`, and the system clock.
pub async fn deps_from_env(
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<RotationFunctionDeps<CoreRotator, SqsQueue, DynamoLedger>, HandlerError> {
    deps(super::load_config(env)?, env, sdk).await
}

/// [`deps_from_env`] with the config already parsed.
pub async fn deps(
    config: Config,
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<RotationFunctionDeps<CoreRotator, SqsQueue, DynamoLedger>, HandlerError> {
    let notifications_queue_url = super::require(env, NOTIFICATIONS_QUEUE_ENV)?;
    let accounts_queue_url = super::require(env, ACCOUNTS_QUEUE_ENV)?;
    let table = super::require(env, RUN_LEDGER_TABLE_ENV)?;
    let max_receive_count = super::require(env, ACCOUNTS_MAX_RECEIVE_COUNT_ENV)?
        .parse()
        .map_err(|_| HandlerError::Setup(format!("`{ACCOUNTS_MAX_RECEIVE_COUNT_ENV}` is not a number")))?;
    let rotator = CoreRotator::new(&config, sdk).await;
    Ok(RotationFunctionDeps {
        config,
        rotator,
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk)),
        notifications_queue_url,
        accounts_queue_url,
        ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), table),
        max_receive_count,
        clock: Utc::now,
    })
}

/// One invocation of the deployed function ([`super::serve`] runs the loop),
/// within the invocation's deadline.
pub async fn on_event<R: AccountRotator, Q: MessageQueue, L: RunLedger>(
    event: LambdaEvent<SqsEvent>,
    deps: &RotationFunctionDeps<R, Q, L>,
) -> Result<SqsBatchResponse, HandlerError> {
    let deadline = invocation_deadline(event.context.deadline);
    Ok(handle_within(event.payload, deps, deadline).await)
}

/// The invocation's deadline (Lambda gives it in milliseconds since the
/// epoch) as an instant of this process's clock.
/// A deadline already passed when the invocation starts is not a real one
/// (Lambda's is always ahead; a local emulator may send none): no deadline.
fn invocation_deadline(deadline_ms: u64) -> Deadline {
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    if deadline_ms <= now_ms {
        return Deadline::none();
    }
    Deadline::at(std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms - now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ports::{QueueEntry, QueueError};
    use crate::ledger::fake::FakeLedger;
    use crate::ledger::RunRecord;
    use crate::notify::tests::sample_report;
    use crate::report::EffectiveMode;
    use std::cell::RefCell;

    /// Returns the sample report for account ...01, a failure for ...02,
    /// not-enrolled for ...03.
    struct FakeRotator;
    impl AccountRotator for FakeRotator {
        async fn rotate(&self, message: &AccountMessage, _now: DateTime<Utc>) -> AccountReport {
            let mut report = sample_report(EffectiveMode::Audit);
            report.run_id = message.run_id.clone();
            report.account_id = message.account_id.clone();
            report.status = match message.account_id.as_str() {
                "200000000002" => AccountStatus::Failed { error: "sts `AssumeRole` throttled".into() },
                "200000000003" => AccountStatus::NotEnrolled { reason: "no member role".into() },
                _ => AccountStatus::Succeeded,
            };
            report
        }
    }

    #[derive(Default)]
    struct Recorder(RefCell<Vec<String>>);
    impl MessageQueue for Recorder {
        async fn send_batch(&self, _: &str, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
            self.0.borrow_mut().extend(entries.iter().map(|e| e.body.clone()));
            Ok(vec![])
        }
    }
    impl Recorder {
        fn messages(&self) -> Vec<NotifierMessage> {
            self.0.borrow().iter().map(|b| serde_json::from_str(b).unwrap()).collect()
        }
    }

    fn record(id: &str, body: &str, receive_count: u32) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
        m
    }

    fn account_body(account_id: &str) -> String {
        serde_json::to_string(&AccountMessage {
            run_id: "run-9".into(),
            account_id: account_id.into(),
            account_name: "n".into(),
            account_email: None,
            dry_run: false,
            force_rotate: vec![],
            resume_after_user: None,
            part: 0,
        })
        .unwrap()
    }

    fn fixed() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T22:00:00Z").unwrap().to_utc()
    }

    fn deps() -> RotationFunctionDeps<FakeRotator, Recorder, FakeLedger> {
        RotationFunctionDeps {
            config: Config::from_yaml_str(
                "notifications:\n  sender: rekey@example.com\n  admin_recipients: [sec@example.com]\n",
                None,
            )
            .unwrap(),
            rotator: FakeRotator,
            queue: Recorder::default(),
            notifications_queue_url: "q".into(),
            accounts_queue_url: "accounts".into(),
            ledger: FakeLedger::default(),
            max_receive_count: 3,
            clock: fixed,
        }
    }

    async fn open(deps: &RotationFunctionDeps<FakeRotator, Recorder, FakeLedger>, accounts: &[&str]) {
        let run = RunRecord {
            run_id: "run-9".into(),
            account_ids: accounts.iter().map(|a| a.to_string()).collect(),
            started_at: fixed(),
        };
        deps.ledger.open_run(&run).await.unwrap();
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    /// Stops after one user (`u<part>`) in parts 0 and 1, as a rotation
    /// near its deadline does; part 2 finishes the account.
    struct PartRotator;
    impl AccountRotator for PartRotator {
        async fn rotate(&self, message: &AccountMessage, now: DateTime<Utc>) -> AccountReport {
            self.rotate_within(message, now, &Deadline::none()).await.report
        }
        async fn rotate_within(&self, message: &AccountMessage, _: DateTime<Utc>, _: &Deadline) -> AccountPart {
            let mut report = sample_report(EffectiveMode::Enforce);
            report.run_id = message.run_id.clone();
            report.account_id = message.account_id.clone();
            let mut user = report.users[0].clone();
            user.user_name = format!("u{}", message.part);
            report.users = vec![user];
            let continue_after = (message.part < 2).then(|| format!("u{}", message.part));
            AccountPart { report, continue_after }
        }
    }

    #[tokio::test]
    async fn an_account_cut_by_the_deadline_continues_in_parts_and_is_recorded_once_with_every_part() {
        let base = deps();
        let deps = RotationFunctionDeps {
            config: base.config,
            rotator: PartRotator,
            queue: base.queue,
            notifications_queue_url: base.notifications_queue_url,
            accounts_queue_url: base.accounts_queue_url,
            ledger: base.ledger,
            max_receive_count: base.max_receive_count,
            clock: base.clock,
        };
        let run = RunRecord { run_id: "run-9".into(), account_ids: vec!["200000000001".into()], started_at: fixed() };
        deps.ledger.open_run(&run).await.unwrap();
        let mut body = account_body("200000000001");
        for part in 0..3u32 {
            let sent_before = deps.queue.0.borrow().len();
            let mut event = SqsEvent::default();
            event.records.push(record(&format!("m{part}"), &body, 1));
            let response = handle_within(event, &deps, Deadline::none()).await;
            assert!(response.batch_item_failures.is_empty(), "part {part}: {response:?}");
            let sent: Vec<String> = deps.queue.0.borrow()[sent_before..].to_vec();
            if part < 2 {
                let next: AccountMessage = serde_json::from_str(&sent[0]).expect("a continuation");
                assert_eq!(
                    (next.part, next.resume_after_user.as_deref()),
                    (part + 1, Some(format!("u{part}").as_str()))
                );
                let state = deps.ledger.run_state("run-9").await.unwrap().unwrap();
                assert_eq!(state.done, 0, "a part does not count the account");
                body = sent[0].clone();
            } else {
                assert!(sent.iter().any(|b| b.contains("run_complete")), "the last part completes the run: {sent:?}");
            }
        }
        let reports = deps.ledger.account_reports("run-9").await.unwrap();
        assert_eq!(reports.len(), 1);
        let users: Vec<_> = reports[0].users.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(users, ["u0", "u1", "u2"], "the account's report holds every part's users");
        assert_eq!(deps.ledger.run_state("run-9").await.unwrap().unwrap().done, 1);
    }

    #[test]
    fn the_lambda_deadline_becomes_an_instant() {
        let in_an_hour = u64::try_from((Utc::now() + chrono::Duration::hours(1)).timestamp_millis()).unwrap();
        assert!(!invocation_deadline(in_an_hour).near());
        assert!(!invocation_deadline(0).near(), "a deadline already passed at the start is no deadline (an emulator)");
    }

    #[tokio::test]
    async fn only_failed_and_malformed_records_are_redelivered() {
        let deps = deps();
        open(&deps, &["200000000001", "200000000002", "200000000003"]).await;
        let mut event = SqsEvent::default();
        event.records = vec![
            record("m1", &account_body("200000000001"), 1),
            record("m2", &account_body("200000000002"), 1),
            record("m3", &account_body("200000000003"), 1),
            record("m4", "{not json", 1),
        ];
        let response = handle(event, &deps).await;
        assert_eq!(failed_ids(&response), ["m2", "m4"]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m4"}]})
        );
        // Reports go into the run, not straight to the notifier; the failed
        // account will be retried, so the run is not complete yet.
        let run = deps.ledger.run_state("run-9").await.unwrap().unwrap();
        assert_eq!(run.done, 2);
        assert!(deps.queue.0.borrow().is_empty());
    }

    #[tokio::test]
    async fn the_last_account_completes_the_run_even_when_it_failed_for_good() {
        let deps = deps();
        open(&deps, &["200000000001", "200000000002"]).await;
        let mut event = SqsEvent::default();
        event.records = vec![record("m1", &account_body("200000000001"), 1)];
        assert!(handle(event, &deps).await.batch_item_failures.is_empty());
        assert!(deps.queue.0.borrow().is_empty(), "one account of two: the run waits");

        // The third (last) delivery of the failing account: still redelivered
        // (so it lands in the dead-letter queue), but recorded in the run.
        let mut event = SqsEvent::default();
        event.records = vec![record("m2", &account_body("200000000002"), 3)];
        assert_eq!(failed_ids(&handle(event, &deps).await), ["m2"]);
        assert_eq!(deps.queue.messages(), [NotifierMessage::RunComplete { run_id: "run-9".into() }]);
        let reports = deps.ledger.account_reports("run-9").await.unwrap();
        assert!(matches!(reports[1].status, AccountStatus::Failed { .. }));
    }

    #[tokio::test]
    async fn a_redelivered_account_keeps_its_first_report_and_is_counted_once() {
        let deps = deps();
        open(&deps, &["200000000001", "200000000005"]).await;
        for _ in 0..2 {
            let mut event = SqsEvent::default();
            event.records = vec![record("m1", &account_body("200000000001"), 1)];
            handle(event, &deps).await;
        }
        assert_eq!(deps.ledger.run_state("run-9").await.unwrap().unwrap().done, 1);
        assert!(deps.queue.0.borrow().is_empty());
    }

    use crate::handlers::Captured;

    /// Regression (issue 8, defect 5): the whole report was one log line,
    /// which CloudWatch Logs cuts at 256 KB for a large account, losing the
    /// users a size-limited digest points readers to.
    #[test]
    fn a_large_report_is_logged_whole_in_lines_under_the_cloudwatch_limit() {
        const CLOUDWATCH_EVENT_LIMIT: usize = 256 * 1024 - 26;
        let mut report = sample_report(EffectiveMode::Enforce);
        let template = report.users[1].clone();
        report.users = (0..5000)
            .map(|i| {
                let mut u = template.clone();
                u.user_name = format!("user-\"{i:04}\"");
                u.warnings[0].user_name = u.user_name.clone();
                u
            })
            .collect();
        assert!(serde_json::to_vec(&report).unwrap().len() > 2 * CLOUDWATCH_EVENT_LIMIT);
        // tracing caches each callsite's interest globally: another test
        // thread that first reaches `record_summary`'s callsites while no
        // subscriber wants them can leave them cached as "never" for a
        // moment. Recompute with this subscriber in place, and try again if
        // that race still swallowed the events (nothing is written then).
        let mut text = String::new();
        for _ in 0..5 {
            let out = Captured::default();
            let writer = out.clone();
            let logs = crate::handlers::json_logs(tracing_subscriber::EnvFilter::new("info"), move || writer.clone());
            tracing::subscriber::with_default(logs, || {
                tracing::callsite::rebuild_interest_cache();
                record_summary(&report, fixed())
            });
            text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            if text.contains("account summary") && text.contains("account report part") {
                break;
            }
        }
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(text.lines().all(|l| l.len() < CLOUDWATCH_EVENT_LIMIT), "every line fits one CloudWatch event");
        assert_eq!(lines[0]["message"], "account summary");
        let parts: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("part").is_some()).collect();
        assert!(parts.len() > 2, "{} parts", parts.len());
        assert_eq!(lines[0]["report_parts"], parts.len());
        let mut users = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(part["message"], format!("account report part {} of {}", i + 1, parts.len()));
            assert_eq!((part["part"].as_u64(), part["parts"].as_u64()), (Some(i as u64 + 1), Some(parts.len() as u64)));
            let piece: AccountReport = serde_json::from_str(part["report"].as_str().unwrap()).unwrap();
            assert_eq!((piece.run_id.as_str(), piece.account_id.as_str()), ("run-1", "200000000001"));
            users.extend(piece.users);
        }
        assert_eq!(users, report.users, "the parts hold every user, in order");
    }

    #[test]
    fn a_small_report_is_one_part_and_an_oversized_user_is_never_cut() {
        let report = sample_report(EffectiveMode::Audit);
        let parts = report_log_parts(&report, LOG_PART_LIMIT_BYTES);
        assert_eq!(parts.len(), 1);
        assert_eq!(serde_json::from_str::<AccountReport>(&parts[0]).unwrap(), report);
        let empty = AccountReport { users: vec![], ..report.clone() };
        assert_eq!(report_log_parts(&empty, 10).len(), 1, "a report without users is still logged");
        let one_each = report_log_parts(&report, 10);
        assert_eq!(one_each.len(), report.users.len());
        for (part, user) in one_each.iter().zip(&report.users) {
            assert_eq!(&serde_json::from_str::<AccountReport>(part).unwrap().users, std::slice::from_ref(user));
        }
    }

    #[tokio::test]
    async fn an_account_outside_an_open_run_gets_its_own_digests() {
        // No run in the ledger (a message sent by hand).
        let deps = deps();
        let mut event = SqsEvent::default();
        event.records = vec![record("m1", &account_body("200000000001"), 1)];
        assert!(handle(event, &deps).await.batch_item_failures.is_empty());
        let to: Vec<String> = deps
            .queue
            .messages()
            .into_iter()
            .map(|m| match m {
                NotifierMessage::Digest(d) => {
                    assert_eq!(d.sections.len(), 1);
                    assert_eq!(d.sections[0].report.account_id, "200000000001");
                    d.recipient
                }
                other => panic!("expected a digest, got {other:?}"),
            })
            .collect();
        assert_eq!(to, ["dev@example.com", "sec@example.com"]);
    }
}
