//! EventBridge: the schedule rule.

use super::Expr;
use serde::Serialize;

/// `AWS::Events::Rule` on a schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    /// Fixed name; absent: CloudFormation generates one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Expr>,
    /// What it triggers.
    pub description: String,
    /// `rate(...)` or `cron(...)`.
    pub schedule_expression: String,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    /// What it invokes.
    pub targets: Vec<Target>,
}

/// A rule target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    /// Id unique within the rule.
    pub id: String,
    /// Target ARN.
    pub arn: Expr,
    /// Delivery retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// How EventBridge retries a failed delivery.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    /// Seconds an event may wait for delivery.
    pub maximum_event_age_in_seconds: u32,
    /// Retries.
    pub maximum_retry_attempts: u32,
}
