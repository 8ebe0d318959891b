//! The serde layer of the configuration: exactly what a YAML file may say,
//! with defaults and `deny_unknown_fields`. Cross-field rules live in
//! `validate.rs`; only a validated [`crate::Config`] reaches the rest of rekey.

use crate::ids::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole rekey configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `organization` (the default: the accounts of the AWS Organization, as the `organization` section selects
    /// them) or `account` (only the deployment account). Never inferred from the `organization` section, except
    /// for files written before this field existed: no `scope` and no `organization` section is read as `account`
    /// with a note (see `Config::scope_inferred`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Where and how the main stack is deployed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub deployment: Deployment,
    /// Which accounts of the AWS Organization to cover (`scope: organization`; every field has a default, so the
    /// section may be left out). Not allowed with `scope: account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Organization>,
    /// Key lifecycle thresholds and rules.
    #[serde(default, deserialize_with = "null_as_default")]
    pub lifecycle: Lifecycle,
    /// `audit` (report only, the default) or `enforce` (rotate, deactivate, delete).
    #[serde(default)]
    pub mode: Mode,
    /// Where and how new keys are stored.
    #[serde(default, deserialize_with = "null_as_default")]
    pub secrets: Secrets,
    /// Who is told, and how.
    #[serde(default, deserialize_with = "null_as_default")]
    pub notifications: Notifications,
    /// When the inventory runs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub schedule: Schedule,
    /// Optional VPC placement of the functions and the endpoints they need.
    #[serde(default, deserialize_with = "null_as_default")]
    pub vpc: Vpc,
    /// Lambda function settings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub lambda: Lambda,
    /// Where else rekey reports: Security Hub findings and EventBridge
    /// lifecycle events (both off by default; docs/integrations.md).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Integrations::is_off")]
    pub integrations: Integrations,
    /// How the rotation function spreads its calls over time: users of an
    /// account at once, and client-side rate limits (docs/scale.md).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "crate::Runtime::is_default")]
    pub runtime: crate::Runtime,
    /// The CloudWatch dashboard of the main stack (docs/dashboard.md).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "crate::Dashboard::is_default")]
    pub dashboard: crate::Dashboard,
    /// How `rekey rotate --plan` treats plan files (docs/review-workflow.md).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "crate::PlanFiles::is_default")]
    pub plan: crate::PlanFiles,
}

/// Where and how the main stack is deployed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Deployment {
    /// Prefix of every resource name rekey creates (roles, functions, queues, stacks).
    pub name_prefix: NamePrefix,
    /// Region of the main stack, the member-role StackSet and (member mode) the secrets.
    pub region: Region,
    /// The deployment account. Optional: `rekey deploy` discovers it; set it to
    /// bake it into the templates for other deploy tools.
    pub account_id: Option<AccountId>,
    /// Bucket for the Lambda asset. Absent: the CDK bootstrap bucket
    /// `cdk-{qualifier}-assets-{account}-{region}`.
    pub asset_bucket: Option<String>,
    /// CDK bootstrap qualifier used when `asset_bucket` is absent.
    pub bootstrap_qualifier: String,
    /// Tags applied to every stack (and so to every taggable resource).
    #[serde(deserialize_with = "null_as_default")]
    pub tags: BTreeMap<String, String>,
}

impl Default for Deployment {
    fn default() -> Self {
        Self {
            name_prefix: NamePrefix::try_from("rekey").expect("valid"),
            region: Region::try_from("us-east-1").expect("valid"),
            account_id: None,
            asset_bucket: None,
            bootstrap_qualifier: "hnb659fds".to_string(),
            tags: BTreeMap::new(),
        }
    }
}

/// The AWS Organization to cover.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Organization {
    /// The management (or delegated-administrator) account that hosts the
    /// inventory role. Absent: the deployment account.
    pub management_account_id: Option<AccountId>,
    /// The organization id; when set, trust and resource policies are limited to it.
    pub organization_id: Option<OrganizationId>,
    /// Name of the inventory role. Absent: `{name_prefix}-inventory`.
    pub inventory_role_name: Option<ResourceName>,
    /// Name of the member role in every account. Absent: `{name_prefix}-member`.
    pub member_role_name: Option<ResourceName>,
    /// OU (or root) ids whose subtrees are audited, nested OUs included.
    /// Empty: the whole organization.
    #[serde(deserialize_with = "null_as_default")]
    pub target_ou_ids: Vec<OuId>,
    /// When non-empty, only these accounts are audited.
    #[serde(deserialize_with = "null_as_default")]
    pub include_account_ids: Vec<AccountId>,
    /// Accounts never audited.
    #[serde(deserialize_with = "null_as_default")]
    pub exclude_account_ids: Vec<AccountId>,
    /// OUs whose subtrees are never audited.
    #[serde(deserialize_with = "null_as_default")]
    pub exclude_ou_ids: Vec<OuId>,
    /// Audit the management account too (the member role is then deployed
    /// there as a plain stack, since StackSets never reach it).
    pub include_management_account: bool,
    /// How `rekey deploy` creates the StackSet.
    #[serde(deserialize_with = "null_as_default")]
    pub stackset: StackSetSettings,
}

/// How the member-role StackSet is deployed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StackSetSettings {
    /// `self` from the management account, `delegated_admin` from a delegated administrator.
    pub call_as: CallAs,
    /// Percentage of accounts deployed at once.
    pub max_concurrent_percentage: u8,
    /// Percentage of accounts that may fail before the operation stops.
    pub failure_tolerance_percentage: u8,
}

impl Default for StackSetSettings {
    fn default() -> Self {
        Self { call_as: CallAs::SelfAccount, max_concurrent_percentage: 25, failure_tolerance_percentage: 0 }
    }
}

/// Which account `rekey deploy` acts as for StackSet operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallAs {
    /// The management account.
    #[serde(rename = "self")]
    SelfAccount,
    /// A delegated administrator account.
    DelegatedAdmin,
}

/// Key lifecycle thresholds and rules (days are measured from the key's CreateDate).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Lifecycle {
    /// Age at which a key expires and a replacement is created.
    pub rotate_after_days: u32,
    /// Age at which an expired key is deactivated, once its replacement has
    /// existed for `deactivate_after_days - rotate_after_days` days.
    pub deactivate_after_days: u32,
    /// Age at which a deactivated key is deleted, once it has been inactive
    /// for `delete_after_days - deactivate_after_days` days.
    pub delete_after_days: u32,
    /// How many days ahead each pending action is announced.
    pub warn_before_days: u32,
    /// Delete inactive keys rekey did not deactivate (default: report and leave alone).
    pub delete_stale_inactive_keys: bool,
    /// When set, an old key used within this many days is not deactivated;
    /// the report and email escalate instead.
    pub require_unused_days_before_deactivate: Option<u32>,
    /// IAM group whose members are exempt. Absent: `{name_prefix}-exempt`.
    pub exemption_group: Option<ResourceName>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            rotate_after_days: 90,
            deactivate_after_days: 100,
            delete_after_days: 110,
            warn_before_days: 7,
            delete_stale_inactive_keys: false,
            require_unused_days_before_deactivate: None,
            exemption_group: None,
        }
    }
}

/// Which accounts rekey covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The accounts of the AWS Organization (the `organization` section narrows them).
    #[default]
    Organization,
    /// Only the deployment account (no inventory role, no member-role StackSet).
    Account,
}

/// Audit (report only) or enforce (act).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Change nothing; report and email the plan.
    #[default]
    Audit,
    /// Rotate, deactivate and delete keys as planned.
    Enforce,
}

/// Where and how new keys are stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Secrets {
    /// `member`: in the user's own account; `central`: in the account hosting the inventory role.
    pub storage: SecretStorage,
    /// Customer-managed KMS key for the secrets; required for `central`
    /// (the default key cannot be shared across accounts).
    pub kms_key_arn: Option<KmsKeyArn>,
    /// Secret name; `{account_id}` and `{user_name}` are replaced.
    pub name_pattern: String,
    /// Regions each secret is replicated to (only missing replicas are added).
    #[serde(deserialize_with = "null_as_default")]
    pub replica_regions: Vec<Region>,
    /// Principals besides the key's owner allowed to read each secret.
    #[serde(deserialize_with = "null_as_default")]
    pub extra_reader_principals: Vec<PrincipalArn>,
    /// Check a new key with STS `GetCallerIdentity` before promoting it.
    pub verify_new_key: bool,
}

impl Default for Secrets {
    fn default() -> Self {
        Self {
            storage: SecretStorage::Member,
            kms_key_arn: None,
            name_pattern: crate::DEFAULT_SECRET_NAME_PATTERN.to_string(),
            replica_regions: Vec::new(),
            extra_reader_principals: Vec::new(),
            verify_new_key: true,
        }
    }
}

/// Where secrets live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretStorage {
    /// In the member account that owns the user.
    #[default]
    Member,
    /// In the account hosting the inventory role (management or delegated admin).
    Central,
}

/// Who is told, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Notifications {
    /// SES-verified sender. Absent: no email is sent; runs are still reported in logs.
    pub sender: Option<EmailAddress>,
    /// Recipients of every account's digest.
    #[serde(deserialize_with = "null_as_default")]
    pub admin_recipients: Vec<EmailAddress>,
    /// Send each account's digest to the account's email from Organizations.
    pub notify_account_email: bool,
    /// IAM user tag whose value is the owner's email; owners get a digest of their keys.
    pub owner_tag_key: Option<String>,
    /// Subject line (a tera template; `account_id`, `account_name`, `mode`, `action_count` are available).
    pub subject: String,
    /// File (relative to the config file) replacing the built-in HTML email template.
    pub html_template: Option<String>,
    /// File (relative to the config file) replacing the built-in plain-text email template.
    pub text_template: Option<String>,
    /// Send a digest even when nothing is planned or warned.
    pub send_when_nothing_to_report: bool,
    /// Minutes after a run starts that its digests wait for accounts still
    /// being processed (or crashed) before going out with what is there; the
    /// accounts without a result are named in the admins' digest.
    pub digest_wait_minutes: u32,
    /// A digest covering more accounts than this shows one row of counts per
    /// account instead of every key's detail, and the full per-key detail
    /// goes in its CSV attachment (default 20; 0: always one row per account).
    pub inline_account_limit: u32,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            sender: None,
            admin_recipients: Vec::new(),
            notify_account_email: true,
            owner_tag_key: None,
            subject:
                "[rekey] IAM access keys ({{ mode }}): {{ action_count }} item(s) in {{ account_count }} account(s)"
                    .to_string(),
            html_template: None,
            text_template: None,
            send_when_nothing_to_report: false,
            digest_wait_minutes: DEFAULT_DIGEST_WAIT_MINUTES,
            inline_account_limit: DEFAULT_INLINE_ACCOUNT_LIMIT,
        }
    }
}

/// Default of `notifications.digest_wait_minutes`: long enough for the
/// rotation queue's three attempts of a slow account, short enough that a
/// run's digest arrives the same working day.
pub const DEFAULT_DIGEST_WAIT_MINUTES: u32 = 360;

/// Default of `notifications.inline_account_limit`: about what a person
/// reads key by key in one email.
pub const DEFAULT_INLINE_ACCOUNT_LIMIT: u32 = 20;

/// When the inventory runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// EventBridge schedule expression, `rate(...)` or `cron(...)`.
    pub expression: String,
    /// Whether the schedule rule is enabled.
    pub enabled: bool,
}

impl Default for Schedule {
    fn default() -> Self {
        Self { expression: "rate(24 hours)".to_string(), enabled: true }
    }
}

/// A VPC interface or gateway endpoint rekey can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// STS (interface).
    Sts,
    /// Secrets Manager (interface).
    Secretsmanager,
    /// SQS (interface).
    Sqs,
    /// SES API (interface, `email`).
    Ses,
    /// CloudWatch Logs (interface).
    Logs,
    /// S3 (gateway, on the configured route tables).
    S3,
}

impl Endpoint {
    /// Every endpoint, in a fixed order.
    pub const ALL: [Endpoint; 6] =
        [Endpoint::Sts, Endpoint::Secretsmanager, Endpoint::Sqs, Endpoint::Ses, Endpoint::Logs, Endpoint::S3];

    /// The service part of `com.amazonaws.{region}.{service}`.
    pub fn service_name(self) -> &'static str {
        match self {
            Endpoint::Sts => "sts",
            Endpoint::Secretsmanager => "secretsmanager",
            Endpoint::Sqs => "sqs",
            Endpoint::Ses => "email",
            Endpoint::Logs => "logs",
            Endpoint::S3 => "s3",
        }
    }
}

/// Optional VPC placement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Vpc {
    /// Run the functions in the VPC.
    pub enabled: bool,
    /// The VPC.
    pub vpc_id: Option<VpcId>,
    /// Subnets for the functions and interface endpoints (several for multi-AZ).
    #[serde(deserialize_with = "null_as_default")]
    pub subnet_ids: Vec<SubnetId>,
    /// Endpoints to create in the VPC endpoints stack.
    #[serde(deserialize_with = "null_as_default")]
    pub endpoints: Vec<Endpoint>,
    /// Route tables the S3 gateway endpoint is attached to.
    #[serde(deserialize_with = "null_as_default")]
    pub route_table_ids: Vec<RouteTableId>,
}

impl Default for Vpc {
    fn default() -> Self {
        Self {
            enabled: false,
            vpc_id: None,
            subnet_ids: Vec::new(),
            endpoints: Endpoint::ALL.to_vec(),
            route_table_ids: Vec::new(),
        }
    }
}

/// CPU architecture of the functions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Intel/AMD.
    #[default]
    X86_64,
    /// Graviton.
    Arm64,
}

impl Architecture {
    /// The value Lambda's `Architectures` property takes.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
    /// The Rust target triple the binary is built for (glibc 2.17 symbols, so
    /// it runs on provided.al2023).
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// Lambda function settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Lambda {
    /// `x86_64` or `arm64`.
    pub architecture: Architecture,
    /// Memory of each function, in MB (128 to 10240).
    pub memory_mb: u32,
    /// Timeout of the rotation function, in seconds (1 to 900); the accounts
    /// queue's visibility timeout follows it.
    pub timeout_seconds: u32,
    /// Retention of each function's log group (a CloudWatch Logs retention value).
    pub log_retention_days: u32,
    /// Maximum concurrent rotation functions (2 to 1000): bounds the load on
    /// STS, IAM and Secrets Manager.
    pub rotation_max_concurrency: u32,
}

impl Default for Lambda {
    fn default() -> Self {
        Self {
            architecture: Architecture::X86_64,
            memory_mb: 256,
            timeout_seconds: 900,
            log_retention_days: 365,
            rotation_max_concurrency: 5,
        }
    }
}

/// Where else rekey reports besides email and logs (docs/integrations.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Integrations {
    /// AWS Security Hub findings, one per key that is overdue, blocked or
    /// otherwise needs attention (default: off).
    #[serde(deserialize_with = "null_as_default")]
    pub security_hub: SecurityHub,
    /// The EventBridge bus (name, or ARN for a bus in another account or
    /// region) that receives one event per executed action, per new critical
    /// warning and per completed run, with source `rekey`. Absent (the
    /// default): no events, and no EventBridge client in the Lambda binary.
    pub event_bus: Option<String>,
}

impl Integrations {
    /// Whether every integration is off (the section is then left out of
    /// the written config and of the functions' environments).
    pub fn is_off(&self) -> bool {
        self.runtime_features().is_empty()
    }

    /// The runtime's optional parts these settings turn on, which the Lambda
    /// binary must be built with (`rekey synth` builds it with exactly these).
    pub fn runtime_features(&self) -> Vec<RuntimeFeature> {
        RuntimeFeature::ALL
            .into_iter()
            .filter(|feature| match feature {
                RuntimeFeature::SecurityHub => self.security_hub.enabled,
                RuntimeFeature::EventBus => self.event_bus.is_some(),
            })
            .collect()
    }
}

/// An optional part of the runtime: a cargo feature of `rekey-runtime`
/// (`runtime/Cargo.toml`) that only configs using it build into the Lambda
/// binary. The Security Hub client alone is the largest crate of the build
/// (about 3 of its 12 cold minutes, docs/benchmarks.md); a config without the
/// integration neither compiles nor ships it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeFeature {
    /// `integrations.security_hub.enabled`: the Security Hub client.
    SecurityHub,
    /// `integrations.event_bus`: the EventBridge client.
    EventBus,
}

impl RuntimeFeature {
    /// Every optional part, in the order builds list them.
    pub const ALL: [RuntimeFeature; 2] = [RuntimeFeature::SecurityHub, RuntimeFeature::EventBus];

    /// The cargo feature's name in `runtime/Cargo.toml`.
    pub fn cargo_name(self) -> &'static str {
        match self {
            RuntimeFeature::SecurityHub => "security-hub",
            RuntimeFeature::EventBus => "event-bus",
        }
    }

    /// The config setting that turns it on.
    pub fn setting(self) -> &'static str {
        match self {
            RuntimeFeature::SecurityHub => "integrations.security_hub.enabled",
            RuntimeFeature::EventBus => "integrations.event_bus",
        }
    }
}

/// AWS Security Hub findings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityHub {
    /// Import findings with `BatchImportFindings` (default: false). Each
    /// account's findings are imported by that account itself (through the
    /// member role, which then gets the Security Hub permissions): findings
    /// of the default custom integration must be sent by the account they
    /// are about. The delegated administrator sees them through Security
    /// Hub's own organization integration. Turning it on also builds the
    /// Security Hub client into the Lambda binary (`rekey synth` builds in
    /// only the integrations the config uses).
    pub enabled: bool,
    /// Region the findings are imported into, in every account: normally
    /// the aggregation region of the delegated administrator. Absent (the
    /// default): `deployment.region`.
    pub region: Option<Region>,
}

/// Reads YAML null (a section or list written with nothing after its colon,
/// e.g. every line below `lifecycle:` commented out) as the default, the way
/// rekey always read such files.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
