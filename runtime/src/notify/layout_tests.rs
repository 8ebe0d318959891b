//! The digest's layout per audience at 1 and 60 accounts (insta snapshots of
//! the HTML and text parts), its order (summary, then what needs a person,
//! then the detail), the CSV attachment, and its size at 5,000 users
//! against SES's limit, including the split and the pointer past it.

use super::attachment::{ReportCsv, CSV_COLUMNS, MAX_PARTS, SES_MAX_MESSAGE_BYTES};
use super::tests::sample_report;
use super::*;
use crate::lifecycle::{ActionKind, Reason, Severity, UserStatus, Warning};
use crate::messages::{Digest, DigestSection, RecipientKind};
use crate::report::*;
use chrono::{DateTime, Utc};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn config() -> Config {
    Config::from_yaml_str(
        "mode: enforce\nnotifications:\n  sender: rekey@example.com\n  admin_recipients: [sec@example.com]\n  owner_tag_key: owner\n",
        None,
    )
    .unwrap()
}

/// The sample account (alice rotated, bob warned, carol exempt, dave needing
/// a person) as account number `i`, in enforce mode.
fn account(i: usize) -> AccountReport {
    let mut r = sample_report(EffectiveMode::Enforce);
    r.account_id = format!("2000000{i:05}");
    r.account_name = format!("team-{i:02}");
    r.account_email = Some(format!("team-{i:02}@example.com"));
    for u in &mut r.users {
        if let Some(arn) = &mut u.secret_arn {
            *arn = arn.replace("200000000001", &r.account_id);
        }
        for w in &mut u.warnings {
            w.account_id = r.account_id.clone();
        }
    }
    // A message written for logs, with backticks.
    r.users[3].error = Some("iam `ListAccessKeys` throttled for `dave`".into());
    r
}

/// A digest of `n` accounts for one audience (an owner sees alice and carol).
fn digest(n: usize, kind: RecipientKind) -> Digest {
    let sections = (1..=n)
        .map(|i| {
            let mut report = account(i);
            if kind == RecipientKind::Owner {
                report.users.retain(|u| u.owner_email.as_deref() == Some("a@example.com"));
                report.key_ages = report.key_ages.map(|b| b.recount(&report.users));
            }
            DigestSection { recipient_kind: kind, report }
        })
        .collect();
    let missing = if kind == RecipientKind::Admin { vec!["299999999999".to_string()] } else { vec![] };
    Digest {
        run_id: "20261201T060000Z-abc123".into(),
        recipient: "reader@example.com".into(),
        sections,
        missing_account_ids: missing,
    }
}

fn kind_label(kind: RecipientKind) -> &'static str {
    match kind {
        RecipientKind::Admin => "admin",
        RecipientKind::Account => "account",
        RecipientKind::Owner => "owner",
    }
}

#[test]
fn layouts_per_audience_at_1_and_60_accounts() {
    let renderer = Renderer::new(&config()).unwrap();
    for kind in [RecipientKind::Admin, RecipientKind::Account, RecipientKind::Owner] {
        for n in [1, 60] {
            let email = renderer.render(&digest(n, kind)).unwrap();
            let name = format!("{}_{n}_accounts", kind_label(kind));
            insta::assert_snapshot!(format!("{name}.html"), email.html);
            insta::assert_snapshot!(format!("{name}.txt"), email.text);
        }
    }
}

#[test]
fn summary_and_needs_a_person_come_before_the_detail_in_every_layout() {
    let renderer = Renderer::new(&config()).unwrap();
    for kind in [RecipientKind::Admin, RecipientKind::Account, RecipientKind::Owner] {
        for n in [1, 60] {
            let email = renderer.render(&digest(n, kind)).unwrap();
            let at =
                |needle: &str| email.html.find(needle).unwrap_or_else(|| panic!("{needle} missing ({kind:?}, {n})"));
            assert!(at("id=\"headline\"") < at("id=\"summary\""));
            assert!(at("id=\"summary\"") < at("id=\"needs-a-person\""));
            assert!(at("id=\"needs-a-person\"") < at("id=\"detail\""));
            let text_at = |needle: &str| email.text.find(needle).unwrap_or_else(|| panic!("{needle} missing"));
            assert!(text_at("SUMMARY") < text_at("NEEDS A PERSON"));
            assert!(
                text_at("NEEDS A PERSON") < text_at(if kind == RecipientKind::Owner { "YOUR KEYS" } else { "DETAIL" })
            );
            assert!(!email.html.contains('`'), "no Markdown in HTML ({kind:?}, {n})");
            assert_eq!(email.html.matches("get-secret-value").count(), 1, "one read command");
        }
    }
}

#[test]
fn past_the_inline_limit_the_detail_is_one_row_per_account() {
    let renderer = Renderer::new(&config()).unwrap();
    let small = renderer.context(&digest(20, RecipientKind::Account));
    assert!(small.detail_inline);
    let large = renderer.context(&digest(21, RecipientKind::Account));
    assert!(!large.detail_inline);
    assert_eq!(large.account_rows.len(), 21);
    let row = &large.account_rows[0];
    assert_eq!((row.users, row.rotated, row.warned, row.needs_person, row.exempt), (4, 1, 1, 2, 1));
    let email = renderer.render_context(&large).unwrap();
    assert!(!email.text.contains("Actions:"), "no per-key detail inline");
    assert!(email
        .text
        .contains("  - team-21 (200000000021): users 4, rotated 1, warned 1, needs a person 2, failed 1"));

    let limit = Config::from_yaml_str("notifications:\n  sender: rekey@example.com\n  inline_account_limit: 0\n", None)
        .unwrap();
    assert!(!Renderer::new(&limit).unwrap().context(&digest(1, RecipientKind::Account)).detail_inline);
}

#[test]
fn summary_counts_each_outcome_and_the_age_chart_counts_the_readers_keys() {
    let renderer = Renderer::new(&config()).unwrap();
    let ctx = renderer.context(&digest(3, RecipientKind::Admin));
    let s = ctx.summary;
    assert_eq!((s.rotated, s.warned, s.exempt, s.accounts_without_result, s.users), (3, 3, 3, 1, 12));
    // Per account: dave's manual action and his error; plus the missing account.
    assert_eq!(s.needs_person, 3 * 2 + 1);
    let kinds: Vec<&str> = ctx.needs_person.iter().map(|p| p.kind).collect();
    assert_eq!(&kinds[..3], ["manual", "failed", "manual"]);
    assert_eq!(kinds.last(), Some(&"no_result"));
    let counts: Vec<u32> = ctx.age_bands.iter().map(|b| b.count).collect();
    assert_eq!(counts, [0, 3, 6, 0, 6], "five keys per account: 80, 95, 100, 130, 200 days");
    assert_eq!(ctx.age_bands[1].label, "76-90 days (warning window)");
    assert_eq!(ctx.age_band_total, 15);

    let owner = renderer.context(&digest(1, RecipientKind::Owner));
    let counts: Vec<u32> = owner.age_bands.iter().map(|b| b.count).collect();
    assert_eq!(counts, [0, 0, 1, 0, 1], "alice's and carol's keys only");
    assert!(owner.headline.starts_with("Switch alice to the new key"), "{}", owner.headline);
}

/// A report row per key decision, parsed back with the csv crate.
fn parse(data: &[u8]) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_reader(data);
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), CSV_COLUMNS);
    reader.records().map(|r| r.unwrap()).collect()
}

#[test]
fn admin_digests_carry_the_full_report_as_csv() {
    let cfg = config();
    let renderer = Renderer::new(&cfg).unwrap();
    let d = digest(2, RecipientKind::Admin);
    let emails = compose::emails(&renderer, "rekey@example.com", &d, SES_MAX_MESSAGE_BYTES).unwrap();
    assert_eq!(emails.len(), 1);
    let [csv] = emails[0].attachments.as_slice() else { panic!("one attachment") };
    assert_eq!(csv.file_name, "rekey-20261201T060000Z-abc123.csv");
    let rows = parse(&csv.data);
    // Per account: alice's rotation, bob's warning, carol's exemption, dave's
    // manual action and error; then the account without a result.
    assert_eq!(rows.len(), 2 * 5 + 1);
    assert_eq!(&rows[0][4], "rotate");
    assert_eq!(&rows[0][7], "done");
    assert_eq!(&rows[0][8], "AKIANEWKEY0000000001");
    assert!(rows[0][9].starts_with("arn:aws:secretsmanager:"));
    assert_eq!(&rows[10][4], "no_result");
    assert!(emails[0].text.contains("The full report (11 rows, one per key decision) is attached as rekey-"));

    // An account contact's digest within the inline limit has none.
    let contact =
        compose::emails(&renderer, "rekey@example.com", &digest(2, RecipientKind::Account), SES_MAX_MESSAGE_BYTES)
            .unwrap();
    assert!(contact[0].attachments.is_empty());
    assert!(contact[0].text.contains("Actions:"));
}

#[test]
fn spreadsheet_formulas_in_names_are_defused() {
    let mut d = digest(1, RecipientKind::Admin);
    d.sections[0].report.users[0].user_name = "=HYPERLINK(\"http://x\")".into();
    let rows = parse(&ReportCsv::of(&d).bytes());
    assert_eq!(&rows[0][2], "'=HYPERLINK(\"http://x\")");
}

/// 500 accounts of 10 users, each user with a rotation, a warning and a
/// manual-action note: 5,000 users.
fn big_digest() -> Digest {
    let sections = (0..500)
        .map(|a| {
            let mut report = account(a);
            report.users = (0..10)
                .map(|u| {
                    let name = format!("service-user-with-a-long-name-{a:03}-{u:02}");
                    UserReport {
                        user_name: name.clone(),
                        status: UserStatus::NeedsManualAction { reason: "both keys are expired and active".into() },
                        owner_email: Some(format!("owner-{u}@example.com")),
                        secret_arn: Some(format!(
                            "arn:aws:secretsmanager:us-east-1:{}:secret:Account_{}_User_{name}_AccessKey-AbCdEf",
                            report.account_id, report.account_id
                        )),
                        actions: vec![ActionReport {
                            access_key_id: format!("AKIAOLD{a:05}{u:08}"),
                            action: ActionKind::Rotate,
                            reason: Reason::Expired,
                            due: at("2026-11-20T00:00:00Z"),
                            result: ActionResult::Done { new_access_key_id: Some(format!("AKIANEW{a:05}{u:08}")) },
                        }],
                        warnings: vec![Warning {
                            account_id: report.account_id.clone(),
                            user_name: name,
                            access_key_id: format!("AKIAOLD{a:05}{u:08}"),
                            upcoming: Some(ActionKind::Deactivate),
                            reason: Reason::ReplacementGraceOver,
                            due: Some(at("2026-12-01T00:00:00Z")),
                            severity: Severity::Warning,
                            message: "key `AKIA...` will be deactivated on 2026-12-01".into(),
                        }],
                        error: None,
                        active_key_ages: vec![95, 0],
                        exemption_expired: None,
                    }
                })
                .collect();
            DigestSection { recipient_kind: RecipientKind::Admin, report }
        })
        .collect();
    Digest { run_id: "run-big".into(), recipient: "sec@example.com".into(), sections, missing_account_ids: vec![] }
}

#[test]
fn five_thousand_users_fit_one_message_under_the_ses_limit() {
    let renderer = Renderer::new(&config()).unwrap();
    let d = big_digest();
    let emails = compose::emails(&renderer, "rekey@example.com", &d, SES_MAX_MESSAGE_BYTES).unwrap();
    assert_eq!(emails.len(), 1, "one message");
    let size = mime::message(&emails[0]).len();
    assert!(size < SES_MAX_MESSAGE_BYTES, "{size} bytes");
    assert_eq!(parse(&emails[0].attachments[0].data).len(), 5000 * 3, "a rotation, a warning and a note per user");
    assert!(!renderer.context(&d).detail_inline, "500 accounts: one row per account");
}

#[test]
fn past_the_limit_the_report_is_split_then_replaced_by_a_pointer() {
    let renderer = Renderer::new(&config()).unwrap();
    let d = big_digest();
    let whole =
        mime::message(&compose::emails(&renderer, "rekey@example.com", &d, SES_MAX_MESSAGE_BYTES).unwrap()[0]).len();

    // Room for about a third of the report per message: split in parts.
    let limit = whole / 2;
    let emails = compose::emails(&renderer, "rekey@example.com", &d, limit).unwrap();
    assert!((2..=MAX_PARTS).contains(&emails.len()), "{} parts", emails.len());
    let mut rows = 0;
    for (i, email) in emails.iter().enumerate() {
        assert!(mime::message(email).len() <= limit, "part {i} over the limit");
        let [csv] = email.attachments.as_slice() else { panic!("one attachment per part") };
        assert_eq!(csv.file_name, format!("rekey-run-big-part{}of{}.csv", i + 1, emails.len()));
        rows += parse(&csv.data).len();
    }
    assert_eq!(rows, 15_000, "every row in exactly one part");
    assert!(emails[0].text.contains(&format!("in {} parts, this message and {} more", emails.len(), emails.len() - 1)));
    assert!(emails[1].subject.ends_with(&format!("(report part 2 of {})", emails.len())));

    // Too small for a handful of parts: a pointer to the logs instead.
    let emails = compose::emails(&renderer, "rekey@example.com", &d, limit / 4).unwrap();
    assert_eq!(emails.len(), 1);
    assert!(emails[0].attachments.is_empty());
    assert!(emails[0].text.contains("too large to send by email: it is in the run summary in the logs (run run-big)"));
}
