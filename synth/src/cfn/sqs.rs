//! SQS: queues with server-side encryption and dead-letter redrive.

use super::iam::PolicyDocument;
use super::Expr;
use serde::Serialize;

/// `AWS::SQS::Queue`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    /// Fixed name.
    pub queue_name: Expr,
    /// Seconds a received message stays hidden.
    pub visibility_timeout: u32,
    /// Seconds a message is kept.
    pub message_retention_period: u32,
    /// Encryption at rest with SQS-owned keys.
    pub sqs_managed_sse_enabled: bool,
    /// Where messages go after too many receives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<RedrivePolicy>,
}

/// Dead-letter redrive (the only CloudFormation property in camelCase).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    /// Dead-letter queue ARN.
    pub dead_letter_target_arn: Expr,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

/// `AWS::SQS::QueuePolicy`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueuePolicy {
    /// Queue URLs.
    pub queues: Vec<Expr>,
    /// The resource policy.
    pub policy_document: PolicyDocument,
}
