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
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

/// Records sent mail; fails for the addresses in `bouncing`. A slow outbox
/// moves the [`ticking`] clock by `seconds_per_send` on each send, yields to
/// other tasks mid-send when `yields`, and never answers send number
/// `hang_at` (0-based), like a call hung on its connection.
#[derive(Default)]
struct Outbox {
    sent: RefCell<Vec<Email>>,
    bouncing: RefCell<BTreeSet<String>>,
    seconds_per_send: Cell<i64>,
    yields: Cell<bool>,
    hang_at: Cell<Option<usize>>,
    attempts: Cell<usize>,
}
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let attempt = self.attempts.replace(self.attempts.get() + 1);
        if self.hang_at.get() == Some(attempt) {
            std::future::pending::<()>().await;
        }
        if self.yields.get() {
            tokio::task::yield_now().await;
        }
        advance(self.seconds_per_send.get());
        if self.bouncing.borrow().contains(&email.to) {
            return Err(MailError { recipient: email.to.clone(), message: "throttled".into() });
        }
        self.sent.borrow_mut().push(email.clone());
        Ok("id".into())
    }
}

thread_local! {
    /// The time [`ticking`] reads; tests run on one thread each.
    static NOW: Cell<DateTime<Utc>> = Cell::new(started());
}
/// A clock the slow outbox moves.
fn ticking() -> DateTime<Utc> {
    NOW.with(Cell::get)
}
fn advance(seconds: i64) {
    NOW.with(|now| now.set(now.get() + chrono::Duration::seconds(seconds)));
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
    deps_with_admins(clock, &["sec@example.com".to_string()])
}

fn deps_with_admins(clock: fn() -> DateTime<Utc>, admins: &[String]) -> NotifierDeps<Outbox, FakeLedger, Recorder> {
    let config = Config::from_yaml_str(
        &format!(
            "notifications:\n  sender: rekey@example.com\n  admin_recipients: [{}]\n  owner_tag_key: owner\n  digest_wait_minutes: 60\n",
            admins.join(", ")
        ),
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

/// An event of `message` delivered under SQS message id `id`.
fn delivery(id: &str, message: &NotifierMessage) -> SqsEvent {
    let mut event = event(std::slice::from_ref(message));
    event.records[0].message_id = Some(id.into());
    event
}

/// Every recipient got exactly one email; returns how many were sent.
fn one_each(outbox: &Outbox) -> usize {
    let all = outbox.recipients();
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "someone got two digests: {all:?}");
    all.len()
}

/// Issue 8, defect 5: two accounts that complete a run at once both see it
/// complete and both queue `run_complete` (and SQS may deliver one twice).
/// Handled at once, both found each digest unsent and both sent it.
#[tokio::test]
async fn two_run_complete_messages_at_once_send_one_digest_per_recipient() {
    let deps = deps(early);
    seed(&deps, &["200000000001"], &["200000000001"]).await;
    deps.mailer.yields.set(true);
    let (a, b) = tokio::join!(handle(delivery("a", &complete()), &deps), handle(delivery("b", &complete()), &deps));
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    assert_eq!(one_each(&deps.mailer), 4);
    // A third copy later finds the lease free and everything sent.
    assert!(handle(delivery("c", &complete()), &deps).await.batch_item_failures.is_empty());
    assert_eq!(one_each(&deps.mailer), 4);
    assert_eq!(deps.ledger.runs.borrow()[RUN].lease, None, "the lease is given up");
}

/// Issue 8, defect 5: a run's digests had one 120 s invocation, which 500
/// accounts' digests under SES throttling can exceed on every attempt. Now
/// sending stops short of the deadline and the same message is queued
/// again; each invocation continues with what is still missing.
#[tokio::test]
async fn a_slow_mailer_continues_in_new_invocations_and_nobody_gets_two() {
    let admins: Vec<String> = (0..10).map(|i| format!("admin-{i:02}@example.com")).collect();
    let deps = deps_with_admins(ticking, &admins);
    seed(&deps, &["200000000001"], &["200000000001"]).await;
    deps.mailer.seconds_per_send.set(30);
    let mut next = delivery("first", &complete());
    let mut invocations = 0;
    loop {
        invocations += 1;
        let limit = ticking() + chrono::Duration::seconds(100);
        let response = handle_until(next, &deps, Some(limit)).await;
        assert!(response.batch_item_failures.is_empty(), "progress was made: no redelivery needed");
        assert!(ticking() <= limit, "no send ran past the deadline");
        let queued = std::mem::take(&mut *deps.queue.0.borrow_mut());
        let Some((body, delay)) = queued.first() else { break };
        assert_eq!(queued.len(), 1);
        assert_eq!(serde_json::from_str::<NotifierMessage>(body).unwrap(), complete());
        assert_eq!(i64::from(*delay), SEND_MARGIN.num_seconds(), "after the lease ran out, in any case");
        next = delivery(&format!("continuation-{invocations}"), &complete());
    }
    // 13 recipients (the account, 10 admins, 2 owners), 3 per 100 s invocation.
    assert_eq!(one_each(&deps.mailer), 13);
    assert_eq!(invocations, 5);
}

#[tokio::test]
async fn an_invocation_without_time_for_one_digest_is_redelivered_by_sqs() {
    let deps = deps(ticking);
    seed(&deps, &["200000000001"], &["200000000001"]).await;
    // The deadline has all but passed (a short invocation keeps a quarter
    // of its time as the send margin, so "no time" means none at all).
    let limit = ticking() - chrono::Duration::seconds(1);
    let response = handle_until(delivery("m0", &complete()), &deps, Some(limit)).await;
    assert_eq!(response.batch_item_failures.len(), 1, "no progress: SQS counts the attempt");
    assert!(deps.queue.0.borrow().is_empty(), "no continuation without progress");
    assert!(deps.mailer.sent.borrow().is_empty());
    assert!(handle(delivery("m0", &complete()), &deps).await.batch_item_failures.is_empty());
    assert_eq!(one_each(&deps.mailer), 4);
}

/// An invocation that dies mid-run (Lambda's timeout, a hung call) keeps
/// the digests it sent marked; the duplicate message that arrives meanwhile
/// leaves the run to the lease holder, whose redelivery sends the rest.
#[tokio::test]
async fn a_killed_invocation_keeps_what_it_sent_and_its_redelivery_sends_the_rest() {
    let deps = deps(ticking);
    seed(&deps, &["200000000001"], &["200000000001"]).await;
    deps.mailer.hang_at.set(Some(2));
    let limit = ticking() + chrono::Duration::seconds(100);
    let killed = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        handle_until(delivery("m0", &complete()), &deps, Some(limit)),
    )
    .await;
    assert!(killed.is_err(), "the invocation hung on its third send");
    assert_eq!(deps.mailer.recipients(), ["dev@example.com", "sec@example.com"]);

    let duplicate = handle_until(delivery("m1", &complete()), &deps, Some(limit)).await;
    assert!(duplicate.batch_item_failures.is_empty());
    assert_eq!(deps.mailer.sent.borrow().len(), 2, "the lease holder sends, not the duplicate");

    let redelivery = handle_until(delivery("m0", &complete()), &deps, Some(limit)).await;
    assert!(redelivery.batch_item_failures.is_empty());
    assert_eq!(one_each(&deps.mailer), 4);
}
