//! Two `rekey rotate` processes started at once on the same seeded
//! organization, both through the fault-injecting proxy (no fault, only its
//! record of every key moto created): each process exits 0 or 1, every user
//! is rotated once (at most one new key survives, and it is stored), and the
//! rotation invariants of `rekey_e2e::invariants` hold in every account.

use aws_credential_types::provider::ProvideCredentials;
use rekey_e2e::fault_proxy::{Fault, FaultProxy, Rule};
use rekey_e2e::invariants::{read_account, Tracker};
use rekey_e2e::moto::{test_account_id, Moto};
use serde_json::Value;
use std::process::{Command, Stdio};

/// Users of each member account: eight with a 95-day key (due for
/// rotation) and two with a 10-day key.
async fn seed_account(moto: &Moto, account_id: &str) {
    let iam = aws_sdk_iam::Client::new(&moto.account_config(account_id).await);
    for (prefix, count, days) in [("due", 8, 95), ("fresh", 2, 10)] {
        for i in 0..count {
            let user = format!("{prefix}{i}");
            iam.create_user().user_name(&user).send().await.expect("user");
            let key = iam.create_access_key().user_name(&user).send().await.expect("key");
            moto.backdate_key(account_id, key.access_key().unwrap().access_key_id(), days);
        }
    }
}

/// What each process reported for each user: `user: first | second`.
fn sides(runs: &[Value], account: &str) -> Vec<String> {
    let results = |run: &Value| -> Vec<(String, String)> {
        run["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["account_id"] == account)
            .flat_map(|a| a["users"].as_array().cloned().unwrap_or_default())
            .map(|u| {
                let acts: Vec<String> = u["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let (action, result) =
                            (a["action"].as_str().unwrap_or("?"), a["result"].as_str().unwrap_or("?"));
                        match a["error"].as_str() {
                            Some(error) => format!("{action}:{result} ({error})"),
                            None => format!("{action}:{result}"),
                        }
                    })
                    .collect();
                let warnings: Vec<&str> =
                    u["warnings"].as_array().into_iter().flatten().filter_map(|w| w["message"].as_str()).collect();
                let shown = match (acts.is_empty(), warnings.first()) {
                    (true, Some(w)) => format!("no action ({w})"),
                    (true, None) => "no action".to_string(),
                    (false, _) => acts.join(","),
                };
                (u["user_name"].as_str().unwrap_or("?").to_string(), shown)
            })
            .collect()
    };
    let (a, b) = (results(&runs[0]), results(&runs[1]));
    a.iter()
        .map(|(user, first)| {
            let second = b.iter().find(|(u, _)| u == user).map_or("absent", |(_, r)| r.as_str());
            format!("{user}: {first} | {second}")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rotate_processes_at_once_rotate_each_user_once() {
    let moto = Moto::get();
    let name = "cli-concurrent-rotate";
    let mgmt = test_account_id(name);
    let sdk = moto.account_config(&mgmt).await;
    let members = moto.create_organization(&mgmt, name, 2).await;
    for m in &members {
        seed_account(moto, m).await;
    }
    let sender = "rekey-concurrent@example.com";
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity(sender).send().await.expect("identity");
    let yaml = format!(
        "mode: enforce\norganization:\n  management_account_id: '{mgmt}'\nnotifications:\n  sender: {sender}\n  \
         admin_recipients: [admin-concurrent@example.com]\n  notify_account_email: false\n"
    );
    let cfg = rekey_config::Config::from_yaml_str(&yaml, None).expect("valid config");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rekey.yaml");
    std::fs::write(&config, &yaml).unwrap();

    let names = cfg.names();
    let mut trackers = Vec::new();
    let mut before = Vec::new();
    for m in &members {
        let state = read_account(&moto.account_config(m).await, |u| names.secret_name(m, u)).await;
        trackers.push(Tracker::new(m, &state));
        before.push(state);
    }

    // Both processes act as the management account, through the proxy. The
    // only rule slows the record and the key creation a little, so the two
    // processes' rotations overlap (unslowed, one tends to finish before the
    // other's audit is done, and there is no race to see).
    let proxy = FaultProxy::start(9);
    let slow = Fault::Delay(std::time::Duration::from_millis(150));
    proxy.set_rules(vec![Rule::new(slow, ["secretsmanager:TagResource", "iam:CreateAccessKey"])]);
    let creds = sdk.credentials_provider().unwrap().provide_credentials().await.expect("credentials");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_rekey"))
            .args(["rotate", "--config", config.to_str().unwrap(), "--output", "json"])
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", proxy.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
            .env("AWS_SESSION_TOKEN", creds.session_token().unwrap_or_default())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent/rekey-test-config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/rekey-test-credentials")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rekey")
    };
    let (first, second) = (spawn(), spawn());
    let outputs =
        tokio::task::spawn_blocking(move || [first, second].map(|child| child.wait_with_output().expect("rekey ran")))
            .await
            .unwrap();
    let mut runs = Vec::new();
    for out in &outputs {
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let code = out.status.code().unwrap_or(-1);
        println!("rekey rotate exited {code}");
        assert!(code == 0 || code == 1, "exit {code}\n{stderr}\n{stdout}");
        runs.push(serde_json::from_str::<Value>(&stdout).unwrap_or(Value::Null));
        if std::env::var("REKEY_DEBUG_RUNS").is_ok() {
            println!("{stdout}");
        }
    }

    let mut problems = Vec::new();
    for (i, m) in members.iter().enumerate() {
        println!("`{m}` (user: first | second):\n  {}", sides(&runs, m).join("\n  "));
        let after = read_account(&moto.account_config(m).await, |u| names.secret_name(m, u)).await;
        let created = proxy.created_keys_in(m);
        for v in trackers[i].check(&before[i], &after, &created) {
            problems.push(v.to_string());
        }
        for user in after.keys().filter(|u| u.starts_with("due")) {
            let state = &after[user];
            let made = created.get(user).cloned().unwrap_or_default();
            let alive: Vec<&String> = made.iter().filter(|k| state.keys.iter().any(|s| &s.id == *k)).collect();
            let stored = alive.iter().all(|k| state.secret.as_ref().is_some_and(|s| s.stores(k)));
            if alive.len() != 1 || !stored {
                problems.push(format!("{m}/{user}: keys created {made:?}, alive {alive:?}, stored: {stored}"));
            }
            if let Some(record) = state.secret.as_ref().and_then(|s| s.in_flight.as_ref()) {
                println!("note: {m}/{user}: an in-flight record is left: `{}`", record.raw);
            }
            if made.len() > 1 {
                println!("note: {m}/{user}: {} keys created, {} alive", made.len(), alive.len());
            }
        }
        for user in after.keys().filter(|u| u.starts_with("fresh")) {
            if created.contains_key(user) {
                problems.push(format!("{m}/{user}: a key was created for a fresh user"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
