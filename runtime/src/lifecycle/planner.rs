//! The decision rules: which key to rotate, deactivate or delete, and when.
//!
//! [`plan`] is pure: the same facts, policy and `now` always give the same
//! plan. Per user it runs four small steps, each in its own module:
//! 1. [`exemption`]: is the user exempt (group or `rekey:exempt-until` tag)?
//! 2. [`records`]: read the times rekey recorded in user tags (deactivated,
//!    seen inactive), since IAM keeps no deactivation time.
//! 3. [`recovery`]: finish or undo a rotation a crashed run left behind.
//! 4. [`keys`]: the lifecycle proper, from the keys' statuses and ages.
//!
//! Ages are measured from IAM's CreateDate. "Due" times are exact instants
//! (`CreateDate + n days`), so a key is expired at age R exactly when
//! `now >= created + R days`, which is the same as "age in whole days ≥ R".

mod exemption;
mod keys;
mod records;
mod recovery;

use super::model::*;
use chrono::{DateTime, Duration, Utc};
use std::cmp::Reverse;

/// Plans every user of `facts` under `policy` at `now`.
///
/// Users come out in user-name order, each user's actions in the order the
/// executor must run them (a delete always before the rotate that needs its
/// slot), and warnings sorted (critical first, then by due date and key).
pub fn plan(facts: &AccountFacts, policy: &Policy, now: DateTime<Utc>) -> Plan {
    let mut users: Vec<UserPlan> = facts.users.iter().map(|u| plan_user(&facts.account_id, u, policy, now)).collect();
    users.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    Plan { account_id: facts.account_id.clone(), now, users }
}

fn plan_user(account_id: &str, user: &UserFacts, policy: &Policy, now: DateTime<Utc>) -> UserPlan {
    let mut ctx = Ctx { account_id, user, policy, now, actions: Vec::new(), warnings: Vec::new(), manual: Vec::new() };
    let exempt = exemption::check(&mut ctx);
    let records = records::read(&mut ctx);

    // Ties on CreateDate are broken by key id so the order never depends on
    // the order IAM listed the keys in.
    let mut keys: Vec<&KeyFacts> = user.keys.iter().collect();
    keys.sort_by(|a, b| (a.created, &a.access_key_id).cmp(&(b.created, &b.access_key_id)));

    let recovery = recovery::recover(&mut ctx, keys);
    if recovery.leased {
        // Another run is mid-rotation: its new key may not be stored yet,
        // and any action here could undo or duplicate its work.
        return ctx.finish(exempt);
    }
    let after_recovery = ctx.actions.len();
    keys::decide(&mut ctx, &recovery.keys, recovery.restart, &records);
    if recovery.completing {
        // The interrupted rotation is finished first and alone: if its
        // verification fails, nothing destructive may already be queued
        // behind it (the reference sample's defect: it retired the old key
        // in the same run although the new key's secret had been lost, so
        // the user was left with no working key). The next run plans the rest.
        ctx.defer_actions_from(after_recovery, "deferred until the interrupted rotation is complete");
    }
    ctx.finish(exempt)
}

/// The plan being built for one user, with the helpers every rule uses.
struct Ctx<'a> {
    account_id: &'a str,
    user: &'a UserFacts,
    policy: &'a Policy,
    now: DateTime<Utc>,
    actions: Vec<PlannedAction>,
    warnings: Vec<Warning>,
    /// Why a person must act; non-empty means `NeedsManualAction`.
    manual: Vec<String>,
}

impl Ctx<'_> {
    /// Whether this run forces a rotation of the user.
    fn forced(&self) -> bool {
        self.policy.force_rotate.contains(&self.user.user_name)
    }

    /// Plans `action` on `key`, due at `due`.
    fn act(&mut self, key: &str, action: ActionKind, reason: Reason, due: DateTime<Utc>) {
        self.actions.push(PlannedAction {
            account_id: self.account_id.to_string(),
            user_name: self.user.user_name.clone(),
            access_key_id: key.to_string(),
            action,
            reason,
            due,
        });
    }

    /// Adds a warning.
    fn warn(
        &mut self,
        key: &str,
        upcoming: Option<ActionKind>,
        reason: Reason,
        due: Option<DateTime<Utc>>,
        severity: Severity,
        message: String,
    ) {
        self.warnings.push(Warning {
            account_id: self.account_id.to_string(),
            user_name: self.user.user_name.clone(),
            access_key_id: key.to_string(),
            upcoming,
            reason,
            due,
            severity,
            message,
        });
    }

    /// Announces `action`, due in the future at `due`, when it is at most
    /// `warn_before_days` away, so owners hear of it before it happens.
    fn announce(&mut self, key: &str, action: ActionKind, reason: Reason, due: DateTime<Utc>, why: &str) {
        if due > self.now && due <= self.now + days(self.policy.warn_before_days) {
            let message = format!("key `{key}` will be {} on {}: {why}", past_tense(action), date(due));
            self.warn(key, Some(action), reason, Some(due), Severity::Warning, message);
        }
    }

    /// Records that no safe automatic action exists: a critical warning, and
    /// the user's status becomes `NeedsManualAction`.
    fn needs_person(
        &mut self,
        key: &str,
        upcoming: Option<ActionKind>,
        reason: Reason,
        due: Option<DateTime<Utc>>,
        message: String,
    ) {
        self.manual.push(message.clone());
        self.warn(key, upcoming, reason, due, Severity::Critical, message);
    }

    /// Turns the actions from index `from` on into warnings (except the
    /// harmless `RecordInactiveSeen`), so they are reported but not run.
    fn defer_actions_from(&mut self, from: usize, why: &str) {
        let deferred: Vec<PlannedAction> = self.actions.drain(from..).collect();
        for action in deferred {
            if action.action == ActionKind::RecordInactiveSeen {
                self.actions.push(action);
                continue;
            }
            let message = format!(
                "key `{}` is due to be {} (due {}), {why}",
                action.access_key_id,
                past_tense(action.action),
                date(action.due)
            );
            self.warn(
                &action.access_key_id,
                Some(action.action),
                action.reason,
                Some(action.due),
                Severity::Warning,
                message,
            );
        }
    }

    /// The user's plan. An exempt user keeps no action, but everything that
    /// would be due is reported as a warning: exempt users are visible in
    /// the report, never silently dropped (REF skipped them entirely).
    fn finish(mut self, exempt: Option<UserStatus>) -> UserPlan {
        let status = match exempt {
            Some(status) => {
                let why = match &status {
                    UserStatus::Exempt { reason, .. } => format!("not done: the user is exempt ({reason})"),
                    _ => "not done: the user is exempt".to_string(),
                };
                self.defer_actions_from(0, &why);
                // Not even the harmless tag write: exempt means rekey changes nothing.
                self.actions.clear();
                status
            }
            None if self.manual.is_empty() => UserStatus::Managed,
            None => UserStatus::NeedsManualAction { reason: self.manual.join("; ") },
        };
        self.warnings.sort_by(|a, b| warning_order(a).cmp(&warning_order(b)));
        UserPlan { user_name: self.user.user_name.clone(), status, actions: self.actions, warnings: self.warnings }
    }
}

/// Sort key of warnings: critical first, then by due date (undated last),
/// key, action, reason and text, so the order is total and stable.
type WarningOrder<'w> = (Reverse<Severity>, bool, Option<DateTime<Utc>>, &'w str, Option<ActionKind>, Reason, &'w str);

fn warning_order(w: &Warning) -> WarningOrder<'_> {
    (Reverse(w.severity), w.due.is_none(), w.due, &w.access_key_id, w.upcoming, w.reason, &w.message)
}

/// `n` days as a duration.
fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// A due date as people read it.
fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// "rotated", "deactivated"... for messages.
fn past_tense(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Rotate => "rotated",
        ActionKind::CompleteRotation => "promoted to current (interrupted rotation completed)",
        ActionKind::DeleteOrphanKey => "deleted (orphan of an interrupted rotation)",
        ActionKind::Deactivate => "deactivated",
        ActionKind::Delete => "deleted",
        ActionKind::RecordInactiveSeen => "recorded as seen inactive",
    }
}
