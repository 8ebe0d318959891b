//! The filter between the planner and the executor when a reviewed plan is
//! applied: a pure function of the user's reviewed actions, the new plan and
//! the facts it was made from. An action runs only when it was reviewed, is
//! planned again now, and the user's keys are the ones the reviewer saw.

use super::{KeyFact, PlannedAccount, PlannedStep, PlannedUser};
use crate::lifecycle::{AccountFacts, ActionKind, KeyFacts, KeyStatus, Plan, PlannedAction, UserFacts, UserPlan};
use crate::rotation::audit::REPORT_KEY_PREFIX;
use serde::Serialize;
use std::fmt;

/// A planned action that was not run, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Account id.
    pub account_id: String,
    /// IAM user name.
    pub user_name: String,
    /// The key.
    pub access_key_id: String,
    /// The action.
    pub action: ActionKind,
    /// Why it was not run.
    #[serde(flatten)]
    pub why: RefusalReason,
}

/// Why an action was not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum RefusalReason {
    /// The user's keys differ from the plan's (a key rotated by hand,
    /// deleted, added, or its status changed).
    KeysChanged {
        /// What changed, one item per key.
        changes: Vec<String>,
    },
    /// The user is gone, or could not be audited this time.
    UserNotFound,
    /// The keys are unchanged, but the new plan no longer has the action
    /// (the user became exempt, a rotation is in flight, ...).
    NoLongerPlanned,
    /// The new plan has an action the reviewed plan does not: not run.
    NotInPlan,
    /// The account or user could not be processed (see the run report).
    NotReached {
        /// The account's or user's error.
        detail: String,
    },
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::KeysChanged { changes } => {
                write!(f, "the user's keys changed since the plan: {}", changes.join(", "))
            }
            RefusalReason::UserNotFound => f.write_str("the user was not found by this run's audit (deleted?)"),
            RefusalReason::NoLongerPlanned => {
                f.write_str("no longer planned (the user became exempt, or a rotation is in flight)")
            }
            RefusalReason::NotInPlan => f.write_str("not in the reviewed plan"),
            RefusalReason::NotReached { detail } => write!(f, "not reached: {detail}"),
        }
    }
}

/// How the user's keys differ from the plan's; empty when they do not.
/// Keys known only from the credential report (placeholder ids: the user
/// had nothing to do this time) are compared on status and creation date.
pub fn key_changes(planned: &[KeyFact], now: &[KeyFacts]) -> Vec<String> {
    if now.iter().any(|k| k.access_key_id.starts_with(REPORT_KEY_PREFIX)) {
        let mut unmatched: Vec<&KeyFacts> = now.iter().collect();
        let mut changes = Vec::new();
        for p in planned {
            // The credential report has whole seconds (the audit matches its
            // keys to listed keys the same way).
            match unmatched.iter().position(|k| k.status == p.status && k.created.timestamp() == p.created.timestamp())
            {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => changes.push(format!("`{}` deleted or changed", p.access_key_id)),
            }
        }
        for k in unmatched {
            changes.push(format!("a key created {} added", k.created.format("%Y-%m-%d %H:%M:%S UTC")));
        }
        return changes;
    }
    let mut changes = Vec::new();
    for p in planned {
        match now.iter().find(|k| k.access_key_id == p.access_key_id) {
            None => changes.push(format!("`{}` deleted", p.access_key_id)),
            Some(k) if k.status != p.status || k.created.timestamp() != p.created.timestamp() => {
                changes.push(format!("`{}` now {}", p.access_key_id, status_text(k.status)))
            }
            Some(_) => {}
        }
    }
    for k in now.iter().filter(|k| !planned.iter().any(|p| p.access_key_id == k.access_key_id)) {
        changes.push(format!("`{}` added", k.access_key_id));
    }
    changes
}

fn status_text(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Inactive => "inactive",
    }
}

/// The part of `user_plan` that may run under the reviewed `planned` user
/// (absent: the plan had no action for the user), and every action refused.
/// `facts` are the user's facts this run; pure.
pub fn screen_user(
    account_id: &str,
    planned: Option<&PlannedUser>,
    user_plan: UserPlan,
    facts: Option<&UserFacts>,
) -> (UserPlan, Vec<Refusal>) {
    let refusal = |access_key_id: &str, action: ActionKind, why: RefusalReason| Refusal {
        account_id: account_id.to_string(),
        user_name: user_plan.user_name.clone(),
        access_key_id: access_key_id.to_string(),
        action,
        why,
    };
    let reviewed: &[PlannedStep] = planned.map_or(&[], |p| p.actions.as_slice());
    let changes = match (planned, facts) {
        (Some(p), Some(f)) => key_changes(&p.keys, &f.keys),
        _ => Vec::new(),
    };
    let mut refused = Vec::new();
    for step in reviewed {
        let why = if facts.is_none() {
            Some(RefusalReason::UserNotFound)
        } else if !changes.is_empty() {
            Some(RefusalReason::KeysChanged { changes: changes.clone() })
        } else if !user_plan.actions.iter().any(|a| step.is(a)) {
            Some(RefusalReason::NoLongerPlanned)
        } else {
            None
        };
        if let Some(why) = why {
            refused.push(refusal(&step.access_key_id, step.action, why));
        }
    }
    let runs = |a: &PlannedAction| changes.is_empty() && reviewed.iter().any(|s| s.is(a));
    for a in user_plan.actions.iter().filter(|a| !reviewed.iter().any(|s| s.is(a))) {
        refused.push(refusal(&a.access_key_id, a.action, RefusalReason::NotInPlan));
    }
    let actions = user_plan.actions.iter().filter(|a| runs(a)).cloned().collect();
    (UserPlan { actions, ..user_plan }, refused)
}

/// What one account's run did with its reviewed plan: the users the new
/// plan had actions for (with their facts: what `rekey plan --out` writes)
/// and every refusal. Without a reviewed plan nothing is filtered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountReview {
    /// The reviewed actions of the account; `None`: no plan file (run all).
    pub reviewed: Option<PlannedAccount>,
    /// Users the new plan had actions for (before filtering), with their keys.
    pub planned: Vec<PlannedUser>,
    /// Actions not run.
    pub refused: Vec<Refusal>,
}

impl AccountReview {
    /// A review applying `reviewed` (or recording only, when `None`).
    pub fn new(reviewed: Option<PlannedAccount>) -> Self {
        AccountReview { reviewed, ..AccountReview::default() }
    }

    /// Records `plan` and, under a reviewed plan, keeps only what may run
    /// ([`screen_user`] per user); reviewed users missing from `plan` are
    /// refused as not found.
    pub fn screen(&mut self, plan: Plan, facts: &AccountFacts) -> Plan {
        let mut users = Vec::with_capacity(plan.users.len());
        for user_plan in plan.users {
            let user_facts = facts.users.iter().find(|u| u.user_name == user_plan.user_name);
            if !user_plan.actions.is_empty() {
                self.planned.push(PlannedUser {
                    user_name: user_plan.user_name.clone(),
                    keys: user_facts.map(|u| u.keys.iter().map(KeyFact::from).collect()).unwrap_or_default(),
                    actions: user_plan.actions.iter().map(PlannedStep::from).collect(),
                });
            }
            let Some(reviewed) = &self.reviewed else {
                users.push(user_plan);
                continue;
            };
            let planned = reviewed.users.iter().find(|u| u.user_name == user_plan.user_name);
            let (kept, refused) = screen_user(&plan.account_id, planned, user_plan, user_facts);
            self.refused.extend(refused);
            users.push(kept);
        }
        if let Some(reviewed) = &self.reviewed {
            for user in reviewed.users.iter().filter(|u| !users.iter().any(|p| p.user_name == u.user_name)) {
                let (_, refused) = screen_user(&plan.account_id, Some(user), empty_plan(&user.user_name), None);
                self.refused.extend(refused);
            }
        }
        Plan { users, ..plan }
    }
}

fn empty_plan(user_name: &str) -> UserPlan {
    UserPlan {
        user_name: user_name.to_string(),
        status: crate::lifecycle::UserStatus::Managed,
        actions: Vec::new(),
        warnings: Vec::new(),
    }
}
