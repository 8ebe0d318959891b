//! Property tests of the planner (proptest, fixed seed): random users (0-3
//! keys of any status and age up to 400 days, last use before or after the
//! other key's creation, record tags sometimes malformed, exemptions, secrets
//! pointing at existing, missing or foreign keys, interrupted rotations,
//! forced rotation) under random valid policies. For every plan, the safety
//! invariants hold once its actions are applied in order, and the plan does
//! not depend on anything but the facts.

use super::support::{now, ACCOUNT, USER};
use crate::lifecycle::*;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::{BTreeMap, BTreeSet};

/// Cases per property run: enough to reach every branch of the planner
/// many times, small enough to stay near a second in a debug build.
const CASES: u32 = 4000;

/// The key ids a user may have; `MISSING` and `FOREIGN` are ids a secret or a
/// tag may name although the user has no such key.
const IDS: [&str; 3] = ["AKIAPROP000000000001", "AKIAPROP000000000002", "AKIAPROP000000000003"];
const MISSING: &str = "AKIAMISSING000000009";
const FOREIGN: &str = "AKIAFOREIGN000000008";

/// A time `days` and `hours` before [`now`].
fn before_now(days: i64, hours: i64) -> DateTime<Utc> {
    now() - Duration::days(days) - Duration::hours(hours)
}

/// How a key's last use is drawn.
#[derive(Clone, Debug)]
enum LastUse {
    Never,
    /// `days` before now, but not before the key's creation.
    DaysAgo(i64),
    /// At the very instant another key (by index) was created, or just after.
    AtCreationOf(usize, i64),
}

/// A key as drawn: status, age, last use.
#[derive(Clone, Debug)]
struct KeySpec {
    active: bool,
    age_days: i64,
    age_hours: i64,
    last_use: LastUse,
}

/// What a secret's key-id field points at.
#[derive(Clone, Debug)]
enum KeyRef {
    None,
    Key(usize),
    Missing,
    Foreign,
}

fn key_ref() -> impl Strategy<Value = KeyRef> {
    prop_oneof![
        3 => Just(KeyRef::None),
        4 => (0..3usize).prop_map(KeyRef::Key),
        1 => Just(KeyRef::Missing),
        1 => Just(KeyRef::Foreign),
    ]
}

fn key_spec() -> impl Strategy<Value = KeySpec> {
    let last_use = prop_oneof![
        2 => Just(LastUse::Never),
        3 => (0..=400i64).prop_map(LastUse::DaysAgo),
        2 => ((0..3usize), (0..=2i64)).prop_map(|(i, h)| LastUse::AtCreationOf(i, h)),
    ];
    // Young keys often: replacements mid-grace, and keys created by an
    // interrupted rotation (hours after its record).
    let age = prop_oneof![3 => 0..=400i64, 1 => 0..=15i64, 1 => Just(0i64)];
    (any::<bool>(), age, 0..24i64, last_use).prop_map(|(active, age_days, age_hours, last_use)| KeySpec {
        active,
        age_days,
        age_hours,
        last_use,
    })
}

/// A record tag's value as drawn.
#[derive(Clone, Debug)]
enum Record {
    DaysAgo(i64),
    Malformed,
}

fn record() -> impl Strategy<Value = Option<Record>> {
    prop_oneof![
        4 => Just(None),
        4 => (0..=200i64).prop_map(|d| Some(Record::DaysAgo(d))),
        1 => Just(Some(Record::Malformed)),
    ]
}

/// The exempt-until tag as drawn.
#[derive(Clone, Debug)]
enum ExemptUntil {
    None,
    DaysFromNow(i64),
    Malformed,
}

/// The secret as drawn.
#[derive(Clone, Debug)]
struct SecretSpec {
    current: KeyRef,
    pending: KeyRef,
    started: Option<Started>,
    lease_hours: Option<i64>,
}

/// When the interrupted rotation was recorded as started.
#[derive(Clone, Debug)]
enum Started {
    HoursAgo(i64),
    /// This many hours before the key (by index) was created: the key may
    /// be the rotation's orphan.
    BeforeKey(usize, i64),
}

/// Everything drawn for one case.
#[derive(Clone, Debug)]
struct Case {
    keys: Vec<KeySpec>,
    /// Per key index (and one for a key the user no longer has): deactivated
    /// and seen-inactive records.
    records: Vec<(Option<Record>, Option<Record>)>,
    in_group: bool,
    exempt_until: ExemptUntil,
    secret: Option<SecretSpec>,
    forced: bool,
    policy: Policy,
}

fn policy() -> impl Strategy<Value = Policy> {
    // Within validation: 0 < R < D < X ≤ 2R (so D < 2R), X ≤ 3650, W < R;
    // half the time near the default 90/100/110, where the key ages land.
    let rotate = prop_oneof![1 => 2..=200u32, 1 => 85..=95u32];
    rotate
        .prop_flat_map(|r| (Just(r), (r + 1)..(2 * r)))
        .prop_flat_map(|(r, d)| (Just(r), Just(d), (d + 1)..=(2 * r), 0..r))
        .prop_flat_map(|(r, d, x, w)| (Just((r, d, x, w)), any::<bool>(), prop::option::of(1..=30u32)))
        .prop_map(|((r, d, x, w), stale, unused)| Policy {
            rotate_after_days: r,
            deactivate_after_days: d,
            delete_after_days: x,
            warn_before_days: w,
            delete_stale_inactive_keys: stale,
            require_unused_days_before_deactivate: unused,
            ..super::support::policy()
        })
}

fn case() -> impl Strategy<Value = Case> {
    let exempt_until = prop_oneof![
        6 => Just(ExemptUntil::None),
        2 => (-30..=30i64).prop_map(ExemptUntil::DaysFromNow),
        1 => Just(ExemptUntil::Malformed),
    ];
    let started = prop_oneof![
        2 => Just(None),
        1 => (0..=48i64).prop_map(|h| Some(Started::HoursAgo(h))),
        1 => ((0..3usize), (-2..=14i64)).prop_map(|(i, h)| Some(Started::BeforeKey(i, h))),
    ];
    let secret = prop::option::weighted(
        0.6,
        (key_ref(), key_ref(), started, prop::option::of(-2..=2i64))
            .prop_map(|(current, pending, started, lease_hours)| SecretSpec { current, pending, started, lease_hours }),
    );
    let policy_and_keys = policy().prop_flat_map(|policy| {
        let keys = prop_oneof![
            3 => prop::collection::vec(key_spec(), 0..=3),
            1 => mid_rotation(&policy),
        ];
        (Just(policy), keys)
    });
    (
        policy_and_keys,
        prop::collection::vec((record(), record()), 4),
        prop::bool::weighted(0.1),
        exempt_until,
        secret,
        prop::bool::weighted(0.15),
    )
        .prop_map(|((policy, keys), records, in_group, exempt_until, secret, forced)| Case {
            keys,
            records,
            in_group,
            exempt_until,
            secret,
            forced,
            policy,
        })
}

/// Two active keys around the deactivation day of `policy`: the older one
/// near age D, the newer one near its installation grace D − R, the older
/// one last used at any time (before or after the newer one's creation).
fn mid_rotation(policy: &Policy) -> BoxedStrategy<Vec<KeySpec>> {
    let (r, d) = (i64::from(policy.rotate_after_days), i64::from(policy.deactivate_after_days));
    let last_use = prop_oneof![
        Just(LastUse::Never),
        (0..=d + 5).prop_map(LastUse::DaysAgo),
        (0..=2i64).prop_map(|h| LastUse::AtCreationOf(1, h)),
    ];
    ((d - 3)..=(d + 5), (d - r - 2).max(0)..=(r + 1), 0..24i64, last_use)
        .prop_map(|(old_age, new_age, hours, last_use)| {
            vec![
                KeySpec { active: true, age_days: old_age.max(new_age), age_hours: hours + 1, last_use },
                KeySpec { active: true, age_days: new_age.min(old_age), age_hours: hours, last_use: LastUse::Never },
            ]
        })
        .boxed()
}

/// The facts and policy a drawn case describes.
fn build(case: &Case) -> (UserFacts, Policy) {
    let created: Vec<DateTime<Utc>> = case.keys.iter().map(|k| before_now(k.age_days, k.age_hours)).collect();
    let keys: Vec<KeyFacts> = case
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let last_used = match k.last_use {
                LastUse::Never => None,
                LastUse::DaysAgo(d) => Some(before_now(d, 0).max(created[i])),
                LastUse::AtCreationOf(j, h) => {
                    created.get(j).map(|c| (*c + Duration::hours(h)).max(created[i]).min(now()))
                }
            };
            KeyFacts {
                access_key_id: IDS[i].to_string(),
                status: if k.active { KeyStatus::Active } else { KeyStatus::Inactive },
                created: created[i],
                last_used,
            }
        })
        .collect();

    let mut tags = BTreeMap::new();
    let record_ids = [IDS[0], IDS[1], IDS[2], MISSING];
    for (id, (deactivated, seen)) in record_ids.iter().zip(&case.records) {
        for (prefix, record) in [(DEACTIVATED_TAG_PREFIX, deactivated), (SEEN_INACTIVE_TAG_PREFIX, seen)] {
            let value = match record {
                None => continue,
                Some(Record::DaysAgo(d)) => before_now(*d, 0).to_rfc3339(),
                Some(Record::Malformed) => "last tuesday".to_string(),
            };
            tags.insert(format!("{prefix}{id}"), value);
        }
    }
    match case.exempt_until {
        ExemptUntil::None => {}
        ExemptUntil::DaysFromNow(d) => {
            let until = (now() + Duration::days(d)).format("%Y-%m-%d").to_string();
            tags.insert(EXEMPT_UNTIL_TAG.to_string(), until);
        }
        ExemptUntil::Malformed => {
            tags.insert(EXEMPT_UNTIL_TAG.to_string(), "soon".to_string());
        }
    }

    let resolve = |r: &KeyRef| match r {
        KeyRef::None => None,
        KeyRef::Key(i) => Some(IDS[*i].to_string()),
        KeyRef::Missing => Some(MISSING.to_string()),
        KeyRef::Foreign => Some(FOREIGN.to_string()),
    };
    let secret = case.secret.as_ref().map(|s| {
        let started = match s.started {
            None => None,
            Some(Started::HoursAgo(h)) => Some(now() - Duration::hours(h)),
            Some(Started::BeforeKey(i, h)) => created.get(i).map(|c| *c - Duration::hours(h)),
        };
        SecretFacts {
            arn: format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rekey-{USER}"),
            current_key_id: resolve(&s.current),
            pending_key_id: resolve(&s.pending),
            rotation_started: started,
            rotation_lease_until: started.and(s.lease_hours.map(|h| now() + Duration::hours(h))),
            ..SecretFacts::default()
        }
    });

    let user = UserFacts {
        user_name: USER.to_string(),
        user_arn: format!("arn:aws:iam::{ACCOUNT}:user/{USER}"),
        keys,
        tags,
        in_exemption_group: case.in_group,
        secret,
    };
    let mut policy = case.policy.clone();
    if case.forced {
        policy.force_rotate = BTreeSet::from([USER.to_string()]);
    }
    (user, policy)
}

/// Plans the one user at [`now`].
fn plan_user(user: &UserFacts, policy: &Policy) -> UserPlan {
    let facts = AccountFacts {
        account_id: ACCOUNT.to_string(),
        account_name: "test".to_string(),
        account_email: None,
        users: vec![user.clone()],
    };
    plan(&facts, policy, now()).users.remove(0)
}

/// Whether the secret holds `id` as current or pending: rekey's own key.
fn rekeys_own(user: &UserFacts, id: &str) -> bool {
    user.secret
        .as_ref()
        .is_some_and(|s| s.current_key_id.as_deref() == Some(id) || s.pending_key_id.as_deref() == Some(id))
}

/// Whether the user is exempt, decided here independently of the planner.
fn exempt(user: &UserFacts) -> bool {
    let until = user.tags.get(EXEMPT_UNTIL_TAG).and_then(|v| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
    user.in_exemption_group || until.is_some_and(|u| now().date_naive() <= u)
}

/// Applies the plan's actions in order to the user's keys, checking each
/// safety invariant on the way.
fn check(user: &UserFacts, policy: &Policy) -> Result<(), TestCaseError> {
    let plan = plan_user(user, policy);
    prop_assert_eq!(&plan, &plan_user(user, policy), "the same input twice gives the same plan");
    for order in [user.keys.iter().rev().cloned().collect::<Vec<_>>(), {
        let mut keys = user.keys.clone();
        let first = 1.min(keys.len());
        keys.rotate_left(first);
        keys
    }] {
        let reordered = UserFacts { keys: order, ..user.clone() };
        prop_assert_eq!(&plan_user(&reordered, policy), &plan, "the order keys are listed in changes nothing");
    }

    if exempt(user) {
        prop_assert!(plan.actions.is_empty(), "an exempt user got actions: {:?}", plan.actions);
        prop_assert!(matches!(plan.status, UserStatus::Exempt { .. }), "{:?}", plan.status);
    }
    if matches!(plan.status, UserStatus::NeedsManualAction { .. }) {
        prop_assert!(
            plan.warnings.iter().any(|w| w.severity == Severity::Critical),
            "manual without a critical warning"
        );
    }

    let active = |keys: &[KeyFacts]| keys.iter().filter(|k| k.status == KeyStatus::Active).count();
    let had_active = active(&user.keys) > 0;
    let mut keys = user.keys.clone();
    for action in &plan.actions {
        prop_assert!(action.due <= now(), "an action planned now is due later: {:?}", action);
        let id = action.access_key_id.as_str();
        let position = keys.iter().position(|k| k.access_key_id == id);
        match action.action {
            ActionKind::Rotate => {
                prop_assert!(keys.len() < 2, "rotating with {} keys: {:?}", keys.len(), plan.actions);
                keys.push(KeyFacts {
                    access_key_id: "AKIAROTATED000000000".to_string(),
                    status: KeyStatus::Active,
                    created: now(),
                    last_used: None,
                });
            }
            ActionKind::Deactivate => {
                let Some(i) = position else {
                    return Err(TestCaseError::fail(format!("deactivate of unknown `{id}`")));
                };
                let old = keys[i].clone();
                prop_assert_eq!(old.status, KeyStatus::Active, "deactivating an inactive key");
                // Only with a newer active replacement: rekey's own, or one
                // the old key has not been used since.
                let replaced = keys.iter().any(|n| {
                    n.access_key_id != id
                        && n.status == KeyStatus::Active
                        && n.created > old.created
                        && (rekeys_own(user, &n.access_key_id) || old.last_used.is_none_or(|u| u < n.created))
                });
                prop_assert!(replaced, "deactivated `{}` without a replacement it was unused since: {:?}", id, keys);
                keys[i].status = KeyStatus::Inactive;
            }
            ActionKind::Delete => {
                let Some(i) = position else { return Err(TestCaseError::fail(format!("delete of unknown `{id}`"))) };
                prop_assert_eq!(keys[i].status, KeyStatus::Inactive, "deleted an active key");
                keys.remove(i);
            }
            ActionKind::DeleteOrphanKey => {
                let Some(i) = position else { return Err(TestCaseError::fail(format!("orphan `{id}` unknown"))) };
                let current = user.secret.as_ref().and_then(|s| s.current_key_id.as_deref());
                prop_assert_ne!(current, Some(id), "deleted the key applications read from AWSCURRENT");
                keys.remove(i);
            }
            ActionKind::CompleteRotation => {
                prop_assert!(position.is_some_and(|i| keys[i].status == KeyStatus::Active), "complete `{}`", id);
            }
            ActionKind::RecordInactiveSeen => {
                prop_assert!(position.is_some_and(|i| keys[i].status == KeyStatus::Inactive), "record `{}`", id);
            }
        }
        prop_assert!(keys.len() <= 2.max(user.keys.len()), "more than 2 keys after {:?}", action);
        if had_active {
            prop_assert!(active(&keys) > 0, "no active key left after {:?}", action);
        }
    }
    Ok(())
}

/// A runner with a fixed seed, so every run draws the same cases, and no
/// failure file written into the source tree (a failure prints its case).
fn runner() -> TestRunner {
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

#[test]
fn every_plan_keeps_the_safety_invariants() {
    let mut runner = runner();
    let seen = std::cell::RefCell::new(BTreeMap::<ActionKind, u32>::new());
    let result = runner.run(&case(), |case| {
        let (user, policy) = build(&case);
        for action in plan_user(&user, &policy).actions {
            *seen.borrow_mut().entry(action.action).or_default() += 1;
        }
        check(&user, &policy)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator reaches every action, each many times.
    let seen = seen.into_inner();
    for kind in [
        ActionKind::Rotate,
        ActionKind::CompleteRotation,
        ActionKind::DeleteOrphanKey,
        ActionKind::Deactivate,
        ActionKind::Delete,
        ActionKind::RecordInactiveSeen,
    ] {
        assert!(seen.get(&kind).copied().unwrap_or(0) >= 20, "{kind:?} planned too rarely: {seen:?}");
    }
}

/// The two-applications case as a property: whatever the ages, policy and
/// records, a key used at or after the creation of a newer active key that
/// is not rekey's own is never deactivated.
#[test]
fn a_key_used_after_a_foreign_newer_key_is_never_deactivated() {
    let mut runner = runner();
    let strategy = (0..=400i64, 0..=400i64, 0..=400i64, any::<bool>(), policy());
    let result = runner.run(&strategy, |(old_age, new_age, used, stored_old, policy)| {
        let (old_age, new_age) = (old_age.max(new_age), old_age.min(new_age));
        let case = Case {
            keys: vec![
                KeySpec {
                    active: true,
                    age_days: old_age,
                    age_hours: 1,
                    last_use: LastUse::DaysAgo(used.min(new_age)),
                },
                KeySpec { active: true, age_days: new_age, age_hours: 0, last_use: LastUse::Never },
            ],
            records: vec![(None, None); 4],
            in_group: false,
            exempt_until: ExemptUntil::None,
            // The secret may hold the old key: the newer one is still foreign.
            secret: stored_old.then_some(SecretSpec {
                current: KeyRef::Key(0),
                pending: KeyRef::None,
                started: None,
                lease_hours: None,
            }),
            forced: false,
            policy,
        };
        let (user, policy) = build(&case);
        let plan = plan_user(&user, &policy);
        prop_assert!(plan.actions.iter().all(|a| a.action != ActionKind::Deactivate), "{:?}", plan.actions);
        check(&user, &policy)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
