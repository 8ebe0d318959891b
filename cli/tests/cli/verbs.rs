//! `init`, `validate`, `schema`, `ls` and `--help`: the verbs that need no build.

use crate::common::{fixture_path, rekey};
use pretty_assertions::assert_eq;

#[test]
fn init_then_validate_round_trips_and_init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let run = rekey(dir.path(), &["init"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("wrote rekey.yaml"), "{}", run.stdout);
    let written = std::fs::read_to_string(dir.path().join("rekey.yaml")).unwrap();
    assert_eq!(written, rekey_config::DEFAULT_CONFIG_YAML);

    let run = rekey(dir.path(), &["validate", "--config", "rekey.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "rekey.yaml: valid (rekey-inventory-role, rekey-member-role, rekey-main)\n\
         scope: organization (the accounts of the AWS Organization)\n"
    );

    std::fs::write(dir.path().join("rekey.yaml"), "mode: enforce\n").unwrap();
    let run = rekey(dir.path(), &["init"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "error: `rekey.yaml` already exists; pass `--force` to overwrite it\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("rekey.yaml")).unwrap(), "mode: enforce\n");

    let run = rekey(dir.path(), &["init", "--force", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report, serde_json::json!({"path": "rekey.yaml", "overwritten": true}));
    assert_eq!(std::fs::read_to_string(dir.path().join("rekey.yaml")).unwrap(), rekey_config::DEFAULT_CONFIG_YAML);

    let run = rekey(dir.path(), &["init", "--path", "nested/dir/custom.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(rekey(dir.path(), &["validate", "--config", "nested/dir/custom.yaml"]).code, 0);
}

#[test]
fn validate_json_lists_every_issue() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "lifecycle:\n  rotate_after_days: 100\n  deactivate_after_days: 95\nlambda:\n  memory_mb: 64\n",
    )
    .unwrap();
    let run = rekey(dir.path(), &["validate", "--config", "bad.yaml", "--output", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let paths: Vec<&str> = report["issues"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["lifecycle.deactivate_after_days", "lambda.memory_mb"]);

    let run = rekey(dir.path(), &["validate", "--config", "bad.yaml"]);
    assert_eq!(run.code, 3);
    assert!(run
        .stdout
        .starts_with("bad.yaml: invalid configuration, 2 problem(s):\n  lifecycle.deactivate_after_days: "));
}

#[test]
fn validate_accepts_the_all_options_fixture() {
    let run = rekey(&fixture_path(""), &["validate", "--config", "all-options.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "all-options.yaml: valid (keyrot-vpc-endpoints, keyrot-inventory-role, keyrot-member-role, keyrot-main)\n\
         scope: organization (the accounts of the AWS Organization)\n"
    );
}

#[test]
fn schema_prints_valid_json_with_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let run = rekey(dir.path(), &["schema"]);
    assert_eq!(run.code, 0, "{run:?}");
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(schema, rekey_config::json_schema());
    let properties = schema["properties"].as_object().unwrap();
    for section in
        ["deployment", "organization", "lifecycle", "mode", "secrets", "notifications", "schedule", "vpc", "lambda"]
    {
        assert!(properties.contains_key(section), "schema has no `{section}`");
    }
}

#[test]
fn ls_says_where_each_stack_goes() {
    let dir = tempfile::tempdir().unwrap();
    let run = rekey(dir.path(), &["ls"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "rekey-inventory-role  stack in the management account (the deploying credentials' account), us-east-1\n\
         rekey-member-role     service-managed StackSet (auto-deployment) to every account of the organization, us-east-1\n\
         rekey-main            stack in the deployment account (the deploying credentials' account), us-east-1\n\
         scope: organization (the accounts of the AWS Organization)\n"
    );

    let run = rekey(&fixture_path(""), &["ls", "--config", "all-options.yaml", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let listing: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let summary: Vec<(String, String)> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["target"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("keyrot-vpc-endpoints", "deployment-account"),
        ("keyrot-inventory-role", "management-account"),
        ("keyrot-member-role", "member-accounts-stackset"),
        ("keyrot-main", "deployment-account"),
    ];
    assert_eq!(summary, expected.map(|(a, b)| (a.to_string(), b.to_string())).to_vec());
    assert_eq!(
        listing[2]["destination"],
        "service-managed StackSet (auto-deployment) to the accounts under ou-ab12-cd34ef56, ou-ab12-ffff0000, \
         eu-west-1; plus a stack in the management account (222222222222)"
    );
}

#[test]
fn every_verb_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for verb in ["synth", "ls", "validate", "init", "schema"] {
        let run = rekey(dir.path(), &[verb, "--help"]);
        assert_eq!(run.code, 0, "{verb}: {run:?}");
        assert!(run.stdout.contains("Example"), "`rekey {verb} --help` has no example:\n{}", run.stdout);
        assert!(run.stdout.contains(&format!("rekey {verb}")), "{verb}: {}", run.stdout);
    }
    for verb in ["plan", "rotate"] {
        assert_eq!(rekey(dir.path(), &[verb, "--help"]).code, 0, "{verb}");
    }
    let run = rekey(dir.path(), &["--help"]);
    assert_eq!(run.code, 0);
    assert_eq!(entries_count(dir.path()), 0, "--help writes nothing");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(rekey(dir.path(), &["synth", "--no-such-flag"]).code, 2);
    // `validate` without `--config` is no longer a usage error: it checks `./rekey.yaml` or the built-in default
    // (issue 11, config discovery; see `discovery.rs`). A missing flag value still is.
    assert_eq!(rekey(dir.path(), &["validate", "--config"]).code, 2, "--config needs a value");
    assert_eq!(rekey(dir.path(), &["frobnicate"]).code, 2);
    assert_eq!(rekey(dir.path(), &["ls", "--output", "xml"]).code, 2);
}

/// `rotate --force-user NAME` without `--account` used to rotate NAME in
/// every account. It is a usage error now (exit 2, before the config is even
/// read, so no AWS call), and the message says the two ways to fix it; the
/// qualified `ACCOUNT_ID/NAME` must be well formed and among `--account`.
/// (`runtime_cli.rs` rotates with the qualified form on moto.)
#[test]
fn rotate_force_user_needs_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--force-user", "alice"], &["`--force-user alice`", "--account ACCOUNT_ID", "ACCOUNT_ID/alice"]),
        (&["--force-user", "111122223333/bob", "--force-user", "alice"], &["`--force-user alice`"]),
        (&["--force-user", "1111/alice"], &["`--force-user 1111/alice`", "12-digit account id"]),
        (
            &["--account", "111122223333", "--force-user", "222233334444/alice"],
            &["`222233334444`", "not among the `--account`", "add `--account 222233334444`"],
        ),
    ];
    for (extra, fragments) in cases {
        let mut args = vec!["rotate", "--config", "missing.yaml"];
        args.extend_from_slice(extra);
        let run = rekey(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {}", run.stderr);
        for fragment in fragments {
            assert!(run.stderr.contains(fragment), "{args:?}: `{fragment}` missing from {}", run.stderr);
        }
        assert_eq!(run.stdout, "");
    }
    // Well-formed scopes get past the check: the missing config is next (exit 3).
    for extra in [
        &["--account", "111122223333", "--force-user", "alice"][..],
        &["--force-user", "111122223333/alice"][..],
        &["--account", "111122223333", "--force-user", "111122223333/alice", "--force-user", "bob"][..],
    ] {
        let mut args = vec!["rotate", "--config", "missing.yaml"];
        args.extend_from_slice(extra);
        let run = rekey(dir.path(), &args);
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
    }
    let help = rekey(dir.path(), &["rotate", "--help"]);
    assert!(help.stdout.contains("--force-user 111122223333/alice"), "{}", help.stdout);
    assert_eq!(entries_count(dir.path()), 0);
}

fn entries_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}
