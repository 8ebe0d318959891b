//! CloudWatch: log groups, alarms and dashboards.

use super::Expr;
use serde::Serialize;

/// `AWS::Logs::LogGroup`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    /// `/aws/lambda/<function>`.
    pub log_group_name: Expr,
    /// A CloudWatch Logs retention value.
    pub retention_in_days: u32,
}

/// `AWS::CloudWatch::Alarm` on one metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    /// Fixed name; absent: CloudFormation generates one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<Expr>,
    /// What firing means and what to do.
    pub alarm_description: String,
    /// `AWS/SQS`.
    pub namespace: String,
    /// Metric name.
    pub metric_name: String,
    /// Metric dimensions.
    pub dimensions: Vec<Dimension>,
    /// `Maximum`, `Sum`...
    pub statistic: String,
    /// Seconds per datapoint.
    pub period: u32,
    /// Datapoints evaluated.
    pub evaluation_periods: u32,
    /// Threshold.
    pub threshold: f64,
    /// `GreaterThanThreshold`...
    pub comparison_operator: String,
    /// `notBreaching`...
    pub treat_missing_data: String,
}

/// A metric dimension.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Dimension name.
    pub name: String,
    /// Dimension value.
    pub value: Expr,
}

/// `AWS::CloudWatch::Dashboard`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dashboard {
    /// Fixed name (dashboards are global to the account, so it should name
    /// the region); absent: CloudFormation generates one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_name: Option<Expr>,
    /// The dashboard's JSON, as a string (usually a `Fn::Sub` naming the
    /// stack's resources).
    pub dashboard_body: Expr,
}
