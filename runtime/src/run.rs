//! The whole flow in one process, for `rekey plan` and `rekey rotate`:
//! inventory (the same selection as the inventory function), each account
//! through the rotation core with bounded concurrency, then the digests
//! sent directly (no queues, no run ledger: one process sees the whole run,
//! so it groups the digests itself, one per recipient). The Lambda functions and the CLI share every
//! rule; only the transport differs.

use crate::aws::orgs::{caller_account_id, OrganizationsDirectory};
use crate::aws::ses::SesMailer;
use crate::handlers::rotation::AccountRotator;
use crate::inventory::ports::Directory;
use crate::inventory::{account_messages, select_accounts, InventoryError, InventoryRequest};
use crate::messages::AccountMessage;
use crate::notify::ports::Mailer;
use crate::notify::{digests, send_digest, Renderer, TemplateError};
use crate::report::{AccountReport, AccountStatus, EffectiveMode, RunReport};
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rekey_config::{Config, Function};
use serde::Serialize;

/// What one in-process run does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Id of the run (in every report and email).
    pub run_id: String,
    /// The planning time (`rekey plan --at` moves it).
    pub now: DateTime<Utc>,
    /// Force audit mode.
    pub dry_run: bool,
    /// Users rotated now whatever their key age (`NAME`, or `ACCOUNT_ID/NAME`
    /// for that account only; see [`crate::inventory::forced_in`]).
    pub force_rotate: Vec<String>,
    /// Only these accounts.
    pub account_ids: Vec<String>,
    /// Accounts processed at once (at least 1).
    pub concurrency: usize,
    /// Send the digests (`rotate`), or not (`plan`).
    pub send_notifications: bool,
}

/// Everything a run talks to.
#[derive(Debug)]
pub struct RunDeps<D, R, M> {
    /// The organization (inventory role); `None` in single-account mode.
    pub directory: Option<D>,
    /// The rotation core.
    pub rotator: R,
    /// Email delivery.
    pub mailer: M,
    /// The account the run's credentials belong to.
    pub deployment_account_id: String,
}

/// One email of the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmailOutcome {
    /// The accounts it covers.
    pub account_ids: Vec<String>,
    /// The recipient.
    pub recipient: String,
    /// The provider's message id, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Why it was not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run's result: the report, and the emails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Per account, per user, per key.
    pub report: RunReport,
    /// Every digest, sent or not.
    pub emails: Vec<EmailOutcome>,
}

impl RunOutcome {
    /// True when every account succeeded (or is not enrolled), nothing
    /// failed, and every email was sent.
    pub fn all_succeeded(&self) -> bool {
        self.report.all_succeeded() && self.emails.iter().all(|e| e.error.is_none())
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The account list could not be built.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// An email template is broken (checked before anything is changed).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// AWS set-up failed (credentials, identity).
    #[error("{0}")]
    Aws(String),
}

/// Runs inventory → rotation → notifications.
pub async fn run<D: Directory, R: AccountRotator, M: Mailer>(
    config: &Config,
    deps: &RunDeps<D, R, M>,
    options: &RunOptions,
) -> Result<RunOutcome, RunError> {
    // Compile the templates first: a broken template must stop the run
    // before any key is changed.
    let renderer = if options.send_notifications { Some(Renderer::new(config)?) } else { None };
    let request = InventoryRequest {
        run_id: options.run_id.clone(),
        dry_run: options.dry_run,
        force_rotate: options.force_rotate.clone(),
        account_ids: options.account_ids.clone(),
    };
    let accounts = select_accounts(deps.directory.as_ref(), config, &deps.deployment_account_id, &request).await?;
    let messages = account_messages(&accounts, &request);
    let mut reports = rotate_all(&deps.rotator, &messages, options.now, options.concurrency).await;
    reports.sort_by(|a, b| a.account_id.cmp(&b.account_id));

    let mut emails = Vec::new();
    if let Some(renderer) = &renderer {
        for digest in digests(config, &options.run_id, &reports, &[]) {
            let result = send_digest(config, renderer, &deps.mailer, &digest).await;
            emails.push(EmailOutcome {
                account_ids: digest.sections.iter().map(|s| s.report.account_id.clone()).collect(),
                recipient: digest.recipient.clone(),
                message_id: result.as_ref().ok().cloned(),
                error: result.err().map(|e| e.to_string()),
            });
        }
    }
    let mode = EffectiveMode::resolve(config.mode, options.dry_run);
    Ok(RunOutcome { report: RunReport { run_id: options.run_id.clone(), mode, accounts: reports }, emails })
}

/// Every account through the rotator, at most `concurrency` at once.
pub async fn rotate_all<R: AccountRotator>(
    rotator: &R,
    messages: &[AccountMessage],
    now: DateTime<Utc>,
    concurrency: usize,
) -> Vec<AccountReport> {
    futures::stream::iter(messages)
        .map(|m| async move {
            let report = rotator.rotate(m, now).await;
            if let AccountStatus::Failed { error } = &report.status {
                tracing::warn!(account_id = %report.account_id, error = %error, "account failed");
            }
            report
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

/// Where [`resolve_region`] found the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionSource {
    /// `--region`.
    Flag,
    /// The standard AWS SDK chain: `AWS_REGION` / `AWS_DEFAULT_REGION`, the profile, IMDS.
    SdkChain,
    /// `deployment.region` of the config.
    Config,
}

impl std::fmt::Display for RegionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RegionSource::Flag => "--region",
            RegionSource::SdkChain => "the AWS SDK configuration: AWS_REGION or the profile",
            RegionSource::Config => "deployment.region",
        })
    }
}

/// The one region rule of every CLI verb (`plan`, `rotate`, `deploy`, `diff`, `destroy`): `flag` (`--region`),
/// else the standard SDK chain (environment, then `profile` or `AWS_PROFILE`), else `configured`
/// (`deployment.region`). The SDK chain comes before the config as with every AWS tool: the shell's region is
/// what the user expects to act on, and the config is the fallback that makes a bare `rekey deploy` work.
pub async fn resolve_region(flag: Option<&str>, profile: Option<&str>, configured: &str) -> (String, RegionSource) {
    if let Some(region) = flag.filter(|r| !r.is_empty()) {
        return (region.to_string(), RegionSource::Flag);
    }
    let mut chain = aws_config::default_provider::region::Builder::default();
    if let Some(p) = profile {
        chain = chain.profile_name(p);
    }
    match chain.build().region().await {
        Some(region) => (region.to_string(), RegionSource::SdkChain),
        None => (configured.to_string(), RegionSource::Config),
    }
}

/// The standard AWS SDK configuration: `profile` (else `AWS_PROFILE` /
/// default), the region of [`resolve_region`], and `AWS_ENDPOINT_URL` as the
/// SDK reads it.
pub async fn sdk_config(profile: Option<&str>, region: Option<&str>, fallback_region: &str) -> SdkConfig {
    let (region, source) = resolve_region(region, profile, fallback_region).await;
    tracing::info!(region = %region, from = %source, "region");
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(crate::aws::clients::retry_config())
        .timeout_config(crate::aws::clients::timeout_config())
        .region(aws_config::Region::new(region));
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// The real dependencies of a run.
pub type AwsRunDeps = RunDeps<OrganizationsDirectory, CoreRotator, SesMailer>;

/// Builds the real dependencies: identifies the caller, assumes the
/// inventory role in the management account (organization mode), and
/// sets up the rotation core and SES.
pub async fn aws_deps(config: &Config, sdk: &SdkConfig) -> Result<AwsRunDeps, RunError> {
    let deployment_account_id = match &config.deployment.account_id {
        Some(id) => id.to_string(),
        None => caller_account_id(sdk).await.map_err(|e| {
            RunError::Aws(format!("cannot identify the caller: {e} (check the AWS credentials, profile and region)"))
        })?,
    };
    let directory = match &config.organization {
        None => None,
        Some(org) => {
            let management =
                org.management_account_id.as_ref().map(|a| a.to_string()).unwrap_or(deployment_account_id.clone());
            let role_arn = inventory_role_arn(config, &management);
            Some(
                OrganizationsDirectory::assume(sdk, &role_arn, &config.names().session_name(Function::Inventory)).await,
            )
        }
    };
    Ok(RunDeps {
        directory,
        rotator: CoreRotator::new(config, sdk).await,
        mailer: SesMailer::new(aws_sdk_sesv2::Client::new(sdk)),
        deployment_account_id,
    })
}

/// The inventory role in the management account.
pub fn inventory_role_arn(config: &Config, management_account_id: &str) -> String {
    let partition = crate::aws::clients::partition(config.deployment.region.as_str());
    format!("arn:{partition}:iam::{management_account_id}:role/{}", config.names().inventory_role)
}

/// The rotation core ([`crate::rotation::rotate_account`]) on real AWS,
/// behind [`AccountRotator`].
#[derive(Debug)]
pub struct CoreRotator {
    config: Config,
    deps: crate::rotation::RotationDeps<crate::aws::sts::AwsPlatform>,
}

impl CoreRotator {
    /// Sets up the core's clients from `sdk`.
    pub async fn new(config: &Config, sdk: &SdkConfig) -> Self {
        CoreRotator { config: config.clone(), deps: crate::rotation::RotationDeps::aws(sdk) }
    }
}

impl AccountRotator for CoreRotator {
    async fn rotate(&self, message: &AccountMessage, now: DateTime<Utc>) -> AccountReport {
        crate::rotation::rotate_account(&self.deps, &self.config, message, now).await
    }

    async fn rotate_within(
        &self,
        message: &AccountMessage,
        now: DateTime<Utc>,
        deadline: &crate::rotation::Deadline,
    ) -> crate::rotation::AccountPart {
        crate::rotation::rotate_account_within(&self.deps, &self.config, message, now, deadline).await
    }
}

#[cfg(test)]
mod tests;
