//! Plan files on the command line: `rekey plan --out FILE` writes the
//! reviewed plan, `rekey rotate --plan FILE` applies exactly it (see
//! `rekey_runtime::plan_file` for the protocol and docs/review-workflow.md).

use super::plan::{run_failure, Invocation, ReportView};
use crate::exit::{Failure, BUILD, PLAN_REFUSED};
use chrono::{DateTime, Utc};
use rekey_config::Config;
use rekey_runtime::plan_file::outcome::ApplyReport;
use rekey_runtime::plan_file::rotator::ReviewedRotator;
use rekey_runtime::plan_file::{AccountReview, PlanFile, PlannedAccount, ReviewedPlan};
use rekey_runtime::rotation::RotationDeps;
use rekey_runtime::run::{run as run_flow, RunDeps, RunOutcome};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Runs the in-process flow with the rotation core behind a
/// [`ReviewedRotator`]: applying `plan`, or recording what is planned.
pub(crate) fn execute(
    inv: Invocation<'_>,
    plan: Option<ReviewedPlan>,
) -> Result<(RunOutcome, BTreeMap<String, AccountReview>), Failure> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Failure::new(BUILD, e))?;
    runtime.block_on(async {
        let configured = inv.config.deployment.region.as_str();
        let sdk = rekey_sdk::load_for_cli(inv.profile, inv.region, configured, rekey_sdk::Calls::Small).await;
        let base = rekey_runtime::wiring::run_deps(inv.config, &sdk).await.map_err(run_failure)?;
        let deps = RunDeps {
            directory: base.directory,
            rotator: ReviewedRotator::new(inv.config, RotationDeps::aws(&sdk), plan),
            mailer: base.mailer,
            deployment_account_id: base.deployment_account_id,
        };
        let outcome = run_flow(inv.config, &deps, &inv.options).await.map_err(run_failure)?;
        Ok((outcome, deps.rotator.reviews()))
    })
}

/// Writes the plan of a `rekey plan` run to `path`; returns its action count.
pub(crate) fn write(
    path: &Path,
    config: &Config,
    created_at: DateTime<Utc>,
    outcome: &RunOutcome,
    reviews: &BTreeMap<String, AccountReview>,
) -> Result<usize, Failure> {
    let accounts = outcome
        .report
        .accounts
        .iter()
        .map(|a| PlannedAccount {
            account_id: a.account_id.clone(),
            account_name: a.account_name.clone(),
            users: reviews.get(&a.account_id).map(|r| r.planned.clone()).unwrap_or_default(),
        })
        .collect();
    let plan = ReviewedPlan::new(&outcome.report.run_id, created_at, config, accounts);
    let count = plan.action_count();
    std::fs::write(path, PlanFile::seal(plan).to_json())
        .map_err(|e| Failure::new(BUILD, anyhow::anyhow!("cannot write the plan file `{}`: {e}", path.display())))?;
    Ok(count)
}

/// Reads `path` and refuses it as a whole when its checksum fails, the
/// config changed, or it is older than `plan.max_age_hours` at `now`.
pub(crate) fn read(path: &Path, config: &Config, now: DateTime<Utc>) -> Result<ReviewedPlan, Failure> {
    let refused =
        |e: String| Failure::new(PLAN_REFUSED, anyhow::anyhow!("plan file `{}` refused: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
    let file = PlanFile::read(&text).map_err(|e| refused(e.to_string()))?;
    file.plan.check(config, now).map_err(|e| refused(e.to_string()))?;
    Ok(file.plan)
}

/// `rotate --plan`'s output: the run report, then what became of the plan.
#[derive(serde::Serialize)]
pub(crate) struct AppliedView<'a> {
    #[serde(flatten)]
    pub run: ReportView<'a>,
    pub plan: &'a ApplyReport,
}

impl fmt::Display for AppliedView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n\n{}", self.run, self.plan)
    }
}
