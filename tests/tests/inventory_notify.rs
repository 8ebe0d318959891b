//! End to end on moto: the inventory function's selection over a real
//! Organizations tree (nested OUs, a suspended account, an excluded OU)
//! queues the right accounts on a real SQS queue; Organizations errors fail
//! the run; the run ledger on a real DynamoDB table counts each account once
//! and closes a run once; a scheduled run flows through both queues and the
//! ledger into one digest per recipient for the whole run; the notifier
//! renders and sends through SES v2, and the mail read back from moto has
//! the right recipients, subject and escaped body, and no secret.

use aws_sdk_organizations::types::OrganizationFeatureSet as FeatureSet;
use rekey_config::Config;
use rekey_e2e::moto::{test_account_id, Moto};
use rekey_runtime::aws::orgs::OrganizationsDirectory;
use rekey_runtime::aws::ses::SesMailer;
use rekey_runtime::aws::sqs::SqsQueue;
use rekey_runtime::handlers::inventory::{handle, InventoryDeps, InventoryEvent};
use rekey_runtime::ledger::{Closer, Recorded, RunLedger, RunRecord};
use rekey_runtime::lifecycle::{ActionKind, Reason, UserStatus};
use rekey_runtime::messages::{AccountMessage, NotifierMessage};
use rekey_runtime::notify::{digests, send_digest, Renderer};
use rekey_runtime::report::*;
use rekey_runtime::wiring::inventory_role_arn;

/// Creates an account under `parent` (moving it from the root); returns its id.
async fn account(orgs: &aws_sdk_organizations::Client, root: &str, parent: &str, name: &str) -> String {
    let out = orgs
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .expect("create account");
    let id = out.create_account_status().and_then(|s| s.account_id()).expect("account id").to_string();
    if parent != root {
        orgs.move_account()
            .account_id(&id)
            .source_parent_id(root)
            .destination_parent_id(parent)
            .send()
            .await
            .expect("move");
    }
    id
}

async fn ou(orgs: &aws_sdk_organizations::Client, parent: &str, name: &str) -> String {
    let out = orgs.create_organizational_unit().parent_id(parent).name(name).send().await.expect("create OU");
    out.organizational_unit().and_then(|o| o.id()).expect("OU id").to_string()
}

async fn directory(moto: &Moto, config: &Config, management: &str) -> OrganizationsDirectory {
    OrganizationsDirectory::assume(&moto.sdk_config(), &inventory_role_arn(config, management), "rekey-inventory").await
}

#[tokio::test]
async fn inventory_queues_active_accounts_of_nested_ous_minus_excluded_ones() {
    let moto = Moto::get();
    let mgmt = test_account_id("inventory-e2e-mgmt");
    let sdk = moto.account_config(&mgmt).await;
    let orgs = aws_sdk_organizations::Client::new(&sdk);
    orgs.create_organization().feature_set(FeatureSet::All).send().await.expect("create organization");
    let root = orgs.list_roots().send().await.expect("roots").roots()[0].id().expect("root id").to_string();
    // root ─ in-root
    //   └ ou-a ─ a-active, a-suspended
    //      └ ou-b ─ b-active
    //         └ ou-c (excluded) ─ c-active
    let ou_a = ou(&orgs, &root, "a").await;
    let ou_b = ou(&orgs, &ou_a, "b").await;
    let ou_c = ou(&orgs, &ou_b, "c").await;
    let _in_root = account(&orgs, &root, &root, "in-root").await;
    let a_active = account(&orgs, &root, &ou_a, "a-active").await;
    let a_suspended = account(&orgs, &root, &ou_a, "a-suspended").await;
    orgs.close_account().account_id(&a_suspended).send().await.expect("close account");
    let b_active = account(&orgs, &root, &ou_b, "b-active").await;
    let _c_active = account(&orgs, &root, &ou_c, "c-active").await;

    let config = Config::from_yaml_str(
        &format!(
            "organization:\n  management_account_id: '{mgmt}'\n  target_ou_ids: [{ou_a}]\n  exclude_ou_ids: [{ou_c}]\n"
        ),
        None,
    )
    .expect("valid config");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("rekey-accounts-e2e")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_string();
    let deps = InventoryDeps {
        directory: Some(directory(moto, &config, &mgmt).await),
        config,
        queue: SqsQueue::new(sqs.clone()),
        queue_url: queue_url.clone(),
        notifications_queue_url: sqs
            .create_queue()
            .queue_name("rekey-notifications-e2e")
            .send()
            .await
            .expect("queue")
            .queue_url()
            .unwrap()
            .to_string(),
        ledger: moto.create_run_ledger(&mgmt, "rekey-runs-inventory-e2e").await,
        deployment_account_id: mgmt.clone(),
    };
    let event: InventoryEvent = serde_json::from_value(serde_json::json!({
        "id": "e2e00001-aaaa", "time": "2026-11-29T22:00:00Z", "detail-type": "Scheduled Event", "dry_run": true
    }))
    .unwrap();
    let response = handle(event, "req", chrono::Utc::now(), &deps).await.expect("inventory runs");
    let mut expected = vec![a_active.clone(), b_active.clone()];
    expected.sort();
    assert_eq!(response.account_ids, expected);
    assert_eq!(response.run_id, "20261129T220000Z-e2e00001");
    let run = deps.ledger.run_state(&response.run_id).await.unwrap().expect("the run is open in the ledger");
    assert_eq!((run.account_ids, run.done), (expected.clone(), 0));

    let mut queued = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).send().await.expect("receive");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            let msg: AccountMessage = serde_json::from_str(m.body().unwrap()).expect("an account message");
            queued.push(msg);
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    queued.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    let ids: Vec<&str> = queued.iter().map(|m| m.account_id.as_str()).collect();
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(queued.iter().all(|m| m.dry_run && m.run_id == response.run_id));
    let a = queued.iter().find(|m| m.account_id == a_active).expect("a-active queued");
    assert_eq!((a.account_name.as_str(), a.account_email.as_deref()), ("a-active", Some("a-active@example.com")));
}

#[tokio::test]
async fn organizations_errors_fail_the_inventory() {
    let moto = Moto::get();
    // An OU that does not exist: Organizations answers with an error, which
    // must fail the run rather than queue a partial (here: empty) list.
    let mgmt = test_account_id("inventory-e2e-bad-ou");
    let sdk = moto.account_config(&mgmt).await;
    aws_sdk_organizations::Client::new(&sdk)
        .create_organization()
        .feature_set(FeatureSet::All)
        .send()
        .await
        .expect("create organization");
    let config = Config::from_yaml_str(
        &format!("organization:\n  management_account_id: '{mgmt}'\n  target_ou_ids: [ou-zzzz-zzzzzzzz]\n"),
        None,
    )
    .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("rekey-accounts-none")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_string();
    let deps = InventoryDeps {
        directory: Some(directory(moto, &config, &mgmt).await),
        config,
        queue: SqsQueue::new(sqs),
        notifications_queue_url: queue_url.clone(),
        queue_url,
        ledger: moto.create_run_ledger(&mgmt, "rekey-runs-bad-ou").await,
        deployment_account_id: mgmt,
    };
    let err = handle(InventoryEvent::default(), "req", chrono::Utc::now(), &deps).await.unwrap_err();
    assert!(
        err.to_string().starts_with("organizations `ListAccountsForParent` for `ou-zzzz-zzzzzzzz` failed: "),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn notifier_sends_escaped_digests_without_secrets_through_ses() {
    let moto = Moto::get();
    let acct = test_account_id("notifier-e2e");
    let sdk = moto.account_config(&acct).await;
    let sender = "rekey-e2e@example.com";
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity(sender).send().await.expect("identity");

    // A real secret holding a key: its value must never reach an email.
    let secret_value = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("Account_{acct}_User_alice_AccessKey"))
        .secret_string(serde_json::json!({"AccessKeyId": "AKIANEW", "SecretAccessKey": secret_value}).to_string())
        .send()
        .await
        .expect("secret");
    let arn = secret.arn().unwrap().to_string();

    let admin = "admin-notifier-e2e@example.com";
    let owner = "owner-notifier-e2e@example.com";
    let config = Config::from_yaml_str(
        &format!(
            "mode: enforce\nnotifications:\n  sender: {sender}\n  admin_recipients: [{admin}]\n  notify_account_email: false\n  owner_tag_key: owner\n  subject: 'rekey e2e {{{{ account_id }}}} {{{{ mode }}}}: {{{{ action_count }}}}'\n"
        ),
        None,
    )
    .unwrap();
    let user = |name: &str, owner: Option<&str>| UserReport {
        user_name: name.into(),
        status: UserStatus::Managed,
        owner_email: owner.map(str::to_string),
        secret_arn: None,
        actions: vec![],
        warnings: vec![],
        error: None,
        active_key_ages: vec![],
        exemption_expired: None,
    };
    let mut alice = user("alice", Some(owner));
    alice.secret_arn = Some(arn.clone());
    alice.actions.push(ActionReport {
        access_key_id: "AKIAOLD".into(),
        action: ActionKind::Rotate,
        reason: Reason::Expired,
        due: chrono::Utc::now(),
        result: ActionResult::Done { new_access_key_id: Some("AKIANEW".into()) },
    });
    let mut evil = user("<script>alert(1)</script>", None);
    evil.status = UserStatus::NeedsManualAction { reason: "both keys are expired and active".into() };
    let report = AccountReport {
        run_id: "run-notifier-e2e".into(),
        account_id: acct.clone(),
        account_name: "notifier e2e".into(),
        account_email: None,
        mode: EffectiveMode::Enforce,
        status: AccountStatus::Succeeded,
        users: vec![alice, evil],
        users_omitted: 0,
        key_ages: None,
    };
    let renderer = Renderer::new(&config).unwrap();
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(&sdk));
    let messages = digests(&config, &report.run_id, std::slice::from_ref(&report), &[]);
    assert_eq!(messages.len(), 2);
    for m in &messages {
        send_digest(&config, &renderer, &mailer, m).await.expect("sent");
    }

    // Simple and raw mail alike (the admin's digest carries the report).
    let all = moto.sent_mail(&acct, rekey_e2e::moto::REGION);
    let sent: Vec<&serde_json::Value> =
        all.iter().filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(&acct))).collect();
    let to = |m: &serde_json::Value| m["destinations"]["ToAddresses"][0].as_str().unwrap_or_default().to_string();
    let mut recipients: Vec<String> = sent.iter().map(|m| to(m)).collect();
    recipients.sort();
    assert_eq!(recipients, [admin, owner]);
    for m in &sent {
        assert_eq!(m["source"], sender);
        let body = m["body"].as_str().unwrap();
        assert!(!body.contains(secret_value), "a secret value reached an email");
        assert!(body.contains("aws secretsmanager get-secret-value --secret-id SECRET_ARN"), "{body}");
        assert!(body.contains(&arn), "{body}");
        for a in m["attachments"].as_array().unwrap() {
            assert!(!a["content"].as_str().unwrap().contains(secret_value), "a secret value reached an attachment");
        }
        if to(m) == admin {
            assert_eq!(m["subject"], format!("rekey e2e {acct} enforce: 1"));
            assert!(!body.contains("<script>"), "{body}");
            assert!(body.contains("&lt;script&gt;"), "{body}");
        } else {
            // The owner sees only alice.
            assert!(!body.contains("script"), "{body}");
            assert!(body.contains("alice"));
        }
    }
}

/// Receives (and deletes) every message of a queue, as the SQS event Lambda would deliver.
async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> rekey_runtime::handlers::SqsEvent {
    let mut records = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).send().await.expect("receive");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            records.push(serde_json::json!({"messageId": m.message_id(), "body": m.body()}));
            sqs.delete_message().queue_url(queue_url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event")
}

/// The deployed flow, handler by handler: schedule → inventory → accounts
/// queue → rotation (real rotation core, enforce) → notifications queue →
/// notifier → SES.
#[tokio::test]
async fn scheduled_run_flows_through_both_queues_into_the_mailbox() {
    use rekey_runtime::handlers::{notifier, rotation};
    let moto = Moto::get();
    let mgmt = test_account_id("pipeline-e2e-mgmt");
    let sdk = moto.account_config(&mgmt).await;
    let orgs = aws_sdk_organizations::Client::new(&sdk);
    orgs.create_organization().feature_set(FeatureSet::All).send().await.expect("create organization");
    let root = orgs.list_roots().send().await.expect("roots").roots()[0].id().expect("root id").to_string();
    let mut members = vec![account(&orgs, &root, &root, "pipe-1").await, account(&orgs, &root, &root, "pipe-2").await];
    members.sort();
    for m in &members {
        let iam = aws_sdk_iam::Client::new(&moto.account_config(m).await);
        iam.create_user().user_name("alice").send().await.expect("user");
        let key = iam.create_access_key().user_name("alice").send().await.expect("key");
        moto.backdate_key(m, key.access_key().unwrap().access_key_id(), 95);
    }
    let sender = "rekey-pipeline@example.com";
    let admin = "admin-pipeline-e2e@example.com";
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity(sender).send().await.expect("identity");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut urls = Vec::new();
    let ledger_table = moto.create_run_ledger(&mgmt, "rekey-pipe-runs").await;
    for name in ["rekey-pipe-accounts", "rekey-pipe-notifications"] {
        urls.push(sqs.create_queue().queue_name(name).send().await.expect("queue").queue_url().unwrap().to_string());
    }
    let config = Config::from_yaml_str(
        &format!(
            "mode: enforce\norganization:\n  management_account_id: '{mgmt}'\nnotifications:\n  sender: {sender}\n  \
             admin_recipients: [{admin}]\n  notify_account_email: false\n"
        ),
        None,
    )
    .unwrap();

    let inventory = InventoryDeps {
        directory: Some(directory(moto, &config, &mgmt).await),
        config: config.clone(),
        queue: SqsQueue::new(sqs.clone()),
        queue_url: urls[0].clone(),
        notifications_queue_url: urls[1].clone(),
        ledger: ledger_table.clone(),
        deployment_account_id: mgmt.clone(),
    };
    let queued =
        handle(InventoryEvent::default(), "pipeline", chrono::Utc::now(), &inventory).await.expect("inventory");
    assert_eq!(queued.account_ids, members);

    let rotation = rotation::RotationFunctionDeps {
        config: config.clone(),
        rotator: rekey_runtime::wiring::CoreRotator::new(&config, &sdk).await,
        queue: SqsQueue::new(sqs.clone()),
        notifications_queue_url: urls[1].clone(),
        accounts_queue_url: urls[0].clone(),
        ledger: ledger_table.clone(),
        max_receive_count: 3,
        clock: chrono::Utc::now,
    };
    let response = rotation::handle(drain(&sqs, &urls[0]).await, &rotation).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    for m in &members {
        let iam = aws_sdk_iam::Client::new(&moto.account_config(m).await);
        let keys = iam.list_access_keys().user_name("alice").send().await.unwrap();
        assert_eq!(keys.access_key_metadata().len(), 2, "alice was rotated in `{m}`");
    }

    let notifier = notifier::NotifierDeps {
        renderer: Renderer::new(&config).unwrap(),
        config: config.clone(),
        mailer: SesMailer::new(aws_sdk_sesv2::Client::new(&sdk)),
        ledger: ledger_table.clone(),
        queue: SqsQueue::new(sqs.clone()),
        notifications_queue_url: urls[1].clone(),
        clock: chrono::Utc::now,
    };
    // The last account completed the run: `run_complete` is on the queue
    // (the inventory's deadline is there too, delayed 15 minutes, so not
    // received yet).
    let events = drain(&sqs, &urls[1]).await;
    let kinds: Vec<NotifierMessage> =
        events.records.iter().map(|r| serde_json::from_str(r.body.as_deref().unwrap()).unwrap()).collect();
    assert_eq!(kinds, [NotifierMessage::RunComplete { run_id: queued.run_id.clone() }]);
    let response = notifier::handle(events, &notifier).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let mail = moto.sent_mail(&mgmt, rekey_e2e::moto::REGION);
    let to_admin: Vec<&serde_json::Value> =
        mail.iter().filter(|m| m["destinations"]["ToAddresses"][0] == admin).collect();
    assert_eq!(to_admin.len(), 1, "one digest for the whole run");
    assert_eq!(to_admin[0]["subject"], "[rekey] IAM access keys (enforce): 2 item(s) in 2 account(s)");
    let body = to_admin[0]["body"].as_str().unwrap();
    for m in &members {
        assert!(body.contains(m.as_str()), "{body}");
    }
    // The full report arrives attached and parses as CSV: one row per line
    // of the accounts' reports, as recorded in the ledger.
    let reports = ledger_table.account_reports(&queued.run_id).await.unwrap();
    let expected: usize = reports.iter().map(|r| r.rows().count()).sum();
    assert!(expected >= 2, "each account rotated alice's key");
    let attachments = to_admin[0]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{attachments:?}");
    assert_eq!(attachments[0]["filename"], format!("rekey-{}.csv", queued.run_id));
    let csv_text = attachments[0]["content"].as_str().unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(reader.headers().unwrap().get(4), Some("action"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(rows.len(), expected, "{csv_text}");
    for m in &members {
        assert!(
            rows.iter().any(|r| &r[0] == m && &r[2] == "alice" && &r[4] == "rotate" && &r[7] == "done"),
            "{csv_text}"
        );
    }
    assert!(body.contains(&format!("is attached as rekey-{}.csv", queued.run_id)), "{body}");
    let run = ledger_table.run_state(&queued.run_id).await.unwrap().expect("the run is in the ledger");
    assert_eq!((run.done, run.closed_by), (2, Some(Closer::Complete)));
}

/// The run ledger adapter on moto's DynamoDB: a run opens once, each account
/// counts once (the first report stands), a closed run takes no more
/// reports, one closer wins, and sent digests are remembered.
#[tokio::test]
async fn the_run_ledger_counts_each_account_once_and_closes_once() {
    let moto = Moto::get();
    let acct = test_account_id("ledger-e2e");
    let ledger = moto.create_run_ledger(&acct, "rekey-runs-ledger-e2e").await;
    let started = chrono::DateTime::parse_from_rfc3339("2026-11-29T22:00:00Z").unwrap().to_utc();
    let run = RunRecord {
        run_id: "run-ledger".into(),
        account_ids: vec!["200000000001".into(), "200000000002".into(), "200000000003".into()],
        started_at: started,
    };
    ledger.open_run(&run).await.unwrap();
    // An inventory retry keeps the first record.
    ledger.open_run(&RunRecord { account_ids: vec![], ..run.clone() }).await.unwrap();
    let report = |account: &str, users: usize| AccountReport {
        run_id: "run-ledger".into(),
        account_id: account.into(),
        account_name: format!("name-{account}"),
        account_email: None,
        mode: EffectiveMode::Audit,
        status: AccountStatus::Succeeded,
        users: (0..users)
            .map(|i| UserReport {
                user_name: format!("user-{i}"),
                status: UserStatus::Managed,
                owner_email: None,
                secret_arn: None,
                actions: vec![],
                warnings: vec![],
                error: None,
                active_key_ages: vec![],
                exemption_expired: None,
            })
            .collect(),
        users_omitted: 0,
        key_ages: None,
    };
    assert_eq!(
        ledger.record_account(&report("200000000001", 2)).await.unwrap(),
        Recorded::Counted { done: 1, expected: 3 }
    );
    // A redelivery with a different report: not counted, first one kept.
    assert_eq!(ledger.record_account(&report("200000000001", 5)).await.unwrap(), Recorded::AlreadyRecorded);
    assert_eq!(
        ledger.record_account(&report("200000000002", 1)).await.unwrap(),
        Recorded::Counted { done: 2, expected: 3 }
    );
    let state = ledger.run_state("run-ledger").await.unwrap().unwrap();
    assert_eq!((state.account_ids.len(), state.done, state.started_at, state.closed_by), (3, 2, started, None));

    // The deadline closes it; the complete path then loses, and a late account is refused.
    assert!(ledger.close_run("run-ledger", Closer::Deadline).await.unwrap());
    assert!(ledger.close_run("run-ledger", Closer::Deadline).await.unwrap(), "a redelivery of the same closer");
    assert!(!ledger.close_run("run-ledger", Closer::Complete).await.unwrap());
    assert_eq!(ledger.record_account(&report("200000000003", 1)).await.unwrap(), Recorded::RunNotOpen);

    let reports = ledger.account_reports("run-ledger").await.unwrap();
    let got: Vec<(&str, usize)> = reports.iter().map(|r| (r.account_id.as_str(), r.users.len())).collect();
    assert_eq!(got, [("200000000001", 2), ("200000000002", 1)]);

    assert!(!ledger.digest_sent("run-ledger", "Sec@Example.com").await.unwrap());
    ledger.mark_digest_sent("run-ledger", "Sec@Example.com").await.unwrap();
    assert!(ledger.digest_sent("run-ledger", "sec@example.com").await.unwrap());
    // Unknown runs: no state, nothing to close, no reports.
    assert_eq!(ledger.run_state("no-such-run").await.unwrap(), None);
    assert!(!ledger.close_run("no-such-run", Closer::Complete).await.unwrap());
    // An account already recorded stays "already recorded" after the close.
    assert_eq!(ledger.record_account(&report("200000000001", 1)).await.unwrap(), Recorded::AlreadyRecorded);

    // Parts of an account done across invocations: kept whatever the run's
    // state, first report of a part stands, read back in part order (part
    // 10 after part 9), never among the run's account reports.
    for (part, users) in [(10, 3), (9, 2), (9, 7), (0, 1)] {
        ledger.record_part(&report("200000000004", users), part).await.unwrap();
    }
    let parts = ledger.account_parts("run-ledger", "200000000004").await.unwrap();
    assert_eq!(parts.iter().map(|r| r.users.len()).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(ledger.account_parts("run-ledger", "200000000001").await.unwrap().is_empty());
    assert_eq!(ledger.account_reports("run-ledger").await.unwrap().len(), 2, "parts are not account reports");

    // The sending lease: one holder at a time, its own redelivery may take it
    // again, another holder only once it is given up or has run out.
    let at = |minutes: i64| started + chrono::Duration::minutes(minutes);
    assert!(ledger.claim_sending("run-ledger", "m-1", at(0), at(2)).await.unwrap());
    assert!(!ledger.claim_sending("run-ledger", "m-2", at(1), at(3)).await.unwrap(), "held by m-1");
    assert!(ledger.claim_sending("run-ledger", "m-1", at(1), at(3)).await.unwrap(), "a redelivery of m-1");
    ledger.release_sending("run-ledger", "m-2").await.unwrap();
    assert!(!ledger.claim_sending("run-ledger", "m-2", at(2), at(4)).await.unwrap(), "only the holder gives it up");
    ledger.release_sending("run-ledger", "m-1").await.unwrap();
    assert!(ledger.claim_sending("run-ledger", "m-2", at(2), at(4)).await.unwrap());
    assert!(ledger.claim_sending("run-ledger", "m-3", at(5), at(7)).await.unwrap(), "m-2's lease ran out");
    assert!(!ledger.claim_sending("no-such-run", "m-1", at(0), at(2)).await.unwrap());
}

/// The handlers read exactly the environment variables the main stack sets.
#[test]
fn handler_environment_matches_the_stack() {
    use rekey_runtime::handlers as h;
    assert_eq!(h::FUNCTION_ENV, rekey_stacks::ENV_FUNCTION);
    assert_eq!(h::ACCOUNTS_QUEUE_ENV, rekey_stacks::ENV_ACCOUNTS_QUEUE_URL);
    assert_eq!(h::NOTIFICATIONS_QUEUE_ENV, rekey_stacks::ENV_NOTIFICATIONS_QUEUE_URL);
    assert_eq!(h::DEPLOYMENT_ACCOUNT_ENV, rekey_stacks::ENV_DEPLOYMENT_ACCOUNT_ID);
    assert_eq!(h::RUN_LEDGER_TABLE_ENV, rekey_stacks::ENV_RUN_LEDGER_TABLE);
    assert_eq!(h::ACCOUNTS_MAX_RECEIVE_COUNT_ENV, rekey_stacks::ENV_ACCOUNTS_MAX_RECEIVE_COUNT);
    assert_eq!(rekey_config::CONFIG_ENV, "REKEY_CONFIG");
}
