//! The measured runs: the rotation core over many accounts (what `rekey
//! rotate` runs in one process), and the deployed flow handler by handler in
//! this process (inventory → accounts queue → rotation → run ledger →
//! notifications queue → notifier → SES) on real queues, table and mail of
//! the moto server.

use crate::measure::{Meter, Phase};
use chrono::Utc;
use rekey_config::Config;
use rekey_e2e::fault_proxy::FaultProxy;
use rekey_e2e::moto::{Moto, REGION};
use rekey_runtime::aws::dynamodb::DynamoLedger;
use rekey_runtime::aws::orgs::OrganizationsDirectory;
use rekey_runtime::aws::ses::SesMailer;
use rekey_runtime::aws::sqs::SqsQueue;
use rekey_runtime::handlers::{inventory, notifier, rotation, SqsEvent};
use rekey_runtime::ledger::RunLedger;
use rekey_runtime::messages::AccountMessage;
use rekey_runtime::notify::Renderer;
use rekey_runtime::report::{AccountReport, AccountStatus};
use rekey_runtime::wiring::{inventory_role_arn, CoreRotator};
use std::collections::BTreeMap;

/// The benchmark's organization as the runs see it.
#[derive(Debug)]
pub struct Org {
    /// Management (and deployment) account.
    pub management: String,
    /// The config every run uses.
    pub config: Config,
    /// Users per account.
    pub users: usize,
}

fn message(run_id: &str, account: &str, dry_run: bool) -> AccountMessage {
    AccountMessage {
        run_id: run_id.into(),
        account_id: account.into(),
        account_name: account.into(),
        account_email: None,
        dry_run,
        force_rotate: vec![],
        resume_after_user: None,
        part: 0,
    }
}

fn rotations(reports: &[AccountReport]) -> u64 {
    reports.iter().map(|r| r.counts().rotated).sum()
}

fn failed(reports: &[AccountReport]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| match &r.status {
            AccountStatus::Failed { error } => Some(format!("{}: {error}", r.account_id)),
            _ => None,
        })
        .collect()
}

/// The rotation core over `accounts`, `account_concurrency` accounts at once.
pub async fn core_run(
    name: &str,
    org: &Org,
    config: &Config,
    proxy: &FaultProxy,
    accounts: &[String],
    dry_run: bool,
    account_concurrency: usize,
) -> Phase {
    let sdk = proxy.account_config(&org.management).await;
    let rotator = CoreRotator::new(config, &sdk).await;
    let messages: Vec<AccountMessage> = accounts.iter().map(|a| message(name, a, dry_run)).collect();
    let meter = Meter::start(name, proxy);
    let reports = rekey_runtime::run::rotate_all(&rotator, &messages, Utc::now(), account_concurrency).await;
    let phase = meter.finish(proxy, accounts.len(), accounts.len() * org.users, rotations(&reports));
    let failures = failed(&reports);
    assert!(failures.is_empty(), "{name}: accounts failed: {failures:?}");
    assert_eq!(reports.len(), accounts.len(), "{name}: one report per account");
    phase
}

/// The queues and the run ledger table of the deployed flow, created on moto.
#[derive(Debug)]
pub struct Pipeline {
    accounts_queue: String,
    notifications_queue: String,
    ledger: DynamoLedger,
    table: String,
    sqs: aws_sdk_sqs::Client,
}

impl Pipeline {
    /// Creates the queues and the table in the management account, through the counting proxy.
    pub async fn create(moto: &Moto, proxy: &FaultProxy, management: &str) -> Pipeline {
        Pipeline::create_named(moto, Some(proxy), management, "rekey-bench").await
    }

    /// [`Pipeline::create`] with resources named `<prefix>-...`, through `proxy` or straight to moto.
    pub async fn create_named(moto: &Moto, proxy: Option<&FaultProxy>, management: &str, prefix: &str) -> Pipeline {
        let sdk = match proxy {
            Some(proxy) => proxy.account_config(management).await,
            None => moto.account_config(management).await,
        };
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut urls = Vec::new();
        for name in ["accounts", "notifications"] {
            let out = sqs.create_queue().queue_name(format!("{prefix}-{name}")).send().await.expect("create queue");
            urls.push(out.queue_url().expect("queue url").to_string());
        }
        let table = format!("{prefix}-runs");
        moto.create_run_ledger(management, &table).await;
        let ledger = DynamoLedger::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
        Pipeline { notifications_queue: urls.pop().unwrap(), accounts_queue: urls.pop().unwrap(), ledger, table, sqs }
    }

    /// The rotation function's environment variables naming these resources.
    pub fn environment(&self) -> Vec<(String, String)> {
        use rekey_config::contract::{ACCOUNTS_QUEUE_ENV, NOTIFICATIONS_QUEUE_ENV, RUN_LEDGER_TABLE_ENV};
        vec![
            (ACCOUNTS_QUEUE_ENV.into(), self.accounts_queue.clone()),
            (NOTIFICATIONS_QUEUE_ENV.into(), self.notifications_queue.clone()),
            (RUN_LEDGER_TABLE_ENV.into(), self.table.clone()),
        ]
    }

    /// Receives (and deletes) every visible message of `queue_url`, in batches of `batch` records.
    async fn drain(&self, queue_url: &str, batch: usize) -> Vec<SqsEvent> {
        let mut records = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                records.push(serde_json::json!({"messageId": m.message_id(), "body": m.body()}));
                let handle = m.receipt_handle().expect("receipt handle");
                self.sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await.expect("delete");
            }
        }
        records
            .chunks(batch.max(1))
            .map(|chunk| serde_json::from_value(serde_json::json!({ "Records": chunk })).expect("an SQS event"))
            .collect()
    }
}

/// What the handler path proved besides its figures.
#[derive(Debug, Default)]
pub struct PipelineCheck {
    /// Account messages handled per account (each must be 1).
    pub deliveries: BTreeMap<String, u32>,
    /// Accounts the run ledger counted done.
    pub ledger_done: u32,
    /// Digests sent per recipient in this run (each must be 1).
    pub digests: BTreeMap<String, u32>,
}

impl PipelineCheck {
    /// Every account exactly once, every recipient exactly one digest.
    pub fn problems(&self, expected_accounts: usize) -> Vec<String> {
        let mut problems = Vec::new();
        if self.deliveries.len() != expected_accounts || self.deliveries.values().any(|n| *n != 1) {
            problems.push(format!("accounts handled: {} of {expected_accounts}, not each once", self.deliveries.len()));
        }
        if self.ledger_done as usize != expected_accounts {
            problems.push(format!("run ledger counted {} of {expected_accounts} accounts", self.ledger_done));
        }
        if self.digests.is_empty() || self.digests.values().any(|n| *n != 1) {
            problems.push(format!("digests per recipient are not one each: {:?}", self.digests));
        }
        problems
    }
}

/// The deployed flow over `accounts`, handler by handler, `concurrency`
/// rotation invocations at once (Lambda's concurrency for the function);
/// `(name, dry_run)`: the phase's name and whether it is a dry run.
pub async fn handler_run(
    (name, dry_run): (&str, bool),
    org: &Org,
    moto: &Moto,
    proxy: &FaultProxy,
    pipeline: &Pipeline,
    accounts: &[String],
    concurrency: usize,
) -> (Phase, PipelineCheck) {
    let sdk = proxy.account_config(&org.management).await;
    let config = &org.config;
    let mails_before = moto.sent_mail(&org.management, REGION).len();
    let meter = Meter::start(name, proxy);
    let directory =
        OrganizationsDirectory::assume(&sdk, &inventory_role_arn(config, &org.management), "rekey-bench").await;
    let inventory_deps = inventory::InventoryDeps {
        directory: Some(directory),
        config: config.clone(),
        queue: SqsQueue::new(pipeline.sqs.clone()),
        queue_url: pipeline.accounts_queue.clone(),
        notifications_queue_url: pipeline.notifications_queue.clone(),
        ledger: pipeline.ledger.clone(),
        deployment_account_id: org.management.clone(),
    };
    let event = inventory::InventoryEvent { dry_run, account_ids: accounts.to_vec(), ..Default::default() };
    // The request id is part of the run id: each run of the bench gets its own.
    let request_id = if dry_run { "bench-audit" } else { "bench-enforce" };
    let queued = inventory::handle(event, request_id, Utc::now(), &inventory_deps).await.expect("inventory");

    let rotation_deps = rotation::RotationFunctionDeps {
        config: config.clone(),
        rotator: CoreRotator::new(config, &sdk).await,
        queue: SqsQueue::new(pipeline.sqs.clone()),
        notifications_queue_url: pipeline.notifications_queue.clone(),
        accounts_queue_url: pipeline.accounts_queue.clone(),
        ledger: pipeline.ledger.clone(),
        max_receive_count: 3,
        clock: Utc::now,
    };
    let mut check = PipelineCheck::default();
    // The stack's event source mapping hands the rotation function one message at a time.
    let events = pipeline.drain(&pipeline.accounts_queue, 1).await;
    for event in &events {
        for record in &event.records {
            let m: AccountMessage = serde_json::from_str(record.body.as_deref().unwrap_or_default()).expect("message");
            *check.deliveries.entry(m.account_id).or_insert(0) += 1;
        }
    }
    use futures::StreamExt;
    let failures: usize = futures::stream::iter(events)
        .map(|event| rotation::handle(event, &rotation_deps))
        .buffer_unordered(concurrency.max(1))
        .map(|response| response.batch_item_failures.len())
        .fold(0, |sum, n| async move { sum + n })
        .await;
    assert_eq!(failures, 0, "{name}: rotation batches failed");

    let notifier_deps = notifier::NotifierDeps {
        renderer: Renderer::new(config).expect("templates compile"),
        config: config.clone(),
        mailer: SesMailer::new(aws_sdk_sesv2::Client::new(&sdk)),
        ledger: pipeline.ledger.clone(),
        queue: SqsQueue::new(pipeline.sqs.clone()),
        notifications_queue_url: pipeline.notifications_queue.clone(),
        clock: Utc::now,
    };
    for event in pipeline.drain(&pipeline.notifications_queue, 10).await {
        let response = notifier::handle(event, &notifier_deps).await;
        assert!(response.batch_item_failures.is_empty(), "{name}: notifier failed: {response:?}");
    }
    let run = pipeline.ledger.run_state(&queued.run_id).await.expect("ledger").expect("the run is in the ledger");
    check.ledger_done = run.done;
    let mut phase = meter.finish(proxy, accounts.len(), accounts.len() * org.users, 0);
    // The reports went to the ledger and the digests: count rotations as the keys created.
    phase.rotations = phase.calls.get("iam:CreateAccessKey").copied().unwrap_or(0);
    for mail in &moto.sent_mail(&org.management, REGION)[mails_before..] {
        for to in mail["destinations"]["ToAddresses"].as_array().into_iter().flatten() {
            *check.digests.entry(to.as_str().unwrap_or_default().to_string()).or_insert(0) += 1;
        }
    }
    (phase, check)
}
