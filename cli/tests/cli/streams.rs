//! Output discipline: results (tables, JSON) on stdout; notes, progress and logs on stderr. Every reporting verb
//! that runs offline is run with `--output json` while it has something to say on stderr, and its stdout must be
//! exactly one JSON document. (`deploy` with `--progress events`: `deploy_app.rs`; `plan`/`rotate`:
//! `runtime_cli.rs`, both against moto.)

use crate::common::{fixture_zip, rekey_command, Run};

#[test]
fn json_stdout_is_one_document_while_stderr_talks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conf.yaml"), "organization: {}\n").unwrap();
    let zip = fixture_zip(dir.path(), false);
    let zip = zip.to_str().unwrap();
    let verbs: [&[&str]; 5] = [
        &["ls", "--output", "json"],
        &["validate", "--output", "json"],
        &["synth", "--lambda-zip", zip, "--out", "out", "--output", "json"],
        &["init", "--path", "new.yaml", "--output", "json"],
        &["schema"],
    ];
    for args in verbs {
        // `REKEY_CONFIG_FILE` makes the config verbs name their file on stderr.
        let run: Run = rekey_command(dir.path(), args).env("REKEY_CONFIG_FILE", "conf.yaml").output().unwrap().into();
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&run.stdout);
        assert!(parsed.is_ok(), "{args:?}: stdout is not one JSON document: {:?}", run.stdout);
        if args[0] != "init" && args[0] != "schema" {
            assert!(run.stderr.contains("using config conf.yaml"), "{args:?}: {run:?}");
        }
    }
}

/// `-v` logs at info level on stderr, `--log-format json` one JSON object per line; stdout stays the result.
#[test]
fn verbose_logs_go_to_stderr_as_text_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let run: Run = rekey_command(dir.path(), &["ls", "-v", "--output", "json"]).output().unwrap().into();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(serde_json::from_str::<serde_json::Value>(&run.stdout).is_ok(), "{run:?}");
    assert!(run.stderr.contains("INFO") && run.stderr.contains("using the built-in default config"), "{run:?}");
    assert!(!run.stderr.contains('\u{1b}'), "no color when stderr is not a terminal: {run:?}");

    let run: Run = rekey_command(dir.path(), &["-v", "--log-format", "json", "validate", "--output", "json"])
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(serde_json::from_str::<serde_json::Value>(&run.stdout).is_ok(), "{run:?}");
    let lines: Vec<serde_json::Value> =
        run.stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    assert!(lines.iter().any(|l| l["level"] == "INFO"), "{run:?}");

    // Without `-v` (and without `RUST_LOG`) only warnings: nothing here.
    let run: Run = rekey_command(dir.path(), &["ls"]).output().unwrap().into();
    assert_eq!(run.stderr, "", "{run:?}");
    // `RUST_LOG` when no `-v` is given.
    let run: Run = rekey_command(dir.path(), &["ls"]).env("RUST_LOG", "info").output().unwrap().into();
    assert!(run.stderr.contains("using the built-in default config"), "{run:?}");
}
