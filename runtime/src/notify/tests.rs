//! Digest recipients, rendering, escaping, and sending with an in-memory outbox.

use super::ports::*;
use super::*;
use crate::lifecycle::{ActionKind, Reason, Severity, UserStatus, Warning};
use crate::messages::{Digest, DigestSection, RecipientKind};
use crate::report::*;
use chrono::{DateTime, Utc};
use std::cell::RefCell;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn user(name: &str, owner: Option<&str>) -> UserReport {
    UserReport {
        user_name: name.into(),
        status: UserStatus::Managed,
        owner_email: owner.map(str::to_string),
        secret_arn: None,
        actions: vec![],
        warnings: vec![],
        error: None,
        active_key_ages: vec![],
        exemption_expired: None,
    }
}

/// An account with: alice (owned by a@example.com, rotated), bob (owned by
/// b@example.com, warned), carol (exempt), dave (needs manual action).
pub(crate) fn sample_report(mode: EffectiveMode) -> AccountReport {
    let result = match mode {
        EffectiveMode::Audit => ActionResult::Planned,
        EffectiveMode::Enforce => ActionResult::Done { new_access_key_id: Some("AKIANEWKEY0000000001".into()) },
    };
    let mut alice = user("alice", Some("a@example.com"));
    alice.secret_arn = Some(
        "arn:aws:secretsmanager:us-east-1:200000000001:secret:Account_200000000001_User_alice_AccessKey-AbCdEf".into(),
    );
    alice.actions.push(ActionReport {
        access_key_id: "AKIAOLDKEY0000000001".into(),
        action: ActionKind::Rotate,
        reason: Reason::Expired,
        due: at("2026-11-20T00:00:00Z"),
        result,
    });
    let mut bob = user("bob", Some("b@example.com"));
    bob.warnings.push(Warning {
        account_id: "200000000001".into(),
        user_name: "bob".into(),
        access_key_id: "AKIABOBKEY0000000001".into(),
        upcoming: Some(ActionKind::Rotate),
        reason: Reason::Expired,
        due: Some(at("2026-12-03T00:00:00Z")),
        severity: Severity::Warning,
        message: "key will be rotated on 2026-12-03".into(),
    });
    let mut carol = user("carol", Some("a@example.com"));
    carol.status = UserStatus::Exempt { reason: "member of group rekey-exempt".into(), until: None };
    let mut dave = user("dave", None);
    dave.status = UserStatus::NeedsManualAction { reason: "both keys are expired and active".into() };
    for (u, ages) in
        [(&mut alice, vec![95]), (&mut bob, vec![80]), (&mut carol, vec![200]), (&mut dave, vec![130, 100])]
    {
        u.active_key_ages = ages;
    }
    let bands = AgeBands { limits: [76, 90, 104, 120], counts: [0; 5] }.recount([&alice, &bob, &carol, &dave]);
    AccountReport {
        run_id: "run-1".into(),
        account_id: "200000000001".into(),
        account_name: "dev".into(),
        account_email: Some("dev@example.com".into()),
        mode,
        status: AccountStatus::Succeeded,
        users: vec![alice, bob, carol, dave],
        users_omitted: 0,
        key_ages: Some(bands),
    }
}

fn config(notifications: &str) -> Config {
    Config::from_yaml_str(&format!("notifications:\n{notifications}"), None).unwrap()
}

const FULL: &str = "  sender: rekey@example.com\n  admin_recipients: [sec@example.com]\n  owner_tag_key: owner\n";

/// The digests of a run of one account.
fn one(config: &Config, report: &AccountReport) -> Vec<Digest> {
    digests(config, &report.run_id, std::slice::from_ref(report), &[])
}

/// (recipient, kind, users) of single-account digests.
fn recipients(digests: &[Digest]) -> Vec<(String, RecipientKind, Vec<String>)> {
    digests
        .iter()
        .map(|d| {
            assert_eq!(d.sections.len(), 1);
            let s = &d.sections[0];
            (d.recipient.clone(), s.recipient_kind, s.report.users.iter().map(|u| u.user_name.clone()).collect())
        })
        .collect()
}

#[test]
fn account_admins_and_owners_each_get_one_digest_owners_only_their_users() {
    let got = recipients(&one(&config(FULL), &sample_report(EffectiveMode::Audit)));
    let all = vec!["alice".to_string(), "bob".into(), "carol".into(), "dave".into()];
    assert_eq!(
        got,
        vec![
            ("dev@example.com".to_string(), RecipientKind::Account, all.clone()),
            ("sec@example.com".into(), RecipientKind::Admin, all),
            ("a@example.com".into(), RecipientKind::Owner, vec!["alice".into(), "carol".into()]),
            ("b@example.com".into(), RecipientKind::Owner, vec!["bob".into()]),
        ]
    );
}

#[test]
fn no_sender_means_no_email() {
    let cfg = config("  admin_recipients: [sec@example.com]\n");
    assert!(one(&cfg, &sample_report(EffectiveMode::Audit)).is_empty());
}

#[test]
fn nothing_to_report_is_skipped_unless_asked() {
    let mut quiet = sample_report(EffectiveMode::Audit);
    quiet.users.retain(|u| u.user_name == "carol"); // exempt only: no news
    assert!(!has_news(&quiet));
    assert!(one(&config(FULL), &quiet).is_empty());
    let always = format!("{FULL}  send_when_nothing_to_report: true\n");
    let got = recipients(&one(&config(&always), &quiet));
    assert_eq!(
        got.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["dev@example.com", "sec@example.com", "a@example.com"]
    );
}

#[test]
fn owner_with_nothing_to_report_gets_nothing_and_duplicates_collapse() {
    let mut report = sample_report(EffectiveMode::Audit);
    report.users[1].warnings.clear(); // bob: nothing left
    report.users[0].owner_email = Some("SEC@example.com".into()); // alice's owner is an admin already
    let cfg = config(
        "  sender: rekey@example.com\n  admin_recipients: [sec@example.com, dev@example.com]\n  owner_tag_key: owner\n",
    );
    let got = recipients(&one(&cfg, &report));
    assert_eq!(
        got.iter().map(|r| (r.0.as_str(), r.1)).collect::<Vec<_>>(),
        [("dev@example.com", RecipientKind::Account), ("sec@example.com", RecipientKind::Admin)]
    );
}

#[test]
fn account_email_can_be_turned_off_and_bad_owner_tags_are_ignored() {
    let mut report = sample_report(EffectiveMode::Audit);
    report.users[0].owner_email = Some("not an email\r\nBcc: x@evil.example".into());
    let cfg = config("  sender: rekey@example.com\n  notify_account_email: false\n  owner_tag_key: owner\n");
    let got = recipients(&one(&cfg, &report));
    assert_eq!(got, vec![("b@example.com".to_string(), RecipientKind::Owner, vec!["bob".to_string()])]);
}

#[test]
fn not_enrolled_accounts_send_nothing() {
    let mut report = sample_report(EffectiveMode::Audit);
    report.status = AccountStatus::NotEnrolled { reason: "role `rekey-member` not found".into() };
    assert!(one(&config(FULL), &report).is_empty());
}

fn message(report: AccountReport, kind: RecipientKind) -> Digest {
    Digest {
        run_id: report.run_id.clone(),
        recipient: "dev@example.com".into(),
        sections: vec![DigestSection { recipient_kind: kind, report }],
        missing_account_ids: vec![],
    }
}

#[test]
fn audit_email_says_nothing_changed_and_lists_everything() {
    let renderer = Renderer::new(&config(FULL)).unwrap();
    let email = renderer.render(&message(sample_report(EffectiveMode::Audit), RecipientKind::Account)).unwrap();
    assert_eq!(email.subject, "[rekey] IAM access keys (audit): 2 item(s) in 1 account(s)");
    for part in [&email.html, &email.text] {
        assert!(part.contains("nothing was changed"), "{part}");
        assert!(part.contains("AKIAOLDKEY0000000001"));
        assert!(part.contains("2026-11-20"), "action due date");
        assert!(part.contains("2026-12-03"), "warning due date");
        assert!(part.contains("member of group rekey-exempt"), "exempt user listed");
        assert!(part.contains("both keys are expired and active"), "manual action listed");
        // One command with a placeholder, then the ARNs.
        assert!(part.contains(
            "aws secretsmanager get-secret-value --secret-id SECRET_ARN --region us-east-1 --query SecretString --output text"
        ));
        assert!(part.contains(
            "arn:aws:secretsmanager:us-east-1:200000000001:secret:Account_200000000001_User_alice_AccessKey-AbCdEf"
        ));
        assert_eq!(part.matches("get-secret-value").count(), 1, "one command, not one per secret");
        assert!(part.contains("planned"));
    }
}

#[test]
fn enforce_email_shows_results() {
    let renderer = Renderer::new(&config(FULL)).unwrap();
    let email = renderer.render(&message(sample_report(EffectiveMode::Enforce), RecipientKind::Owner)).unwrap();
    assert!(email.subject.contains("(enforce)"));
    assert!(!email.text.contains("nothing was changed"));
    assert!(email.text.contains("done (new key AKIANEWKEY0000000001)"), "{}", email.text);
    assert!(email.text.contains("you own the IAM users"));
    // The owner's first line says what to do.
    assert!(email.text.starts_with("Action needed now: 1 item(s) need you (dave)"), "{}", email.text);
}

#[test]
fn html_part_escapes_user_controlled_text_and_text_part_keeps_it_plain() {
    let mut report = sample_report(EffectiveMode::Audit);
    report.users[0].user_name = "<script>alert(1)</script>".into();
    report.account_name = "a&b <i>".into();
    let renderer = Renderer::new(&config(FULL)).unwrap();
    let email = renderer.render(&message(report, RecipientKind::Account)).unwrap();
    assert!(!email.html.contains("<script>"), "{}", email.html);
    assert!(email.html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "{}", email.html);
    assert!(email.html.contains("a&amp;b &lt;i&gt;"));
    assert!(email.text.contains("<script>alert(1)</script>"));
}

#[test]
fn subject_is_a_template_and_one_line() {
    let cfg = config(&format!(
        "{FULL}  subject: \"{{{{ account_name }}}}\\nBcc: x@evil.example {{{{ mode | upper }}}} {{{{ action_count }}}}\"\n"
    ));
    let renderer = Renderer::new(&cfg).unwrap();
    let email = renderer.render(&message(sample_report(EffectiveMode::Audit), RecipientKind::Admin)).unwrap();
    assert_eq!(email.subject, "dev Bcc: x@evil.example AUDIT 2");
}

#[test]
fn broken_template_is_reported_by_name() {
    let cfg = config(&format!("{FULL}  subject: \"{{{{ account_id \"\n"));
    let err = Renderer::new(&cfg).unwrap_err();
    assert_eq!(err.template, "subject.txt");
    assert!(err.to_string().starts_with("email template `subject.txt`: "));
}

#[derive(Default)]
struct Outbox(RefCell<Vec<Email>>, bool);

impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        if self.1 {
            return Err(MailError { recipient: email.to.clone(), message: "throttled".into() });
        }
        self.0.borrow_mut().push(email.clone());
        Ok(format!("msg-{}", self.0.borrow().len()))
    }
}

#[tokio::test]
async fn send_digest_uses_the_sender_and_never_a_secret() {
    let cfg = config(FULL);
    let renderer = Renderer::new(&cfg).unwrap();
    let outbox = Outbox::default();
    for m in one(&cfg, &sample_report(EffectiveMode::Enforce)) {
        send_digest(&cfg, &renderer, &outbox, &m).await.unwrap();
    }
    {
        let sent = outbox.0.borrow();
        assert_eq!(sent.len(), 4);
        for email in sent.iter() {
            assert_eq!(email.from, "rekey@example.com");
            for part in [&email.subject, &email.html, &email.text] {
                assert!(!part.contains("SecretAccessKey"), "{part}");
            }
        }
    }
    let failing = Outbox(RefCell::default(), true);
    let m = &one(&cfg, &sample_report(EffectiveMode::Enforce))[0];
    let err = send_digest(&cfg, &renderer, &failing, m).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.to_string(), "cannot send email to `dev@example.com`: throttled");
}

#[test]
fn overrides_replace_builtin_templates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("h.html"), "<p>{{ account_name }}</p>").unwrap();
    std::fs::write(dir.join("t.txt"), "T {{ account_name }}").unwrap();
    let path = dir.join("rekey.yaml");
    std::fs::write(&path, format!("notifications:\n{FULL}  html_template: h.html\n  text_template: t.txt\n")).unwrap();
    let cfg = Config::load(&path).unwrap();
    let mut report = sample_report(EffectiveMode::Audit);
    report.account_name = "<b>".into();
    let email = Renderer::new(&cfg).unwrap().render(&message(report, RecipientKind::Account)).unwrap();
    assert_eq!(email.html, "<p>&lt;b&gt;</p>");
    assert_eq!(email.text, "T <b>");
}

#[test]
fn one_digest_per_recipient_across_accounts_and_admins_hear_of_missing_accounts() {
    let mut second = sample_report(EffectiveMode::Audit);
    second.account_id = "200000000002".into();
    second.account_name = "prod".into();
    second.account_email = Some("prod@example.com".into());
    second.users.retain(|u| u.user_name == "bob");
    let missing = vec!["200000000003".to_string()];
    // Given out of order: digests list accounts by id.
    let got = digests(&config(FULL), "run-1", &[second, sample_report(EffectiveMode::Audit)], &missing);
    let summary: Vec<(&str, Vec<&str>, usize)> = got
        .iter()
        .map(|d| {
            let accounts = d.sections.iter().map(|s| s.report.account_id.as_str()).collect();
            (d.recipient.as_str(), accounts, d.missing_account_ids.len())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("dev@example.com", vec!["200000000001"], 0),
            ("sec@example.com", vec!["200000000001", "200000000002"], 1),
            ("a@example.com", vec!["200000000001"], 0),
            ("b@example.com", vec!["200000000001", "200000000002"], 0),
            ("prod@example.com", vec!["200000000002"], 0),
        ]
    );
    let email = Renderer::new(&config(FULL)).unwrap().render(&got[1]).unwrap();
    assert_eq!(email.subject, "[rekey] IAM access keys (audit): 4 item(s) in 2 account(s)");
    assert!(
        email.text.contains("bob in prod") && email.text.contains("  - (200000000003): no result"),
        "{}",
        email.text
    );
}

#[test]
fn a_failed_account_is_news_for_the_account_and_admins() {
    let mut failed = sample_report(EffectiveMode::Audit);
    failed.users.clear();
    failed.status = AccountStatus::Failed { error: "sts `AssumeRole` denied".into() };
    let got = one(&config(FULL), &failed);
    assert_eq!(got.iter().map(|d| d.recipient.as_str()).collect::<Vec<_>>(), ["dev@example.com", "sec@example.com"]);
    let email = Renderer::new(&config(FULL)).unwrap().render(&got[1]).unwrap();
    assert!(
        email.text.contains("  - dev (200000000001): could not be audited: sts AssumeRole denied"),
        "{}",
        email.text
    );
    assert!(email.html.contains("could not be audited: sts <code>AssumeRole</code> denied"), "{}", email.html);
}

#[test]
fn reports_are_fitted_to_a_size_limit_keeping_the_users_with_news() {
    let mut big = sample_report(EffectiveMode::Audit);
    for i in 0..500 {
        big.users.push(user(&format!("quiet-{i:03}"), None));
    }
    let full = serde_json::to_vec(&big).unwrap().len();
    let fitted = big.fitted(full / 4);
    assert!(serde_json::to_vec(&fitted).unwrap().len() <= full / 4);
    assert_eq!(fitted.users.len() + fitted.users_omitted, big.users.len());
    // The quiet users went first; the ones with news are kept.
    assert!(fitted.users.iter().any(|u| u.user_name == "alice"));
    let tiny = big.fitted(600);
    assert!(serde_json::to_vec(&tiny).unwrap().len() <= 600);
    assert_eq!(tiny.users.len() + tiny.users_omitted, big.users.len());
    assert_eq!(big.fitted(usize::MAX), big, "a report that fits is unchanged");
}
