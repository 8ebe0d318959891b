//! The notifier function: sends one digest per recipient per run. Its queue
//! carries three kinds of message ([`NotifierMessage`]):
//! - `run_complete` (from the rotation that recorded a run's last account):
//!   close the run in the run ledger and send its digests;
//! - `run_deadline` (from the inventory, delayed): if the run is still open
//!   once `notifications.digest_wait_minutes` have passed, close it and send
//!   what is there, naming the accounts without a result; otherwise check
//!   again later;
//! - `digest`: one ready digest (an account outside an open run), sent as is.
//!
//! Each digest of a run is marked sent in the ledger, so a redelivered
//! record sends only what is still missing. Records that could not be
//! handled are reported in `batchItemFailures` and redelivered by SQS.

use super::{Env, HandlerError, NOTIFICATIONS_QUEUE_ENV, RUN_LEDGER_TABLE_ENV};
use crate::aws::dynamodb::DynamoLedger;
use crate::aws::ses::SesMailer;
use crate::aws::sqs::SqsQueue;
use crate::inventory::ports::{send_delayed, MessageQueue};
use crate::ledger::{Closer, RunLedger};
use crate::messages::NotifierMessage;
use crate::notify::ports::Mailer;
use crate::notify::{digests, send_digest, Renderer};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, LambdaEvent};
use rekey_config::Config;

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct NotifierDeps<M, L, Q> {
    /// The validated config.
    pub config: Config,
    /// Compiled templates.
    pub renderer: Renderer,
    /// The mail client.
    pub mailer: M,
    /// Where runs are collected.
    pub ledger: L,
    /// The queue client (a deadline that is not due yet is queued again).
    pub queue: Q,
    /// This function's own queue.
    pub notifications_queue_url: String,
    /// The clock (`Utc::now` in Lambda; fixed in tests).
    pub clock: fn() -> DateTime<Utc>,
}

/// Why a record was not handled (it is redelivered).
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error(transparent)]
    Handler(#[from] HandlerError),
    #[error("{0} digest(s) not sent")]
    Unsent(usize),
}

/// Handles one batch; returns the records to redeliver.
pub async fn handle<M: Mailer, L: RunLedger, Q: MessageQueue>(
    event: SqsEvent,
    deps: &NotifierDeps<M, L, Q>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let (id, message): (String, NotifierMessage) = match super::parse_record(&record, "a notifier message") {
            Ok(parsed) => parsed,
            Err(id) => {
                response.add_failure(id);
                continue;
            }
        };
        let result = match &message {
            NotifierMessage::Digest(digest) => {
                send_digest(&deps.config, &deps.renderer, &deps.mailer, digest).await.map(|_| ()).map_err(|e| {
                    tracing::error!(run_id = %digest.run_id, retryable = e.is_retryable(), error = %e, "digest not sent");
                    RecordError::Unsent(1)
                })
            }
            NotifierMessage::RunComplete { run_id } => send_run(deps, run_id, Closer::Complete).await,
            NotifierMessage::RunDeadline { run_id } => deadline(deps, run_id).await,
        };
        if let Err(e) = result {
            tracing::error!(message_id = %id, error = %e, "notifier message not handled; it will be retried");
            response.add_failure(id);
        }
    }
    response
}

/// A run's deadline: sends the run's digests if its wait is over and it is
/// still open; queues the deadline again if not yet due.
async fn deadline<M: Mailer, L: RunLedger, Q: MessageQueue>(
    deps: &NotifierDeps<M, L, Q>,
    run_id: &str,
) -> Result<(), RecordError> {
    let Some(run) = deps.ledger.run_state(run_id).await.map_err(HandlerError::from)? else {
        tracing::warn!(run_id, "deadline of a run the ledger does not have (expired?); nothing to send");
        return Ok(());
    };
    match run.closed_by {
        Some(Closer::Complete) => return Ok(()),
        // A redelivery of this deadline: finish sending.
        Some(Closer::Deadline) => return send_run(deps, run_id, Closer::Deadline).await,
        None => {}
    }
    let due = run.started_at + chrono::Duration::minutes(i64::from(deps.config.notifications.digest_wait_minutes));
    let now = (deps.clock)();
    if now < due && !run.is_complete() {
        let wait = u32::try_from((due - now).num_seconds().max(1)).unwrap_or(u32::MAX);
        let body = serde_json::to_string(&NotifierMessage::RunDeadline { run_id: run_id.to_string() })
            .expect("messages serialize");
        send_delayed(&deps.queue, &deps.notifications_queue_url, body, wait).await.map_err(HandlerError::from)?;
        tracing::info!(run_id, done = run.done, expected = run.expected(), %due, "run still open; deadline checked again later");
        return Ok(());
    }
    send_run(deps, run_id, Closer::Deadline).await
}

/// Closes the run for `closer` and sends each recipient's digest that was
/// not sent yet. Does nothing when the other closer closed the run.
async fn send_run<M: Mailer, L: RunLedger, Q: MessageQueue>(
    deps: &NotifierDeps<M, L, Q>,
    run_id: &str,
    closer: Closer,
) -> Result<(), RecordError> {
    let ledger = &deps.ledger;
    if !ledger.close_run(run_id, closer).await.map_err(HandlerError::from)? {
        tracing::info!(run_id, ?closer, "run already closed by the other path, which sends its digests");
        return Ok(());
    }
    let run = ledger.run_state(run_id).await.map_err(HandlerError::from)?;
    let reports = ledger.account_reports(run_id).await.map_err(HandlerError::from)?;
    let missing: Vec<String> = run
        .map(|r| r.account_ids)
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !reports.iter().any(|r| &r.account_id == id))
        .collect();
    if !missing.is_empty() {
        tracing::warn!(run_id, missing = ?missing, "run closed without a result from some accounts");
    }
    let mut unsent = 0;
    for digest in digests(&deps.config, run_id, &reports, &missing) {
        if ledger.digest_sent(run_id, &digest.recipient).await.map_err(HandlerError::from)? {
            continue;
        }
        match send_digest(&deps.config, &deps.renderer, &deps.mailer, &digest).await {
            Ok(_) => ledger.mark_digest_sent(run_id, &digest.recipient).await.map_err(HandlerError::from)?,
            Err(e) => {
                tracing::error!(run_id, retryable = e.is_retryable(), error = %e, "digest not sent");
                unsent += 1;
            }
        }
    }
    tracing::info!(run_id, ?closer, accounts = reports.len(), missing = missing.len(), unsent, "run digests handled");
    if unsent > 0 {
        return Err(RecordError::Unsent(unsent));
    }
    Ok(())
}

/// The real dependencies, as the notifier function builds them at start-up:
/// the config from `env`'s `REKEY_CONFIG`, its compiled templates, SES v2,
/// the run ledger table and the notifications queue from `env`, and the
/// system clock.
pub async fn deps_from_env(
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<NotifierDeps<SesMailer, DynamoLedger, SqsQueue>, HandlerError> {
    let config = super::load_config(env)?;
    let renderer = Renderer::new(&config)?;
    let table = super::require(env, RUN_LEDGER_TABLE_ENV)?;
    let notifications_queue_url = super::require(env, NOTIFICATIONS_QUEUE_ENV)?;
    Ok(NotifierDeps {
        config,
        renderer,
        mailer: SesMailer::new(aws_sdk_sesv2::Client::new(sdk)),
        ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), table),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk)),
        notifications_queue_url,
        clock: Utc::now,
    })
}

/// Builds the real dependencies from the process environment and runs the Lambda loop.
pub async fn main(sdk: &aws_config::SdkConfig) -> Result<(), lambda_runtime::Error> {
    // A start failure answers every invocation with its `rekey.Fatal.*` or
    // `rekey.Retryable.*` type, instead of exiting (`Runtime.ExitError`).
    let deps = match deps_from_env(&std::env::vars().collect(), sdk).await {
        Ok(deps) => deps,
        Err(e) => return super::serve_start_error(e).await,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, HandlerError>(handle(event.payload, deps).await)
    }))
    .await
}

#[cfg(test)]
mod tests;
