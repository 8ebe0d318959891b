//! The rotation function: one SQS record per account. Each record is
//! audited, planned and (enforce mode) acted on by the rotation core; the
//! account's summary is logged, its EMF metrics printed, and its digests
//! queued for the notifier. A record that failed as a whole is reported in
//! `batchItemFailures` so SQS redelivers only it; a not-enrolled account is
//! not a failure.

use super::{Env, HandlerError, NOTIFICATIONS_QUEUE_ENV};
use crate::aws::sqs::SqsQueue;
use crate::inventory::ports::{send_all, MessageQueue};
use crate::messages::AccountMessage;
use crate::notify::digests;
use crate::report::{AccountReport, AccountStatus};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, LambdaEvent};
use rekey_config::Config;
use std::future::Future;

/// Audits, plans and (enforce mode) rotates one account. Never fails as a
/// call: an account that could not be processed comes back with
/// [`AccountStatus::Failed`].
pub trait AccountRotator {
    /// Processes one account at `now`.
    fn rotate(&self, message: &AccountMessage, now: DateTime<Utc>) -> impl Future<Output = AccountReport>;
}

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct RotationDeps<R, Q> {
    /// The validated config.
    pub config: Config,
    /// The rotation core.
    pub rotator: R,
    /// The queue client.
    pub queue: Q,
    /// Notifications queue URL.
    pub notifications_queue_url: String,
    /// The clock (`Utc::now` in Lambda; fixed in tests).
    pub clock: fn() -> DateTime<Utc>,
}

/// Logs the per-account run summary (the whole report: it holds no secret)
/// and prints its EMF metrics line.
pub fn record_summary(report: &AccountReport, at: DateTime<Utc>) {
    let c = report.counts();
    let status = match &report.status {
        AccountStatus::Succeeded => "succeeded",
        AccountStatus::NotEnrolled { .. } => "not_enrolled",
        AccountStatus::Failed { .. } => "failed",
    };
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
        report = %serde_json::to_string(report).expect("reports serialize"),
        "account summary"
    );
    crate::metrics::publish(report, at);
}

/// Handles one batch; returns the records to redeliver.
pub async fn handle<R: AccountRotator, Q: MessageQueue>(
    event: SqsEvent,
    deps: &RotationDeps<R, Q>,
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
        let report = deps.rotator.rotate(&message, now).await;
        record_summary(&report, now);
        if let AccountStatus::Failed { error } = &report.status {
            tracing::error!(message_id = %id, account_id = %report.account_id, error = %error, "account failed; it will be retried");
            response.add_failure(id);
            continue;
        }
        let bodies: Vec<String> = digests(&deps.config, &report)
            .iter()
            .map(|d| serde_json::to_string(d).expect("messages serialize"))
            .collect();
        if let Err(e) = send_all(&deps.queue, &deps.notifications_queue_url, bodies).await {
            // The account's changes are made; retrying it would not re-announce
            // them, so the record is not failed: the error is logged for alarms.
            tracing::error!(account_id = %report.account_id, error = %e, "digests could not be queued");
        }
    }
    response
}

/// The real dependencies, as the rotation function builds them at start-up:
/// the config from `env`'s `REKEY_CONFIG`, the notifications queue URL from
/// `env`, the rotation core on `sdk`, and the system clock.
pub async fn deps_from_env(
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<RotationDeps<crate::run::CoreRotator, SqsQueue>, HandlerError> {
    let config = super::load_config(env)?;
    let notifications_queue_url = super::require(env, NOTIFICATIONS_QUEUE_ENV)?;
    let rotator = crate::run::CoreRotator::new(&config, sdk).await;
    Ok(RotationDeps {
        config,
        rotator,
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk)),
        notifications_queue_url,
        clock: Utc::now,
    })
}

/// Builds the real dependencies from the process environment and runs the Lambda loop.
pub async fn main(sdk: &aws_config::SdkConfig) -> Result<(), lambda_runtime::Error> {
    let deps = deps_from_env(&std::env::vars().collect(), sdk).await.inspect_err(
        |e| tracing::error!(error = %e, error_type = %e.error_type(), "cannot start the rotation function"),
    )?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, HandlerError>(handle(event.payload, deps).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ports::{QueueEntry, QueueError};
    use crate::messages::NotificationMessage;
    use crate::notify::tests::sample_report;
    use crate::report::EffectiveMode;
    use aws_lambda_events::event::sqs::SqsMessage;
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

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
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
        })
        .unwrap()
    }

    fn fixed() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T22:00:00Z").unwrap().to_utc()
    }

    #[tokio::test]
    async fn only_failed_and_malformed_records_are_redelivered() {
        let deps = RotationDeps {
            config: Config::from_yaml_str(
                "notifications:\n  sender: rekey@example.com\n  admin_recipients: [sec@example.com]\n",
                None,
            )
            .unwrap(),
            rotator: FakeRotator,
            queue: Recorder::default(),
            notifications_queue_url: "q".into(),
            clock: fixed,
        };
        let mut event = SqsEvent::default();
        event.records = vec![
            record("m1", &account_body("200000000001")),
            record("m2", &account_body("200000000002")),
            record("m3", &account_body("200000000003")),
            record("m4", "{not json"),
        ];
        let response = handle(event, &deps).await;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m2", "m4"]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m4"}]})
        );
        // Only the succeeded account produced digests: its account email and the admin.
        let sent: Vec<NotificationMessage> =
            deps.queue.0.borrow().iter().map(|b| serde_json::from_str(b).unwrap()).collect();
        let to: Vec<&str> = sent.iter().map(|m| m.recipient.as_str()).collect();
        assert_eq!(to, ["dev@example.com", "sec@example.com"]);
        assert!(sent.iter().all(|m| m.report.account_id == "200000000001" && m.run_id == "run-9"));
    }
}
