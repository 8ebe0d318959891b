//! One regression test per defect of the reference solution (REF,
//! `aws-iam-access-key-auto-rotation`; section numbers from
//! `shared/reference/original.md`), named after the defect, plus an
//! invariant check over a grid of states.

use super::support::*;
use crate::lifecycle::ActionKind::*;
use crate::lifecycle::Reason::*;
use crate::lifecycle::{ActionKind, KeyFacts, KeyStatus, Policy, Severity, UserFacts, UserStatus};

fn kinds(plan: &crate::lifecycle::UserPlan) -> Vec<ActionKind> {
    plan.actions.iter().map(|a| a.action).collect()
}

/// REF issue #11 (v2), §2.2 pre-pass: a never-used expired key was deleted
/// (v3: deleted and re-created). Here it is rotated, the old key kept active.
#[test]
fn ref_never_used_expired_key_is_not_deleted() {
    let plan = plan_one(&user(vec![active(OLD, 90)]), &policy());
    assert_eq!(actions(&plan), vec![a(OLD, Rotate, Expired, now())]);
    let plan = plan_one(&user(vec![active(OLD, 500)]), &policy());
    assert_eq!(kinds(&plan), [Rotate]);
}

/// §5.2.5: a lone inactive key was deleted 17 days after its own creation,
/// even one an administrator disabled on purpose.
#[test]
fn ref_lone_inactive_key_not_deleted_17_days_after_creation() {
    let plan = plan_one(&user(vec![inactive(OLD, 17)]), &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let plan = plan_one(&user(vec![inactive(OLD, 400)]), &policy());
    assert!(plan.actions.is_empty(), "not deactivated by rekey: never deleted by default");
    // Even one rekey deactivated waits for age X and X−D days inactive.
    let plan = plan_one(&deactivated(user(vec![inactive(OLD, 20)]), OLD, 17), &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

/// §2.2 / §5.2.5: two expired active keys meant one active key deleted at once.
#[test]
fn ref_two_expired_active_keys_no_immediate_delete() {
    let mut u = user(vec![used(active(OLD, 200), 30), used(active(NEW, 95), 1)]);
    for policy in [policy(), forced()] {
        let plan = plan_one(&u, &policy);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(status(&plan), St::Manual);
        assert!(plan.warnings.iter().any(|w| w.reason == BothKeysExpired && w.severity == Severity::Critical));
    }
    u.keys[0].last_used = None;
    assert!(plan_one(&u, &policy()).actions.is_empty(), "never-used: REF's LRU pick deleted it");
}

/// §2.2 / §5.2.5: an expired active key beside an inactive key meant the
/// inactive key was deleted immediately (and the rotation mislabelled).
#[test]
fn ref_expired_active_plus_inactive_no_immediate_delete() {
    // Deactivated by rekey yesterday: its grace is not over.
    let plan = plan_one(&deactivated(user(vec![inactive(OLD, 150), active(NEW, 95)]), OLD, 1), &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(status(&plan), St::Manual);
    assert_eq!(plan.warnings[0].reason, InactiveKeyBlocksRotation);
    assert_eq!(plan.warnings[0].severity, Severity::Critical);
    // Disabled by an administrator: never deleted by default.
    let plan = plan_one(&user(vec![inactive(OLD, 150), active(NEW, 95)]), &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

/// §2.2 / §5.2.5: a forced rotation of a user with two keys deleted one at once.
#[test]
fn ref_forced_rotation_with_two_keys_no_immediate_delete() {
    for keys in [
        vec![active(OLD, 50), active(NEW, 10)],
        vec![inactive(OLD, 50), active(NEW, 10)],
        vec![active(OLD, 95), active(NEW, 0)],
    ] {
        let plan = plan_one(&user(keys.clone()), &forced());
        assert!(plan.actions.iter().all(|a| a.action != Delete && a.action != Rotate), "{keys:?}: {:?}", plan.actions);
        assert_eq!(status(&plan), St::Manual, "{keys:?}");
    }
}

/// §2.2 / §5.2.4: the installation grace was a hard-wired 7 days (the
/// template's parameters were dead). Here it is D−R, from the config.
#[test]
fn ref_installation_grace_is_configurable_not_7() {
    // Default 90/100: REF deactivated a 7-day-old replacement's predecessor.
    let plan = plan_one(&user(vec![active(OLD, 300), active(NEW, 7)]), &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    // 30/45/60: the grace is 15 days.
    let policy = Policy { rotate_after_days: 30, deactivate_after_days: 45, delete_after_days: 60, ..policy() };
    assert!(plan_one(&user(vec![active(OLD, 60), active(NEW, 14)]), &policy).actions.is_empty());
    assert_eq!(kinds(&plan_one(&user(vec![active(OLD, 60), active(NEW, 15)]), &policy)), [Deactivate]);
}

/// §2.2: the recovery grace ran from the replacement's creation, so the
/// deactivated key was deleted 10 days after deactivation at the latest.
/// Here it runs from rekey's own deactivation record.
#[test]
fn ref_recovery_grace_runs_from_deactivation() {
    let plan = plan_one(&deactivated(user(vec![inactive(OLD, 400), active(NEW, 300)]), OLD, 9), &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let plan = plan_one(&deactivated(user(vec![inactive(OLD, 400), active(NEW, 80)]), OLD, 10), &policy());
    assert_eq!(kinds(&plan), [Delete]);
}

/// §2.2: the warning period was hard-wired to 7 days.
#[test]
fn ref_warn_period_is_configurable_not_7() {
    let policy = Policy { warn_before_days: 14, ..policy() };
    let plan = plan_one(&user(vec![active(OLD, 76)]), &policy);
    assert_eq!(warnings(&plan), vec![upcoming(OLD, Rotate, Expired, from_now(14))]);
}

/// §5.2.1: a crash after CreateAccessKey left a key whose secret was never
/// stored, and a later run created yet another key. Here the pending key is
/// completed, never duplicated.
#[test]
fn ref_interrupted_rotation_does_not_create_a_second_key() {
    let facts = with_secret(user(vec![active(OLD, 95), active(NEW, 0)]), Some(OLD), Some(NEW), Some(ago(0)));
    let plan = plan_one(&facts, &policy());
    assert_eq!(kinds(&plan), [CompleteRotation]);
}

/// §2.2: exempt users were skipped completely, absent from every report.
#[test]
fn ref_exempt_users_are_reported_not_dropped() {
    let mut u = user(vec![active(OLD, 95)]);
    u.in_exemption_group = true;
    let plan = plan_one(&u, &policy());
    assert_eq!(status(&plan), St::Exempt);
    assert!(plan.actions.is_empty());
    assert_eq!(warnings(&plan), vec![upcoming(OLD, Rotate, Expired, ago(5))]);
}

/// §5.2.6: REF could exceed IAM's 2-key limit (LimitExceeded), and deleted
/// active keys. Over a grid of states, applying the plan never exceeds two
/// keys, never deletes an active key, never deactivates one without a newer
/// active replacement, and never leaves a user that had an active key
/// without one (the simulator asserts each of these).
#[test]
fn invariants_hold_over_every_state_grid() {
    let ages = [0, 3, 85, 90, 95, 100, 105, 110, 120, 300];
    let statuses = [KeyStatus::Active, KeyStatus::Inactive];
    let mut policies = Vec::new();
    for stale in [false, true] {
        for unused in [None, Some(7)] {
            for force in [false, true] {
                let mut p = Policy {
                    delete_stale_inactive_keys: stale,
                    require_unused_days_before_deactivate: unused,
                    ..policy()
                };
                if force {
                    p.force_rotate.insert(USER.to_string());
                }
                policies.push(p);
            }
        }
    }
    let mut users: Vec<UserFacts> = vec![user(vec![])];
    for &age in &ages {
        for &status in &statuses {
            users.push(user(vec![key(OLD, status, age)]));
            for &new_age in ages.iter().filter(|a| **a <= age) {
                for &new_status in &statuses {
                    users.push(user(vec![key(OLD, status, age), key(NEW, new_status, new_age)]));
                }
            }
        }
    }
    // Each with no records, with rekey's records 0, 5 and 10 days old, and recently used.
    let mut states = Vec::new();
    for u in users {
        for record_age in [None, Some(0), Some(5), Some(10)] {
            let mut v = u.clone();
            if let Some(days) = record_age {
                for k in u.keys.iter().filter(|k| k.status == KeyStatus::Inactive) {
                    v = deactivated(seen_inactive(v, &k.access_key_id, days), &k.access_key_id, days);
                }
            }
            states.push(v.clone());
            v.keys.iter_mut().for_each(|k: &mut KeyFacts| k.last_used = Some(ago(1)));
            states.push(v);
        }
    }
    let mut planned = 0;
    for state in &states {
        for policy in &policies {
            let plan = plan_one(state, policy);
            planned += plan.actions.len();
            if status(&plan) == St::Manual {
                assert!(
                    plan.warnings.iter().any(|w| w.severity == Severity::Critical),
                    "manual action without a critical warning: {state:?}"
                );
            }
            let mut sim = Sim::new(state.clone());
            sim.apply(&plan, now());
        }
    }
    assert!(states.len() > 500 && planned > 1000, "{} states, {planned} actions", states.len());
}

/// Issue 8, defect 2 ("any newer active key is taken for the replacement"):
/// a user running one key per application lost the older application's key
/// once the newer key was 10 days old, with no warning. Both keys used every
/// day, the newer one not rekey's: never deactivated, and a person is told
/// which keys and when each was last used.
#[test]
fn any_newer_key_taken_for_replacement_two_applications_keep_both_keys() {
    let u = user(vec![used(active(OLD, 120), 1), used(active(NEW, 30), 2)]);
    let plan = plan_one(&u, &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(status(&plan), St::Manual);
    assert_eq!(warnings(&plan), vec![w(OLD, None, TwoKeysInUse, None, Severity::Critical)]);
    let message = &plan.warnings[0].message;
    for part in [OLD, NEW, "last used 2025-12-31", "last used 2025-12-30"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    // A never-used newer key reads "never".
    let plan = plan_one(&user(vec![used(active(OLD, 120), 1), active(NEW, 30)]), &policy());
    assert!(plan.warnings[0].message.contains("(last used never)"), "{}", plan.warnings[0].message);

    // Day by day, both applications using their key: never deactivated.
    let mut sim = Sim::new(u);
    for d in 0..=90 {
        let today = now() + chrono::Duration::days(d);
        sim.user.keys.iter_mut().for_each(|k| k.last_used = Some(today));
        let plan = plan_at(&sim.user, &policy(), today);
        assert!(plan.actions.is_empty(), "day {d}: {:?}", plan.actions);
        assert_eq!(status(&plan), St::Manual, "day {d}");
        sim.apply(&plan, today);
    }
    assert_eq!(sim.active_count(), 2);
}

/// Issue 8, defect 2: rekey's own replacement (the secret's `AWSCURRENT`)
/// keeps the seed's timeline although applications use the old key until
/// the day it is deactivated: rotated at 90, deactivated at 100 (announced
/// from 93), deleted at 110.
#[test]
fn any_newer_key_taken_for_replacement_rekeys_own_keeps_the_seed_timeline() {
    let mut sim = Sim::new(user(vec![active(OLD, 0)]));
    let mut log = Vec::new();
    for d in 0..=115 {
        let today = now() + chrono::Duration::days(d);
        if d < 100 {
            sim.user.keys.iter_mut().filter(|k| k.access_key_id == OLD).for_each(|k| k.last_used = Some(today));
        }
        let plan = plan_at(&sim.user, &policy(), today);
        assert_eq!(status(&plan), St::Managed, "day {d}: {:?}", plan.warnings);
        log.extend(plan.actions.iter().map(|a| (d, a.action, a.access_key_id.clone())));
        if (93..100).contains(&d) {
            assert!(plan.warnings.iter().any(|w| w.upcoming == Some(Deactivate)), "day {d}: announced");
        }
        sim.apply(&plan, today);
    }
    let expected: Vec<(i64, ActionKind, String)> =
        vec![(90, Rotate, OLD.into()), (100, Deactivate, OLD.into()), (110, Delete, OLD.into())];
    assert_eq!(log, expected);

    // The same with the replacement still pending in the secret (AWSPENDING
    // counts as rekey's own), and in a plain table state.
    let facts = with_secret(user(vec![used(active(OLD, 110), 0), active(NEW, 10)]), Some(NEW), None, None);
    assert_eq!(actions(&plan_one(&facts, &policy())), vec![a(OLD, Deactivate, ReplacementGraceOver, now())]);
}

/// Issue 8, defect 2: the audit first plans every user from the credential
/// report, with placeholder key ids that match no secret, and reads real key
/// ids only for users whose preliminary plan has an action or a warning. A
/// rekey replacement whose old key is still in use must get that attention
/// (the preliminary plan cannot tell it from a foreign key), so that the
/// final plan, with real ids, sees rekey's own key.
#[test]
fn any_newer_key_taken_for_replacement_audit_preliminary_plan_asks_for_real_ids() {
    let placeholder = |n: usize| format!("{}{n}", crate::rotation::audit::REPORT_KEY_PREFIX);
    // Applications use the old key until the day it is deactivated.
    for age in 0..=20 {
        let real = with_secret(user(vec![used(active(OLD, 90 + age), 0), active(NEW, age)]), Some(NEW), None, None);
        let mut preliminary = real.clone();
        preliminary.keys[0].access_key_id = placeholder(1);
        preliminary.keys[1].access_key_id = placeholder(2);
        let (first, last) = (plan_one(&preliminary, &policy()), plan_one(&real, &policy()));
        if !last.actions.is_empty() || !last.warnings.is_empty() {
            assert!(!first.actions.is_empty() || !first.warnings.is_empty(), "age {age}: no real key ids read");
        }
        assert_eq!(status(&last), St::Managed, "age {age}: {:?}", last.warnings);
        let expected = if age >= 10 { vec![Deactivate] } else { vec![] };
        assert_eq!(kinds(&last), expected, "age {age}");
    }
}

/// Issue 8, defect 2: a newer key rekey did not create still counts as the
/// replacement when the older key has not been used since it was created
/// (the applications moved): deactivated on the usual timeline. Used at the
/// very instant the newer key was created counts as used since.
#[test]
fn any_newer_key_taken_for_replacement_foreign_key_unused_old_key_is_deactivated() {
    let foreign = user(vec![used(active(OLD, 110), 11), used(active(NEW, 10), 0)]);
    assert_eq!(actions(&plan_one(&foreign, &policy())), vec![a(OLD, Deactivate, ReplacementGraceOver, now())]);
    let never_used = user(vec![active(OLD, 110), used(active(NEW, 10), 0)]);
    assert_eq!(kinds(&plan_one(&never_used, &policy())), [Deactivate]);
    // The secret holds the old key: the newer one is still not rekey's own.
    let stored_old = with_secret(foreign.clone(), Some(OLD), None, None);
    assert_eq!(kinds(&plan_one(&stored_old, &policy())), [Deactivate]);
    let at_creation = user(vec![used(active(OLD, 110), 10), active(NEW, 10)]);
    let plan = plan_one(&at_creation, &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.warnings[0].reason, TwoKeysInUse);
}

/// Plans `user` renamed to `name`, at [`now`].
fn plan_named(name: &str, mut user: UserFacts, policy: &Policy) -> crate::lifecycle::UserPlan {
    user.user_name = name.to_string();
    let facts = crate::lifecycle::AccountFacts {
        account_id: ACCOUNT.into(),
        account_name: "test".into(),
        account_email: None,
        users: vec![user],
    };
    crate::lifecycle::plan(&facts, policy, now()).users.remove(0)
}

/// Issue 8, defect 4: IAM user names may contain `,`, secret names may not,
/// so the rotation of such a user failed at the secret on every run. The
/// user is reported instead (critical, needs a person), never rotated.
#[test]
fn user_name_with_a_comma_is_reported_not_rotated_every_day() {
    let bad = "ci,deploy";
    for policy in [policy(), forced()] {
        let policy = Policy { force_rotate: policy.force_rotate.iter().map(|_| bad.to_string()).collect(), ..policy };
        let plan = plan_named(bad, user(vec![active(OLD, 95)]), &policy);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert!(matches!(&plan.status, UserStatus::NeedsManualAction { reason } if reason.contains("`,`")));
        let due = if policy.force_rotate.is_empty() { ago(5) } else { now() };
        assert_eq!(warnings(&plan), vec![w(OLD, Some(Rotate), InvalidSecretName, Some(due), Severity::Critical)]);
        let message = &plan.warnings[0].message;
        assert!(message.contains("`ci,deploy`") && message.contains("update-user"), "{message}");
    }
    // Announced as critical within the warning window, so it can be fixed in time.
    let plan = plan_named(bad, user(vec![active(OLD, 85)]), &policy());
    assert_eq!(warnings(&plan), vec![w(OLD, Some(Rotate), InvalidSecretName, Some(from_now(5)), Severity::Critical)]);
    // Nothing due: nothing to say; an interrupted rotation cannot restart either.
    let plan = plan_named(bad, user(vec![active(OLD, 10)]), &policy());
    assert!(plan.warnings.is_empty() && plan.actions.is_empty(), "{plan:?}");
    let plan = plan_named(bad, with_secret(user(vec![active(OLD, 10)]), Some(OLD), None, Some(ago(1))), &policy());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.warnings[0].reason, InvalidSecretName);
    // Every other character IAM allows is fine, with the configured pattern.
    let plan = plan_named("ci+deploy=1.x@y_z-w", user(vec![active(OLD, 95)]), &policy());
    assert_eq!(kinds(&plan), [Rotate]);
    let yaml = "secrets:\n  name_pattern: rekey/{account_id}/{user_name}\n";
    let config = rekey_config::Config::from_yaml_str(yaml, None).expect("valid config");
    assert_eq!(Policy::for_config(&config).secret_name_pattern, "rekey/{account_id}/{user_name}");
}
