//! The inventory function: on the schedule (or a manual event), list the
//! accounts the run covers, open the run in the run ledger, queue one
//! message per account, and queue the run's deadline for the notifier.
//!
//! Manual event: `{"dry_run": true, "force_rotate": ["alice"], "account_ids": ["111122223333"]}`;
//! every field is optional, and a scheduled EventBridge event works as is.

use super::{
    Env, HandlerError, ACCOUNTS_QUEUE_ENV, DEPLOYMENT_ACCOUNT_ENV, NOTIFICATIONS_QUEUE_ENV, RUN_LEDGER_TABLE_ENV,
};
use crate::aws::dynamodb::DynamoLedger;
use crate::aws::orgs::OrganizationsDirectory;
use crate::aws::sqs::SqsQueue;
use crate::inventory::ports::{send_all, send_delayed, Directory, MessageQueue, MAX_DELAY_SECONDS};
use crate::inventory::{account_messages, run_id, select_accounts, InventoryRequest};
use crate::ledger::{RunLedger, RunRecord};
use crate::messages::NotifierMessage;
use crate::wiring;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use rekey_config::Config;
use serde::{Deserialize, Serialize};

/// The fields rekey reads from a scheduled or manual event.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct InventoryEvent {
    /// EventBridge event id (part of the run id).
    #[serde(default)]
    pub id: Option<String>,
    /// EventBridge event time.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// Force audit mode for this run (never forces enforce).
    #[serde(default)]
    pub dry_run: bool,
    /// Users rotated now whatever their key age: `NAME` in every account of
    /// the run, `ACCOUNT_ID/NAME` in that account only.
    #[serde(default)]
    pub force_rotate: Vec<String>,
    /// Only these accounts (each must be covered by the config).
    #[serde(default)]
    pub account_ids: Vec<String>,
}

/// What the invocation returns (also logged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryResponse {
    /// The run id given to every message.
    pub run_id: String,
    /// Accounts queued, by id.
    pub account_ids: Vec<String>,
}

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct InventoryDeps<D, Q, L> {
    /// The validated config.
    pub config: Config,
    /// The organization (through the inventory role); `None` in single-account mode.
    pub directory: Option<D>,
    /// The queue client.
    pub queue: Q,
    /// Accounts queue URL.
    pub queue_url: String,
    /// Notifications queue URL (the run's deadline goes there).
    pub notifications_queue_url: String,
    /// Where the run's reports are collected.
    pub ledger: L,
    /// The account the function runs in.
    pub deployment_account_id: String,
}

/// Handles one event: select accounts, open the run, queue one message
/// each, then the run's deadline.
pub async fn handle<D: Directory, Q: MessageQueue, L: RunLedger>(
    event: InventoryEvent,
    request_id: &str,
    now: DateTime<Utc>,
    deps: &InventoryDeps<D, Q, L>,
) -> Result<InventoryResponse, HandlerError> {
    let request = InventoryRequest {
        run_id: run_id(event.time.unwrap_or(now), event.id.as_deref().unwrap_or(request_id)),
        dry_run: event.dry_run,
        force_rotate: event.force_rotate,
        account_ids: event.account_ids,
    };
    let accounts =
        select_accounts(deps.directory.as_ref(), &deps.config, &deps.deployment_account_id, &request).await?;
    let messages = account_messages(&accounts, &request);
    if !messages.is_empty() {
        // The run is in the ledger before any account can report into it.
        let record = RunRecord {
            run_id: request.run_id.clone(),
            account_ids: messages.iter().map(|m| m.account_id.clone()).collect(),
            started_at: now,
        };
        deps.ledger.open_run(&record).await?;
    }
    let bodies = messages.iter().map(|m| serde_json::to_string(m).expect("messages serialize")).collect();
    send_all(&deps.queue, &deps.queue_url, bodies).await?;
    if !messages.is_empty() {
        let deadline = NotifierMessage::RunDeadline { run_id: request.run_id.clone() };
        let body = serde_json::to_string(&deadline).expect("messages serialize");
        send_delayed(&deps.queue, &deps.notifications_queue_url, body, MAX_DELAY_SECONDS).await?;
    }
    let response =
        InventoryResponse { run_id: request.run_id, account_ids: accounts.into_iter().map(|a| a.id).collect() };
    tracing::info!(
        run_id = %response.run_id,
        accounts = response.account_ids.len(),
        dry_run = request.dry_run,
        "accounts queued"
    );
    Ok(response)
}

/// The real dependencies, as the inventory function builds them at start-up:
/// the config from `env`'s `REKEY_CONFIG`, the queue URLs, the run ledger table and the
/// deployment account id from `env` (STS when absent), and, in organization
/// mode, the Organizations client through the inventory role.
pub async fn deps_from_env(
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<InventoryDeps<OrganizationsDirectory, SqsQueue, DynamoLedger>, HandlerError> {
    deps(super::load_config(env)?, env, sdk).await
}

/// [`deps_from_env`] with the config already parsed.
pub async fn deps(
    config: Config,
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<InventoryDeps<OrganizationsDirectory, SqsQueue, DynamoLedger>, HandlerError> {
    let queue_url = super::require(env, ACCOUNTS_QUEUE_ENV)?;
    let notifications_queue_url = super::require(env, NOTIFICATIONS_QUEUE_ENV)?;
    let table = super::require(env, RUN_LEDGER_TABLE_ENV)?;
    // The stack passes the account it is deployed in; STS is the fallback.
    let from_stack = super::require(env, DEPLOYMENT_ACCOUNT_ENV).ok();
    let deployment_account_id = wiring::deployment_account_id(&config, from_stack, sdk)
        .await
        .map_err(|e| HandlerError::Setup(e.to_string()))?;
    let directory = wiring::organization_directory(&config, &deployment_account_id, sdk).await;
    Ok(InventoryDeps {
        config,
        directory,
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk)),
        queue_url,
        notifications_queue_url,
        ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), table),
        deployment_account_id,
    })
}

/// One invocation of the deployed function ([`super::serve`] runs the loop).
pub async fn on_event<D: Directory, Q: MessageQueue, L: RunLedger>(
    event: LambdaEvent<InventoryEvent>,
    deps: &InventoryDeps<D, Q, L>,
) -> Result<InventoryResponse, HandlerError> {
    let result = handle(event.payload, &event.context.request_id, Utc::now(), deps).await;
    if let Err(e) = &result {
        tracing::error!(error = %e, retryable = e.is_retryable(), "inventory failed");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ports::{AccountState, DirectoryError, OrgAccount, QueueEntry, QueueError};
    use crate::ledger::fake::FakeLedger;
    use std::cell::RefCell;

    struct Flat(Vec<OrgAccount>);
    impl Directory for Flat {
        async fn list_accounts(&self) -> Result<Vec<OrgAccount>, DirectoryError> {
            Ok(self.0.clone())
        }
        async fn list_accounts_for_parent(&self, _: &str) -> Result<Vec<OrgAccount>, DirectoryError> {
            Ok(self.0.clone())
        }
        async fn list_child_ous(&self, _: &str) -> Result<Vec<String>, DirectoryError> {
            Ok(vec![])
        }
    }

    const ACCOUNTS: &str = "https://sqs.us-east-1.amazonaws.com/111111111111/rekey-accounts";
    const NOTIFICATIONS: &str = "https://sqs.us-east-1.amazonaws.com/111111111111/rekey-notifications";

    /// Records (queue URL, body, delay) of every message sent.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<(String, String, u32)>>);
    impl MessageQueue for Recorder {
        async fn send_batch(&self, url: &str, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
            self.0.borrow_mut().extend(entries.iter().map(|e| (url.to_string(), e.body.clone(), e.delay_seconds)));
            Ok(vec![])
        }
    }
    impl Recorder {
        fn bodies(&self, url: &str) -> Vec<String> {
            self.0.borrow().iter().filter(|(u, _, _)| u == url).map(|(_, b, _)| b.clone()).collect()
        }
    }

    fn deps(accounts: Vec<OrgAccount>) -> InventoryDeps<Flat, Recorder, FakeLedger> {
        InventoryDeps {
            config: Config::from_yaml_str("organization:\n  management_account_id: '111111111111'\n", None).unwrap(),
            directory: Some(Flat(accounts)),
            queue: Recorder::default(),
            queue_url: ACCOUNTS.into(),
            notifications_queue_url: NOTIFICATIONS.into(),
            ledger: FakeLedger::default(),
            deployment_account_id: "111111111111".into(),
        }
    }

    fn account(id: &str) -> OrgAccount {
        OrgAccount { id: id.into(), name: format!("n{id}"), email: None, state: AccountState::Active }
    }

    #[tokio::test]
    async fn scheduled_event_queues_every_account_with_one_run_id() {
        let event: InventoryEvent = serde_json::from_str(
            r#"{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",
                "source":"aws.events","account":"111111111111","time":"2026-11-29T22:00:00Z","region":"us-east-1",
                "resources":["arn:aws:events:us-east-1:111111111111:rule/rekey-schedule"],"detail":{}}"#,
        )
        .unwrap();
        let deps = deps(vec![account("200000000001"), account("200000000002"), account("111111111111")]);
        let now = Utc::now();
        let out = handle(event, "req-1", now, &deps).await.unwrap();
        assert_eq!(out.run_id, "20261129T220000Z-53dc4d37");
        assert_eq!(out.account_ids, ["200000000001", "200000000002"]);
        let sent: Vec<crate::messages::AccountMessage> =
            deps.queue.bodies(ACCOUNTS).iter().map(|b| serde_json::from_str(b).unwrap()).collect();
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|m| m.run_id == out.run_id && !m.dry_run));
        // The run is open in the ledger with the two accounts, and its deadline
        // is on the notifications queue, delayed as long as SQS allows.
        let run = deps.ledger.run_state(&out.run_id).await.unwrap().unwrap();
        assert_eq!((run.account_ids.clone(), run.done, run.started_at), (out.account_ids.clone(), 0, now));
        let deadline = deps.queue.0.borrow().iter().find(|(u, _, _)| u == NOTIFICATIONS).cloned().unwrap();
        assert_eq!(
            serde_json::from_str::<NotifierMessage>(&deadline.1).unwrap(),
            NotifierMessage::RunDeadline { run_id: out.run_id.clone() }
        );
        assert_eq!(deadline.2, MAX_DELAY_SECONDS);
    }

    #[tokio::test]
    async fn manual_event_forces_audit_and_users_and_narrows_accounts() {
        let event: InventoryEvent =
            serde_json::from_str(r#"{"dry_run": true, "force_rotate": ["alice"], "account_ids": ["200000000002"]}"#)
                .unwrap();
        let deps = deps(vec![account("200000000001"), account("200000000002")]);
        let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc();
        let out = handle(event, "c0ffee-77", now, &deps).await.unwrap();
        assert_eq!(out.run_id, "20261129T100000Z-c0ffee77");
        let sent = deps.queue.bodies(ACCOUNTS);
        assert_eq!(sent.len(), 1);
        let m: crate::messages::AccountMessage = serde_json::from_str(&sent[0]).unwrap();
        assert_eq!(
            (m.account_id.as_str(), m.dry_run, m.force_rotate),
            ("200000000002", true, vec!["alice".to_string()])
        );
    }

    #[tokio::test]
    async fn zero_accounts_queues_nothing_and_succeeds() {
        let deps = deps(vec![]);
        let out = handle(InventoryEvent::default(), "r", Utc::now(), &deps).await.unwrap();
        assert!(out.account_ids.is_empty());
        // No run to wait for: nothing queued, no ledger entry, no deadline.
        assert!(deps.queue.0.borrow().is_empty());
        assert!(deps.ledger.runs.borrow().is_empty());
    }
}
