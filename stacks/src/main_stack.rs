//! The main stack (deployment account): schedule → inventory function →
//! accounts queue → rotation function → notifications queue → notifier
//! function, the run ledger table where a run's reports are collected until
//! its digests go out, one execution role per function (inline
//! least-privilege policies only), a log group per function, a dead-letter
//! queue and an alarm for each queue, the CloudWatch dashboard
//! (`dashboard.rs`, unless `dashboard.enabled` is false), and optional VPC
//! placement.

use crate::policies::{self, arn, role_arn};
use crate::{vpc_endpoints, StackError, LAMBDA_ENV_LIMIT_BYTES};
use crate::{
    ENV_ACCOUNTS_MAX_RECEIVE_COUNT, ENV_ACCOUNTS_QUEUE_URL, ENV_DEPLOYMENT_ACCOUNT_ID, ENV_FUNCTION,
    ENV_NOTIFICATIONS_QUEUE_URL, ENV_RUN_LEDGER_TABLE,
};
use indexmap::IndexMap;
use rekey_config::{Config, Function, SecretStorage, CONFIG_ENV};
use rekey_synth::asset::{asset_bucket_name, LambdaAsset};
use rekey_synth::cfn::{
    Alarm, AttributeDefinition, Code, DeadLetterConfig, Dimension, Environment, EventSourceMapping, Expr,
    Function as LambdaFunction, InlinePolicy, KeySchemaElement, LogGroup, LoggingConfig, Output, Permission,
    PointInTimeRecoverySpecification, PolicyDocument, Queue, RedrivePolicy, Resource, RetryPolicy, Role, Rule,
    ScalingConfig, SseSpecification, Statement, Table, Target, Template, TimeToLiveSpecification, VpcConfig,
};

/// What the stack is.
pub const DESCRIPTION: &str =
    "rekey: scheduled IAM access key audit and rotation (functions, queues, schedule, alarms)";

/// Timeout of the inventory function: listing a large organization page by page.
pub const INVENTORY_TIMEOUT_SECONDS: u32 = 300;
/// Timeout of the notifier function: a batch of a few emails.
pub const NOTIFIER_TIMEOUT_SECONDS: u32 = 120;
/// Messages per notifier invocation (failures are reported per message).
const NOTIFIER_BATCH_SIZE: u32 = 10;
/// SES accounts start at a low send rate; two notifiers at once stay under it.
const NOTIFIER_MAX_CONCURRENCY: u32 = 2;
/// Receives before a message moves to its dead-letter queue.
const MAX_RECEIVE_COUNT: u32 = 3;
/// Retention of work queues: a few days covers a weekend outage.
const QUEUE_RETENTION_SECONDS: u32 = 4 * 24 * 3600;
/// Retention of dead-letter queues: SQS's maximum, to leave time to look.
const DEAD_LETTER_RETENTION_SECONDS: u32 = 14 * 24 * 3600;
/// SQS's maximum visibility timeout.
const MAX_VISIBILITY_SECONDS: u32 = 12 * 3600;
/// How much room an environment value resolved at deploy time (a queue URL,
/// an account id) is given when checking the 4 KB limit.
const RESOLVED_VALUE_ALLOWANCE: usize = 256;

const CKV_RESERVED_CONCURRENCY: (&str, &str) = (
    "CKV_AWS_115",
    "concurrency is bounded where work arrives: the schedule runs one inventory at a time and the SQS event source \
     mappings set MaximumConcurrency; reserved concurrency would fail to deploy in accounts with a low concurrency \
     quota and make SQS batches throttle into the dead-letter queues",
);
const CKV_ENV_KMS: (&str, &str) = (
    "CKV_AWS_173",
    "the environment holds only the rekey configuration and queue URLs, no secrets; Lambda encrypts it at rest with \
     its service key",
);
const CKV_ENV_SECRETS: (&str, &str) = (
    "CKV_AWS_45",
    "the environment is the validated rekey configuration, which has no secret fields; the check mistakes its \
     12-digit account ids (`account_id`) for AWS credentials",
);
const CKV_NO_VPC: (&str, &str) = (
    "CKV_AWS_117",
    "VPC placement is opt-in (vpc.enabled): the functions only call public AWS APIs over TLS and need no private \
     network access",
);
const CKV_SQS_TRIGGERED_DLQ: (&str, &str) = (
    "CKV_AWS_116",
    "invoked synchronously by an SQS event source mapping, where a function dead-letter queue is never used; failed \
     messages go to the source queue's dead-letter queue (redrive policy) instead",
);
const CKV_ENI_WILDCARD: (&str, &str) = (
    "CKV_AWS_111",
    "the ENI actions Lambda needs for VPC placement do not support resource-level permissions (EC2 requires `*`)",
);
const CKV_SQS_KMS: (&str, &str) = (
    "CKV_AWS_27",
    "encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which this check does not recognize; a KMS key \
     would add cost and key-policy grants for no gain, since messages hold no secrets",
);
const CKV_DYNAMODB_CMK: (&str, &str) = (
    "CKV_AWS_119",
    "encrypted at rest with the AWS managed key (SSEEnabled); the table holds run reports, which have no secret values, \
     so a customer-managed key would add cost and key-policy grants for no gain",
);
const CKV_LOGS_KMS: (&str, &str) = (
    "CKV_AWS_158",
    "the logs hold no secret values (rekey never logs key material); CloudWatch Logs encrypts them at rest with its \
     service key",
);

/// Logical id of the queue of accounts to audit.
const ACCOUNTS_QUEUE: &str = "AccountsQueue";
/// Logical id of the queue of notifications (and run deadlines).
const NOTIFICATIONS_QUEUE: &str = "NotificationsQueue";
/// Logical id of the dead-letter queue of the inventory's failed scheduled runs.
const INVENTORY_DEAD_LETTER_QUEUE: &str = "InventoryDeadLetterQueue";
/// Logical id of the run ledger table.
const RUN_LEDGER: &str = "RunLedgerTable";

/// Logical-id prefix of a function's resources (`Rotation`).
fn prefix(function: Function) -> &'static str {
    match function {
        Function::Inventory => "Inventory",
        Function::Rotation => "Rotation",
        Function::Notifier => "Notifier",
    }
}

/// Logical id of a function (`RotationFunction`); a `Ref` to it is the function's name.
pub(crate) fn function_id(function: Function) -> String {
    format!("{}Function", prefix(function))
}

/// Logical id of a function's execution role.
fn execution_role_id(function: Function) -> String {
    format!("{}ExecutionRole", prefix(function))
}

/// Logical id of a function's log group.
fn log_group_id(function: Function) -> String {
    format!("{}LogGroup", prefix(function))
}

/// Logical id of the dead-letter queue of the queue `queue` (a logical id).
fn dead_letter_queue_id(queue: &str) -> String {
    format!("{queue}DeadLetterQueue")
}

/// Logical ids of every dead-letter queue, in the order the stack adds them.
pub(crate) fn dead_letter_queue_ids() -> [String; 3] {
    [
        dead_letter_queue_id(ACCOUNTS_QUEUE),
        dead_letter_queue_id(NOTIFICATIONS_QUEUE),
        INVENTORY_DEAD_LETTER_QUEUE.to_string(),
    ]
}

fn timeout(config: &Config, function: Function) -> u32 {
    match function {
        Function::Inventory => INVENTORY_TIMEOUT_SECONDS,
        Function::Rotation => config.lambda.timeout_seconds,
        Function::Notifier => NOTIFIER_TIMEOUT_SECONDS,
    }
}

/// Visibility timeout of a queue consumed by `function`: AWS advises six
/// times the function's timeout (room for retries of a batch), capped by SQS.
fn visibility_timeout(config: &Config, function: Function) -> u32 {
    (6 * timeout(config, function)).min(MAX_VISIBILITY_SECONDS)
}

fn description(function: Function) -> &'static str {
    match function {
        Function::Inventory => "rekey inventory: lists the accounts to audit and queues one message per account",
        Function::Rotation => "rekey rotation: audits one account's IAM access keys and, in enforce mode, rotates them",
        Function::Notifier => "rekey notifier: emails the per-recipient digests",
    }
}

/// Adds a queue with its dead-letter queue and the alarm on it; returns the queue's logical id.
fn add_queue(t: &mut Template, logical: &str, name: &str, visibility: u32, config: &Config) -> String {
    let names = config.names();
    let dlq = add_dead_letter_queue(t, &dead_letter_queue_id(logical), &names.dead_letter_queue(name));
    t.add(
        logical,
        Resource::from(Queue {
            queue_name: name.into(),
            visibility_timeout: visibility,
            message_retention_period: QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled: true,
            redrive_policy: Some(RedrivePolicy {
                dead_letter_target_arn: Expr::get_att(&dlq, "Arn"),
                max_receive_count: MAX_RECEIVE_COUNT,
            }),
        })
        .skip_checkov(CKV_SQS_KMS.0, CKV_SQS_KMS.1),
    )
}

/// Adds a dead-letter queue and an alarm that fires when it holds a message.
fn add_dead_letter_queue(t: &mut Template, logical: &str, name: &str) -> String {
    let id = t.add(
        logical,
        Resource::from(Queue {
            queue_name: name.into(),
            visibility_timeout: 60,
            message_retention_period: DEAD_LETTER_RETENTION_SECONDS,
            sqs_managed_sse_enabled: true,
            redrive_policy: None,
        })
        .skip_checkov(CKV_SQS_KMS.0, CKV_SQS_KMS.1),
    );
    t.add(
        &format!("{logical}Alarm"),
        Alarm {
            alarm_name: None,
            alarm_description: format!(
                "Messages in the rekey dead-letter queue `{name}`: some work failed {MAX_RECEIVE_COUNT} times; \
                 read the function's logs, then redrive or purge the queue"
            ),
            namespace: "AWS/SQS".to_string(),
            metric_name: "ApproximateNumberOfMessagesVisible".to_string(),
            dimensions: vec![Dimension { name: "QueueName".to_string(), value: Expr::get_att(&id, "QueueName") }],
            statistic: "Maximum".to_string(),
            period: 300,
            evaluation_periods: 1,
            threshold: 0.0,
            comparison_operator: "GreaterThanThreshold".to_string(),
            treat_missing_data: "notBreaching".to_string(),
        },
    );
    id
}

/// The permissions of one function's execution role, beyond its logs.
fn statements(config: &Config, function: Function) -> Vec<Statement> {
    let mut out = match function {
        Function::Inventory => inventory_statements(config),
        Function::Rotation => rotation_statements(config),
        Function::Notifier => notifier_statements(config),
    };
    if config.vpc.enabled {
        out.push(Statement::allow(
            "ManageVpcNetworkInterfaces",
            [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            vec!["*".into()],
        ));
    }
    out
}

/// The inventory's role: queue the accounts, open the run, list the organization.
fn inventory_statements(config: &Config) -> Vec<Statement> {
    let names = config.names();
    let mut out = vec![
        policies::sqs_send("QueueAccounts", ACCOUNTS_QUEUE),
        policies::sqs_send("QueueRunDeadline", NOTIFICATIONS_QUEUE),
        policies::sqs_send("DeadLetterFailedRuns", INVENTORY_DEAD_LETTER_QUEUE),
        ledger_statement("OpenRuns", &["dynamodb:PutItem"]),
    ];
    if config.organization.is_some() {
        let inventory_role = role_arn(&policies::management_account(config), &names.inventory_role);
        out.push(Statement::allow("AssumeInventoryRole", ["sts:AssumeRole"], vec![inventory_role]));
    }
    out
}

/// The rotation's role: consume accounts, record reports, assume the member roles.
fn rotation_statements(config: &Config) -> Vec<Statement> {
    let names = config.names();
    let mut out = vec![
        policies::sqs_consume("ConsumeAccounts", ACCOUNTS_QUEUE),
        // An account an invocation cannot finish before its deadline
        // queues its remaining users as a continuation.
        policies::sqs_send("QueueAccountRemainder", ACCOUNTS_QUEUE),
        policies::sqs_send("QueueNotifications", NOTIFICATIONS_QUEUE),
        // TransactWriteItems is authorized as the Put and Update it holds;
        // Query reads back the parts of an account done across invocations.
        ledger_statement(
            "RecordAccountReports",
            &["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"],
        ),
    ];
    let member = match &config.organization {
        Some(org) => {
            let s = Statement::allow("AssumeMemberRoles", ["sts:AssumeRole"], vec![role_arn("*", &names.member_role)]);
            match &org.organization_id {
                // Only roles in accounts of this organization.
                Some(id) => s.with_condition("StringEquals", "aws:ResourceOrgID", id.to_string().into()),
                None => s,
            }
        }
        // Single-account mode: the member role lives in this account.
        None => Statement::allow(
            "AssumeMemberRole",
            ["sts:AssumeRole"],
            vec![role_arn("${AWS::AccountId}", &names.member_role)],
        ),
    };
    out.push(member);
    if config.secrets.storage == SecretStorage::Central {
        let inventory_role = role_arn(&policies::management_account(config), &names.inventory_role);
        out.push(Statement::allow("AssumeCentralSecretStoreRole", ["sts:AssumeRole"], vec![inventory_role]));
    }
    out.extend(policies::put_events(config));
    out
}

/// The notifier's role: consume notifications, close runs, send email as the sender.
fn notifier_statements(config: &Config) -> Vec<Statement> {
    let mut out = vec![
        policies::sqs_consume("ConsumeNotifications", NOTIFICATIONS_QUEUE),
        policies::sqs_send("RequeueRunDeadline", NOTIFICATIONS_QUEUE),
        ledger_statement(
            "CloseRunsAndReadReports",
            &["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:PutItem"],
        ),
    ];
    if let Some(sender) = &config.notifications.sender {
        out.push(
            Statement::allow(
                "SendEmailFromSender",
                ["ses:SendEmail"],
                vec![arn("ses:${AWS::Region}:${AWS::AccountId}:identity/*")],
            )
            .with_condition("StringEquals", "ses:FromAddress", sender.to_string().into()),
        );
    }
    out
}

/// `actions` on the run ledger table only.
fn ledger_statement(sid: &str, actions: &[&str]) -> Statement {
    Statement::allow(sid, actions.iter().copied(), vec![Expr::get_att(RUN_LEDGER, "Arn")])
}

/// The run ledger: one partition per run (see `rekey-runtime`'s `ledger`
/// module); items expire by TTL a week after they are written.
fn run_ledger_table(config: &Config) -> Resource {
    let key = |name: &str, key_type: &str| KeySchemaElement { attribute_name: name.into(), key_type: key_type.into() };
    let string = |name: &str| AttributeDefinition { attribute_name: name.into(), attribute_type: "S".into() };
    Resource::from(Table {
        table_name: config.names().run_ledger_table().into(),
        billing_mode: "PAY_PER_REQUEST".into(),
        attribute_definitions: vec![string("run_id"), string("entry")],
        key_schema: vec![key("run_id", "HASH"), key("entry", "RANGE")],
        time_to_live_specification: TimeToLiveSpecification { attribute_name: "expires_at".into(), enabled: true },
        point_in_time_recovery_specification: PointInTimeRecoverySpecification { point_in_time_recovery_enabled: true },
        sse_specification: SseSpecification { sse_enabled: true },
    })
    .skip_checkov(CKV_DYNAMODB_CMK.0, CKV_DYNAMODB_CMK.1)
}

fn environment(config: &Config, function: Function) -> Result<IndexMap<String, Expr>, StackError> {
    let mut vars = IndexMap::new();
    vars.insert(ENV_FUNCTION.to_string(), Expr::from(function.name()));
    vars.insert(CONFIG_ENV.to_string(), Expr::from(config.function_env_json(function)));
    match function {
        Function::Inventory => {
            vars.insert(ENV_ACCOUNTS_QUEUE_URL.to_string(), Expr::r#ref(ACCOUNTS_QUEUE));
            vars.insert(ENV_DEPLOYMENT_ACCOUNT_ID.to_string(), Expr::account_id());
        }
        Function::Rotation => {
            vars.insert(ENV_ACCOUNTS_QUEUE_URL.to_string(), Expr::r#ref(ACCOUNTS_QUEUE));
            vars.insert(ENV_DEPLOYMENT_ACCOUNT_ID.to_string(), Expr::account_id());
            vars.insert(ENV_ACCOUNTS_MAX_RECEIVE_COUNT.to_string(), Expr::from(MAX_RECEIVE_COUNT.to_string()));
        }
        Function::Notifier => {}
    }
    // Every function reads or writes the run ledger and the notifications queue.
    vars.insert(ENV_NOTIFICATIONS_QUEUE_URL.to_string(), Expr::r#ref(NOTIFICATIONS_QUEUE));
    vars.insert(ENV_RUN_LEDGER_TABLE.to_string(), Expr::r#ref(RUN_LEDGER));
    let size: usize = vars.iter().map(|(k, v)| k.len() + v.as_str().map_or(RESOLVED_VALUE_ALLOWANCE, str::len)).sum();
    if size > LAMBDA_ENV_LIMIT_BYTES {
        return Err(StackError::EnvironmentTooLarge {
            function: config.names().function(function),
            size,
            limit: LAMBDA_ENV_LIMIT_BYTES,
        });
    }
    Ok(vars)
}

/// Whether `json` holds a quoted 12-digit string (an account id), which
/// checkov's secret scan takes for a credential.
fn quotes_an_account_id(json: &str) -> bool {
    json.as_bytes().windows(14).any(|w| w[0] == b'"' && w[13] == b'"' && w[1..13].iter().all(u8::is_ascii_digit))
}

/// Builds the main stack.
pub fn template(config: &Config, asset: &LambdaAsset) -> Result<(&'static str, Template), StackError> {
    let mut t = Template::new(DESCRIPTION);
    add_queues(&mut t, config);
    add_functions(&mut t, config, asset)?;
    add_event_source_mappings(&mut t, config);
    add_schedule(&mut t, config);
    crate::dashboard::add(&mut t, config);
    add_outputs(&mut t);
    Ok((DESCRIPTION, t))
}

/// The work queues (each with its dead-letter queue and alarm), the run
/// ledger, and the inventory's dead-letter queue.
fn add_queues(t: &mut Template, config: &Config) {
    let names = config.names();
    let rotation_visibility = visibility_timeout(config, Function::Rotation);
    add_queue(t, ACCOUNTS_QUEUE, &names.accounts_queue(), rotation_visibility, config);
    let notifier_visibility = visibility_timeout(config, Function::Notifier);
    add_queue(t, NOTIFICATIONS_QUEUE, &names.notifications_queue(), notifier_visibility, config);
    t.add(RUN_LEDGER, run_ledger_table(config));
    // Failed scheduled runs of the inventory (an asynchronous invocation).
    add_dead_letter_queue(
        t,
        INVENTORY_DEAD_LETTER_QUEUE,
        &names.dead_letter_queue(&names.function(Function::Inventory)),
    );
}

/// Each function with its log group and execution role.
fn add_functions(t: &mut Template, config: &Config, asset: &LambdaAsset) -> Result<(), StackError> {
    let code = Code { s3_bucket: Expr::sub(asset_bucket_name(config)), s3_key: asset.object_key().into() };
    let vpc_config = config.vpc.enabled.then(|| VpcConfig {
        security_group_ids: vec![Expr::import_value(vpc_endpoints::functions_security_group_export(config).into())],
        subnet_ids: config.vpc.subnet_ids.iter().map(|s| s.to_string().into()).collect(),
    });
    for function in Function::ALL {
        let log_group = t.add(&log_group_id(function), log_group(config, function));
        t.add(&execution_role_id(function), execution_role(config, function, &log_group));
        t.add(&function_id(function), lambda_function(config, function, &code, vpc_config.as_ref())?);
    }
    Ok(())
}

/// A function's log group, with the configured retention.
fn log_group(config: &Config, function: Function) -> Resource {
    Resource::from(LogGroup {
        log_group_name: format!("/aws/lambda/{}", config.names().function(function)).into(),
        retention_in_days: config.lambda.log_retention_days,
    })
    .skip_checkov(CKV_LOGS_KMS.0, CKV_LOGS_KMS.1)
}

/// A function's execution role: its log group plus [`statements`].
fn execution_role(config: &Config, function: Function, log_group: &str) -> Resource {
    let mut statements = vec![policies::logs(log_group)];
    statements.extend(self::statements(config, function));
    let role = Resource::from(Role {
        role_name: config.names().execution_role(function).into(),
        description: format!("Execution role of the rekey {} function", function.name()),
        assume_role_policy_document: PolicyDocument::new(vec![policies::trust_lambda()]),
        policies: vec![InlinePolicy {
            policy_name: format!("Rekey{}", prefix(function)),
            policy_document: PolicyDocument::new(statements),
        }],
        max_session_duration: None,
    });
    if config.vpc.enabled {
        role.skip_checkov(CKV_ENI_WILDCARD.0, CKV_ENI_WILDCARD.1)
    } else {
        role
    }
}

/// A Lambda function, with the checkov checks that do not apply to it.
fn lambda_function(
    config: &Config,
    function: Function,
    code: &Code,
    vpc_config: Option<&VpcConfig>,
) -> Result<Resource, StackError> {
    let mut resource = Resource::from(LambdaFunction {
        function_name: config.names().function(function).into(),
        description: description(function).to_string(),
        runtime: "provided.al2023".to_string(),
        handler: "bootstrap".to_string(),
        architectures: vec![config.lambda.architecture.lambda_name().to_string()],
        code: code.clone(),
        role: Expr::get_att(execution_role_id(function), "Arn"),
        memory_size: config.lambda.memory_mb,
        timeout: timeout(config, function),
        environment: Environment { variables: environment(config, function)? },
        // Referencing the log group orders its creation (with retention)
        // before the function's first invocation.
        logging_config: LoggingConfig {
            log_group: Expr::r#ref(log_group_id(function)),
            log_format: "JSON".to_string(),
        },
        dead_letter_config: (function == Function::Inventory)
            .then(|| DeadLetterConfig { target_arn: Expr::get_att(INVENTORY_DEAD_LETTER_QUEUE, "Arn") }),
        vpc_config: vpc_config.cloned(),
    })
    .skip_checkov(CKV_RESERVED_CONCURRENCY.0, CKV_RESERVED_CONCURRENCY.1)
    .skip_checkov(CKV_ENV_KMS.0, CKV_ENV_KMS.1);
    if quotes_an_account_id(&config.function_env_json(function)) {
        resource = resource.skip_checkov(CKV_ENV_SECRETS.0, CKV_ENV_SECRETS.1);
    }
    if !config.vpc.enabled {
        resource = resource.skip_checkov(CKV_NO_VPC.0, CKV_NO_VPC.1);
    }
    if function != Function::Inventory {
        resource = resource.skip_checkov(CKV_SQS_TRIGGERED_DLQ.0, CKV_SQS_TRIGGERED_DLQ.1);
    }
    Ok(resource)
}

/// The SQS event source mappings of the rotation and notifier functions.
fn add_event_source_mappings(t: &mut Template, config: &Config) {
    t.add(
        "RotationEventSourceMapping",
        EventSourceMapping {
            event_source_arn: Expr::get_att(ACCOUNTS_QUEUE, "Arn"),
            function_name: Expr::r#ref(function_id(Function::Rotation)),
            // One account per invocation: an account's audit takes up to the
            // whole timeout, and a failure retries only that account.
            batch_size: 1,
            enabled: true,
            function_response_types: vec!["ReportBatchItemFailures".to_string()],
            scaling_config: ScalingConfig { maximum_concurrency: config.lambda.rotation_max_concurrency },
        },
    );
    t.add(
        "NotifierEventSourceMapping",
        EventSourceMapping {
            event_source_arn: Expr::get_att(NOTIFICATIONS_QUEUE, "Arn"),
            function_name: Expr::r#ref(function_id(Function::Notifier)),
            batch_size: NOTIFIER_BATCH_SIZE,
            enabled: true,
            function_response_types: vec!["ReportBatchItemFailures".to_string()],
            scaling_config: ScalingConfig { maximum_concurrency: NOTIFIER_MAX_CONCURRENCY },
        },
    );
}

/// The schedule rule that starts a run, and its permission to invoke the inventory.
fn add_schedule(t: &mut Template, config: &Config) {
    let inventory = function_id(Function::Inventory);
    let rule = t.add(
        "ScheduleRule",
        Rule {
            name: None,
            description: "Starts a rekey run: invokes the inventory function".to_string(),
            schedule_expression: config.schedule.expression.clone(),
            state: if config.schedule.enabled { "ENABLED" } else { "DISABLED" }.to_string(),
            targets: vec![Target {
                id: "inventory".to_string(),
                arn: Expr::get_att(&inventory, "Arn"),
                retry_policy: Some(RetryPolicy { maximum_event_age_in_seconds: 3600, maximum_retry_attempts: 3 }),
            }],
        },
    );
    t.add(
        "SchedulePermission",
        Permission {
            action: "lambda:InvokeFunction".to_string(),
            function_name: Expr::get_att(&inventory, "Arn"),
            principal: "events.amazonaws.com".to_string(),
            source_arn: Expr::get_att(rule, "Arn"),
        },
    );
}

/// Function ARNs, queue URLs, the ledger table name and the execution role ARNs.
fn add_outputs(t: &mut Template) {
    for function in Function::ALL {
        t.add_output(
            &format!("{}FunctionArn", prefix(function)),
            Output::new(
                format!("ARN of the {} function", function.name()),
                Expr::get_att(function_id(function), "Arn"),
            ),
        );
    }
    t.add_output("AccountsQueueUrl", Output::new("URL of the accounts queue", Expr::r#ref(ACCOUNTS_QUEUE)));
    t.add_output(
        "NotificationsQueueUrl",
        Output::new("URL of the notifications queue", Expr::r#ref(NOTIFICATIONS_QUEUE)),
    );
    t.add_output("RunLedgerTableName", Output::new("Name of the run ledger table", Expr::r#ref(RUN_LEDGER)));
    for function in Function::ALL {
        t.add_output(
            &format!("{}ExecutionRoleArn", prefix(function)),
            Output::new(
                format!("ARN of the {} function's execution role", function.name()),
                Expr::get_att(execution_role_id(function), "Arn"),
            ),
        );
    }
}
