//! The `dashboard` section: the CloudWatch dashboard of the main stack over
//! the metrics the functions emit (docs/dashboard.md).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The CloudWatch dashboard of the main stack (docs/dashboard.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Dashboard {
    /// Create the `AWS::CloudWatch::Dashboard` in the main stack (default:
    /// true): keys rotated, deactivated and deleted per day, warnings,
    /// failures, accounts processed, dead-letter queue depth, and each
    /// function's errors and duration. Dashboards are billed per month
    /// beyond the free tier's three; false leaves it out.
    pub enabled: bool,
}

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard { enabled: true }
    }
}

impl Dashboard {
    /// Whether every setting is its default (the section is then left out of
    /// the written config; no function reads it).
    pub fn is_default(&self) -> bool {
        *self == Dashboard::default()
    }
}

/// The `plan` section: how `rekey rotate --plan` treats a plan file written
/// by `rekey plan --out` (docs/review-workflow.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PlanFiles {
    /// Hours after which `rekey rotate --plan` refuses a plan file as stale
    /// (1 to 720; default 24): the longer a plan waits for approval, the
    /// more of it is refused anyway because keys changed, and the less the
    /// reviewer's picture matches the accounts.
    pub max_age_hours: u32,
}

/// Default of `plan.max_age_hours`.
pub const DEFAULT_PLAN_MAX_AGE_HOURS: u32 = 24;

impl Default for PlanFiles {
    fn default() -> Self {
        PlanFiles { max_age_hours: DEFAULT_PLAN_MAX_AGE_HOURS }
    }
}

impl PlanFiles {
    /// Whether every setting is its default (the section is then left out of
    /// the written config; no function reads it).
    pub fn is_default(&self) -> bool {
        *self == PlanFiles::default()
    }
}
