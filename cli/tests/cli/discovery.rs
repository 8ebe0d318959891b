//! Config discovery: without `--config`, every verb reads `REKEY_CONFIG_FILE`, else `./rekey.yaml`, else the
//! built-in default, and says on stderr which file it used.

use crate::common::{fixture_zip, rekey, rekey_command, Run};
use pretty_assertions::assert_eq;

/// A config that differs visibly from the default: its own prefix, so stack names show which file was read.
const CUSTOM: &str = "deployment:\n  name_prefix: found\norganization: {}\n";

/// `rekey init` then `rekey ls`/`validate`/`synth`: the file `init` wrote is the one acted on, and stderr says so.
#[test]
fn verbs_use_rekey_yaml_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rekey.yaml"), CUSTOM).unwrap();

    let run = rekey(dir.path(), &["ls"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("found-main"), "{}", run.stdout);
    assert!(run.stderr.contains("using config rekey.yaml (found in the current directory)"), "{}", run.stderr);

    let run = rekey(dir.path(), &["validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("rekey.yaml: valid ("), "{}", run.stdout);
    assert!(run.stdout.contains("found-main"), "{}", run.stdout);

    let zip = fixture_zip(dir.path(), false);
    let run = rekey(dir.path(), &["synth", "--lambda-zip", zip.to_str().unwrap(), "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["stacks"][0]["name"], "found-inventory-role");
    assert!(run.stderr.contains("using config rekey.yaml"), "{}", run.stderr);

    // An explicit `--config` wins and is not announced (the user typed it).
    std::fs::write(dir.path().join("other.yaml"), "deployment:\n  name_prefix: other\n").unwrap();
    let run = rekey(dir.path(), &["ls", "--config", "other.yaml"]);
    assert!(run.stdout.contains("other-main"), "{}", run.stdout);
    assert!(!run.stderr.contains("using config"), "{}", run.stderr);

    // An invalid discovered file is exit 3, like `--config`.
    std::fs::write(dir.path().join("rekey.yaml"), "lambda:\n  memory_mb: 64\n").unwrap();
    let run = rekey(dir.path(), &["ls"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("memory_mb"), "{}", run.stderr);
}

#[test]
fn rekey_config_file_names_the_file_and_the_default_is_used_without_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/mine.yaml"), CUSTOM).unwrap();
    // `./rekey.yaml` is there too: the variable wins over discovery.
    std::fs::write(dir.path().join("rekey.yaml"), "deployment:\n  name_prefix: local\n").unwrap();
    let run: Run =
        rekey_command(dir.path(), &["ls"]).env("REKEY_CONFIG_FILE", "conf/mine.yaml").output().unwrap().into();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("found-main"), "{}", run.stdout);
    assert!(run.stderr.contains("using config conf/mine.yaml (from REKEY_CONFIG_FILE)"), "{}", run.stderr);

    let empty = tempfile::tempdir().unwrap();
    let run = rekey(empty.path(), &["validate", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["config"], "<built-in default>");
    assert_eq!(run.stderr, "", "the built-in default is used silently, as before");
}

/// `deploy`/`diff`/`destroy` share `prepare`: an invalid `./rekey.yaml` stops them with exit 3 before any AWS
/// call, which shows they read it (the built-in default would have gone on to connect).
#[test]
fn deploy_diff_destroy_read_rekey_yaml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rekey.yaml"), "lambda:\n  memory_mb: 64\n").unwrap();
    for verb in ["deploy", "diff", "destroy", "plan", "rotate"] {
        let run = rekey(dir.path(), &[verb]);
        assert_eq!(run.code, 3, "{verb}: {run:?}");
        assert!(run.stderr.contains("using config rekey.yaml"), "{verb}: {}", run.stderr);
    }
}

/// The scope is a field of its own, printed by `validate`, `ls` and `synth`; a file from before it existed (no
/// `scope`, no `organization`) keeps meaning one account, with a note on stderr naming the one-line fix.
#[test]
fn validate_ls_and_synth_print_the_scope_and_an_inferred_scope_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("account.yaml"), "scope: account\n").unwrap();
    std::fs::write(dir.path().join("org.yaml"), "scope: organization\n").unwrap();
    std::fs::write(dir.path().join("legacy.yaml"), "lifecycle:\n  rotate_after_days: 60\n").unwrap();
    std::fs::write(dir.path().join("both.yaml"), "scope: account\norganization: {}\n").unwrap();

    let run = rekey(dir.path(), &["validate", "--config", "account.yaml", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (report["scope"].as_str(), report["stacks"].clone()),
        (Some("account"), serde_json::json!(["rekey-member-role", "rekey-main"]))
    );
    assert_eq!(run.stderr, "", "an explicit scope is not noted");

    let run = rekey(dir.path(), &["ls", "--config", "org.yaml"]);
    assert!(run.stdout.ends_with("scope: organization (the accounts of the AWS Organization)\n"), "{run:?}");
    assert!(run.stdout.contains("rekey-member-role"), "{run:?}");

    let run = rekey(dir.path(), &["ls", "--config", "legacy.yaml", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let listing: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(listing[0]["scope"], "account");
    assert!(run.stderr.contains("read as `scope: account`"), "{run:?}");
    assert!(run.stderr.contains("add `scope: account` to keep that, or `scope: organization`"), "{run:?}");

    let zip = fixture_zip(dir.path(), false);
    let run = rekey(dir.path(), &["synth", "--config", "legacy.yaml", "--lambda-zip", zip.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("scope: account (only the deployment account; inferred"), "{run:?}");

    let run = rekey(dir.path(), &["validate", "--config", "both.yaml"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("organization: `scope: account` covers only the deployment account"), "{run:?}");
}
