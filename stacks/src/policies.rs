//! Policy statements and ARNs shared by the stacks: trust of the deployment
//! account's execution roles, Secrets Manager and KMS access for the secret
//! store, logs and SQS access of the functions.

use crate::DEPLOYMENT_ACCOUNT_PARAMETER;
use rekey_config::{Config, Function};
use rekey_synth::cfn::{Expr, Parameter, Principal, Statement};

/// `arn:${AWS::Partition}:<rest>` as `Fn::Sub`.
pub fn arn(rest: &str) -> Expr {
    Expr::sub(format!("arn:${{AWS::Partition}}:{rest}"))
}

/// ARN of role `role` in `account` (a literal id, `*` or a `${...}` placeholder).
pub fn role_arn(account: &str, role: &str) -> Expr {
    arn(&format!("iam::{account}:role/{role}"))
}

/// The account hosting the inventory role, as a `Fn::Sub` fragment.
pub fn management_account(config: &Config) -> String {
    config
        .organization
        .as_ref()
        .and_then(|o| o.management_account_id.as_ref())
        .map(ToString::to_string)
        .unwrap_or_else(|| "${AWS::AccountId}".to_string())
}

/// The `DeploymentAccountId` parameter of the role stacks (deployed to other
/// accounts, where `${AWS::AccountId}` is not the deployment account).
pub fn deployment_account_parameter(config: &Config) -> Parameter {
    Parameter {
        default: config.deployment.account_id.as_ref().map(ToString::to_string),
        allowed_pattern: Some("^[0-9]{12}$".to_string()),
        constraint_description: Some("a 12-digit AWS account id".to_string()),
        ..Parameter::string("The account running the rekey functions (the main stack's account).")
    }
}

/// Trust of the execution roles of `functions` in the deployment account.
///
/// The principal is the deployment account, narrowed by `aws:PrincipalArn`
/// to exactly those roles. Naming the roles themselves as principals would
/// fail: these role stacks are deployed before the main stack creates the
/// execution roles, and IAM rejects a trust policy naming a role that does
/// not exist (and silently breaks when such a role is re-created).
pub fn trust_execution_roles(config: &Config, functions: &[Function]) -> Statement {
    let names = config.names();
    let account = format!("${{{DEPLOYMENT_ACCOUNT_PARAMETER}}}");
    let roles = functions.iter().map(|f| role_arn(&account, &names.execution_role(*f))).collect::<Vec<_>>();
    Statement::trust("TrustRekeyExecutionRoles", Principal::Aws(vec![arn(&format!("iam::{account}:root"))]))
        .with_condition("ArnEquals", "aws:PrincipalArn", Expr::List(roles))
}

/// Trust of the Lambda service (execution roles).
pub fn trust_lambda() -> Statement {
    Statement::trust("TrustLambda", Principal::Service(vec!["lambda.amazonaws.com".to_string()]))
}

/// Secrets Manager actions rekey's secret store calls on its own secrets
/// (exactly the calls of `runtime/src/aws/secrets.rs`; a test checks it).
pub const SECRET_ACTIONS: [&str; 9] = [
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:ReplicateSecretToRegions",
];

/// Secret store access in the account the role lives in, limited to secret
/// names matching the configured pattern with `{account_id}` =
/// `account_in_name` (`${AWS::AccountId}` in member storage, `*` in central
/// storage), in every region (replicas); plus the KMS key when configured.
pub fn secret_store(config: &Config, account_in_name: &str) -> Vec<Statement> {
    let mut glob = config.names().secret_name_glob(account_in_name);
    // A trailing `*` matches the random suffix Secrets Manager appends to ARNs.
    if !glob.ends_with('*') {
        glob.push('*');
    }
    let secrets = arn(&format!("secretsmanager:*:${{AWS::AccountId}}:secret:{glob}"));
    let mut statements = vec![
        Statement::allow("ManageRekeySecrets", SECRET_ACTIONS, vec![secrets]),
        // ListSecrets has no resource-level permissions.
        Statement::allow("FindRekeySecrets", ["secretsmanager:ListSecrets"], vec!["*".into()]),
    ];
    if let Some(key) = &config.secrets.kms_key_arn {
        statements.push(
            Statement::allow(
                "EncryptSecretsWithKey",
                ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"],
                vec![key.as_str().into()],
            )
            .with_condition("StringLike", "kms:ViaService", "secretsmanager.*.amazonaws.com".into()),
        );
    }
    statements
}

/// Writing the function's own log group.
pub fn logs(log_group: &str) -> Statement {
    Statement::allow(
        "WriteOwnLogs",
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![Expr::get_att(log_group, "Arn")],
    )
}

/// Consuming a queue through an event source mapping.
pub fn sqs_consume(sid: &str, queue: &str) -> Statement {
    Statement::allow(
        sid,
        ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
        vec![Expr::get_att(queue, "Arn")],
    )
}

/// Sending to a queue.
pub fn sqs_send(sid: &str, queue: &str) -> Statement {
    Statement::allow(sid, ["sqs:SendMessage"], vec![Expr::get_att(queue, "Arn")])
}

/// Security Hub access of the member role, in its own account, when
/// `integrations.security_hub` is on: import rekey's findings (the account's
/// default product only), read them back and resolve settled ones (hub).
pub fn security_hub_findings(config: &Config) -> Vec<Statement> {
    let hub = &config.integrations.security_hub;
    if !hub.enabled {
        return Vec::new();
    }
    let region = hub.region.as_ref().unwrap_or(&config.deployment.region);
    vec![
        Statement::allow(
            "ImportRekeyFindings",
            ["securityhub:BatchImportFindings"],
            vec![arn(&format!("securityhub:{region}:${{AWS::AccountId}}:product/${{AWS::AccountId}}/default"))],
        ),
        Statement::allow(
            "ReadAndResolveRekeyFindings",
            ["securityhub:GetFindings", "securityhub:BatchUpdateFindings"],
            vec![arn(&format!("securityhub:{region}:${{AWS::AccountId}}:hub/default"))],
        ),
    ]
}

/// `events:PutEvents` on the configured bus only, when `integrations.event_bus` is set.
pub fn put_events(config: &Config) -> Option<Statement> {
    let bus = config.integrations.event_bus.as_ref()?;
    let resource = if bus.starts_with("arn:") {
        Expr::from(bus.as_str())
    } else {
        arn(&format!("events:${{AWS::Region}}:${{AWS::AccountId}}:event-bus/{bus}"))
    };
    Some(Statement::allow("PutLifecycleEvents", ["events:PutEvents"], vec![resource]))
}
