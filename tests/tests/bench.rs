//! The benchmark (`src/bin/bench`) run tiny, so it cannot rot: 2 + 2
//! accounts of 10 users (and 1 + 1 for the enforce runs one account at a
//! time), 5 ms of latency on every call, on its own moto server, the Lambda and synthesis
//! parts skipped (they need the optimised build; `docs/benchmarks.md` has
//! their figures). It must print every phase with its figures, and its
//! handler path must handle every account exactly once with one digest per
//! recipient.

use std::process::Command;

#[test]
fn the_bench_runs_tiny_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--accounts", "2", "--users", "10", "--sequential-accounts", "1", "--lambda-users", "0"])
        // A round trip on every call, as the latency option of the figures in docs/benchmarks.md.
        .args(["--latency-ms", "5"])
        // One account at a time: moto's TransactWriteItems is not atomic under
        // concurrent requests (docs/testing.md, "Concurrency on moto"), and the
        // run ledger's count is what the pipeline checks below read.
        .args(["--account-concurrency", "1"])
        .arg("--skip-synth")
        .arg("--json")
        .arg(&json)
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "bench failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();

    let phases = report["phases"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "audit",
            "audit, one account at a time",
            "audit, sequential",
            "enforce",
            "enforce, one account at a time",
            "enforce, sequential",
            "handlers: audit",
            "handlers: enforce"
        ]
    );
    for phase in phases {
        assert!(phase["wall_seconds"].as_f64().unwrap() > 0.0, "{phase}");
        assert!(phase["keys_per_second"].as_f64().unwrap() > 0.0, "{phase}");
        assert!(phase["peak_rss_mib"].as_f64().unwrap() > 0.0, "{phase}");
        let ops = phase["calls_per_account_by_operation"].as_object().unwrap();
        assert!(ops.keys().any(|op| op.starts_with("iam:")), "{phase}");
    }
    // 2 accounts x 10 users: keys aged 92, 95 and 98 days are due, 3 per account.
    // The enforce runs one account at a time have one account each.
    assert_eq!(phases[3]["rotations"], 6, "{}", phases[3]);
    assert_eq!(phases[4]["rotations"], 3, "{}", phases[4]);
    assert_eq!(phases[5]["rotations"], 3, "{}", phases[5]);
    assert_eq!(phases[7]["rotations"], 6, "{}", phases[7]);
    for ratio in ["audit_speedup_vs_sequential", "audit_users_at_once_speedup", "enforce_users_at_once_speedup"] {
        assert!(report["ratios"][ratio].as_f64().is_some_and(|r| r > 0.0), "{ratio}: {}", report["ratios"]);
    }
    assert!(report["ratios"]["extra_calls_per_rotation"].as_f64().unwrap() > 0.0);
    for check in report["pipeline_checks"].as_array().unwrap() {
        assert_eq!(check["accounts_handled_once"], true, "{check}");
        assert_eq!(check["ledger_done"], 2, "{check}");
        assert_eq!(check["digests_per_recipient_max"], 1, "{check}");
    }
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(stdout.contains("calls per account by operation"), "{stdout}");
}
