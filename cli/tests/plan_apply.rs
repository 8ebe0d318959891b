//! Plan, then apply exactly the reviewed plan, with the real binary on the
//! shared moto server: `rekey plan --out` writes the plan file;
//! `rekey rotate --plan` runs the reviewed actions whose keys are unchanged,
//! refuses and reports those of users whose keys changed in between (rotated
//! by hand, deleted, a key added), runs nothing that was not reviewed; a
//! changed config, a stale or an edited plan file is refused whole (exit 6).

use aws_credential_types::provider::ProvideCredentials;
use rekey_e2e::moto::{test_account_id, Moto};
use rekey_runtime::plan_file::PlanFile;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs the binary as the management account; returns (exit code, stdout, stderr).
fn rekey(env: &[(String, String)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run rekey");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

async fn key_ids(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    let out = iam.list_access_keys().user_name(user).send().await.unwrap();
    let mut ids: Vec<String> =
        out.access_key_metadata().iter().map(|k| k.access_key_id().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// `(user, action, why)` of each entry of `list` in the apply report.
fn entries(report: &Value, list: &str) -> Vec<(String, String, String)> {
    let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut out: Vec<_> = report["plan"][list]
        .as_array()
        .unwrap_or_else(|| panic!("no `plan.{list}` in {report}"))
        .iter()
        .map(|e| (field(e, "user_name"), field(e, "action"), field(e, "why")))
        .collect();
    out.sort();
    out
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_runs_exactly_the_reviewed_plan_and_refuses_what_changed() {
    let moto = Moto::get();
    let name = "cli-plan-apply";
    let mgmt = test_account_id(name);
    let sdk = moto.account_config(&mgmt).await;
    let member = moto.create_organization(&mgmt, name, 1).await.remove(0);
    let iam = aws_sdk_iam::Client::new(&moto.account_config(&member).await);
    // Five users with a 95-day key each (due for rotation), and erin's key is fresh.
    for (user, days) in [("alice", 95), ("bob", 95), ("carol", 95), ("dave", 95), ("erin", 10)] {
        iam.create_user().user_name(user).send().await.expect("user");
        let key = iam.create_access_key().user_name(user).send().await.expect("key");
        moto.backdate_key(&member, key.access_key().unwrap().access_key_id(), days);
    }
    let sender = "rekey-plan-apply@example.com";
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity(sender).send().await.expect("identity");
    let creds = sdk.credentials_provider().unwrap().provide_credentials().await.expect("credentials");
    let env: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL".into(), moto.endpoint_url()),
        ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key().to_string()),
        ("AWS_SESSION_TOKEN".into(), creds.session_token().unwrap_or_default().to_string()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_CONFIG_FILE".into(), "/nonexistent/rekey-test-config".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/nonexistent/rekey-test-credentials".into()),
    ];
    let yaml = format!(
        "mode: enforce\norganization:\n  management_account_id: '{mgmt}'\nnotifications:\n  sender: {sender}\n  \
         admin_recipients: [admin-plan-apply@example.com]\n  notify_account_email: false\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "rekey.yaml", &yaml);
    let plan_path = dir.path().join("plan.json").to_str().unwrap().to_string();

    // 1. Plan: the file holds the four due users' rotations with their keys.
    let (code, stdout, stderr) = rekey(&env, &["plan", "--config", &config, "--out", &plan_path]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(stderr.contains("4 action(s) to review"), "{stderr}");
    let text = std::fs::read_to_string(&plan_path).unwrap();
    let file = PlanFile::read(&text).expect("a valid plan file");
    let users: Vec<&str> = file.plan.accounts[0].users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(users, ["alice", "bob", "carol", "dave"]);
    let alice_key = key_ids(&iam, "alice").await;
    assert_eq!(file.plan.accounts[0].users[0].keys[0].access_key_id, alice_key[0], "the plan records the key");

    // 2. Between plan and apply: bob's key rotated by hand, carol's deleted,
    //    a key added for dave, and erin's key became due (not reviewed).
    let bob_old = key_ids(&iam, "bob").await.remove(0);
    iam.create_access_key().user_name("bob").send().await.expect("new key");
    iam.delete_access_key().user_name("bob").access_key_id(&bob_old).send().await.expect("delete");
    let carol_old = key_ids(&iam, "carol").await.remove(0);
    iam.delete_access_key().user_name("carol").access_key_id(&carol_old).send().await.expect("delete");
    iam.create_access_key().user_name("dave").send().await.expect("second key");
    moto.backdate_key(&member, &key_ids(&iam, "erin").await[0], 90);
    let untouched: Vec<Vec<String>> = futures_keys(&iam, &["bob", "carol", "dave", "erin"]).await;

    // 3. Apply: only alice is rotated; the rest is refused or withheld, and reported.
    let (code, stdout, stderr) =
        rekey(&env, &["rotate", "--config", &config, "--plan", &plan_path, "--output", "json"]);
    assert_eq!(code, 1, "refusals make the apply exit 1\n{stderr}\n{stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(entries(&report, "ran"), [("alice".into(), "rotate".into(), String::new())]);
    assert_eq!(report["plan"]["ran"][0]["result"], "done", "{report}");
    assert_eq!(
        entries(&report, "refused"),
        ["bob", "carol", "dave"].map(|u| (u.to_string(), "rotate".to_string(), "keys_changed".to_string()))
    );
    assert_eq!(entries(&report, "withheld"), [("erin".into(), "rotate".into(), "not_in_plan".into())]);
    let refused = report["plan"]["refused"].as_array().unwrap();
    let changes =
        |user: &str| refused.iter().find(|r| r["user_name"] == user).unwrap()["changes"].as_array().unwrap().clone();
    assert_eq!(changes("carol"), [Value::from(format!("`{carol_old}` deleted"))], "{refused:?}");
    // Keys with nothing due are read from the credential report, without
    // ids: a new key is told by its creation date.
    let added = |user: &str| changes(user).iter().any(|c| c.as_str().unwrap().starts_with("a key created "));
    assert!(added("dave") && added("bob"), "{refused:?}");
    assert_eq!(changes("dave").len(), 1, "dave's planned key is still there: {refused:?}");
    assert!(changes("bob").contains(&Value::from(format!("`{bob_old}` deleted or changed"))), "{refused:?}");
    assert_eq!(key_ids(&iam, "alice").await.len(), 2, "alice's replacement key was created");
    assert_eq!(futures_keys(&iam, &["bob", "carol", "dave", "erin"]).await, untouched, "nothing else changed");

    // The human output says the same.
    let (_, text_out, _) = rekey(&env, &["rotate", "--config", &config, "--plan", &plan_path, "--dry-run"]);
    assert!(text_out.contains("REFUSED") && text_out.contains("the user's keys changed since the plan"), "{text_out}");

    // 4. A changed config refuses the whole plan: exit 6, nothing runs.
    let changed = write(dir.path(), "changed.yaml", &format!("{yaml}lifecycle:\n  warn_before_days: 8\n"));
    let (code, _, stderr) = rekey(&env, &["rotate", "--config", &changed, "--plan", &plan_path]);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("the config changed since the plan"), "{stderr}");

    // 5. So does a stale plan (re-sealed 25 hours older), and an edited one.
    let mut stale = PlanFile::read(&text).unwrap();
    stale.plan.created_at -= chrono::Duration::hours(25);
    let stale = write(dir.path(), "stale.json", &PlanFile::seal(stale.plan).to_json());
    let (code, _, stderr) = rekey(&env, &["rotate", "--config", &config, "--plan", &stale]);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("more than `plan.max_age_hours` (24)"), "{stderr}");
    let edited = write(dir.path(), "edited.json", &text.replacen("\"rotate\"", "\"delete\"", 1));
    let (code, _, stderr) = rekey(&env, &["rotate", "--config", &config, "--plan", &edited]);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("checksum does not match"), "{stderr}");
    assert_eq!(key_ids(&iam, "alice").await.len(), 2, "refused plans changed nothing");
}

/// Each user's key ids, in order.
async fn futures_keys(iam: &aws_sdk_iam::Client, users: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for user in users {
        out.push(key_ids(iam, user).await);
    }
    out
}
