//! End-to-end tests of the integrations on moto: an account's findings in
//! Security Hub (audit mode imports them, a second run updates rather than
//! duplicates, an enforce run settles what it fixed and leaves the rest),
//! and the lifecycle events arriving on an EventBridge bus through a rule
//! that targets an SQS queue the test reads.
//!
//! moto lacks `BatchUpdateFindings`; `tests/moto/launcher.py` adds it (the
//! workflow status only).

use chrono::{DateTime, Duration, DurationRound, Utc};
use rekey_config::Config;
use rekey_e2e::moto::{test_account_id, Moto};
use rekey_runtime::integrations::publish_part;
use rekey_runtime::messages::AccountMessage;
use rekey_runtime::report::{AccountReport, EffectiveMode};
use rekey_runtime::rotation::{rotate_account, RotationDeps};
use std::collections::BTreeMap;

fn message(account: &str, run_id: &str) -> AccountMessage {
    AccountMessage {
        run_id: run_id.into(),
        account_id: account.into(),
        account_name: "integrations".into(),
        account_email: None,
        dry_run: false,
        force_rotate: vec![],
        resume_after_user: None,
        part: 0,
    }
}

/// One run of the account: the rotation core, then the wiring's publisher,
/// acting from the deployment account `deployment`.
async fn run(account: &str, deployment: &str, config: &Config, run_id: &str, now: DateTime<Utc>) -> AccountReport {
    let moto = Moto::get();
    let mut deps = RotationDeps::aws(&moto.sdk_config());
    deps.report_poll_interval = std::time::Duration::from_millis(20);
    let msg = message(account, run_id);
    // Boxed: the two futures together overflow a test thread's stack in debug builds.
    let report = Box::pin(rotate_account(&deps, config, &msg, now)).await;
    let publisher = rekey_runtime::wiring::publisher(config, &moto.account_config(deployment).await);
    let published = Box::pin(publish_part(&publisher, &msg, &report, None, now)).await.expect("integrations are on");
    assert!(published.errors.is_empty(), "{:?}", published.errors);
    report
}

/// rekey's findings in `account`: id → (compliance, workflow, severity label).
async fn findings(account: &str) -> BTreeMap<String, (String, String, String)> {
    let hub = aws_sdk_securityhub::Client::new(&Moto::get().account_config(account).await);
    let out = hub.get_findings().max_results(100).send().await.expect("GetFindings");
    out.findings()
        .iter()
        .filter(|f| f.generator_id() == Some(rekey_runtime::integrations::findings::GENERATOR_ID))
        .map(|f| {
            let compliance =
                f.compliance().and_then(|c| c.status()).map(|s| s.as_str().to_string()).unwrap_or_default();
            let workflow = f.workflow().and_then(|w| w.status()).map(|s| s.as_str().to_string()).unwrap_or_default();
            let label = f.severity().and_then(|s| s.label()).map(|l| l.as_str().to_string()).unwrap_or_default();
            (f.id().unwrap().to_string(), (compliance, workflow, label))
        })
        .collect()
}

async fn user_with_keys(iam: &aws_sdk_iam::Client, account: &str, user: &str, ages: &[i64]) -> Vec<String> {
    iam.create_user().user_name(user).send().await.expect("create user");
    let mut ids = Vec::new();
    for days in ages {
        let key = iam.create_access_key().user_name(user).send().await.expect("create key");
        let id = key.access_key().unwrap().access_key_id().to_string();
        Moto::get().backdate_key(account, &id, *days);
        ids.push(id);
    }
    ids
}

/// A bus with a rule sending every `rekey` event to a new queue; returns the queue URL.
async fn bus_to_queue(deployment: &str, bus: &str) -> String {
    let sdk = Moto::get().account_config(deployment).await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    events.create_event_bus().name(bus).send().await.expect("create bus");
    let queue = sqs.create_queue().queue_name(format!("{bus}-queue")).send().await.expect("queue");
    let url = queue.queue_url().unwrap().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue arn");
    let arn = attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    events
        .put_rule()
        .name("rekey-to-queue")
        .event_bus_name(bus)
        .event_pattern(r#"{"source": ["rekey"]}"#)
        .send()
        .await
        .expect("rule");
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap();
    events.put_targets().rule("rekey-to-queue").event_bus_name(bus).targets(target).send().await.expect("target");
    url
}

/// Every message on the queue: (detail-type, detail).
async fn received(deployment: &str, url: &str) -> Vec<(String, serde_json::Value)> {
    let sqs = aws_sdk_sqs::Client::new(&Moto::get().account_config(deployment).await);
    let mut out = Vec::new();
    loop {
        let batch = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
        if batch.messages().is_empty() {
            return out;
        }
        for m in batch.messages() {
            let body = m.body().unwrap();
            assert!(!body.contains("SecretAccessKey"), "no secret in an event: {body}");
            let event: serde_json::Value = serde_json::from_str(body).unwrap();
            out.push((event["detail-type"].as_str().unwrap().to_string(), event["detail"].clone()));
            sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

/// Runs `test` on a thread with a large stack: reading findings back with the
/// SDK (`GetFindings`) needs several MB of stack in a debug build (the
/// adapter reads on such a thread too).
fn on_large_stack<F: std::future::Future<Output = ()> + Send + 'static>(test: impl FnOnce() -> F + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(test()))
        .unwrap()
        .join()
        .expect("the test passed");
}

#[test]
fn findings_follow_the_keys_and_events_reach_a_queue_through_a_rule() {
    on_large_stack(findings_and_events);
}

async fn findings_and_events() {
    let account = test_account_id("integrations-member");
    let deployment = test_account_id("integrations-deploy");
    let iam = aws_sdk_iam::Client::new(&Moto::get().account_config(&account).await);
    let alice = user_with_keys(&iam, &account, "alice", &[95]).await;
    let bob = user_with_keys(&iam, &account, "bob", &[130, 120]).await;
    user_with_keys(&iam, &account, "carol", &[10]).await;
    let bus = "rekey-e2e-events";
    let queue = bus_to_queue(&deployment, bus).await;
    let integrations = format!("integrations:\n  security_hub: {{ enabled: true }}\n  event_bus: {bus}\n");
    let audit = Config::from_yaml_str(&format!("mode: audit\n{integrations}"), None).unwrap();
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();

    // Audit mode: the overdue and the blocked key are findings; nothing is resolved.
    let report = Box::pin(run(&account, &deployment, &audit, "run-1", now)).await;
    assert_eq!(report.mode, EffectiveMode::Audit);
    let alice_id = format!("rekey/{account}/alice/{}", alice[0]);
    let bob_id = format!("rekey/{account}/bob/{}", bob[0]);
    let first = findings(&account).await;
    assert_eq!(first.keys().cloned().collect::<Vec<_>>(), [alice_id.clone(), bob_id.clone()]);
    assert_eq!((first[&alice_id].0.as_str(), first[&alice_id].2.as_str()), ("FAILED", "MEDIUM"));
    assert_eq!((first[&bob_id].0.as_str(), first[&bob_id].2.as_str()), ("FAILED", "HIGH"));

    // A second run updates the same findings and announces nothing again.
    Box::pin(run(&account, &deployment, &audit, "run-2", now + Duration::hours(1))).await;
    assert_eq!(findings(&account).await.len(), 2, "updated, not duplicated");

    // Enforce: alice's key is rotated and her finding settled; bob still needs a person.
    let enforce = Config::from_yaml_str(&format!("mode: enforce\n{integrations}"), None).unwrap();
    Box::pin(run(&account, &deployment, &enforce, "run-3", now + Duration::hours(2))).await;
    let last = findings(&account).await;
    assert_eq!(last.len(), 2);
    assert_eq!((last[&alice_id].0.as_str(), last[&alice_id].1.as_str()), ("PASSED", "RESOLVED"));
    assert_eq!(last[&bob_id].0, "FAILED", "left open");
    assert_ne!(last[&bob_id].1, "RESOLVED");

    let publisher = rekey_runtime::wiring::publisher(&enforce, &Moto::get().account_config(&deployment).await);
    publisher.run_completed("run-3", EffectiveMode::Enforce, &[], 0, now + Duration::hours(2)).await;
    let events = received(&deployment, &queue).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["Manual Action Needed", "Access Key Rotated", "Run Completed"], "{events:#?}");
    let (_, manual) = &events[0];
    assert_eq!((manual["user_name"].as_str(), manual["run_id"].as_str()), (Some("bob"), Some("run-1")));
    assert_eq!(manual["reason"], "both_keys_expired");
    let (_, rotated) = &events[1];
    assert_eq!(rotated["access_key_id"].as_str(), Some(alice[0].as_str()));
    assert_eq!(rotated["account_id"].as_str(), Some(account.as_str()));
    assert!(rotated["new_access_key_id"].as_str().is_some_and(|k| k != alice[0]));
}
