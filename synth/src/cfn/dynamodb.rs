//! DynamoDB: an on-demand table with a composite key, TTL, point-in-time
//! recovery and encryption at rest.

use super::Expr;
use serde::Serialize;

/// `AWS::DynamoDB::Table`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    /// Fixed name.
    pub table_name: Expr,
    /// `PAY_PER_REQUEST`: no capacity to plan for a load that comes once a day.
    pub billing_mode: String,
    /// The key attributes' types.
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// Partition and sort key.
    pub key_schema: Vec<KeySchemaElement>,
    /// Items expire at the epoch seconds in this attribute.
    pub time_to_live_specification: TimeToLiveSpecification,
    /// Point-in-time recovery.
    pub point_in_time_recovery_specification: PointInTimeRecoverySpecification,
    /// Encryption at rest.
    #[serde(rename = "SSESpecification")]
    pub sse_specification: SseSpecification,
}

/// One key attribute's type.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    /// Attribute name.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// One element of the key.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    /// Attribute name.
    pub attribute_name: String,
    /// `HASH` (partition) or `RANGE` (sort).
    pub key_type: String,
}

/// TTL settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveSpecification {
    /// The attribute holding the expiry time.
    pub attribute_name: String,
    /// Whether TTL is on.
    pub enabled: bool,
}

/// Point-in-time recovery settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PointInTimeRecoverySpecification {
    /// Whether point-in-time recovery is on.
    pub point_in_time_recovery_enabled: bool,
}

/// Encryption at rest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SseSpecification {
    /// True: the AWS managed key `aws/dynamodb`; false: an AWS owned key.
    #[serde(rename = "SSEEnabled")]
    pub sse_enabled: bool,
}
