//! The in-process flow over fakes: concurrency bound, ordering, audit forcing, emails.

use super::*;
use crate::inventory::ports::{AccountState, DirectoryError, OrgAccount};
use crate::notify::ports::{Email, MailError};
use crate::notify::tests::sample_report;
use std::cell::{Cell, RefCell};

struct Flat(Vec<OrgAccount>);
impl Directory for Flat {
    async fn list_accounts(&self) -> Result<Vec<OrgAccount>, DirectoryError> {
        Ok(self.0.clone())
    }
    async fn list_accounts_for_parent(&self, _: &str) -> Result<Vec<OrgAccount>, DirectoryError> {
        Ok(vec![])
    }
    async fn list_child_ous(&self, _: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(vec![])
    }
}

/// Account id, dry run, forced users and `now` of one rotate call.
type Seen = (String, bool, Vec<String>, DateTime<Utc>);

/// Records in-flight counts; reports in the mode the message asks for.
#[derive(Default)]
struct Counting {
    in_flight: Cell<usize>,
    max_in_flight: Cell<usize>,
    seen: RefCell<Vec<Seen>>,
}
impl AccountRotator for Counting {
    async fn rotate(&self, m: &AccountMessage, now: DateTime<Utc>) -> AccountReport {
        self.in_flight.set(self.in_flight.get() + 1);
        self.max_in_flight.set(self.max_in_flight.get().max(self.in_flight.get()));
        // Yield a few times so other accounts get to start.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.in_flight.set(self.in_flight.get() - 1);
        self.seen.borrow_mut().push((m.account_id.clone(), m.dry_run, m.force_rotate.clone(), now));
        let mode = if m.dry_run { EffectiveMode::Audit } else { EffectiveMode::Enforce };
        let mut r = sample_report(mode);
        r.run_id = m.run_id.clone();
        r.account_id = m.account_id.clone();
        r.account_email = m.account_email.clone();
        r
    }
}

#[derive(Default)]
struct Outbox(RefCell<Vec<Email>>);
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        if email.to.starts_with("200000000003") {
            return Err(MailError { recipient: email.to.clone(), message: "MessageRejected".into() });
        }
        self.0.borrow_mut().push(email.clone());
        Ok(format!("id-{}", self.0.borrow().len()))
    }
}

fn deps(n: usize) -> RunDeps<Flat, Counting, Outbox> {
    let accounts = (1..=n)
        .rev()
        .map(|i| {
            let id = format!("2000000000{i:02}");
            OrgAccount { email: Some(format!("{id}@example.com")), name: id.clone(), id, state: AccountState::Active }
        })
        .collect();
    RunDeps {
        directory: Some(Flat(accounts)),
        rotator: Counting::default(),
        mailer: Outbox::default(),
        deployment_account_id: "111111111111".into(),
    }
}

fn options() -> RunOptions {
    RunOptions {
        run_id: "run-1".into(),
        now: DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").unwrap().to_utc(),
        dry_run: false,
        force_rotate: vec!["alice".into()],
        account_ids: vec![],
        concurrency: 2,
        send_notifications: true,
    }
}

fn config(extra: &str) -> Config {
    Config::from_yaml_str(
        &format!("mode: enforce\norganization:\n  management_account_id: '111111111111'\nnotifications:\n  sender: rekey@example.com\n{extra}"),
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn accounts_run_with_bounded_concurrency_sorted_by_id() {
    let deps = deps(5);
    let out = run(&config(""), &deps, &options()).await.unwrap();
    assert_eq!(deps.rotator.max_in_flight.get(), 2);
    let ids: Vec<&str> = out.report.accounts.iter().map(|a| a.account_id.as_str()).collect();
    assert_eq!(ids, ["200000000001", "200000000002", "200000000003", "200000000004", "200000000005"]);
    assert_eq!(out.report.mode, EffectiveMode::Enforce);
    let seen = deps.rotator.seen.borrow();
    assert!(seen.iter().all(|(_, dry, force, now)| !dry && force == &["alice"] && *now == options().now));
}

#[tokio::test]
async fn each_account_email_gets_its_digest_and_a_failed_send_fails_the_run() {
    let deps = deps(3);
    let out = run(&config(""), &deps, &options()).await.unwrap();
    assert_eq!(out.emails.len(), 3);
    assert_eq!(deps.mailer.0.borrow().len(), 2);
    let failed: Vec<_> = out.emails.iter().filter(|e| e.error.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].recipient, "200000000003@example.com");
    assert!(out.report.all_succeeded());
    assert!(!out.all_succeeded());
}

#[tokio::test]
async fn an_admin_gets_one_digest_for_the_whole_run() {
    let deps = deps(3);
    let out = run(&config("  admin_recipients: [sec@example.com]\n"), &deps, &options()).await.unwrap();
    let admin: Vec<_> = out.emails.iter().filter(|e| e.recipient == "sec@example.com").collect();
    assert_eq!(admin.len(), 1);
    assert_eq!(admin[0].account_ids, ["200000000001", "200000000002", "200000000003"]);
}

#[tokio::test]
async fn plan_style_run_forces_audit_and_sends_nothing() {
    let deps = deps(2);
    let opts = RunOptions { dry_run: true, send_notifications: false, ..options() };
    let out = run(&config(""), &deps, &opts).await.unwrap();
    assert_eq!(out.report.mode, EffectiveMode::Audit);
    assert!(deps.rotator.seen.borrow().iter().all(|s| s.1));
    assert!(out.emails.is_empty());
    assert!(deps.mailer.0.borrow().is_empty());
}

#[tokio::test]
async fn broken_template_stops_the_run_before_any_account() {
    let deps = deps(2);
    let err = run(&config("  subject: '{{ oops'\n"), &deps, &options()).await.unwrap_err();
    assert!(matches!(err, RunError::Template(_)), "{err}");
    assert!(deps.rotator.seen.borrow().is_empty());
}

#[tokio::test]
async fn account_filter_reaches_the_inventory() {
    let deps = deps(3);
    let opts = RunOptions { account_ids: vec!["200000000002".into()], ..options() };
    let out = run(&config(""), &deps, &opts).await.unwrap();
    assert_eq!(out.report.accounts.len(), 1);
    let err = run(&config(""), &deps, &RunOptions { account_ids: vec!["999999999999".into()], ..options() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`999999999999`"));
}
