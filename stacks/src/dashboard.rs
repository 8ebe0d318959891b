//! The CloudWatch dashboard of the main stack (`dashboard.enabled`): what
//! rekey did per day from the metrics the rotation function emits (EMF,
//! namespace and names in `rekey_config::contract`), the dead-letter queues'
//! depth, and each function's errors and duration.
//!
//! The body is a JSON string built from ordered structs (so it is
//! byte-identical for the same config) inside a `Fn::Sub`, whose
//! `${AWS::Region}`, `${RotationFunction}` and `${Queue.QueueName}`
//! placeholders CloudFormation resolves: the dashboard follows renames and
//! depends on the resources it charts.

use crate::main_stack::{dead_letter_queue_ids, function_id};
use rekey_config::contract::{
    METRIC_ACTIONS_PLANNED, METRIC_FAILURES, METRIC_KEYS_DEACTIVATED, METRIC_KEYS_DELETED, METRIC_KEYS_ROTATED,
    METRIC_MODES, METRIC_MODE_DIMENSION, METRIC_NAMESPACE, METRIC_WARNINGS,
};
use rekey_config::{Config, Function};
use rekey_synth::cfn::{Dashboard, Expr, Template};
use serde::Serialize;

/// Logical id of the dashboard.
pub const DASHBOARD: &str = "Dashboard";

/// One day: rekey runs once a day by default, so daily sums read as "per run".
const DAY: u32 = 24 * 3600;
/// Five minutes: the granularity of the queue and Lambda metrics charted.
const FIVE_MINUTES: u32 = 300;
/// Half of the dashboard's 24-column grid.
const HALF: u32 = 12;
/// Height of a chart.
const HEIGHT: u32 = 6;

/// The dashboard body (`start`, `periodOverride`, `widgets`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    /// Two weeks: enough daily points to see a trend.
    start: &'static str,
    /// `inherit`: every widget keeps its own period, so daily sums stay daily
    /// whatever time range the reader picks.
    period_override: &'static str,
    widgets: Vec<Widget>,
}

#[derive(Serialize)]
struct Widget {
    #[serde(rename = "type")]
    kind: &'static str,
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    properties: Properties,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Properties {
    Text { markdown: String },
    Metric(MetricProperties),
}

#[derive(Serialize)]
struct MetricProperties {
    title: &'static str,
    view: &'static str,
    stacked: bool,
    region: &'static str,
    stat: &'static str,
    period: u32,
    metrics: Vec<Vec<MetricItem>>,
}

/// One element of a `metrics` row: a namespace, name, dimension name or
/// value, or the trailing rendering options.
#[derive(Serialize)]
#[serde(untagged)]
enum MetricItem {
    Text(String),
    Options(MetricOptions),
}

#[derive(Serialize)]
struct MetricOptions {
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stat: Option<&'static str>,
}

/// A metric row: `[namespace, name, dimension, value, {label}]`.
fn row(
    namespace: &str,
    name: &str,
    dimension: (&str, &str),
    label: String,
    stat: Option<&'static str>,
) -> Vec<MetricItem> {
    let text = |s: &str| MetricItem::Text(s.to_string());
    vec![
        text(namespace),
        text(name),
        text(dimension.0),
        text(dimension.1),
        MetricItem::Options(MetricOptions { label, stat }),
    ]
}

/// A rekey metric in one mode.
fn rekey_metric(name: &str, mode: &str, label: &str, stat: Option<&'static str>) -> Vec<MetricItem> {
    row(METRIC_NAMESPACE, name, (METRIC_MODE_DIMENSION, mode), format!("{label} ({mode})"), stat)
}

/// A chart at grid position `index` (two per row, below the header).
fn chart(index: u32, properties: MetricProperties) -> Widget {
    Widget {
        kind: "metric",
        x: (index % 2) * HALF,
        y: 2 + (index / 2) * HEIGHT,
        width: HALF,
        height: HEIGHT,
        properties: Properties::Metric(properties),
    }
}

fn metric_chart(
    title: &'static str,
    stat: &'static str,
    period: u32,
    metrics: Vec<Vec<MetricItem>>,
) -> MetricProperties {
    MetricProperties { title, view: "timeSeries", stacked: false, region: "${AWS::Region}", stat, period, metrics }
}

/// The charts over the rotation function's metrics: keys acted on, warnings
/// and failures, accounts processed.
fn rekey_charts() -> Vec<MetricProperties> {
    let keys =
        [(METRIC_KEYS_ROTATED, "rotated"), (METRIC_KEYS_DEACTIVATED, "deactivated"), (METRIC_KEYS_DELETED, "deleted")]
            .into_iter()
            // Only enforce mode acts on keys; audit mode counts them as planned.
            .map(|(name, label)| rekey_metric(name, "enforce", label, None))
            .chain(std::iter::once(rekey_metric(METRIC_ACTIONS_PLANNED, "audit", "planned", None)))
            .collect();
    let problems = [(METRIC_WARNINGS, "warnings"), (METRIC_FAILURES, "failures")]
        .into_iter()
        .flat_map(|(name, label)| METRIC_MODES.map(|mode| rekey_metric(name, mode, label, None)))
        .collect();
    // Every account report is one EMF line carrying every metric, so the
    // sample count of any one of them counts the accounts processed.
    let accounts = METRIC_MODES.map(|mode| rekey_metric(METRIC_FAILURES, mode, "accounts", Some("SampleCount"))).into();
    vec![
        metric_chart("Keys rotated, deactivated and deleted per day", "Sum", DAY, keys),
        metric_chart("Warnings and failures per day", "Sum", DAY, problems),
        metric_chart("Accounts processed per day", "SampleCount", DAY, accounts),
    ]
}

/// The charts of the stack's own resources: dead-letter queues, and each
/// function's errors and duration.
fn resource_charts() -> Vec<MetricProperties> {
    let dead_letters = dead_letter_queue_ids()
        .iter()
        .map(|q| {
            let name = format!("${{{q}.QueueName}}");
            row("AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName", &name), name.clone(), None)
        })
        .collect();
    let per_function = |metric: &str| -> Vec<Vec<MetricItem>> {
        Function::ALL
            .iter()
            .map(|f| {
                let name = format!("${{{}}}", function_id(*f));
                row("AWS/Lambda", metric, ("FunctionName", &name), name.clone(), None)
            })
            .collect()
    };
    vec![
        metric_chart("Dead-letter queue depth (should stay 0)", "Maximum", FIVE_MINUTES, dead_letters),
        metric_chart("Function errors", "Sum", FIVE_MINUTES, per_function("Errors")),
        metric_chart("Function duration (maximum, ms)", "Maximum", FIVE_MINUTES, per_function("Duration")),
    ]
}

/// The dashboard body as JSON with `Fn::Sub` placeholders.
fn body(config: &Config) -> String {
    let header = Widget {
        kind: "text",
        x: 0,
        y: 0,
        width: 2 * HALF,
        height: 2,
        properties: Properties::Text {
            markdown: format!(
                "# {prefix}: IAM access key rotation\nDaily totals from the rotation \
                 function's metrics (namespace `{METRIC_NAMESPACE}`), the dead-letter queues, and the functions. \
                 A non-zero dead-letter queue or failure count needs a look at the function's logs.",
                prefix = config.names().prefix()
            ),
        },
    };
    let charts = rekey_charts().into_iter().chain(resource_charts());
    let widgets = std::iter::once(header).chain(charts.enumerate().map(|(i, c)| chart(i as u32, c))).collect();
    let body = Body { start: "-P14D", period_override: "inherit", widgets };
    serde_json::to_string(&body).expect("the dashboard body serializes")
}

/// Adds the dashboard when `dashboard.enabled`.
pub fn add(t: &mut Template, config: &Config) {
    if !config.dashboard.enabled {
        return;
    }
    t.add(
        DASHBOARD,
        Dashboard {
            // Dashboards are global to the account: the region keeps two
            // deployments of one prefix apart.
            dashboard_name: Some(Expr::sub(format!("{}-${{AWS::Region}}", config.names().prefix()))),
            dashboard_body: Expr::sub(body(config)),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rekey_synth::asset::LambdaAsset;
    use serde_json::Value;

    fn main_stack(yaml: &str) -> Value {
        let config = Config::from_yaml_str(yaml, None).unwrap();
        let asset = LambdaAsset { sha256: "0".repeat(64) };
        crate::main_stack::template(&config, &asset).unwrap().1.to_value()
    }

    /// The body inside `Fn::Sub`, parsed (placeholders left as they are).
    fn body(stack: &Value) -> Value {
        let sub = stack["Resources"][DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"].as_str().unwrap();
        serde_json::from_str(sub).unwrap()
    }

    #[test]
    fn charts_every_metric_the_issue_names_over_the_stacks_own_resources() {
        let stack = main_stack("");
        let body = body(&stack);
        let rows: Vec<String> = body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["properties"]["metrics"].as_array().cloned().unwrap_or_default())
            .map(|row| row.as_array().unwrap()[..4].iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join(" "))
            .collect();
        for expected in [
            "rekey KeysRotated Mode enforce",
            "rekey KeysDeactivated Mode enforce",
            "rekey KeysDeleted Mode enforce",
            "rekey Warnings Mode audit",
            "rekey Failures Mode enforce",
            "AWS/SQS ApproximateNumberOfMessagesVisible QueueName ${AccountsQueueDeadLetterQueue.QueueName}",
            "AWS/SQS ApproximateNumberOfMessagesVisible QueueName ${NotificationsQueueDeadLetterQueue.QueueName}",
            "AWS/SQS ApproximateNumberOfMessagesVisible QueueName ${InventoryDeadLetterQueue.QueueName}",
            "AWS/Lambda Errors FunctionName ${RotationFunction}",
            "AWS/Lambda Duration FunctionName ${NotifierFunction}",
        ] {
            assert!(rows.iter().any(|r| r == expected), "missing {expected}: {rows:#?}");
        }
        // Every placeholder names a resource of the stack (or a pseudo parameter).
        let sub = stack["Resources"][DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"].as_str().unwrap();
        for placeholder in sub.split("${").skip(1).map(|s| s.split('}').next().unwrap()) {
            let resource = placeholder.split('.').next().unwrap();
            assert!(
                resource == "AWS::Region" || stack["Resources"].get(resource).is_some(),
                "`${{{placeholder}}}` names no resource"
            );
        }
        assert_eq!(stack["Resources"][DASHBOARD]["Properties"]["DashboardName"]["Fn::Sub"], "rekey-${AWS::Region}");
    }

    #[test]
    fn daily_charts_keep_their_day_and_the_grid_does_not_overlap() {
        let body = body(&main_stack(""));
        assert_eq!(body["periodOverride"], "inherit");
        let widgets = body["widgets"].as_array().unwrap();
        let cells: Vec<(u64, u64)> =
            widgets.iter().map(|w| (w["x"].as_u64().unwrap(), w["y"].as_u64().unwrap())).collect();
        let mut unique = cells.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), cells.len(), "{cells:?}");
        assert!(widgets.iter().all(|w| w["x"].as_u64().unwrap() + w["width"].as_u64().unwrap() <= 24));
        let daily = widgets.iter().filter(|w| w["properties"]["period"] == DAY).count();
        assert_eq!(daily, 3, "keys, warnings and failures, accounts");
    }

    #[test]
    fn can_be_turned_off_and_is_deterministic() {
        let off = main_stack("dashboard:\n  enabled: false\n");
        assert!(off["Resources"].get(DASHBOARD).is_none());
        assert_eq!(main_stack("").to_string(), main_stack("").to_string());
    }
}
