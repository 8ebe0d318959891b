//! CloudWatch metrics in the Embedded Metric Format: one JSON line per
//! account on stdout, which CloudWatch Logs turns into metrics in the
//! `rekey` namespace (no PutMetricData call, no extra permission).

use crate::report::{AccountReport, EffectiveMode};
use chrono::{DateTime, Utc};
use serde_json::json;

/// The metric namespace (named once in `rekey_config::contract`: the main
/// stack's dashboard charts these metrics).
pub const NAMESPACE: &str = rekey_config::contract::METRIC_NAMESPACE;

/// The metric names, in the order they are emitted.
pub const METRICS: [&str; 7] = rekey_config::contract::METRICS;

/// The EMF document for one account's report. `Mode` is the one dimension
/// (low cardinality keeps metrics cheap); the account and run ids are
/// properties, searchable in Logs Insights.
pub fn emf(report: &AccountReport, at: DateTime<Utc>) -> serde_json::Value {
    let c = report.counts();
    let values = [c.rotated, c.deactivated, c.deleted, c.warned, c.failed, c.exempt, c.planned];
    let mut doc = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Mode"]],
                "Metrics": METRICS.iter().map(|m| json!({"Name": m, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        },
        "Mode": match report.mode { EffectiveMode::Audit => "audit", EffectiveMode::Enforce => "enforce" },
        "AccountId": report.account_id,
        "RunId": report.run_id,
    });
    let object = doc.as_object_mut().expect("an object");
    for (name, value) in METRICS.iter().zip(values) {
        object.insert(name.to_string(), json!(value));
    }
    doc
}

/// The EMF line for one account (compact JSON, no newline inside).
pub fn emf_line(report: &AccountReport, at: DateTime<Utc>) -> String {
    emf(report, at).to_string()
}

/// Prints the EMF line on stdout, where the Lambda runtime ships it to CloudWatch Logs.
pub fn publish(report: &AccountReport, at: DateTime<Utc>) {
    println!("{}", emf_line(report, at));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::sample_report;

    #[test]
    fn emf_line_has_the_documented_shape() {
        let at = DateTime::parse_from_rfc3339("2026-11-29T22:00:00Z").unwrap().to_utc();
        let line = emf_line(&sample_report(EffectiveMode::Enforce), at);
        assert!(!line.contains('\n'));
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_795_989_600_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "rekey",
                        "Dimensions": [["Mode"]],
                        "Metrics": [
                            {"Name": "KeysRotated", "Unit": "Count"},
                            {"Name": "KeysDeactivated", "Unit": "Count"},
                            {"Name": "KeysDeleted", "Unit": "Count"},
                            {"Name": "Warnings", "Unit": "Count"},
                            {"Name": "Failures", "Unit": "Count"},
                            {"Name": "ExemptUsers", "Unit": "Count"},
                            {"Name": "ActionsPlanned", "Unit": "Count"}
                        ]
                    }]
                },
                "Mode": "enforce", "AccountId": "200000000001", "RunId": "run-1",
                "KeysRotated": 1, "KeysDeactivated": 0, "KeysDeleted": 0, "Warnings": 1,
                "Failures": 0, "ExemptUsers": 1, "ActionsPlanned": 0
            })
        );
        // Every metric named in the directive is a top-level number.
        for m in METRICS {
            assert!(doc[m].is_u64(), "{m}");
        }
    }

    #[test]
    fn audit_counts_planned_not_rotated() {
        let at = DateTime::parse_from_rfc3339("2026-11-29T22:00:00Z").unwrap().to_utc();
        let doc = emf(&sample_report(EffectiveMode::Audit), at);
        assert_eq!(doc["Mode"], "audit");
        assert_eq!(doc["KeysRotated"], 0);
        assert_eq!(doc["ActionsPlanned"], 1);
    }
}
