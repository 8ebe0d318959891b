//! Builders, compact expectations and a tiny executor simulator shared by
//! the lifecycle tests.

use crate::lifecycle::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;

/// Account of every test user.
pub const ACCOUNT: &str = "111122223333";
/// Name of every test user.
pub const USER: &str = "alice";
/// The older key.
pub const OLD: &str = "AKIAOLD0000000000001";
/// The newer key.
pub const NEW: &str = "AKIANEW0000000000002";
/// A third key id (orphans, extra keys).
pub const THIRD: &str = "AKIATHIRD00000000003";

/// The fixed planning time.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// `n` days before [`now`].
pub fn ago(n: i64) -> DateTime<Utc> {
    now() - Duration::days(n)
}

/// `n` days after [`now`].
pub fn from_now(n: i64) -> DateTime<Utc> {
    now() + Duration::days(n)
}

/// A key of age `age` days.
pub fn key(id: &str, status: KeyStatus, age: i64) -> KeyFacts {
    KeyFacts { access_key_id: id.to_string(), status, created: ago(age), last_used: None }
}

/// An active key of age `age` days, never used.
pub fn active(id: &str, age: i64) -> KeyFacts {
    key(id, KeyStatus::Active, age)
}

/// An inactive key of age `age` days, never used.
pub fn inactive(id: &str, age: i64) -> KeyFacts {
    key(id, KeyStatus::Inactive, age)
}

/// `key`, last used `days_ago` days before [`now`].
pub fn used(mut key: KeyFacts, days_ago: i64) -> KeyFacts {
    key.last_used = Some(ago(days_ago));
    key
}

/// User [`USER`] with `keys`, no tags, no secret.
pub fn user(keys: Vec<KeyFacts>) -> UserFacts {
    UserFacts {
        user_name: USER.to_string(),
        user_arn: format!("arn:aws:iam::{ACCOUNT}:user/{USER}"),
        keys,
        tags: BTreeMap::new(),
        in_exemption_group: false,
        secret: None,
    }
}

/// `user` with the tag `name` = `value`.
pub fn tagged(mut user: UserFacts, name: &str, value: &str) -> UserFacts {
    user.tags.insert(name.to_string(), value.to_string());
    user
}

/// `user` with rekey's record that it deactivated `id` `days_ago` days before [`now`].
pub fn deactivated(user: UserFacts, id: &str, days_ago: i64) -> UserFacts {
    tagged(user, &format!("{DEACTIVATED_TAG_PREFIX}{id}"), &ago(days_ago).to_rfc3339())
}

/// `user` with rekey's record that it first saw `id` inactive `days_ago` days before [`now`].
pub fn seen_inactive(user: UserFacts, id: &str, days_ago: i64) -> UserFacts {
    tagged(user, &format!("{SEEN_INACTIVE_TAG_PREFIX}{id}"), &ago(days_ago).to_rfc3339())
}

/// `user` with a secret in the given state.
pub fn with_secret(
    mut user: UserFacts,
    current: Option<&str>,
    pending: Option<&str>,
    started: Option<DateTime<Utc>>,
) -> UserFacts {
    user.secret = Some(SecretFacts {
        arn: format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:Account_{ACCOUNT}_User_{USER}_AccessKey-AbCdEf"
        ),
        current_key_id: current.map(str::to_string),
        pending_key_id: pending.map(str::to_string),
        rotation_started: started,
        ..SecretFacts::default()
    });
    user
}

/// The default policy: 90 / 100 / 110 days, warn 7 days ahead.
pub fn policy() -> Policy {
    Policy::from_config(&rekey_config::Lifecycle::default())
}

/// The default policy, with the test user forced.
pub fn forced() -> Policy {
    let mut policy = policy();
    policy.force_rotate.insert(USER.to_string());
    policy
}

/// Plans one user at `now`.
pub fn plan_at(user: &UserFacts, policy: &Policy, now: DateTime<Utc>) -> UserPlan {
    let facts = AccountFacts {
        account_id: ACCOUNT.to_string(),
        account_name: "test".to_string(),
        account_email: None,
        users: vec![user.clone()],
    };
    let mut plan = plan(&facts, policy, now);
    assert_eq!(plan.users.len(), 1);
    let plan = plan.users.remove(0);
    for action in &plan.actions {
        assert_eq!((action.account_id.as_str(), action.user_name.as_str()), (ACCOUNT, USER), "{action:?}");
        assert!(action.due <= now, "an action planned now cannot be due later: {action:?}");
    }
    for warning in &plan.warnings {
        assert_eq!((warning.account_id.as_str(), warning.user_name.as_str()), (ACCOUNT, USER), "{warning:?}");
        assert!(!warning.message.is_empty(), "{warning:?}");
    }
    plan
}

/// Plans one user at [`now`].
pub fn plan_one(user: &UserFacts, policy: &Policy) -> UserPlan {
    plan_at(user, policy, now())
}

/// An action, compactly: key, action, reason, due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct A(pub String, pub ActionKind, pub Reason, pub DateTime<Utc>);

/// Expected action.
pub fn a(key: &str, action: ActionKind, reason: Reason, due: DateTime<Utc>) -> A {
    A(key.to_string(), action, reason, due)
}

/// A warning, compactly: key, upcoming action, reason, due, severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct W(pub String, pub Option<ActionKind>, pub Reason, pub Option<DateTime<Utc>>, pub Severity);

/// Expected announcement of `action` due at `due`.
pub fn upcoming(key: &str, action: ActionKind, reason: Reason, due: DateTime<Utc>) -> W {
    W(key.to_string(), Some(action), reason, Some(due), Severity::Warning)
}

/// Expected warning.
pub fn w(key: &str, upcoming: Option<ActionKind>, reason: Reason, due: Option<DateTime<Utc>>, severity: Severity) -> W {
    W(key.to_string(), upcoming, reason, due, severity)
}

/// The plan's actions, compactly.
pub fn actions(plan: &UserPlan) -> Vec<A> {
    plan.actions.iter().map(|x| A(x.access_key_id.clone(), x.action, x.reason, x.due)).collect()
}

/// The plan's warnings, compactly.
pub fn warnings(plan: &UserPlan) -> Vec<W> {
    plan.warnings.iter().map(|x| W(x.access_key_id.clone(), x.upcoming, x.reason, x.due, x.severity)).collect()
}

/// The user's status, without its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum St {
    Managed,
    Exempt,
    Manual,
}

/// The plan's status, without its text.
pub fn status(plan: &UserPlan) -> St {
    match plan.status {
        UserStatus::Managed => St::Managed,
        UserStatus::Exempt { .. } => St::Exempt,
        UserStatus::NeedsManualAction { .. } => St::Manual,
    }
}

/// One row of a planning table.
pub struct Case {
    pub name: &'static str,
    pub user: UserFacts,
    pub policy: Policy,
    pub actions: Vec<A>,
    pub warnings: Vec<W>,
    pub status: St,
}

/// Plans every case at [`now`] and compares actions, warnings and status.
pub fn run_table(cases: Vec<Case>) {
    for case in cases {
        let plan = plan_one(&case.user, &case.policy);
        pretty_assertions::assert_eq!(actions(&plan), case.actions, "actions of case `{}`", case.name);
        pretty_assertions::assert_eq!(warnings(&plan), case.warnings, "warnings of case `{}`", case.name);
        assert_eq!(status(&plan), case.status, "status of case `{}`: {:?}", case.name, plan.status);
    }
}

/// A tiny stand-in for the executor: applies a plan's effects to the facts
/// at `now`, asserting the safety invariants on the way. New keys get the
/// id `AKIASIM` + a counter, so runs are deterministic.
pub struct Sim {
    pub user: UserFacts,
    pub next_id: u32,
}

impl Sim {
    /// A simulator over `user`.
    pub fn new(user: UserFacts) -> Sim {
        Sim { user, next_id: 1 }
    }

    /// Active keys of the user.
    pub fn active_count(&self) -> usize {
        self.user.keys.iter().filter(|k| k.status == KeyStatus::Active).count()
    }

    /// Applies `plan` at `now`.
    pub fn apply(&mut self, plan: &UserPlan, now: DateTime<Utc>) {
        let had_active = self.active_count() > 0;
        for action in &plan.actions {
            let id = action.access_key_id.clone();
            match action.action {
                ActionKind::Rotate => {
                    assert!(self.user.keys.len() < 2, "rotate would exceed 2 keys: {:?}", self.user.keys);
                    let new_id = format!("AKIASIM{:013}", self.next_id);
                    self.next_id += 1;
                    self.user.keys.push(KeyFacts {
                        access_key_id: new_id.clone(),
                        status: KeyStatus::Active,
                        created: now,
                        last_used: None,
                    });
                    let arn = self.user.secret.as_ref().map(|s| s.arn.clone()).unwrap_or_default();
                    self.user.secret = Some(SecretFacts {
                        arn,
                        current_key_id: Some(new_id),
                        pending_key_id: None,
                        rotation_started: None,
                        ..SecretFacts::default()
                    });
                }
                ActionKind::CompleteRotation => {
                    let secret = self.user.secret.as_mut().expect("a secret to complete");
                    assert_eq!(secret.pending_key_id.as_deref(), Some(id.as_str()));
                    secret.current_key_id = secret.pending_key_id.take();
                    secret.rotation_started = None;
                }
                ActionKind::DeleteOrphanKey => {
                    let current = self.user.secret.as_ref().and_then(|s| s.current_key_id.clone());
                    assert_ne!(current.as_deref(), Some(id.as_str()), "deleted the key stored as current");
                    self.remove(&id);
                    assert!(self.active_count() > 0, "deleting the orphan left no active key");
                }
                ActionKind::Deactivate => {
                    let created = self.find(&id).created;
                    assert_eq!(self.find(&id).status, KeyStatus::Active);
                    assert!(
                        self.user.keys.iter().any(|k| k.status == KeyStatus::Active && k.created > created),
                        "deactivated `{id}` with no newer active replacement"
                    );
                    self.user.keys.iter_mut().find(|k| k.access_key_id == id).unwrap().status = KeyStatus::Inactive;
                    self.user.tags.insert(format!("{DEACTIVATED_TAG_PREFIX}{id}"), now.to_rfc3339());
                }
                ActionKind::Delete => {
                    assert_eq!(self.find(&id).status, KeyStatus::Inactive, "deleted an active key `{id}`");
                    self.remove(&id);
                }
                ActionKind::RecordInactiveSeen => {
                    assert_eq!(self.find(&id).status, KeyStatus::Inactive);
                    self.user.tags.insert(format!("{SEEN_INACTIVE_TAG_PREFIX}{id}"), now.to_rfc3339());
                }
            }
            assert!(self.user.keys.len() <= 2, "more than 2 keys after {action:?}");
            if had_active {
                assert!(self.active_count() > 0, "no active key left after {action:?}");
            }
        }
    }

    fn find(&self, id: &str) -> &KeyFacts {
        self.user.keys.iter().find(|k| k.access_key_id == id).unwrap_or_else(|| panic!("no key `{id}`"))
    }

    fn remove(&mut self, id: &str) {
        self.find(id);
        self.user.keys.retain(|k| k.access_key_id != id);
        self.user.tags.remove(&format!("{DEACTIVATED_TAG_PREFIX}{id}"));
        self.user.tags.remove(&format!("{SEEN_INACTIVE_TAG_PREFIX}{id}"));
    }
}
