//! The inventory: which accounts a run covers (the organization, or its
//! configured OU subtrees, filtered), and one [`AccountMessage`] per account.
//!
//! Rules, in order: candidates are every account (`ListAccounts`), or the
//! accounts of each `target_ou_ids` subtree, nested OUs included and
//! deduplicated; only ACTIVE accounts are kept; `include_account_ids` (when
//! non-empty) restricts, `exclude_account_ids` and the `exclude_ou_ids`
//! subtrees remove; the management account is dropped unless
//! `include_management_account`. With no `organization` section the run
//! covers the deployment account alone. Zero accounts is a valid run.

pub mod ports;

use crate::messages::AccountMessage;
use ports::{AccountState, Directory, DirectoryError, OrgAccount};
use rekey_config::Config;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What one run asks for, beyond the config (from the event or the CLI).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InventoryRequest {
    /// Id shared by every message of the run.
    pub run_id: String,
    /// Force audit mode.
    pub dry_run: bool,
    /// Users whose keys are rotated now whatever their age: `NAME` in every
    /// account of the run, `ACCOUNT_ID/NAME` in that account only (see [`forced_in`]).
    pub force_rotate: Vec<String>,
    /// When non-empty, only these accounts (each must be among the selected ones).
    pub account_ids: Vec<String>,
}

/// Why the inventory could not produce its account list.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// An Organizations call failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The request named accounts the run does not cover.
    #[error("account(s) {} not covered by this run (not in the organization, not active, or excluded by the config)", .0.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", "))]
    NotCovered(Vec<String>),
    /// The config has an organization but no directory was given (a wiring bug).
    #[error("the config has an `organization` section but no Organizations client was set up")]
    NoDirectory,
}

impl InventoryError {
    /// Whether running again later may succeed (throttling, outages), as
    /// opposed to a request that can never succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, InventoryError::Directory(_))
    }
}

/// The accounts a run covers, by id, with the request's `account_ids` applied.
///
/// `directory` is the organization seen through the inventory role; it is
/// only used when the config has an `organization` section.
/// `deployment_account_id` is the account the run executes in (single-account
/// mode audits it; it is the default management account).
pub async fn select_accounts<D: Directory>(
    directory: Option<&D>,
    config: &Config,
    deployment_account_id: &str,
    request: &InventoryRequest,
) -> Result<Vec<OrgAccount>, InventoryError> {
    let selected = match &config.organization {
        None => vec![OrgAccount {
            id: deployment_account_id.to_string(),
            name: deployment_account_id.to_string(),
            email: None,
            state: AccountState::Active,
        }],
        Some(org) => {
            let directory = directory.ok_or(InventoryError::NoDirectory)?;
            let management =
                org.management_account_id.as_ref().map(|a| a.to_string()).unwrap_or(deployment_account_id.to_string());
            let candidates: BTreeMap<String, OrgAccount> = if org.target_ou_ids.is_empty() {
                directory.list_accounts().await?.into_iter().map(|a| (a.id.clone(), a)).collect()
            } else {
                let mut all = BTreeMap::new();
                for ou in &org.target_ou_ids {
                    for account in subtree_accounts(directory, ou.as_str()).await? {
                        all.insert(account.id.clone(), account);
                    }
                }
                all
            };
            let mut excluded_by_ou = BTreeSet::new();
            for ou in &org.exclude_ou_ids {
                excluded_by_ou.extend(subtree_accounts(directory, ou.as_str()).await?.into_iter().map(|a| a.id));
            }
            let include: BTreeSet<&str> = org.include_account_ids.iter().map(|a| a.as_str()).collect();
            let exclude: BTreeSet<&str> = org.exclude_account_ids.iter().map(|a| a.as_str()).collect();
            candidates
                .into_values()
                .filter(|a| a.state == AccountState::Active)
                .filter(|a| include.is_empty() || include.contains(a.id.as_str()))
                .filter(|a| !exclude.contains(a.id.as_str()) && !excluded_by_ou.contains(&a.id))
                .filter(|a| org.include_management_account || a.id != management)
                .collect()
        }
    };
    if request.account_ids.is_empty() {
        return Ok(selected);
    }
    let missing: Vec<String> =
        request.account_ids.iter().filter(|id| !selected.iter().any(|a| &a.id == *id)).cloned().collect();
    if !missing.is_empty() {
        return Err(InventoryError::NotCovered(missing));
    }
    Ok(selected.into_iter().filter(|a| request.account_ids.contains(&a.id)).collect())
}

/// Every account under `root` (a root or OU id), nested OUs included, each once.
pub async fn subtree_accounts<D: Directory>(directory: &D, root: &str) -> Result<Vec<OrgAccount>, DirectoryError> {
    let mut accounts = BTreeMap::new();
    let mut seen = BTreeSet::from([root.to_string()]);
    let mut queue = VecDeque::from([root.to_string()]);
    while let Some(parent) = queue.pop_front() {
        for account in directory.list_accounts_for_parent(&parent).await? {
            accounts.insert(account.id.clone(), account);
        }
        for child in directory.list_child_ous(&parent).await? {
            if seen.insert(child.clone()) {
                queue.push_back(child);
            }
        }
    }
    Ok(accounts.into_values().collect())
}

/// One message per account, in account-id order.
pub fn account_messages(accounts: &[OrgAccount], request: &InventoryRequest) -> Vec<AccountMessage> {
    accounts
        .iter()
        .map(|a| AccountMessage {
            run_id: request.run_id.clone(),
            account_id: a.id.clone(),
            account_name: a.name.clone(),
            account_email: a.email.clone(),
            dry_run: request.dry_run,
            force_rotate: forced_in(&request.force_rotate, &a.id),
            resume_after_user: None,
            part: 0,
        })
        .collect()
}

/// The users forced in `account_id`: every unqualified `NAME`, and the
/// `NAME` of each `ACCOUNT_ID/NAME` naming this account. IAM user names
/// cannot contain `/`, so the qualified form is unambiguous.
pub fn forced_in(force_rotate: &[String], account_id: &str) -> Vec<String> {
    force_rotate
        .iter()
        .filter_map(|entry| match entry.split_once('/') {
            Some((account, name)) => (account == account_id).then(|| name.to_string()),
            None => Some(entry.clone()),
        })
        .collect()
}

/// A run id from a time and an event id: sortable, and unique per trigger
/// (`20261129T220000Z-1a2b3c4d`).
pub fn run_id(at: chrono::DateTime<chrono::Utc>, event_id: &str) -> String {
    let suffix: String = event_id.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
    let time = at.format("%Y%m%dT%H%M%SZ");
    if suffix.is_empty() {
        time.to_string()
    } else {
        format!("{time}-{suffix}")
    }
}

#[cfg(test)]
mod tests;
