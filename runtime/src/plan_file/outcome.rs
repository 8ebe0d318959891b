//! What applying a reviewed plan did: each reviewed action either ran (with
//! its result from the run report) or was refused (with the reason), and the
//! actions the new plans had that nobody reviewed were withheld.

use super::screen::{AccountReview, Refusal, RefusalReason};
use super::ReviewedPlan;
use crate::lifecycle::ActionKind;
use crate::report::{AccountStatus, ActionResult, RunReport};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A reviewed action that ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ran {
    /// Account id.
    pub account_id: String,
    /// IAM user name.
    pub user_name: String,
    /// The key.
    pub access_key_id: String,
    /// The action.
    pub action: ActionKind,
    /// Its result (`planned` when the apply ran in audit mode).
    #[serde(flatten)]
    pub result: ActionResult,
}

/// The plan part of `rekey rotate --plan`'s report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Id of the `rekey plan` run that wrote the file.
    pub plan_run_id: String,
    /// Reviewed actions that ran.
    pub ran: Vec<Ran>,
    /// Reviewed actions that did not, and why.
    pub refused: Vec<Refusal>,
    /// Actions the new plans had that were not reviewed: not run.
    pub withheld: Vec<Refusal>,
}

impl ApplyReport {
    /// Matches every reviewed action of `plan` with the run's `reviews` and `report`.
    pub fn new(plan: &ReviewedPlan, reviews: &BTreeMap<String, AccountReview>, report: &RunReport) -> Self {
        let refusals: Vec<&Refusal> = reviews.values().flat_map(|r| &r.refused).collect();
        let mut out = ApplyReport {
            plan_run_id: plan.run_id.clone(),
            ran: Vec::new(),
            refused: Vec::new(),
            withheld: Vec::new(),
        };
        out.withheld = refusals.iter().filter(|r| r.why == RefusalReason::NotInPlan).map(|r| (*r).clone()).collect();
        for account in &plan.accounts {
            let reported = report.accounts.iter().find(|a| a.account_id == account.account_id);
            for user in &account.users {
                let user_report = reported.and_then(|a| a.users.iter().find(|u| u.user_name == user.user_name));
                for step in &user.actions {
                    let refusal = refusals.iter().find(|r| {
                        r.account_id == account.account_id
                            && r.user_name == user.user_name
                            && r.access_key_id == step.access_key_id
                            && r.action == step.action
                            && r.why != RefusalReason::NotInPlan
                    });
                    let done = user_report.and_then(|u| {
                        u.actions.iter().find(|a| a.access_key_id == step.access_key_id && a.action == step.action)
                    });
                    let not_reached = |detail: String| Refusal {
                        account_id: account.account_id.clone(),
                        user_name: user.user_name.clone(),
                        access_key_id: step.access_key_id.clone(),
                        action: step.action,
                        why: RefusalReason::NotReached { detail },
                    };
                    match (refusal, done, user_report.and_then(|u| u.error.clone())) {
                        // A user whose audit failed is missing from the new plan: say why.
                        (Some(r), _, Some(error)) if r.why == RefusalReason::UserNotFound => {
                            out.refused.push(not_reached(error))
                        }
                        (Some(r), _, _) => out.refused.push((*r).clone()),
                        (None, Some(a), _) => out.ran.push(Ran {
                            account_id: account.account_id.clone(),
                            user_name: user.user_name.clone(),
                            access_key_id: step.access_key_id.clone(),
                            action: step.action,
                            result: a.result.clone(),
                        }),
                        (None, None, error) => out.refused.push(not_reached(
                            error
                                .or_else(|| reported.and_then(|a| account_problem(&a.status)))
                                .unwrap_or_else(|| "the account was not processed (see the run report)".to_string()),
                        )),
                    }
                }
            }
        }
        out
    }

    /// Whether every reviewed action ran and none failed.
    pub fn all_ran(&self) -> bool {
        self.refused.is_empty() && self.ran.iter().all(|r| !matches!(r.result, ActionResult::Failed { .. }))
    }
}

fn account_problem(status: &AccountStatus) -> Option<String> {
    match status {
        AccountStatus::Succeeded => None,
        AccountStatus::NotEnrolled { reason } => Some(format!("account not enrolled: {reason}")),
        AccountStatus::Failed { error } => Some(format!("account failed: {error}")),
    }
}

fn result_text(result: &ActionResult) -> String {
    match result {
        ActionResult::Planned => "planned (audit mode: nothing changed)".to_string(),
        ActionResult::Done { new_access_key_id: Some(k) } => format!("done (new key {k})"),
        ActionResult::Done { new_access_key_id: None } => "done".to_string(),
        ActionResult::Skipped { why } => format!("skipped: {why}"),
        ActionResult::Failed { error } => format!("FAILED: {error}"),
    }
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.ran.len() + self.refused.len();
        write!(
            f,
            "reviewed plan {}: {} of {total} action(s) ran, {} refused",
            self.plan_run_id,
            self.ran.len(),
            self.refused.len()
        )?;
        let code = |a: ActionKind| crate::notify::code(a);
        for r in &self.ran {
            write!(
                f,
                "\n  ran      {} {} {} {}: {}",
                r.account_id,
                r.user_name,
                r.access_key_id,
                code(r.action),
                result_text(&r.result)
            )?;
        }
        for r in &self.refused {
            write!(
                f,
                "\n  REFUSED  {} {} {} {}: {}",
                r.account_id,
                r.user_name,
                r.access_key_id,
                code(r.action),
                r.why
            )?;
        }
        if !self.withheld.is_empty() {
            write!(
                f,
                "\n{} action(s) planned now but not reviewed were not run (plan again to review them):",
                self.withheld.len()
            )?;
            for r in &self.withheld {
                write!(f, "\n  withheld {} {} {} {}", r.account_id, r.user_name, r.access_key_id, code(r.action))?;
            }
        }
        Ok(())
    }
}
