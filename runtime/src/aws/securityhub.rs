//! Security Hub adapter: [`FindingsAccounts`] assumes the member role in each
//! account (the role the rotation already uses; findings of the default
//! custom integration must be imported by the account they are about) and
//! gives a [`SecurityHubSink`] in the configured region, which turns rekey's
//! findings into ASFF (`BatchImportFindings`), reads rekey's open findings
//! back (`GetFindings`, filtered on rekey's generator and the account) and
//! resolves settled ones (`BatchUpdateFindings`).

use super::clients::config_with;
use super::port_error;
use super::sts::AwsPlatform;
use crate::integrations::findings::{product_arn, Compliance, FINDING_TYPE, GENERATOR_ID};
use crate::integrations::{EntryError, Finding, FindingsAccounts, FindingsSink, OpenFinding};
use crate::ports::{ErrorKind, Platform, PortError, PortResult};
use aws_config::SdkConfig;
use aws_sdk_securityhub::types::{
    AwsIamAccessKeyDetails, AwsIamUserDetails, AwsSecurityFinding, AwsSecurityFindingFilters,
    AwsSecurityFindingIdentifier, ComplianceStatus, FindingProviderFields, FindingProviderSeverity, Partition,
    Recommendation, RecordState, Remediation, Resource, ResourceDetails, Severity, SeverityLabel, StringFilter,
    StringFilterComparison, WorkflowStatus, WorkflowUpdate,
};
use aws_sdk_securityhub::Client;
use chrono::{DateTime, SecondsFormat, Utc};

/// ProductFields keys rekey writes and reads back.
const USER_FIELD: &str = "rekey/UserName";
const KEY_FIELD: &str = "rekey/AccessKeyId";
const REASON_FIELD: &str = "rekey/Reason";
const RUN_FIELD: &str = "rekey/RunId";

/// Every account's Security Hub through its member role.
#[derive(Clone, Debug)]
pub struct SecurityHubAccounts {
    platform: AwsPlatform,
    base: SdkConfig,
    config: rekey_config::Config,
    region: String,
}

impl SecurityHubAccounts {
    /// Security Hub in `region` of every account `config` covers, entered
    /// from `base` (the function's or the CLI's credentials).
    pub fn new(base: &SdkConfig, config: &rekey_config::Config, region: &str) -> Self {
        let base = base.to_builder().retry_config(super::clients::retry_config()).build();
        SecurityHubAccounts {
            platform: AwsPlatform::new(base.clone()),
            base,
            config: config.clone(),
            region: region.to_string(),
        }
    }
}

impl FindingsAccounts for SecurityHubAccounts {
    type Sink = SecurityHubSink;

    async fn open(&self, account_id: &str) -> PortResult<SecurityHubSink> {
        let names = self.config.names();
        let partition = rekey_config::contract::partition(self.config.deployment.region.as_str());
        let role = format!("arn:{partition}:iam::{account_id}:role/{}", names.member_role);
        let session = names.session_name(rekey_config::Function::Rotation);
        let credentials = self.platform.assume_role(&role, &session).await?;
        let client = Client::new(&config_with(&self.base, &credentials, &self.region));
        let product = product_arn(rekey_config::contract::partition(&self.region), &self.region, account_id);
        Ok(SecurityHubSink::new(client, product))
    }
}

/// Security Hub in one account and region.
#[derive(Clone, Debug)]
pub struct SecurityHubSink {
    client: Client,
    product_arn: String,
}

impl SecurityHubSink {
    /// Wraps a client acting in the account whose default product is `product_arn`.
    pub fn new(client: Client, product_arn: String) -> Self {
        SecurityHubSink { client, product_arn }
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The finding's `AwsIamAccessKey` resource. A `Resource` is about 31 KB
/// (its `ResourceDetails` holds every resource type inline) and each builder
/// step moves it, so each resource is built in a frame of its own
/// (`inline(never)`): built together they overflowed a 2 MB thread stack.
#[inline(never)]
fn access_key_resource(f: &Finding) -> Resource {
    let details = AwsIamAccessKeyDetails::builder()
        .access_key_id(&f.access_key_id)
        .account_id(&f.account_id)
        .principal_name(&f.user_name)
        .principal_type("IAMUser")
        .build();
    Resource::builder()
        .r#type("AwsIamAccessKey")
        .id(&f.access_key_id)
        .partition(Partition::from(f.partition.as_str()))
        .region(&f.region)
        .details(ResourceDetails::builder().aws_iam_access_key(details).build())
        .build()
}

/// The finding's `AwsIamUser` resource (see [`access_key_resource`] on its size).
#[inline(never)]
fn user_resource(f: &Finding) -> Resource {
    let user_arn = format!("arn:{}:iam::{}:user/{}", f.partition, f.account_id, f.user_name);
    Resource::builder()
        .r#type("AwsIamUser")
        .id(user_arn)
        .partition(Partition::from(f.partition.as_str()))
        .region(&f.region)
        .details(
            ResourceDetails::builder()
                .aws_iam_user(AwsIamUserDetails::builder().user_name(&f.user_name).build())
                .build(),
        )
        .build()
}

/// rekey's finding as ASFF.
pub fn to_asff(f: &Finding, product_arn: &str) -> AwsSecurityFinding {
    let label = SeverityLabel::from(f.severity.as_str());
    let compliance = match f.compliance {
        Compliance::Failed => ComplianceStatus::Failed,
        Compliance::Passed => ComplianceStatus::Passed,
    };
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(&f.id)
        .product_arn(product_arn)
        .generator_id(GENERATOR_ID)
        .aws_account_id(&f.account_id)
        .region(&f.region)
        .types(FINDING_TYPE)
        .created_at(time(f.created_at))
        .updated_at(time(f.updated_at))
        .severity(Severity::builder().label(label.clone()).normalized(f.severity.normalized()).build())
        // Providers update severity and types through FindingProviderFields.
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(FindingProviderSeverity::builder().label(label).build())
                .types(FINDING_TYPE)
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .remediation(
            Remediation::builder().recommendation(Recommendation::builder().text(&f.remediation).build()).build(),
        )
        .set_resources(Some(resources(f)))
        .compliance(aws_sdk_securityhub::types::Compliance::builder().status(compliance).build())
        .record_state(RecordState::Active)
        .product_fields(USER_FIELD, &f.user_name)
        .product_fields(KEY_FIELD, &f.access_key_id)
        .product_fields(REASON_FIELD, &f.reason)
        .product_fields(RUN_FIELD, &f.run_id)
        .build()
}

/// Both resources, each built in its own frame.
// Pushed one by one rather than through `vec![..]`, which would hold both
// (62 KB) in this frame at once.
#[allow(clippy::vec_init_then_push)]
#[inline(never)]
fn resources(f: &Finding) -> Vec<Resource> {
    let mut out = Vec::with_capacity(2);
    out.push(access_key_resource(f));
    out.push(user_resource(f));
    out
}

/// An open rekey finding from ASFF; `None` for anything else (another
/// product's, a settled or resolved one).
pub fn from_asff(f: &AwsSecurityFinding, account_id: &str) -> Option<OpenFinding> {
    let open = f.generator_id() == Some(GENERATOR_ID)
        && f.aws_account_id() == Some(account_id)
        && f.compliance().and_then(|c| c.status()) == Some(&ComplianceStatus::Failed)
        && f.record_state() != Some(&RecordState::Archived)
        && !matches!(
            f.workflow().and_then(|w| w.status()),
            Some(WorkflowStatus::Resolved | WorkflowStatus::Suppressed)
        );
    if !open {
        return None;
    }
    let field = |k: &str| f.product_fields().and_then(|p| p.get(k)).cloned();
    Some(OpenFinding {
        id: f.id()?.to_string(),
        user_name: field(USER_FIELD)?,
        access_key_id: field(KEY_FIELD)?,
        reason: field(REASON_FIELD).unwrap_or_default(),
        created_at: f
            .created_at()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
            .unwrap_or_default(),
    })
}

/// Stack of the thread that reads findings: the SDK deserializes each
/// finding's resources (`Resource` is about 31 KB, with every resource type
/// inline) in frames that need several MB in a debug build, more than a
/// runtime worker thread has (2 MB). The memory is reserved, and only the
/// pages used are touched.
const READ_STACK_BYTES: usize = 256 << 20;

/// Runs `work` to completion on a thread of its own with [`READ_STACK_BYTES`]
/// of stack (and a runtime of its own), without blocking the caller's.
async fn on_large_stack<F, Fut, T>(work: F) -> PortResult<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = PortResult<T>>,
    T: Send + 'static,
{
    let fail = |message: String| PortError::new(ErrorKind::Other, "securityhub:GetFindings", "reader thread", message);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("rekey-findings-reader".into())
        .stack_size(READ_STACK_BYTES)
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(work()),
                Err(e) => {
                    Err(PortError::new(ErrorKind::Other, "securityhub:GetFindings", "reader thread", e.to_string()))
                }
            };
            let _ = tx.send(result);
        })
        .map_err(|e| fail(e.to_string()))?;
    rx.await.map_err(|_| fail("the reader thread stopped without an answer".into()))?
}

/// rekey's open findings about `account_id`, all pages.
async fn read_open(client: &Client, product_arn: &str, account_id: &str) -> PortResult<Vec<OpenFinding>> {
    let filters = AwsSecurityFindingFilters::builder()
        .product_arn(equals(product_arn))
        .generator_id(equals(GENERATOR_ID))
        .aws_account_id(equals(account_id))
        .compliance_status(equals("FAILED"))
        .record_state(equals("ACTIVE"))
        .build();
    let mut pages = client.get_findings().filters(filters).max_results(100).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| port_error("securityhub:GetFindings", account_id, e))?;
        // Filtered again here: the result must not depend on how faithfully
        // a service (or an emulator) applies the filters.
        out.extend(page.findings().iter().filter_map(|f| from_asff(f, account_id)));
    }
    Ok(out)
}

fn equals(value: &str) -> StringFilter {
    StringFilter::builder().value(value).comparison(StringFilterComparison::Equals).build()
}

impl FindingsSink for SecurityHubSink {
    async fn open_findings(&self, account_id: &str) -> PortResult<Vec<OpenFinding>> {
        let (client, product, account) = (self.client.clone(), self.product_arn.clone(), account_id.to_string());
        on_large_stack(move || async move { read_open(&client, &product, &account).await }).await
    }

    async fn import(&self, findings: &[Finding]) -> PortResult<Vec<EntryError>> {
        let target = findings.first().map(|f| f.account_id.clone()).unwrap_or_default();
        let out = self
            .client
            .batch_import_findings()
            .set_findings(Some(findings.iter().map(|f| to_asff(f, &self.product_arn)).collect()))
            .send()
            .await
            .map_err(|e| port_error("securityhub:BatchImportFindings", &target, e))?;
        Ok(out
            .failed_findings()
            .iter()
            .map(|e| EntryError {
                id: e.id().unwrap_or_default().to_string(),
                code: e.error_code().unwrap_or_default().to_string(),
                message: e.error_message().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn resolve(&self, ids: &[String]) -> PortResult<Vec<EntryError>> {
        let identifiers = ids
            .iter()
            .map(|id| AwsSecurityFindingIdentifier::builder().id(id).product_arn(&self.product_arn).build())
            .collect();
        let out = self
            .client
            .batch_update_findings()
            .set_finding_identifiers(Some(identifiers))
            .workflow(WorkflowUpdate::builder().status(WorkflowStatus::Resolved).build())
            .send()
            .await
            .map_err(|e| port_error("securityhub:BatchUpdateFindings", &self.product_arn, e))?;
        Ok(out
            .unprocessed_findings()
            .iter()
            .map(|e| EntryError {
                id: e.finding_identifier().and_then(|i| i.id()).unwrap_or_default().to_string(),
                code: e.error_code().unwrap_or_default().to_string(),
                message: e.error_message().unwrap_or_default().to_string(),
            })
            .collect())
    }
}
