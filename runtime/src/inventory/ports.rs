//! The inventory's view of AWS: an organization directory and a message
//! queue, as small traits over our own types, so the selection rules are
//! tested with in-memory fakes and the adapters (`crate::aws::orgs`,
//! `crate::aws::sqs`) against moto.

use std::future::Future;

/// Lifecycle state of an account, as Organizations reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountState {
    /// Usable: the only state rekey audits.
    Active,
    /// Anything else (`SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`, ...), as reported.
    Other(String),
}

/// One account of the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgAccount {
    /// 12-digit account id.
    pub id: String,
    /// Account name.
    pub name: String,
    /// Account email, when Organizations reports one.
    pub email: Option<String>,
    /// Active or not.
    pub state: AccountState,
}

/// An Organizations call that failed. Never swallowed: a partial account
/// list would silently leave accounts unaudited (a defect of the reference).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("organizations `{operation}`{} failed: {message}", parent.as_ref().map(|p| format!(" for `{p}`")).unwrap_or_default())]
pub struct DirectoryError {
    /// The API operation, e.g. `ListAccountsForParent`.
    pub operation: &'static str,
    /// The parent (root or OU) id, when the call had one.
    pub parent: Option<String>,
    /// The service's message.
    pub message: String,
}

/// Read access to an AWS Organization. Implementations return every page.
pub trait Directory {
    /// Every account of the organization (`ListAccounts`).
    fn list_accounts(&self) -> impl Future<Output = Result<Vec<OrgAccount>, DirectoryError>>;
    /// Accounts directly under a root or OU (`ListAccountsForParent`).
    fn list_accounts_for_parent(
        &self,
        parent_id: &str,
    ) -> impl Future<Output = Result<Vec<OrgAccount>, DirectoryError>>;
    /// Ids of the OUs directly under a root or OU (`ListChildren`, type `ORGANIZATIONAL_UNIT`).
    fn list_child_ous(&self, parent_id: &str) -> impl Future<Output = Result<Vec<String>, DirectoryError>>;
}

/// One message of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// Id unique within the batch (reported back for failed entries).
    pub id: String,
    /// Message body (JSON).
    pub body: String,
    /// Seconds before the message can be received (0 to 900).
    pub delay_seconds: u32,
}

/// A queue send that failed as a whole, or whose entries kept failing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot send to queue `{queue_url}`: {message}")]
pub struct QueueError {
    /// The queue.
    pub queue_url: String,
    /// Why.
    pub message: String,
}

/// A message queue (SQS).
pub trait MessageQueue {
    /// Sends up to 10 entries in one batch; returns the ids of the entries
    /// that failed (the rest were accepted).
    fn send_batch(
        &self,
        queue_url: &str,
        entries: &[QueueEntry],
    ) -> impl Future<Output = Result<Vec<String>, QueueError>>;
}

/// Most entries SQS accepts in one `SendMessageBatch`.
pub const MAX_BATCH: usize = 10;
/// How many times failed entries are re-sent before the send fails.
pub const SEND_ATTEMPTS: usize = 3;

/// Longest delay SQS allows on a message.
pub const MAX_DELAY_SECONDS: u32 = 900;

/// Sends one message that becomes visible after `delay_seconds` (capped at
/// [`MAX_DELAY_SECONDS`]).
pub async fn send_delayed<Q: MessageQueue>(
    queue: &Q,
    queue_url: &str,
    body: String,
    delay_seconds: u32,
) -> Result<(), QueueError> {
    let entry = QueueEntry { id: "m0".into(), body, delay_seconds: delay_seconds.min(MAX_DELAY_SECONDS) };
    for attempt in 1..=SEND_ATTEMPTS {
        if queue.send_batch(queue_url, std::slice::from_ref(&entry)).await?.is_empty() {
            return Ok(());
        }
        tracing::warn!(queue_url, attempt, "re-sending a failed queue entry");
    }
    Err(QueueError {
        queue_url: queue_url.to_string(),
        message: format!("still failed after {SEND_ATTEMPTS} attempts"),
    })
}

/// Sends every body to `queue_url` in batches of [`MAX_BATCH`], re-sending
/// entries SQS reports as failed up to [`SEND_ATTEMPTS`] times in all.
pub async fn send_all<Q: MessageQueue>(queue: &Q, queue_url: &str, bodies: Vec<String>) -> Result<(), QueueError> {
    let entries: Vec<QueueEntry> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| QueueEntry { id: format!("m{i}"), body, delay_seconds: 0 })
        .collect();
    for chunk in entries.chunks(MAX_BATCH) {
        let mut pending: Vec<QueueEntry> = chunk.to_vec();
        for attempt in 1..=SEND_ATTEMPTS {
            let failed = queue.send_batch(queue_url, &pending).await?;
            pending.retain(|e| failed.contains(&e.id));
            if pending.is_empty() {
                break;
            }
            if attempt == SEND_ATTEMPTS {
                return Err(QueueError {
                    queue_url: queue_url.to_string(),
                    message: format!("{} message(s) still failed after {SEND_ATTEMPTS} attempts", pending.len()),
                });
            }
            tracing::warn!(queue_url, failed = pending.len(), attempt, "re-sending failed queue entries");
        }
    }
    Ok(())
}
