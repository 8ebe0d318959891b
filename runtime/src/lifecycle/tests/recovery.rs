//! Crash recovery: the secret's pending version and rotation-started record
//! left by an interrupted run.

use super::support::*;
use crate::lifecycle::ActionKind::*;
use crate::lifecycle::Reason::*;
use crate::lifecycle::{KeyFacts, Severity};
use chrono::{DateTime, Duration, Utc};

/// The moment the interrupted rotation was recorded as started.
fn started() -> DateTime<Utc> {
    ago(1)
}

/// A key created `minutes` after [`started`].
fn created_after_start(id: &str, minutes: i64) -> KeyFacts {
    KeyFacts { created: started() + Duration::minutes(minutes), ..active(id, 0) }
}

#[test]
fn recovery_table() {
    let case = |name, user, actions, warnings, status| Case { name, user, policy: policy(), actions, warnings, status };
    run_table(vec![
        case(
            "pending key exists: complete, no second key",
            with_secret(
                user(vec![active(OLD, 95), created_after_start(NEW, 1)]),
                Some(OLD),
                Some(NEW),
                Some(started()),
            ),
            vec![a(NEW, CompleteRotation, InterruptedRotation, now())],
            vec![],
            St::Managed,
        ),
        case(
            "pending key exists, old key's deactivation due: completion runs alone, deactivation deferred",
            with_secret(user(vec![active(OLD, 120), active(NEW, 20)]), Some(OLD), Some(NEW), None),
            vec![a(NEW, CompleteRotation, InterruptedRotation, now())],
            vec![upcoming(OLD, Deactivate, ReplacementGraceOver, ago(10))],
            St::Managed,
        ),
        case(
            "pending key is inactive: manual",
            with_secret(user(vec![active(OLD, 95), inactive(NEW, 1)]), Some(OLD), Some(NEW), None),
            vec![],
            vec![
                w(OLD, Some(Rotate), InactiveKeyBlocksRotation, Some(ago(5)), Severity::Critical),
                w(NEW, Some(CompleteRotation), InterruptedRotation, None, Severity::Critical),
                w(NEW, None, InactiveNotByRekey, None, Severity::Warning),
            ],
            St::Manual,
        ),
        case(
            "pending key gone from IAM: rotation restarts",
            with_secret(user(vec![active(OLD, 95)]), Some(OLD), Some(NEW), None),
            vec![a(OLD, Rotate, InterruptedRotation, now())],
            vec![],
            St::Managed,
        ),
        case(
            "pending key gone, old key not expired (an interrupted forced rotation): restarts",
            with_secret(user(vec![active(OLD, 30)]), Some(OLD), Some(NEW), None),
            vec![a(OLD, Rotate, InterruptedRotation, now())],
            vec![],
            St::Managed,
        ),
        case(
            "pending key gone, user made a second key since: normal rules, no third key",
            with_secret(user(vec![active(OLD, 95), active(THIRD, 5)]), Some(OLD), Some(NEW), None),
            vec![],
            vec![upcoming(OLD, Deactivate, ReplacementGraceOver, from_now(5))],
            St::Managed,
        ),
        case(
            "orphan key (created after the start, never stored): delete it, then rotate again",
            with_secret(user(vec![active(OLD, 95), created_after_start(NEW, 1)]), Some(OLD), None, Some(started())),
            vec![a(NEW, DeleteOrphanKey, InterruptedRotation, now()), a(OLD, Rotate, InterruptedRotation, now())],
            vec![],
            St::Managed,
        ),
        case(
            "started, crashed before creating a key: rotate again",
            with_secret(user(vec![active(OLD, 95)]), Some(OLD), None, Some(started())),
            vec![a(OLD, Rotate, InterruptedRotation, now())],
            vec![],
            St::Managed,
        ),
        case(
            "newer key is stored as current: the rotation finished, nothing deleted or rotated",
            with_secret(user(vec![active(OLD, 95), created_after_start(NEW, 1)]), Some(NEW), None, Some(started())),
            vec![],
            vec![],
            St::Managed,
        ),
        case(
            "key created long after the start is not an orphan (someone else made it)",
            with_secret(
                user(vec![active(OLD, 95), created_after_start(NEW, 13 * 60)]),
                Some(OLD),
                None,
                Some(started()),
            ),
            vec![],
            vec![],
            St::Managed,
        ),
        case(
            "orphan is the only active key: not deleted, manual",
            with_secret(user(vec![created_after_start(NEW, 1)]), Some(OLD), None, Some(started())),
            vec![],
            vec![w(NEW, Some(DeleteOrphanKey), InterruptedRotation, None, Severity::Critical)],
            St::Manual,
        ),
        case(
            "secret with nothing pending: normal rules",
            with_secret(user(vec![active(OLD, 95)]), Some(OLD), None, None),
            vec![a(OLD, Rotate, Expired, ago(5))],
            vec![],
            St::Managed,
        ),
    ]);
}

#[test]
fn orphan_recovery_never_exceeds_two_keys() {
    let facts = with_secret(user(vec![active(OLD, 95), created_after_start(NEW, 1)]), Some(OLD), None, Some(started()));
    let plan = plan_one(&facts, &policy());
    let mut sim = Sim::new(facts);
    sim.apply(&plan, now());
    let ids: Vec<&str> = sim.user.keys.iter().map(|k| k.access_key_id.as_str()).collect();
    assert_eq!(ids, [OLD, "AKIASIM0000000000001"]);
}
