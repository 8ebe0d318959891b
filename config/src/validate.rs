//! Cross-field rules of the configuration. Each broken rule becomes a
//! [`ConfigIssue`] naming the YAML path and the rule, so a user can fix every
//! problem in one pass.

use crate::file::*;
use crate::ConfigIssue;
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Log retention values CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue { path: path.into(), message: message.into() });
    }
    fn check(&mut self, ok: bool, path: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.add(path, message());
        }
    }
}

/// Returns every rule `file` breaks, in document order; empty when valid.
pub fn issues(file: &ConfigFile) -> Vec<ConfigIssue> {
    let mut out = Issues(Vec::new());
    deployment(&file.deployment, &mut out);
    if let Some(org) = &file.organization {
        organization(org, &mut out);
    }
    lifecycle(&file.lifecycle, &mut out);
    secrets(file, &mut out);
    notifications(&file.notifications, &mut out);
    schedule(&file.schedule, &mut out);
    vpc(&file.vpc, &mut out);
    lambda(&file.lambda, &mut out);
    integrations(&file.integrations, &mut out);
    runtime(&file.runtime, &mut out);
    plan_files(&file.plan, &mut out);
    out.0
}

fn deployment(d: &Deployment, out: &mut Issues) {
    static BUCKET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$").unwrap());
    static QUALIFIER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9]{1,10}$").unwrap());
    if let Some(bucket) = &d.asset_bucket {
        out.check(BUCKET.is_match(bucket) && !bucket.contains(".."), "deployment.asset_bucket", || {
            format!("`{bucket}` is not a valid S3 bucket name (3 to 63 lowercase letters, digits, `.` or `-`)")
        });
    }
    out.check(QUALIFIER.is_match(&d.bootstrap_qualifier), "deployment.bootstrap_qualifier", || {
        format!("`{}` must be 1 to 10 lowercase letters or digits", d.bootstrap_qualifier)
    });
    for (key, value) in &d.tags {
        let path = format!("deployment.tags.{key}");
        out.check(!key.is_empty() && key.len() <= 128, &path, || "a tag key must be 1 to 128 characters".into());
        out.check(!key.to_ascii_lowercase().starts_with("aws:"), &path, || {
            format!("tag key `{key}` uses the reserved `aws:` prefix")
        });
        out.check(value.len() <= 256, &path, || "a tag value must be at most 256 characters".into());
    }
}

fn organization(o: &Organization, out: &mut Issues) {
    for (i, id) in o.include_account_ids.iter().enumerate() {
        out.check(!o.exclude_account_ids.contains(id), &format!("organization.include_account_ids[{i}]"), || {
            format!("account `{id}` is both included and excluded")
        });
    }
    for (i, id) in o.target_ou_ids.iter().enumerate() {
        out.check(!o.exclude_ou_ids.contains(id), &format!("organization.target_ou_ids[{i}]"), || {
            format!("OU `{id}` is both a target and excluded")
        });
    }
    duplicates(&o.include_account_ids, "organization.include_account_ids", out);
    duplicates(&o.exclude_account_ids, "organization.exclude_account_ids", out);
    duplicates(&o.target_ou_ids, "organization.target_ou_ids", out);
    duplicates(&o.exclude_ou_ids, "organization.exclude_ou_ids", out);
    let s = &o.stackset;
    out.check(
        (1..=100).contains(&s.max_concurrent_percentage),
        "organization.stackset.max_concurrent_percentage",
        || format!("{} must be between 1 and 100", s.max_concurrent_percentage),
    );
    out.check(s.failure_tolerance_percentage <= 100, "organization.stackset.failure_tolerance_percentage", || {
        format!("{} must be between 0 and 100", s.failure_tolerance_percentage)
    });
}

fn lifecycle(l: &Lifecycle, out: &mut Issues) {
    out.check(l.rotate_after_days > 0, "lifecycle.rotate_after_days", || {
        format!("lifecycle.rotate_after_days ({}) must be greater than 0", l.rotate_after_days)
    });
    out.check(l.deactivate_after_days > l.rotate_after_days, "lifecycle.deactivate_after_days", || {
        format!(
            "lifecycle.deactivate_after_days ({}) must be greater than lifecycle.rotate_after_days ({})",
            l.deactivate_after_days, l.rotate_after_days
        )
    });
    out.check(l.delete_after_days > l.deactivate_after_days, "lifecycle.delete_after_days", || {
        format!(
            "lifecycle.delete_after_days ({}) must be greater than lifecycle.deactivate_after_days ({})",
            l.delete_after_days, l.deactivate_after_days
        )
    });
    out.check(l.delete_after_days <= 3650, "lifecycle.delete_after_days", || {
        format!("lifecycle.delete_after_days ({}) must be at most 3650", l.delete_after_days)
    });
    out.check(l.warn_before_days < l.rotate_after_days.max(1), "lifecycle.warn_before_days", || {
        format!(
            "lifecycle.warn_before_days ({}) must be less than lifecycle.rotate_after_days ({})",
            l.warn_before_days, l.rotate_after_days
        )
    });
    if let Some(days) = l.require_unused_days_before_deactivate {
        out.check(days > 0, "lifecycle.require_unused_days_before_deactivate", || {
            "must be greater than 0 when set (leave it out to disable the check)".into()
        });
    }
    timeline_fits(l, out);
}

/// Whether the timeline can run without a person, checked once the days are
/// in order (0 < R < D < X): the replacement is created at the old key's age
/// R and expires R days later, at the old key's age 2R. By then the old key
/// must be retired (deactivated, D < 2R: else the planner sees two expired
/// active keys) and deleted (X ≤ 2R: else the inactive key still holds the
/// second of the two slots IAM allows when the replacement must rotate). At
/// X = 2R the delete and the rotation fall in the same run, delete first.
fn timeline_fits(l: &Lifecycle, out: &mut Issues) {
    let (r, d, x) = (l.rotate_after_days, l.deactivate_after_days, l.delete_after_days);
    if !(0 < r && r < d && d < x) {
        return;
    }
    let expiry = u64::from(r) * 2;
    if u64::from(d) >= expiry {
        out.add(
            "lifecycle.deactivate_after_days",
            format!(
                "lifecycle.deactivate_after_days ({d}) must be less than twice lifecycle.rotate_after_days ({r}), \
                 i.e. below {expiry}: the replacement created at the old key's age {r} expires at its age {expiry}, \
                 before the old key would be deactivated, and two expired active keys need a person"
            ),
        );
    } else if u64::from(x) > expiry {
        out.add(
            "lifecycle.delete_after_days",
            format!(
                "lifecycle.delete_after_days ({x}) must be at most twice lifecycle.rotate_after_days ({r}), i.e. \
                 {expiry}: the replacement created at the old key's age {r} must be rotated at the old key's age \
                 {expiry}, and until the inactive old key is deleted it holds the second of the two key slots IAM \
                 allows, so the rotation is blocked"
            ),
        );
    }
}

fn secrets(file: &ConfigFile, out: &mut Issues) {
    let s = &file.secrets;
    if s.storage == SecretStorage::Central {
        out.check(file.organization.is_some(), "secrets.storage", || {
            "`central` storage needs an `organization` section (secrets go to the inventory role's account)".into()
        });
        out.check(s.kms_key_arn.is_some(), "secrets.kms_key_arn", || {
            "`central` storage needs a customer-managed KMS key ARN: the default `aws/secretsmanager` key cannot be shared across accounts".into()
        });
    }
    if let Some(arn) = &s.kms_key_arn {
        let region = arn.as_str().split(':').nth(3).unwrap_or_default();
        out.check(region == file.deployment.region.as_str(), "secrets.kms_key_arn", || {
            format!(
                "the KMS key is in `{region}` but secrets are stored in deployment.region `{}`",
                file.deployment.region
            )
        });
    }
    secret_name_pattern(&s.name_pattern, out);
    for (i, region) in s.replica_regions.iter().enumerate() {
        out.check(*region != file.deployment.region, &format!("secrets.replica_regions[{i}]"), || {
            format!("`{region}` is the primary region (deployment.region); list only replica regions")
        });
    }
    duplicates(&s.replica_regions, "secrets.replica_regions", out);
    duplicates(&s.extra_reader_principals, "secrets.extra_reader_principals", out);
}

fn secret_name_pattern(pattern: &str, out: &mut Issues) {
    static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{([^}]*)\}").unwrap());
    static ALLOWED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9/_+=.@-]+$").unwrap());
    let path = "secrets.name_pattern";
    for cap in PLACEHOLDER.captures_iter(pattern) {
        let name = &cap[1];
        out.check(name == "account_id" || name == "user_name", path, || {
            format!("unknown placeholder `{{{name}}}`; use `{{account_id}}` and `{{user_name}}`")
        });
    }
    out.check(pattern.contains("{user_name}"), path, || {
        format!("`{pattern}` must contain `{{user_name}}` so every user gets its own secret")
    });
    out.check(pattern.contains("{account_id}"), path, || {
        format!("`{pattern}` must contain `{{account_id}}` so names stay unique across accounts")
    });
    let literal = PLACEHOLDER.replace_all(pattern, "x");
    out.check(ALLOWED.is_match(&literal), path, || {
        format!("`{pattern}` may only contain letters, digits and `/_+=.@-` besides the placeholders")
    });
    out.check(pattern.len() <= 256, path, || "must be at most 256 characters".into());
}

fn notifications(n: &Notifications, out: &mut Issues) {
    out.check(!n.subject.trim().is_empty(), "notifications.subject", || "must not be empty".into());
    if let Some(tag) = &n.owner_tag_key {
        out.check(!tag.is_empty() && tag.len() <= 128, "notifications.owner_tag_key", || {
            "an IAM tag key must be 1 to 128 characters".into()
        });
    }
    duplicates(&n.admin_recipients, "notifications.admin_recipients", out);
    // The wait is kept alive by SQS messages delayed at most 15 minutes, and
    // the run ledger keeps runs for a week.
    out.check((15..=24 * 60).contains(&n.digest_wait_minutes), "notifications.digest_wait_minutes", || {
        format!("must be between 15 and 1440 (24 hours); got {}", n.digest_wait_minutes)
    });
    // Past a few hundred accounts of inline detail the body alone nears
    // SES's message size limit; the attachment carries the detail instead.
    out.check(n.inline_account_limit <= 500, "notifications.inline_account_limit", || {
        format!("must be at most 500; got {}", n.inline_account_limit)
    });
}

fn schedule(s: &Schedule, out: &mut Issues) {
    static RATE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)$").unwrap()
    });
    static CRON: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^cron\(\S+( \S+){5}\)$").unwrap());
    let e = &s.expression;
    out.check(RATE.is_match(e) || CRON.is_match(e), "schedule.expression", || {
        format!("`{e}` is not an EventBridge schedule expression like `rate(24 hours)` or `cron(0 6 * * ? *)`")
    });
}

fn vpc(v: &Vpc, out: &mut Issues) {
    duplicates(&v.endpoints, "vpc.endpoints", out);
    duplicates(&v.subnet_ids, "vpc.subnet_ids", out);
    if !v.enabled {
        return;
    }
    out.check(v.vpc_id.is_some(), "vpc.vpc_id", || "required when vpc.enabled is true".into());
    out.check(!v.subnet_ids.is_empty(), "vpc.subnet_ids", || {
        "at least one subnet is required when vpc.enabled is true (two or more for multi-AZ)".into()
    });
    out.check(!v.endpoints.contains(&Endpoint::S3) || !v.route_table_ids.is_empty(), "vpc.route_table_ids", || {
        "the `s3` gateway endpoint needs at least one route table id, or it routes nothing".into()
    });
}

/// `integrations.event_bus`: a bus name, or the ARN of a bus (possibly in
/// another account or region, whose resource policy must then let this
/// account put events).
fn integrations(i: &Integrations, out: &mut Issues) {
    static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[/.\-_A-Za-z0-9]{1,256}$").unwrap());
    static ARN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^arn:aws[a-z-]*:events:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:event-bus/[/.\-_A-Za-z0-9]{1,256}$")
            .unwrap()
    });
    if let Some(bus) = &i.event_bus {
        let ok = if bus.starts_with("arn:") { ARN.is_match(bus) } else { NAME.is_match(bus) };
        out.check(ok, "integrations.event_bus", || {
            format!(
                "`{bus}` is neither an event bus name (1 to 256 letters, digits, `.`, `-`, `_` or `/`) nor an event \
                 bus ARN (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`)"
            )
        });
    }
}

fn lambda(l: &Lambda, out: &mut Issues) {
    out.check((128..=10240).contains(&l.memory_mb), "lambda.memory_mb", || {
        format!("{} must be between 128 and 10240", l.memory_mb)
    });
    out.check((1..=900).contains(&l.timeout_seconds), "lambda.timeout_seconds", || {
        format!("{} must be between 1 and 900", l.timeout_seconds)
    });
    out.check(LOG_RETENTION_DAYS.contains(&l.log_retention_days), "lambda.log_retention_days", || {
        format!("{} is not a CloudWatch Logs retention value ({LOG_RETENTION_DAYS:?})", l.log_retention_days)
    });
    out.check((2..=1000).contains(&l.rotation_max_concurrency), "lambda.rotation_max_concurrency", || {
        format!("{} must be between 2 and 1000", l.rotation_max_concurrency)
    });
}

/// `plan.max_age_hours`: at least an hour (a review takes time), at most 30 days.
fn plan_files(p: &crate::PlanFiles, out: &mut Issues) {
    out.check((1..=720).contains(&p.max_age_hours), "plan.max_age_hours", || {
        format!("{} must be between 1 and 720 (30 days)", p.max_age_hours)
    });
}

fn runtime(r: &crate::Runtime, out: &mut Issues) {
    let users = r.concurrency.users_per_account;
    out.check((1..=64).contains(&users), "runtime.concurrency.users_per_account", || {
        format!("{users} must be between 1 and 64 (1: one user at a time)")
    });
    for (value, path) in [
        (r.rate_limits.assume_role_per_second, "runtime.rate_limits.assume_role_per_second"),
        (r.rate_limits.central_secret_writes_per_second, "runtime.rate_limits.central_secret_writes_per_second"),
    ] {
        out.check((1..=1000).contains(&value), path, || {
            format!("{value} must be between 1 and 1000 (calls per second)")
        });
    }
}

fn duplicates<T: Ord + std::fmt::Display>(items: &[T], path: &str, out: &mut Issues) {
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(item) {
            out.add(format!("{path}[{i}]"), format!("`{item}` is listed twice"));
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.service_name())
    }
}
