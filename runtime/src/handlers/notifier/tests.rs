//! The notifier handler on fakes: one digest per recipient per run, the
//! deadline's wait, redelivery sending only what is missing.

use super::*;
use crate::inventory::ports::{QueueEntry, QueueError};
use crate::ledger::fake::FakeLedger;
use crate::ledger::RunRecord;
use crate::messages::{Digest, DigestSection, RecipientKind};
use crate::notify::ports::{Email, MailError};
use crate::notify::tests::sample_report;
use crate::report::{AccountReport, EffectiveMode};
use aws_lambda_events::event::sqs::SqsMessage;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Records sent mail; fails for the addresses in `bouncing`.
#[derive(Default)]
struct Outbox {
    sent: RefCell<Vec<Email>>,
    bouncing: RefCell<BTreeSet<String>>,
}
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        if self.bouncing.borrow().contains(&email.to) {
            return Err(MailError { recipient: email.to.clone(), message: "throttled".into() });
        }
        self.sent.borrow_mut().push(email.clone());
        Ok("id".into())
    }
}
impl Outbox {
    fn recipients(&self) -> Vec<String> {
        self.sent.borrow().iter().map(|e| e.to.clone()).collect()
    }
}

/// Records (body, delay) of every message queued.
#[derive(Default)]
struct Recorder(RefCell<Vec<(String, u32)>>);
impl MessageQueue for Recorder {
    async fn send_batch(&self, _: &str, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
        self.0.borrow_mut().extend(entries.iter().map(|e| (e.body.clone(), e.delay_seconds)));
        Ok(vec![])
    }
}

const RUN: &str = "run-7";

fn started() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T22:00:00Z").unwrap().to_utc()
}
/// 30 minutes after the start: before the deadline (60 minutes in these tests).
fn early() -> DateTime<Utc> {
    started() + chrono::Duration::minutes(30)
}
/// Two hours after the start: past the deadline.
fn late() -> DateTime<Utc> {
    started() + chrono::Duration::hours(2)
}

fn deps(clock: fn() -> DateTime<Utc>) -> NotifierDeps<Outbox, FakeLedger, Recorder> {
    let config = Config::from_yaml_str(
        "notifications:\n  sender: rekey@example.com\n  admin_recipients: [sec@example.com]\n  owner_tag_key: owner\n  digest_wait_minutes: 60\n",
        None,
    )
    .unwrap();
    NotifierDeps {
        renderer: Renderer::new(&config).unwrap(),
        config,
        mailer: Outbox::default(),
        ledger: FakeLedger::default(),
        queue: Recorder::default(),
        notifications_queue_url: "q".into(),
        clock,
    }
}

fn report(account_id: &str) -> AccountReport {
    let mut r = sample_report(EffectiveMode::Audit);
    r.run_id = RUN.into();
    r.account_id = account_id.into();
    r
}

/// A run of `accounts`, of which `reported` have recorded their reports.
async fn seed(deps: &NotifierDeps<Outbox, FakeLedger, Recorder>, accounts: &[&str], reported: &[&str]) {
    let run = RunRecord {
        run_id: RUN.into(),
        account_ids: accounts.iter().map(|a| a.to_string()).collect(),
        started_at: started(),
    };
    deps.ledger.open_run(&run).await.unwrap();
    for a in reported {
        deps.ledger.record_account(&report(a)).await.unwrap();
    }
}

fn event(messages: &[NotifierMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut r = SqsMessage::default();
            r.message_id = Some(format!("m{i}"));
            r.body = Some(serde_json::to_string(m).unwrap());
            r
        })
        .collect();
    event
}

fn complete() -> NotifierMessage {
    NotifierMessage::RunComplete { run_id: RUN.into() }
}
fn deadline_message() -> NotifierMessage {
    NotifierMessage::RunDeadline { run_id: RUN.into() }
}

#[tokio::test]
async fn a_complete_run_sends_one_digest_per_recipient_covering_every_account() {
    let deps = deps(early);
    seed(&deps, &["200000000001", "200000000002"], &["200000000001", "200000000002"]).await;
    let response = handle(event(&[complete()]), &deps).await;
    assert!(response.batch_item_failures.is_empty());
    // Both accounts have the same account email, and the same owners: one
    // email each, not one per account.
    assert_eq!(deps.mailer.recipients(), ["dev@example.com", "sec@example.com", "a@example.com", "b@example.com"]);
    let sent = deps.mailer.sent.borrow();
    let admin = &sent[1];
    assert!(admin.text.contains("200000000001") && admin.text.contains("200000000002"), "{}", admin.text);
    assert!(admin.subject.contains("in 2 account(s)"), "{}", admin.subject);
    // An owner sees only their users, in both accounts.
    let owner_b = &sent[3];
    assert!(owner_b.text.contains("bob") && !owner_b.text.contains("alice"), "{}", owner_b.text);
    assert_eq!(owner_b.text.matches("AKIABOBKEY0000000001").count(), 2);
}

#[tokio::test]
async fn a_redelivered_run_sends_only_the_digests_still_missing() {
    let deps = deps(early);
    seed(&deps, &["200000000001"], &["200000000001"]).await;
    deps.mailer.bouncing.borrow_mut().insert("sec@example.com".into());
    let response = handle(event(&[complete()]), &deps).await;
    assert_eq!(response.batch_item_failures.len(), 1, "the record is redelivered");
    assert_eq!(deps.mailer.recipients(), ["dev@example.com", "a@example.com", "b@example.com"]);

    deps.mailer.bouncing.borrow_mut().clear();
    let response = handle(event(&[complete()]), &deps).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        deps.mailer.recipients(),
        ["dev@example.com", "a@example.com", "b@example.com", "sec@example.com"],
        "only the admin's digest was sent again"
    );
}

#[tokio::test]
async fn a_deadline_before_its_time_waits_and_sends_nothing() {
    let deps = deps(early);
    seed(&deps, &["200000000001", "200000000002"], &["200000000001"]).await;
    let response = handle(event(&[deadline_message()]), &deps).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(deps.mailer.sent.borrow().is_empty());
    // Queued again for the 30 minutes left, in steps SQS allows (15 minutes).
    let queued = deps.queue.0.borrow().clone();
    assert_eq!(queued.len(), 1);
    assert_eq!(serde_json::from_str::<NotifierMessage>(&queued[0].0).unwrap(), deadline_message());
    assert_eq!(queued[0].1, 900);
    assert_eq!(deps.ledger.run_state(RUN).await.unwrap().unwrap().closed_by, None);
}

#[tokio::test]
async fn a_deadline_past_its_time_sends_what_is_there_and_names_the_missing_accounts() {
    let deps = deps(late);
    seed(&deps, &["200000000001", "200000000002"], &["200000000001"]).await;
    let response = handle(event(&[deadline_message()]), &deps).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(deps.mailer.recipients(), ["dev@example.com", "sec@example.com", "a@example.com", "b@example.com"]);
    let sent = deps.mailer.sent.borrow().clone();
    assert!(sent[1].text.contains("no result") && sent[1].text.contains("200000000002"), "{}", sent[1].text);
    assert!(!sent[0].text.contains("200000000002"), "only admins hear of missing accounts");
    assert_eq!(deps.ledger.run_state(RUN).await.unwrap().unwrap().closed_by, Some(Closer::Deadline));

    // The missing account now reports: the run is closed, so the ledger
    // refuses it (the rotation function then queues its own digest), and a
    // late run_complete sends nothing more.
    let late_account = deps.ledger.record_account(&report("200000000002")).await.unwrap();
    assert_eq!(late_account, crate::ledger::Recorded::RunNotOpen);
    handle(event(&[complete()]), &deps).await;
    assert_eq!(deps.mailer.sent.borrow().len(), 4);
}

#[tokio::test]
async fn a_deadline_after_completion_does_nothing() {
    let deps = deps(late);
    seed(&deps, &["200000000001"], &["200000000001"]).await;
    handle(event(&[complete()]), &deps).await;
    let before = deps.mailer.sent.borrow().len();
    assert!(before > 0);
    let response = handle(event(&[deadline_message()]), &deps).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(deps.mailer.sent.borrow().len(), before);
}

#[tokio::test]
async fn ready_digests_are_sent_as_is_and_malformed_records_redelivered() {
    let deps = deps(early);
    let digest = Digest {
        run_id: "by-hand".into(),
        recipient: "sec@example.com".into(),
        sections: vec![DigestSection { recipient_kind: RecipientKind::Admin, report: report("200000000001") }],
        missing_account_ids: vec![],
    };
    let mut event = event(&[NotifierMessage::Digest(digest)]);
    let mut garbage = SqsMessage::default();
    garbage.message_id = Some("bad".into());
    garbage.body = Some("[]".into());
    event.records.push(garbage);
    let response = handle(event, &deps).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["bad"]);
    assert_eq!(deps.mailer.recipients(), ["sec@example.com"]);
    assert_eq!(deps.mailer.sent.borrow()[0].from, "rekey@example.com");
}
