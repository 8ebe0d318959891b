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
//! Each digest of a run is marked sent in the ledger as soon as it is sent,
//! so a redelivered record sends only what is still missing. One invocation
//! at a time sends a run's digests: it holds the run's sending lease (taken
//! under the SQS message id, until the invocation's deadline), and a second
//! `run_complete` handled meanwhile (two accounts that both saw the run
//! complete, or a duplicate delivery) leaves the run to the holder.
//!
//! Sending stops [`SEND_MARGIN`] before the function's deadline (500
//! accounts' digests under SES throttling may not fit one invocation): the
//! lease is given up and the same message queued again, so the next
//! invocation continues with the digests still missing, without using up
//! the record's receive count. Records that could not be handled are
//! reported in `batchItemFailures` and redelivered by SQS.

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
use lambda_runtime::LambdaEvent;
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

/// Time kept back before the function's deadline when deciding whether to
/// send one more digest: one SES call with its retries, marking it sent,
/// giving the lease up and queueing the rest. Also the delay of that queued
/// continuation, so the lease has run out by then even if giving it up failed.
pub const SEND_MARGIN: chrono::Duration = chrono::Duration::seconds(20);

/// Time kept back before the deadline for giving the lease up and queueing
/// the rest, once a send has been started.
const FINISH_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// The sending lease of a caller without a deadline (tests, a process that
/// is not a Lambda invocation).
const LEASE_WITHOUT_DEADLINE: chrono::Duration = chrono::Duration::minutes(15);

/// Handles one batch without a time limit; returns the records to redeliver.
pub async fn handle<M: Mailer, L: RunLedger, Q: MessageQueue>(
    event: SqsEvent,
    deps: &NotifierDeps<M, L, Q>,
) -> SqsBatchResponse {
    handle_until(event, deps, None).await
}

/// Handles one batch, sending no digest it could not finish before
/// `time_limit` (the Lambda deadline); returns the records to redeliver.
pub async fn handle_until<M: Mailer, L: RunLedger, Q: MessageQueue>(
    event: SqsEvent,
    deps: &NotifierDeps<M, L, Q>,
    time_limit: Option<DateTime<Utc>>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let margins = Margins::within((deps.clock)(), time_limit);
    for record in event.records {
        let (id, message): (String, NotifierMessage) = match super::parse_record(&record, "a notifier message") {
            Ok(parsed) => parsed,
            Err(id) => {
                response.add_failure(id);
                continue;
            }
        };
        let run = |run_id: &str, closer| Sending {
            deps,
            run_id: run_id.to_string(),
            closer,
            holder: &id,
            message: &message,
            time_limit,
            margins,
        };
        let result = match &message {
            NotifierMessage::Digest(digest) => {
                send_digest(&deps.config, &deps.renderer, &deps.mailer, digest).await.map(|_| ()).map_err(|e| {
                    tracing::error!(run_id = %digest.run_id, retryable = e.is_retryable(), error = %e, "digest not sent");
                    RecordError::Unsent(1)
                })
            }
            NotifierMessage::RunComplete { run_id } => run(run_id, Closer::Complete).send().await,
            NotifierMessage::RunDeadline { run_id } => deadline(run(run_id, Closer::Deadline)).await,
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
async fn deadline<M: Mailer, L: RunLedger, Q: MessageQueue>(sending: Sending<'_, M, L, Q>) -> Result<(), RecordError> {
    let (deps, run_id) = (sending.deps, sending.run_id.as_str());
    let Some(run) = deps.ledger.run_state(run_id).await.map_err(HandlerError::from)? else {
        tracing::warn!(run_id, "deadline of a run the ledger does not have (expired?); nothing to send");
        return Ok(());
    };
    match run.closed_by {
        Some(Closer::Complete) => return Ok(()),
        // A redelivery of this deadline, or its continuation: finish sending.
        Some(Closer::Deadline) => return sending.send().await,
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
    sending.send().await
}

/// One record's job of sending a run's digests.
struct Sending<'a, M, L, Q> {
    deps: &'a NotifierDeps<M, L, Q>,
    run_id: String,
    closer: Closer,
    /// The SQS message id: the sending lease's holder.
    holder: &'a str,
    /// The message, queued again when time runs out.
    message: &'a NotifierMessage,
    time_limit: Option<DateTime<Utc>>,
    margins: Margins,
}

/// The margins kept before the deadline: [`SEND_MARGIN`] and
/// [`FINISH_MARGIN`], or, for an invocation shorter than four times the send
/// margin (a function deployed with a short timeout, a local emulator), a
/// quarter and a sixteenth of it, so it still sends.
#[derive(Clone, Copy, Debug)]
struct Margins {
    send: chrono::Duration,
    finish: chrono::Duration,
}

impl Margins {
    fn within(start: DateTime<Utc>, time_limit: Option<DateTime<Utc>>) -> Margins {
        let total = time_limit.map_or(chrono::Duration::MAX, |limit| (limit - start).max(chrono::Duration::zero()));
        Margins { send: SEND_MARGIN.min(total / 4), finish: FINISH_MARGIN.min(total / 16) }
    }
}

/// How far one invocation got with a run's digests.
enum Progress {
    /// Every digest is sent, except `unsent` that failed.
    Finished { unsent: usize },
    /// Time ran out with `left` digests not tried; `sent` were sent.
    OutOfTime { sent: usize, left: usize },
}

impl<M: Mailer, L: RunLedger, Q: MessageQueue> Sending<'_, M, L, Q> {
    /// Closes the run for the closer, takes its sending lease and sends
    /// each recipient's digest not sent yet. Does nothing when the other
    /// closer closed the run, or another invocation holds the lease.
    async fn send(self) -> Result<(), RecordError> {
        let (deps, run_id) = (self.deps, self.run_id.as_str());
        let ledger = &deps.ledger;
        if !ledger.close_run(run_id, self.closer).await.map_err(HandlerError::from)? {
            tracing::info!(run_id, closer = ?self.closer, "run already closed by the other path, which sends its digests");
            return Ok(());
        }
        let now = (deps.clock)();
        let until = self.time_limit.unwrap_or(now + LEASE_WITHOUT_DEADLINE);
        if !ledger.claim_sending(run_id, self.holder, now, until).await.map_err(HandlerError::from)? {
            // The holder's message is redelivered if it fails, and it sends
            // whatever this one would have.
            tracing::info!(run_id, message_id = self.holder, "another invocation is sending this run's digests");
            return Ok(());
        }
        let progress = self.send_missing().await;
        // Given up whatever happened, so a retry or the continuation need not
        // wait for the lease to run out (it does run out at `until`).
        if let Err(e) = ledger.release_sending(run_id, self.holder).await {
            tracing::warn!(run_id, error = %e, "could not give the sending lease up; it runs out at the deadline");
        }
        match progress? {
            Progress::Finished { unsent: 0 } => Ok(()),
            Progress::Finished { unsent } => Err(RecordError::Unsent(unsent)),
            // No progress at all: let SQS redeliver (and count) the record,
            // so a run that can never be sent ends in the dead-letter queue.
            Progress::OutOfTime { sent: 0, left } => Err(RecordError::Unsent(left)),
            Progress::OutOfTime { sent, left } => {
                let body = serde_json::to_string(self.message).expect("messages serialize");
                let delay = u32::try_from(SEND_MARGIN.num_seconds()).unwrap_or(u32::MAX);
                send_delayed(&deps.queue, &deps.notifications_queue_url, body, delay)
                    .await
                    .map_err(HandlerError::from)?;
                tracing::info!(
                    run_id,
                    sent,
                    left,
                    "out of time; the rest of the run's digests continue in a new invocation"
                );
                Ok(())
            }
        }
    }

    /// Sends each digest not marked sent, marking each right after it is
    /// sent, until the time limit comes close.
    async fn send_missing(&self) -> Result<Progress, RecordError> {
        let (deps, run_id) = (self.deps, self.run_id.as_str());
        let ledger = &deps.ledger;
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
        let (mut unsent, mut sent, mut left) = (0, 0, 0);
        for digest in digests(&deps.config, run_id, &reports, &missing) {
            if ledger.digest_sent(run_id, &digest.recipient).await.map_err(HandlerError::from)? {
                continue;
            }
            let now = (deps.clock)();
            let result = match self.time_limit {
                None => send_digest(&deps.config, &deps.renderer, &deps.mailer, &digest).await,
                Some(limit) if now + self.margins.send > limit => {
                    left += 1;
                    continue;
                }
                Some(limit) => {
                    let budget = (limit - now - self.margins.finish).to_std().unwrap_or_default();
                    let send = send_digest(&deps.config, &deps.renderer, &deps.mailer, &digest);
                    match tokio::time::timeout(budget, send).await {
                        Ok(result) => result,
                        // A hung call: it may yet deliver, and then this
                        // recipient gets the digest twice; waiting longer
                        // would lose the lease and everyone's progress.
                        Err(_) => {
                            tracing::warn!(run_id, "a digest's send outlasted the time left; tried again later");
                            left += 1;
                            continue;
                        }
                    }
                }
            };
            match result {
                Ok(_) => {
                    ledger.mark_digest_sent(run_id, &digest.recipient).await.map_err(HandlerError::from)?;
                    sent += 1;
                }
                Err(e) => {
                    tracing::error!(run_id, retryable = e.is_retryable(), error = %e, "digest not sent");
                    unsent += 1;
                }
            }
        }
        tracing::info!(run_id, closer = ?self.closer, accounts = reports.len(), missing = missing.len(), sent, unsent, left, "run digests handled");
        Ok(if left > 0 { Progress::OutOfTime { sent, left: left + unsent } } else { Progress::Finished { unsent } })
    }
}

/// The real dependencies, as the notifier function builds them at start-up:
/// the config from `env`'s `REKEY_CONFIG`, its compiled templates, SES v2,
/// the run ledger table and the notifications queue from `env`, and the
/// system clock.
pub async fn deps_from_env(
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<NotifierDeps<SesMailer, DynamoLedger, SqsQueue>, HandlerError> {
    deps(super::load_config(env)?, env, sdk).await
}

/// [`deps_from_env`] with the config already parsed.
pub async fn deps(
    config: Config,
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<NotifierDeps<SesMailer, DynamoLedger, SqsQueue>, HandlerError> {
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

/// One invocation of the deployed function ([`super::serve`] runs the loop).
pub async fn on_event<M: Mailer, L: RunLedger, Q: MessageQueue>(
    event: LambdaEvent<SqsEvent>,
    deps: &NotifierDeps<M, L, Q>,
) -> Result<SqsBatchResponse, HandlerError> {
    // A deadline already passed when the invocation starts is not a real one
    // (Lambda's is always ahead; a local emulator may send none): then there
    // is no limit.
    let time_limit = i64::try_from(event.context.deadline)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .filter(|limit| *limit > Utc::now());
    Ok(handle_until(event.payload, deps, time_limit).await)
}

#[cfg(test)]
mod tests;
