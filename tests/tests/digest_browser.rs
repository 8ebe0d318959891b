//! The admin digest in a real browser: headless Chromium (Debian's
//! `chromium`, installed by `scripts/install-tools browser`) renders the
//! built-in HTML at 600 px, the common mail width, to a PNG in the target
//! directory, and the DOM it dumps shows the summary and "needs a person"
//! before the detail and no raw backtick of a log message.

use chrono::{DateTime, Utc};
use rekey_config::Config;
use rekey_runtime::lifecycle::{ActionKind, Reason, Severity, UserStatus, Warning};
use rekey_runtime::messages::{Digest, DigestSection, RecipientKind};
use rekey_runtime::notify::Renderer;
use rekey_runtime::report::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn user(name: &str) -> UserReport {
    UserReport {
        user_name: name.into(),
        status: UserStatus::Managed,
        owner_email: None,
        secret_arn: None,
        actions: vec![],
        warnings: vec![],
        error: None,
        active_key_ages: vec![],
        exemption_expired: None,
    }
}

/// An account with a rotation, a warning, a user needing a person and a
/// failed user whose error was written for logs (backticks).
fn account(id: &str, name: &str) -> AccountReport {
    let mut deploy = user("ci-deploy");
    deploy.secret_arn =
        Some(format!("arn:aws:secretsmanager:us-east-1:{id}:secret:Account_{id}_User_ci-deploy_AccessKey-AbCdEf"));
    deploy.actions.push(ActionReport {
        access_key_id: "AKIAOLDKEY0000000001".into(),
        action: ActionKind::Rotate,
        reason: Reason::Expired,
        due: at("2026-11-20T00:00:00Z"),
        result: ActionResult::Done { new_access_key_id: Some("AKIANEWKEY0000000001".into()) },
    });
    deploy.active_key_ages = vec![95];
    let mut backup = user("backup-agent");
    backup.warnings.push(Warning {
        account_id: id.into(),
        user_name: "backup-agent".into(),
        access_key_id: "AKIABACKUP0000000001".into(),
        upcoming: Some(ActionKind::Rotate),
        reason: Reason::Expired,
        due: Some(at("2026-12-03T00:00:00Z")),
        severity: Severity::Warning,
        message: "key `AKIABACKUP0000000001` will be rotated on 2026-12-03".into(),
    });
    backup.active_key_ages = vec![83];
    let mut legacy = user("legacy-etl");
    legacy.status = UserStatus::NeedsManualAction {
        reason: "both keys are expired and active: deactivate the unused one by hand (`aws iam update-access-key`)"
            .into(),
    };
    legacy.active_key_ages = vec![140, 130];
    let mut broken = user("reporting");
    broken.error = Some("iam `ListAccessKeys` throttled for user `reporting`".into());
    let users = vec![backup, deploy, legacy, broken];
    let bands = AgeBands { limits: [83, 90, 100, 110], counts: [0; 5] }.recount(&users);
    AccountReport {
        run_id: "20261201T060000Z-demo".into(),
        account_id: id.into(),
        account_name: name.into(),
        account_email: None,
        mode: EffectiveMode::Enforce,
        status: AccountStatus::Succeeded,
        users,
        users_omitted: 0,
        key_ages: Some(bands),
    }
}

fn admin_digest() -> Digest {
    let sections = [("111111111111", "payments-prod"), ("222222222222", "data-platform")]
        .into_iter()
        .map(|(id, name)| DigestSection { recipient_kind: RecipientKind::Admin, report: account(id, name) })
        .collect();
    Digest {
        run_id: "20261201T060000Z-demo".into(),
        recipient: "security@example.com".into(),
        sections,
        missing_account_ids: vec!["333333333333".into()],
    }
}

/// Runs Chromium headless with the flags this machine needs (no network
/// but loopback: no background connections), each run in a fresh profile.
fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `scripts/install-tools browser` (Debian's chromium package)"
    );
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The text a reader sees: the DOM without tags (and without the head).
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body").map_or(dom, |(_, b)| b);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn admin_digest_reads_top_down_in_a_real_browser_at_600_px() {
    let config = Config::from_yaml_str(
        "mode: enforce\nnotifications:\n  sender: rekey@example.com\n  admin_recipients: [security@example.com]\n",
        None,
    )
    .unwrap();
    let email = Renderer::new(&config).unwrap().render(&admin_digest()).unwrap();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("digest-browser");
    std::fs::create_dir_all(&out_dir).unwrap();
    let page = out_dir.join("digest-admin.html");
    std::fs::write(&page, &email.html).unwrap();
    // The plain-text part beside it, as docs/emails.md shows it.
    std::fs::write(out_dir.join("digest-admin.txt"), &email.text).unwrap();
    let url = format!("file://{}", page.display());

    let profile = tempfile::tempdir().unwrap();
    let dom = String::from_utf8(chromium(profile.path(), &["--dump-dom", &url]).stdout).unwrap();
    let pos = |id: &str| dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the DOM:\n{dom}"));
    assert!(pos("headline") < pos("summary"), "the headline opens the digest");
    assert!(pos("summary") < pos("needs-a-person"), "summary before what needs a person");
    assert!(pos("needs-a-person") < pos("detail"), "what needs a person before the detail");
    let text = visible_text(&dom);
    assert!(!text.contains('`'), "a raw backtick is visible:\n{text}");
    assert!(text.contains("iam ListAccessKeys throttled"), "the log message is shown, as code:\n{text}");
    assert!(dom.contains("<code>ListAccessKeys</code>"), "code-like values are in <code>");
    assert!(text.contains("Needs a person (5)"), "{text}");

    let png = out_dir.join("digest-admin.png");
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    let shot = format!("--screenshot={}", png.display());
    chromium(profile.path(), &[&shot, "--window-size=600,1300", &url]);
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&bytes), (600, 1300));
    eprintln!("screenshot: {}", png.display());
}
