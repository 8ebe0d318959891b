//! Wiring: the one place the real dependencies are built from a config and an
//! SDK config (the rotation core on AWS, the Organizations directory through
//! the inventory role, the deployment account, SES), shared by the Lambda
//! handlers (`handlers/`) and the in-process run (`run.rs`), which never
//! import each other.

use crate::aws::orgs::{caller_account_id, OrganizationsDirectory};
use crate::aws::ses::SesMailer;
use crate::messages::AccountMessage;
use crate::ports::PortError;
use crate::report::AccountReport;
use crate::rotation::{AccountPart, AccountRotator, Deadline, RotationDeps};
use crate::run::{RunDeps, RunError};
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use rekey_config::{Config, Function};

/// The rotation core ([`crate::rotation::rotate_account`]) on real AWS,
/// behind [`AccountRotator`], publishing each account's report to the
/// integrations that are on (Security Hub, EventBridge).
#[derive(Debug)]
pub struct CoreRotator {
    config: Config,
    deps: RotationDeps<crate::aws::sts::AwsPlatform>,
    publisher: AwsPublisher,
}

/// The integrations on real AWS.
pub type AwsPublisher = crate::integrations::Publisher<FindingsAdapter, EventsAdapter>;

/// Security Hub through each account's member role, in a binary built with it.
#[cfg(feature = "security-hub")]
pub type FindingsAdapter = crate::aws::securityhub::SecurityHubAccounts;
/// A binary built without Security Hub (`rekey_config::RuntimeFeature`).
#[cfg(not(feature = "security-hub"))]
pub type FindingsAdapter = crate::integrations::NotBuilt;
/// EventBridge, in a binary built with it.
#[cfg(feature = "event-bus")]
pub type EventsAdapter = crate::aws::eventbridge::EventBus;
/// A binary built without EventBridge.
#[cfg(not(feature = "event-bus"))]
pub type EventsAdapter = crate::integrations::NotBuilt;

/// The publisher of `config`'s integrations: Security Hub through each
/// account's member role, EventBridge with `sdk`'s own credentials. In a
/// binary built without one of them, the handlers refused a config that
/// turns it on before getting here (`handlers::load_config`).
pub fn publisher(config: &Config, sdk: &SdkConfig) -> AwsPublisher {
    crate::integrations::Publisher::new(config, findings_adapter(config, sdk), events_adapter(config, sdk))
}

#[cfg(feature = "security-hub")]
fn findings_adapter(config: &Config, sdk: &SdkConfig) -> Option<FindingsAdapter> {
    let hub = &config.integrations.security_hub;
    let region = hub.region.as_ref().unwrap_or(&config.deployment.region).as_str();
    hub.enabled.then(|| crate::aws::securityhub::SecurityHubAccounts::new(sdk, config, region))
}

#[cfg(not(feature = "security-hub"))]
fn findings_adapter(_: &Config, _: &SdkConfig) -> Option<FindingsAdapter> {
    None
}

#[cfg(feature = "event-bus")]
fn events_adapter(config: &Config, sdk: &SdkConfig) -> Option<EventsAdapter> {
    let bus = config.integrations.event_bus.as_ref()?;
    Some(crate::aws::eventbridge::EventBus::new(aws_sdk_eventbridge::Client::new(sdk), bus))
}

#[cfg(not(feature = "event-bus"))]
fn events_adapter(_: &Config, _: &SdkConfig) -> Option<EventsAdapter> {
    None
}

impl CoreRotator {
    /// Sets up the core's clients from `sdk`.
    pub async fn new(config: &Config, sdk: &SdkConfig) -> Self {
        CoreRotator { config: config.clone(), deps: RotationDeps::aws(sdk), publisher: publisher(config, sdk) }
    }
}

impl AccountRotator for CoreRotator {
    async fn rotate(&self, message: &AccountMessage, now: DateTime<Utc>) -> AccountReport {
        let report = crate::rotation::rotate_account(&self.deps, &self.config, message, now).await;
        crate::integrations::publish_part(&self.publisher, message, &report, None, now).await;
        report
    }

    async fn rotate_within(&self, message: &AccountMessage, now: DateTime<Utc>, deadline: &Deadline) -> AccountPart {
        let part = crate::rotation::rotate_account_within(&self.deps, &self.config, message, now, deadline).await;
        let through = part.continue_after.as_deref();
        crate::integrations::publish_part(&self.publisher, message, &part.report, through, now).await;
        part
    }

    async fn run_completed(&self, report: &crate::report::RunReport, now: DateTime<Utc>) {
        self.publisher.run_completed(&report.run_id, report.mode, &report.accounts, 0, now).await;
    }
}

/// The inventory role in the management account.
pub fn inventory_role_arn(config: &Config, management_account_id: &str) -> String {
    let partition = rekey_config::contract::partition(config.deployment.region.as_str());
    format!("arn:{partition}:iam::{management_account_id}:role/{}", config.names().inventory_role)
}

/// The account rekey is deployed in: `deployment.account_id` of the config,
/// else `from_stack` (the value the stack passes a function), else the
/// caller's account (STS).
pub async fn deployment_account_id(
    config: &Config,
    from_stack: Option<String>,
    sdk: &SdkConfig,
) -> Result<String, PortError> {
    match (&config.deployment.account_id, from_stack) {
        (Some(id), _) => Ok(id.to_string()),
        (None, Some(id)) => Ok(id),
        (None, None) => caller_account_id(sdk).await,
    }
}

/// The organization's directory through the inventory role in the management
/// account (`organization.management_account_id`, else the deployment
/// account); `None` in single-account scope.
pub async fn organization_directory(
    config: &Config,
    deployment_account_id: &str,
    sdk: &SdkConfig,
) -> Option<OrganizationsDirectory> {
    let org = config.organization.as_ref()?;
    let management =
        org.management_account_id.as_ref().map(|a| a.to_string()).unwrap_or_else(|| deployment_account_id.to_string());
    let role_arn = inventory_role_arn(config, &management);
    Some(OrganizationsDirectory::assume(sdk, &role_arn, &config.names().session_name(Function::Inventory)).await)
}

/// The real dependencies of an in-process run.
pub type AwsRunDeps = RunDeps<OrganizationsDirectory, CoreRotator, SesMailer>;

/// Builds the real dependencies of an in-process run: identifies the caller,
/// assumes the inventory role in the management account (organization
/// scope), and sets up the rotation core and SES.
pub async fn run_deps(config: &Config, sdk: &SdkConfig) -> Result<AwsRunDeps, RunError> {
    let deployment_account_id = deployment_account_id(config, None, sdk).await.map_err(|e| {
        RunError::Aws(format!(
            "cannot identify the caller: sts `GetCallerIdentity` failed: {} (check the AWS credentials, profile and region)",
            e.message
        ))
    })?;
    Ok(RunDeps {
        directory: organization_directory(config, &deployment_account_id, sdk).await,
        rotator: CoreRotator::new(config, sdk).await,
        mailer: SesMailer::new(aws_sdk_sesv2::Client::new(sdk)),
        deployment_account_id,
    })
}
