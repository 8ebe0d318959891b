//! `rekey deploy/diff/destroy --app DIR`: the assembly `rekey synth` wrote is deployed as it is, with the config
//! recorded in it. Against the shared moto server (started by the harness): synth into a temporary directory,
//! deploy with `--app`, the stacks and the StackSet come up, `diff --app --fail` finds nothing; a tampered asset
//! and a folder that is not a rekey assembly are refused before any AWS call. Offline: `--config` with `--app` is
//! a usage error.
//!
//! moto gaps met here are those of `tests/tests/deploy.rs` (StackSet OU targets are not reported back, so the
//! OU-following logic is tested with fakes and aws-smithy-mocks in `deploy/`).

use crate::common::{fixture_zip, rekey, rekey_command, Run};
use aws_credential_types::provider::ProvideCredentials;
use rekey_deploy::api::Cfn;
use rekey_deploy::sdk::Session;
use rekey_e2e::moto::{test_account_id, Moto};
use serde_json::Value;
use std::path::Path;

/// The environment that makes the binary act as `account` on moto.
async fn moto_env(moto: &Moto, account: &str) -> Vec<(String, String)> {
    let sdk = moto.account_config(account).await;
    let creds = sdk.credentials_provider().unwrap().provide_credentials().await.expect("credentials");
    vec![
        ("AWS_ENDPOINT_URL".to_string(), moto.endpoint_url()),
        ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key().to_string()),
        ("AWS_SESSION_TOKEN".into(), creds.session_token().unwrap_or_default().to_string()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_CONFIG_FILE".into(), "/nonexistent/rekey-test-config".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/nonexistent/rekey-test-credentials".into()),
    ]
}

fn rekey_on(dir: &Path, clients: &[(String, String)], args: &[&str]) -> Run {
    let mut command = rekey_command(dir, args);
    command.env_remove("AWS_PROFILE").envs(clients.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command.output().expect("rekey runs").into()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synthesized_assembly_deploys_with_app_and_diffs_clean() {
    let moto = Moto::get();
    let account = test_account_id("cli-deploy-app");
    let members = moto.create_organization(&account, "cli-deploy-app", 2).await;
    let session = Session::new(&moto.account_config(&account).await);
    let bucket = format!("cdk-hnb659fds-assets-{account}-us-east-1");
    session.s3_client().create_bucket().bucket(&bucket).send().await.expect("bootstrap bucket");
    let clients = moto_env(moto, &account).await;

    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), false);
    let synth = rekey(dir.path(), &["synth", "--lambda-zip", zip.to_str().unwrap(), "--out", "assembly"]);
    assert_eq!(synth.code, 0, "{synth:?}");
    let sha = std::fs::read_dir(dir.path().join("assembly"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find_map(|n| n.strip_prefix("asset.").and_then(|n| n.strip_suffix(".zip")).map(str::to_string))
        .expect("staged asset");

    // Deploy the assembly: no build, no synthesis; the asset with that very hash is published.
    let run = rekey_on(
        dir.path(),
        &clients,
        &["deploy", "--app", "assembly", "--require-approval", "never", "--progress", "events", "--output", "json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // Output discipline: the events stream on stderr, stdout is the one JSON document.
    assert!(run.stderr.contains("CREATE_COMPLETE"), "events on stderr: {run:?}");
    let report: Value = serde_json::from_str(&run.stdout).expect("json report");
    assert_eq!(report["deployment_account"], account.as_str());
    assert_eq!(report["asset"], serde_json::json!([format!("s3://{bucket}/{sha}.zip"), true]));
    let outcomes: Vec<(&str, &str)> = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["title"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("rekey-inventory-role (management account)", "created"),
            ("rekey-member-role (StackSet)", "created"),
            ("rekey-main (deployment account)", "created"),
        ]
    );
    for stack in ["rekey-inventory-role", "rekey-main"] {
        let deployed = session.cfn.describe_stack(stack).await.expect("describe").expect("stack exists");
        assert_eq!(deployed.status, "CREATE_COMPLETE", "{stack}");
    }
    let instances = session.cfn.list_stack_instances("rekey-member-role", rekey_config::CallAs::SelfAccount).await;
    let accounts: Vec<String> = instances.expect("instances").into_iter().map(|i| i.account).collect();
    for member in &members {
        assert!(accounts.contains(member), "no member-role instance in {member}: {accounts:?}");
    }
    // What was deployed is the assembly's template, byte for byte as JSON.
    let deployed = session.cfn.get_template("rekey-main").await.expect("template").expect("deployed");
    let written = std::fs::read_to_string(dir.path().join("assembly/rekey-main.template.json")).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&deployed).unwrap(), serde_json::from_str::<Value>(&written).unwrap());

    // diff --app: nothing differs.
    let diff = rekey_on(dir.path(), &clients, &["diff", "--app", "assembly", "--fail"]);
    assert_eq!(diff.code, 0, "{diff:?}");
    assert!(diff.stdout.ends_with("0 of 3 stack(s) differ\n"), "{diff:?}");

    // Deploying the same assembly again changes nothing and uploads nothing.
    let again = rekey_on(dir.path(), &clients, &["deploy", "--app", "assembly", "--progress", "events"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains(&format!("asset s3://{bucket}/{sha}.zip already published")), "{again:?}");
    assert!(again.stdout.contains("  rekey-main (deployment account): no changes\n"), "{again:?}");
    // Text output too: progress notes on stderr, only the summary on stdout (it used to be interleaved there).
    assert!(again.stderr.contains("rekey-main (deployment account): no changes\n"), "{again:?}");
    assert!(!again.stdout.contains(": already published"), "{again:?}");

    // --no-execute: a changed config's change sets are prepared and printed, nothing is executed.
    std::fs::write(dir.path().join("changed.yaml"), "organization: {}\nlifecycle:\n  rotate_after_days: 60\n").unwrap();
    let synth = rekey(
        dir.path(),
        &["synth", "--config", "changed.yaml", "--lambda-zip", zip.to_str().unwrap(), "--out", "changed"],
    );
    assert_eq!(synth.code, 0, "{synth:?}");
    let run = rekey_on(dir.path(), &clients, &["deploy", "-a", "changed", "--no-execute", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).expect("json report");
    let outcomes: Vec<(&str, &str)> = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stack"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [("rekey-inventory-role", "unchanged"), ("rekey-member-role", "not_executed"), ("rekey-main", "prepared")]
    );
    assert!(report["stacks"][2]["change_set"].as_str().is_some_and(|c| c.starts_with("rekey-")), "{report}");
    let diff = rekey_on(dir.path(), &clients, &["diff", "--app", "assembly", "--fail"]);
    assert_eq!(diff.code, 0, "nothing was executed: {diff:?}");
    // The change is a threshold, not a permission: `--security-only` finds nothing, the full diff finds it.
    let diff = rekey_on(dir.path(), &clients, &["diff", "--app", "changed", "--security-only", "--fail"]);
    assert_eq!(diff.code, 0, "{diff:?}");
    assert!(diff.stdout.ends_with("0 of 3 stack(s) differ\n"), "{diff:?}");
    let diff = rekey_on(dir.path(), &clients, &["diff", "--app", "changed", "--fail"]);
    assert_eq!(diff.code, 1, "{diff:?}");
    assert!(diff.stdout.contains("rotate_after_days}: 90 -> 60"), "{diff:?}");
    assert!(!diff.stdout.contains('\u{1b}'), "no color when stdout is not a terminal");

    // A tampered asset is refused before any AWS call, naming the file.
    let staged = dir.path().join("assembly").join(format!("asset.{sha}.zip"));
    let mut bytes = std::fs::read(&staged).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&staged, bytes).unwrap();
    let tampered = rekey_on(dir.path(), &clients, &["deploy", "--app", "assembly", "--require-approval", "never"]);
    assert_eq!(tampered.code, 4, "{tampered:?}");
    assert!(tampered.stderr.contains(&format!("asset.{sha}.zip` was modified after `rekey synth`")), "{tampered:?}");
}

#[test]
fn config_and_app_are_mutually_exclusive_and_a_plain_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for verb in ["deploy", "diff", "destroy"] {
        let run = rekey(dir.path(), &[verb, "--config", "rekey.yaml", "--app", "cdk.out"]);
        assert_eq!(run.code, 2, "{verb}: {run:?}");
        assert!(run.stderr.contains("cannot be used with"), "{verb}: {run:?}");
    }
    let run = rekey(dir.path(), &["deploy", "--app", "cdk.out", "--lambda-zip", "x.zip"]);
    assert_eq!(run.code, 2, "{run:?}");

    // A folder without manifest.json: exit 4 with the fix, before any AWS call (no endpoint is configured).
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let run = rekey(dir.path(), &["diff", "--app", "empty"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("`empty` is not a cloud assembly: it has no manifest.json"), "{run:?}");
}
