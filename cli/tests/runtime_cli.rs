//! The real `rekey` binary's `plan` and `rotate` against a seeded
//! 3-account organization on the shared moto server: the plan lists the
//! actions and changes nothing; rotate (enforce) rotates, its JSON report
//! matches IAM and Secrets Manager, the digests are in moto's mailbox with
//! no secret; documented exit codes.

use aws_credential_types::provider::ProvideCredentials;
use rekey_e2e::moto::{test_account_id, Moto};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Users seeded in every member account.
/// - alice: one key, 95 days old (expired: rotate), owned by `owner`;
/// - bob: one key, 10 days old (nothing to do);
/// - carol: a 200-day-old key, member of the exemption group (exempt);
/// - dave: two active keys, 120 and 95 days old (needs manual action).
async fn seed_account(moto: &Moto, account_id: &str, owner: &str) {
    let iam = aws_sdk_iam::Client::new(&moto.account_config(account_id).await);
    iam.create_group().group_name("rekey-exempt").send().await.expect("group");
    for (user, ages) in [("alice", vec![95]), ("bob", vec![10]), ("carol", vec![200]), ("dave", vec![120, 95])] {
        iam.create_user().user_name(user).send().await.expect("user");
        for days in ages {
            let key = iam.create_access_key().user_name(user).send().await.expect("key");
            moto.backdate_key(account_id, key.access_key().unwrap().access_key_id(), days);
        }
    }
    iam.tag_user()
        .user_name("alice")
        .tags(aws_sdk_iam::types::Tag::builder().key("owner").value(owner).build().unwrap())
        .send()
        .await
        .expect("tag");
    iam.add_user_to_group().group_name("rekey-exempt").user_name("carol").send().await.expect("exempt carol");
}

struct Org {
    mgmt: String,
    members: Vec<String>,
    env: Vec<(String, String)>,
}

/// An organization with 3 member accounts, each seeded, and SES set up in the management account.
async fn seed_org(moto: &Moto, name: &str, owner: &str, sender: &str) -> Org {
    let mgmt = test_account_id(name);
    let sdk = moto.account_config(&mgmt).await;
    let members = moto.create_organization(&mgmt, name, 3).await;
    for m in &members {
        seed_account(moto, m, owner).await;
    }
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity(sender).send().await.expect("identity");
    // The binary acts as the management account: assumed-role credentials map to it in moto.
    let creds = sdk.credentials_provider().unwrap().provide_credentials().await.expect("credentials");
    let env = vec![
        ("AWS_ENDPOINT_URL".to_string(), moto.endpoint_url()),
        ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key().to_string()),
        ("AWS_SESSION_TOKEN".into(), creds.session_token().unwrap_or_default().to_string()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_CONFIG_FILE".into(), "/nonexistent/rekey-test-config".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/nonexistent/rekey-test-credentials".into()),
    ];
    Org { mgmt, members, env }
}

fn write_config(dir: &Path, org: &Org, sender: &str, admin: &str) -> std::path::PathBuf {
    let path = dir.join("rekey.yaml");
    std::fs::write(
        &path,
        format!(
            "mode: enforce\norganization:\n  management_account_id: '{}'\nnotifications:\n  sender: {sender}\n  \
             admin_recipients: [{admin}]\n  notify_account_email: false\n  owner_tag_key: owner\n",
            org.mgmt
        ),
    )
    .unwrap();
    path
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn rekey(org: &Org, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .envs(org.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run rekey");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn user<'a>(account: &'a Value, name: &str) -> &'a Value {
    account["users"].as_array().unwrap().iter().find(|u| u["user_name"] == name).unwrap_or_else(|| panic!("{name}"))
}

async fn key_ids(moto: &Moto, account: &str, user: &str) -> Vec<String> {
    let iam = aws_sdk_iam::Client::new(&moto.account_config(account).await);
    let out = iam.list_access_keys().user_name(user).send().await.unwrap();
    out.access_key_metadata().iter().map(|k| k.access_key_id().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_then_rotate_a_three_account_organization() {
    let moto = Moto::get();
    let (owner, admin, sender) =
        ("owner-cli-e2e@example.com", "admin-cli-e2e@example.com", "rekey-cli-e2e@example.com");
    let org = seed_org(moto, "cli-runtime-e2e", owner, sender).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &org, sender, admin);
    let config = config.to_str().unwrap();

    // Plan: audit whatever the config says; lists the actions; changes nothing.
    let (code, stdout, stderr) = rekey(&org, &["plan", "--config", config, "--output", "json"]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let plan: Value = serde_json::from_str(&stdout).expect("plan prints the run report");
    assert_eq!(plan["mode"], "audit");
    let ids: Vec<&str> =
        plan["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    assert_eq!(ids, org.members.iter().map(String::as_str).collect::<Vec<_>>(), "management account excluded");
    for account in plan["accounts"].as_array().unwrap() {
        assert_eq!(account["status"], "succeeded", "{account}");
        let alice = user(account, "alice");
        assert_eq!(alice["actions"][0]["action"], "rotate");
        assert_eq!(alice["actions"][0]["result"], "planned");
        assert_eq!(user(account, "bob")["actions"].as_array().unwrap().len(), 0);
        assert_eq!(user(account, "carol")["status"], "exempt");
        assert_eq!(user(account, "dave")["status"], "needs_manual_action");
    }
    for m in &org.members {
        assert_eq!(key_ids(moto, m, "alice").await.len(), 1, "plan changed nothing");
    }
    let (code, table, stderr) = rekey(&org, &["plan", "--config", config, "--account", &org.members[0]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("(audit: nothing was changed), 1 account(s)"), "{table}");
    assert!(table.contains("USER") && table.contains("alice") && table.contains("rotate"), "{table}");
    assert!(table.contains("exempt") && table.contains("MANUAL ACTION"), "{table}");

    // Rotate in enforce mode.
    let (code, stdout, stderr) = rekey(&org, &["rotate", "--config", config, "--output", "json", "--concurrency", "2"]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let run: Value = serde_json::from_str(&stdout).expect("rotate prints the run report");
    assert_eq!(run["mode"], "enforce");
    for account in run["accounts"].as_array().unwrap() {
        let id = account["account_id"].as_str().unwrap();
        let action = &user(account, "alice")["actions"][0];
        assert_eq!(action["result"], "done", "{account}");
        let new_key = action["new_access_key_id"].as_str().expect("new key id").to_string();
        let keys = key_ids(moto, id, "alice").await;
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&new_key));
        // The secret holds the new key; its value never reaches the report or a mail.
        let sm = aws_sdk_secretsmanager::Client::new(&moto.account_config(id).await);
        let secret = sm
            .get_secret_value()
            .secret_id(format!("Account_{id}_User_alice_AccessKey"))
            .send()
            .await
            .expect("secret stored");
        let value: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
        assert_eq!(value["AccessKeyId"], new_key.as_str());
        let secret_key = value["SecretAccessKey"].as_str().unwrap();
        assert!(!stdout.contains(secret_key), "secret in the report");
        // Simple and raw mail (the admin's digest has the report attached).
        for mail in moto.sent_mail(&org.mgmt, "us-east-1") {
            assert!(!mail.to_string().contains(secret_key), "secret in a mail or its attachment");
        }
    }
    // One digest for the whole run for the admin and for alice's owner, each
    // covering the three accounts.
    let mails = moto.sent_mail(&org.mgmt, "us-east-1");
    let to = |who: &str| -> Vec<(String, String)> {
        mails
            .iter()
            .filter(|m| m["destinations"]["ToAddresses"][0] == who && m["source"] == sender)
            .map(|m| (m["subject"].as_str().unwrap().to_string(), m["body"].as_str().unwrap().to_string()))
            .collect()
    };
    for who in [owner, admin] {
        let mail = to(who);
        assert_eq!(mail.len(), 1, "{who}: {mail:?}");
        let (subject, body) = &mail[0];
        assert!(subject.starts_with("[rekey] IAM access keys (enforce): "), "{subject}");
        assert!(subject.ends_with(" in 3 account(s)"), "{subject}");
        for id in &org.members {
            assert!(body.contains(id.as_str()), "{who}: {id} missing from {body}");
        }
    }
    let emails = run["emails"].as_array().expect("the report lists the emails");
    let to_admin: Vec<&Value> = emails.iter().filter(|e| e["recipient"] == admin).collect();
    assert_eq!(to_admin.len(), 1);
    assert_eq!(to_admin[0]["account_ids"].as_array().unwrap().len(), 3);

    // Exit codes: an account the config does not cover (2), an invalid config (3).
    let (code, _, stderr) = rekey(&org, &["plan", "--config", config, "--account", "999999999999"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`999999999999`"), "{stderr}");
    std::fs::write(dir.path().join("bad.yaml"), "mode: sometimes\n").unwrap();
    let bad = dir.path().join("bad.yaml");
    let (code, _, stderr) = rekey(&org, &["rotate", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");

    // `--force-user ACCOUNT_ID/NAME` forces that account's user only (bob's
    // key is fresh everywhere), and the run covers that account alone; a bare
    // name without `--account` is refused before any call (it used to rotate
    // every account's bob).
    let (first, others) = (&org.members[0], &org.members[1..]);
    let mut bob_before = Vec::new();
    for m in others {
        bob_before.push(key_ids(moto, m, "bob").await);
    }
    let forced = format!("{first}/bob");
    let (code, stdout, stderr) =
        rekey(&org, &["rotate", "--config", config, "--output", "json", "--force-user", &forced]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let run: Value = serde_json::from_str(&stdout).expect("rotate prints the run report");
    let accounts = run["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{run}");
    assert_eq!(accounts[0]["account_id"], first.as_str());
    let action = &user(&accounts[0], "bob")["actions"][0];
    assert_eq!(
        (&action["action"], &action["reason"], &action["result"]),
        (&"rotate".into(), &"forced".into(), &"done".into())
    );
    assert_eq!(key_ids(moto, first, "bob").await.len(), 2);
    for (m, before) in others.iter().zip(bob_before) {
        assert_eq!(key_ids(moto, m, "bob").await, before, "{m}: bob untouched");
    }
    let (code, stdout, stderr) = rekey(&org, &["rotate", "--config", config, "--force-user", "bob"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--account") && stdout.is_empty(), "{stderr}");
}

/// `scripts/demo-org --run` seeds its own moto, runs plan, a dry run and
/// the rotation with this binary, and lists the mail: the README's demo works.
#[test]
fn demo_org_script_runs_end_to_end() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert!(
        root.join(".tools/moto/bin/python").exists(),
        "moto is not installed: run `scripts/install-tools moto` first"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(root.join("scripts/demo-org"))
        .args(["--port", "0", "--dir", dir.path().to_str().unwrap(), "--run", env!("CARGO_BIN_EXE_rekey")])
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run scripts/demo-org");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo-org failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("(audit: nothing was changed), 3 account(s)"), "{stdout}");
    assert!(stdout.contains("\"mode\": \"enforce\""), "{stdout}");
    // Two runs (the dry run and the rotation), five recipients each: the three
    // account emails, the admin and alice's owner, one digest each per run.
    assert!(stdout.contains("10 email(s) sent:"), "{stdout}");
    assert!(
        stdout.contains("to alice.owner@example.com: [rekey] IAM access keys (enforce): 3 item(s) in 3 account(s)"),
        "{stdout}"
    );
}

/// No reachable AWS endpoint: exit 5, with the failing call named.
#[test]
fn unreachable_aws_exits_with_code_5() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rekey.yaml");
    std::fs::write(&config, "organization: {}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["plan", "--config", config.to_str().unwrap()])
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // discard port: connection refused
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run rekey");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.starts_with("error: cannot identify the caller: sts `GetCallerIdentity` failed: "), "{stderr}");
}
