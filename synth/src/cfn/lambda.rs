//! Lambda: functions, invoke permissions and SQS event source mappings.

use super::Expr;
use indexmap::IndexMap;
use serde::Serialize;

/// `AWS::Lambda::Function`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    /// Fixed name (`rekey-rotation`).
    pub function_name: Expr,
    /// What the function does.
    pub description: String,
    /// `provided.al2023` for rekey's Rust binary.
    pub runtime: String,
    /// `bootstrap`.
    pub handler: String,
    /// `[x86_64]` or `[arm64]`.
    pub architectures: Vec<String>,
    /// Where the zip is.
    pub code: Code,
    /// Execution role ARN.
    pub role: Expr,
    /// Memory in MB.
    pub memory_size: u32,
    /// Timeout in seconds.
    pub timeout: u32,
    /// Environment variables.
    pub environment: Environment,
    /// Log destination and format.
    pub logging_config: LoggingConfig,
    /// Where failed asynchronous invocations go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// VPC placement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
}

/// A zip in S3.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Code {
    /// Bucket (in the function's region).
    pub s3_bucket: Expr,
    /// Object key.
    pub s3_key: Expr,
}

/// Environment variables, in a fixed order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// Name → value.
    pub variables: IndexMap<String, Expr>,
}

/// Function logging.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// Log group name.
    pub log_group: Expr,
    /// `JSON` or `Text`.
    pub log_format: String,
}

/// Dead-letter target of asynchronous invocations.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// SQS queue or SNS topic ARN.
    pub target_arn: Expr,
}

/// Subnets and security groups of a VPC function.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    /// Security group ids.
    pub security_group_ids: Vec<Expr>,
    /// Subnet ids.
    pub subnet_ids: Vec<Expr>,
}

/// `AWS::Lambda::Permission`: lets a service invoke a function.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    /// `lambda:InvokeFunction`.
    pub action: String,
    /// Function name or ARN.
    pub function_name: Expr,
    /// Service principal (`events.amazonaws.com`).
    pub principal: String,
    /// The one resource allowed to invoke (e.g. the rule's ARN).
    pub source_arn: Expr,
}

/// `AWS::Lambda::EventSourceMapping` from an SQS queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSourceMapping {
    /// Queue ARN.
    pub event_source_arn: Expr,
    /// Function name or ARN.
    pub function_name: Expr,
    /// Messages per invocation.
    pub batch_size: u32,
    /// Whether polling is on.
    pub enabled: bool,
    /// `[ReportBatchItemFailures]`: only failed messages are retried.
    pub function_response_types: Vec<String>,
    /// Concurrency bound.
    pub scaling_config: ScalingConfig,
}

/// Bound on concurrent invocations of an SQS event source.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingConfig {
    /// 2 to 1000.
    pub maximum_concurrency: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_blocks_are_omitted() {
        let f = Function {
            function_name: "f".into(),
            description: "d".into(),
            runtime: "provided.al2023".into(),
            handler: "bootstrap".into(),
            architectures: vec!["arm64".into()],
            code: Code { s3_bucket: "b".into(), s3_key: "k.zip".into() },
            role: Expr::get_att("Role", "Arn"),
            memory_size: 256,
            timeout: 60,
            environment: Environment { variables: IndexMap::from([("A".to_string(), "1".into())]) },
            logging_config: LoggingConfig { log_group: Expr::r#ref("Logs"), log_format: "JSON".into() },
            dead_letter_config: None,
            vpc_config: None,
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["Code"], json!({"S3Bucket": "b", "S3Key": "k.zip"}));
        assert_eq!(v["Environment"], json!({"Variables": {"A": "1"}}));
        assert!(v.get("VpcConfig").is_none() && v.get("DeadLetterConfig").is_none());
    }
}
