//! One account's users through the executor, up to
//! `runtime.concurrency.users_per_account` at once. Users are started in
//! name order and their reports collected in that order whatever finishes
//! first, so a report is the same at any concurrency; each user's own
//! actions run one after the other (the executor's protocol needs it).
//! Near the Lambda deadline no further user with actions is started, those
//! started finish, and the last started user is where a continuation resumes.

use super::{audit::Audited, execute::ExecContext, report_user, Deadline};
use crate::lifecycle::{UserFacts, UserPlan};
use crate::ports::Platform;
use crate::report::{EffectiveMode, UserReport};
use futures::stream::{FuturesOrdered, StreamExt};
use std::collections::BTreeMap;

/// What the users of one invocation came to.
pub(super) struct Covered {
    /// The users' reports, in plan (name) order.
    pub users: Vec<UserReport>,
    /// Set when the invocation stopped before its deadline: the last user covered.
    pub continue_after: Option<String>,
}

/// Reports (and in enforce mode executes) `plan` for the audited users.
pub(super) async fn cover<P: Platform>(
    exec_ctx: &ExecContext<'_, P>,
    audited: &Audited,
    plan: Vec<UserPlan>,
    mode: EffectiveMode,
    deadline: &Deadline,
    concurrency: usize,
) -> Covered {
    let facts_by_name: BTreeMap<&str, &UserFacts> =
        audited.facts.users.iter().map(|u| (u.user_name.as_str(), u)).collect();
    let mut plans = plan.into_iter();
    let mut running = FuturesOrdered::new();
    let mut users = Vec::new();
    let (mut started_a_user, mut stopped) = (false, false);
    let mut last_started: Option<String> = None;
    loop {
        while !stopped && running.len() < concurrency.max(1) {
            let Some(user_plan) = plans.next() else { break };
            let facts = facts_by_name.get(user_plan.user_name.as_str()).copied();
            let error = audited.user_errors.get(&user_plan.user_name).cloned();
            let enforce = mode == EffectiveMode::Enforce && facts.is_some() && error.is_none();
            let acts = enforce && !user_plan.actions.is_empty();
            // At least one user with actions per invocation, so every
            // invocation makes progress.
            if acts && started_a_user && deadline.near() {
                stopped = true;
                break;
            }
            started_a_user |= acts;
            last_started = Some(user_plan.user_name.clone());
            running.push_back(report_user(exec_ctx, facts, user_plan, error, enforce));
        }
        match running.next().await {
            Some(user) => users.push(user),
            None => break,
        }
    }
    Covered { users, continue_after: if stopped { last_started } else { None } }
}
