//! The whole flow in one process, for `rekey plan` and `rekey rotate`:
//! inventory (the same selection as the inventory function), each account
//! through the rotation core with bounded concurrency, then the digests
//! sent directly (no queues, no run ledger: one process sees the whole run,
//! so it groups the digests itself, one per recipient). The Lambda functions and the CLI share every
//! rule; only the transport differs.

use crate::inventory::ports::Directory;
use crate::inventory::{account_messages, select_accounts, InventoryError, InventoryRequest};
use crate::messages::AccountMessage;
use crate::notify::ports::Mailer;
use crate::notify::{digests, send_digest, Renderer, TemplateError};
use crate::report::{AccountReport, AccountStatus, EffectiveMode, RunReport};
use crate::rotation::AccountRotator;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rekey_config::Config;
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
    let report = RunReport { run_id: options.run_id.clone(), mode, accounts: reports };
    if !options.dry_run {
        deps.rotator.run_completed(&report, options.now).await;
    }
    Ok(RunOutcome { report, emails })
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

#[cfg(test)]
mod tests;
