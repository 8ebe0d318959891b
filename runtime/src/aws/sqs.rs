//! SQS adapter: the [`MessageQueue`] port over `SendMessageBatch`.

use crate::inventory::ports::{MessageQueue, QueueEntry, QueueError};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use aws_smithy_types::error::display::DisplayErrorContext;

/// An SQS client.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
}

impl SqsQueue {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl MessageQueue for SqsQueue {
    async fn send_batch(&self, queue_url: &str, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
        let fail = |message: String| QueueError { queue_url: queue_url.to_string(), message };
        let entries = entries
            .iter()
            .map(|e| {
                let delay = (e.delay_seconds > 0).then(|| i32::try_from(e.delay_seconds).unwrap_or(i32::MAX));
                SendMessageBatchRequestEntry::builder().id(&e.id).message_body(&e.body).set_delay_seconds(delay).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(e.to_string()))?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| fail(format!("sqs `SendMessageBatch` failed: {}", DisplayErrorContext(e))))?;
        for f in out.failed() {
            tracing::warn!(
                queue_url,
                id = f.id(),
                code = f.code(),
                sender_fault = f.sender_fault(),
                "queue entry failed"
            );
        }
        Ok(out.failed().iter().map(|f| f.id().to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use aws_smithy_mocks::{mock, mock_client};

    #[tokio::test]
    async fn failed_entries_are_reported_by_id() {
        let rule = mock!(Client::send_message_batch)
            .match_requests(|r| r.queue_url() == Some("https://q") && r.entries().len() == 2)
            .then_output(|| {
                SendMessageBatchOutput::builder()
                    .successful(
                        SendMessageBatchResultEntry::builder()
                            .id("a")
                            .message_id("1")
                            .md5_of_message_body("x")
                            .build()
                            .unwrap(),
                    )
                    .failed(
                        BatchResultErrorEntry::builder()
                            .id("b")
                            .sender_fault(false)
                            .code("InternalError")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap()
            });
        let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&rule]));
        let entries = [
            QueueEntry { id: "a".into(), body: "{}".into(), delay_seconds: 0 },
            QueueEntry { id: "b".into(), body: "{}".into(), delay_seconds: 0 },
        ];
        assert_eq!(queue.send_batch("https://q", &entries).await.unwrap(), ["b"]);
        assert_eq!(rule.num_calls(), 1);
    }
}
