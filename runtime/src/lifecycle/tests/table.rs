//! Table-driven tests over every key state: 0, 1, 2 (and 3) keys; active or
//! inactive; expired or not; replacement age; stale inactive keys; forced
//! rotation; used and never-used keys; the warning window.

use super::support::*;
use crate::lifecycle::ActionKind::*;
use crate::lifecycle::Reason::*;
use crate::lifecycle::{Policy, Severity, UserFacts};
use chrono::Duration;

fn case(name: &'static str, user: UserFacts, policy: Policy, actions: Vec<A>, warnings: Vec<W>, status: St) -> Case {
    Case { name, user, policy, actions, warnings, status }
}

fn stale_policy() -> Policy {
    Policy { delete_stale_inactive_keys: true, ..policy() }
}

fn unused_policy(days: u32) -> Policy {
    Policy { require_unused_days_before_deactivate: Some(days), ..policy() }
}

const CRIT: Severity = Severity::Critical;
const WARN: Severity = Severity::Warning;

#[test]
fn zero_keys() {
    run_table(vec![
        case("no keys", user(vec![]), policy(), vec![], vec![], St::Managed),
        case(
            "no keys, forced: nothing to rotate",
            user(vec![]),
            forced(),
            vec![],
            vec![w("", Some(Rotate), Forced, None, WARN)],
            St::Managed,
        ),
    ]);
}

#[test]
fn one_active_key() {
    run_table(vec![
        case("just created", user(vec![active(OLD, 0)]), policy(), vec![], vec![], St::Managed),
        case(
            "age 82: expiry 8 days away, beyond the window",
            user(vec![active(OLD, 82)]),
            policy(),
            vec![],
            vec![],
            St::Managed,
        ),
        case(
            "age 83: expiry announced exactly 7 days ahead",
            user(vec![active(OLD, 83)]),
            policy(),
            vec![],
            vec![upcoming(OLD, Rotate, Expired, from_now(7))],
            St::Managed,
        ),
        case(
            "age 89: expiry tomorrow",
            user(vec![active(OLD, 89)]),
            policy(),
            vec![],
            vec![upcoming(OLD, Rotate, Expired, from_now(1))],
            St::Managed,
        ),
        case(
            "age 90: rotated, due today",
            user(vec![active(OLD, 90)]),
            policy(),
            vec![a(OLD, Rotate, Expired, now())],
            vec![],
            St::Managed,
        ),
        case(
            "age 90, used yesterday: rotated the same",
            user(vec![used(active(OLD, 90), 1)]),
            policy(),
            vec![a(OLD, Rotate, Expired, now())],
            vec![],
            St::Managed,
        ),
        case(
            "age 300, first seen: rotated, due since age 90",
            user(vec![active(OLD, 300)]),
            policy(),
            vec![a(OLD, Rotate, Expired, ago(210))],
            vec![],
            St::Managed,
        ),
        case(
            "forced at age 10",
            user(vec![active(OLD, 10)]),
            forced(),
            vec![a(OLD, Rotate, Forced, now())],
            vec![],
            St::Managed,
        ),
        case(
            "forced at age 95: the forced reason wins",
            user(vec![active(OLD, 95)]),
            forced(),
            vec![a(OLD, Rotate, Forced, now())],
            vec![],
            St::Managed,
        ),
        case(
            "warn_before_days 0: no announcement",
            user(vec![active(OLD, 89)]),
            Policy { warn_before_days: 0, ..policy() },
            vec![],
            vec![],
            St::Managed,
        ),
    ]);
}

#[test]
fn lone_inactive_key() {
    run_table(vec![
        case(
            "not deactivated by rekey: reported, left alone",
            user(vec![inactive(OLD, 200)]),
            policy(),
            vec![],
            vec![w(OLD, None, InactiveNotByRekey, None, WARN)],
            St::Managed,
        ),
        case(
            "deactivated by rekey 10 days ago at age 100: deleted",
            deactivated(user(vec![inactive(OLD, 110)]), OLD, 10),
            policy(),
            vec![a(OLD, Delete, InactiveGraceOver, now())],
            vec![],
            St::Managed,
        ),
        case(
            "deactivated by rekey 9 days ago: deletion tomorrow",
            deactivated(user(vec![inactive(OLD, 109)]), OLD, 9),
            policy(),
            vec![],
            vec![upcoming(OLD, Delete, InactiveGraceOver, from_now(1))],
            St::Managed,
        ),
        case(
            "age 300, deactivated 5 days ago: the inactive grace still applies",
            deactivated(user(vec![inactive(OLD, 300)]), OLD, 5),
            policy(),
            vec![],
            vec![upcoming(OLD, Delete, InactiveGraceOver, from_now(5))],
            St::Managed,
        ),
        case(
            "age 105, inactive 20 days: waits for age 110",
            deactivated(user(vec![inactive(OLD, 105)]), OLD, 20),
            policy(),
            vec![],
            vec![upcoming(OLD, Delete, InactiveGraceOver, from_now(5))],
            St::Managed,
        ),
        case(
            "age 115, inactive 20 days: deleted, due since age 110",
            deactivated(user(vec![inactive(OLD, 115)]), OLD, 20),
            policy(),
            vec![a(OLD, Delete, InactiveGraceOver, ago(5))],
            vec![],
            St::Managed,
        ),
        case(
            "stale, delete_stale_inactive_keys, first seen now: recorded",
            user(vec![inactive(OLD, 200)]),
            stale_policy(),
            vec![a(OLD, RecordInactiveSeen, StaleInactiveKey, now())],
            vec![],
            St::Managed,
        ),
        case(
            "stale, seen inactive 10 days ago: deleted",
            seen_inactive(user(vec![inactive(OLD, 200)]), OLD, 10),
            stale_policy(),
            vec![a(OLD, Delete, StaleInactiveKey, now())],
            vec![],
            St::Managed,
        ),
        case(
            "stale, seen inactive 5 days ago: deletion announced",
            seen_inactive(user(vec![inactive(OLD, 200)]), OLD, 5),
            stale_policy(),
            vec![],
            vec![upcoming(OLD, Delete, StaleInactiveKey, from_now(5))],
            St::Managed,
        ),
        case(
            "stale, seen 10 days ago but only 50 days old: waits for age 110",
            seen_inactive(user(vec![inactive(OLD, 50)]), OLD, 10),
            stale_policy(),
            vec![],
            vec![],
            St::Managed,
        ),
        case(
            "seen-inactive tag without delete_stale_inactive_keys: left alone",
            seen_inactive(user(vec![inactive(OLD, 200)]), OLD, 30),
            policy(),
            vec![],
            vec![w(OLD, None, InactiveNotByRekey, None, WARN)],
            St::Managed,
        ),
        case(
            "malformed deactivated tag: ignored, critical warning, key left alone",
            tagged(user(vec![inactive(OLD, 200)]), &format!("rekey:deactivated:{OLD}"), "yesterday"),
            policy(),
            vec![],
            vec![w(OLD, None, MalformedTag, None, CRIT), w(OLD, None, InactiveNotByRekey, None, WARN)],
            St::Managed,
        ),
    ]);
}

#[test]
fn active_and_inactive_keys() {
    run_table(vec![
        case(
            "old key deactivated today: nothing until its grace ends",
            deactivated(user(vec![inactive(OLD, 100), active(NEW, 10)]), OLD, 0),
            policy(),
            vec![],
            vec![],
            St::Managed,
        ),
        case(
            "old key's inactive grace over: deleted",
            deactivated(user(vec![inactive(OLD, 110), active(NEW, 20)]), OLD, 10),
            policy(),
            vec![a(OLD, Delete, InactiveGraceOver, now())],
            vec![],
            St::Managed,
        ),
        case(
            "expired active beside an inactive key rekey did not deactivate: manual",
            user(vec![inactive(OLD, 200), active(NEW, 95)]),
            policy(),
            vec![],
            vec![
                w(NEW, Some(Rotate), InactiveKeyBlocksRotation, Some(ago(5)), CRIT),
                w(OLD, None, InactiveNotByRekey, None, WARN),
            ],
            St::Manual,
        ),
        case(
            "expired active beside a deletable inactive key: delete, then rotate",
            deactivated(user(vec![inactive(OLD, 200), active(NEW, 95)]), OLD, 10),
            policy(),
            vec![a(OLD, Delete, InactiveGraceOver, now()), a(NEW, Rotate, Expired, ago(5))],
            vec![],
            St::Managed,
        ),
        case(
            "expired active beside an inactive key still in its grace: manual",
            deactivated(user(vec![inactive(OLD, 200), active(NEW, 95)]), OLD, 2),
            policy(),
            vec![],
            vec![w(NEW, Some(Rotate), InactiveKeyBlocksRotation, Some(ago(5)), CRIT)],
            St::Manual,
        ),
        case(
            "forced beside an inactive key still in its grace: manual",
            deactivated(user(vec![inactive(OLD, 200), active(NEW, 30)]), OLD, 2),
            forced(),
            vec![],
            vec![w(NEW, Some(Rotate), InactiveKeyBlocksRotation, Some(now()), CRIT)],
            St::Manual,
        ),
        case(
            "unexpired active beside an inactive key rekey did not deactivate",
            user(vec![inactive(OLD, 200), active(NEW, 30)]),
            policy(),
            vec![],
            vec![w(OLD, None, InactiveNotByRekey, None, WARN)],
            St::Managed,
        ),
        case(
            "delete_stale: expired active beside a stale key seen 10 days ago: delete, then rotate",
            seen_inactive(user(vec![inactive(OLD, 200), active(NEW, 95)]), OLD, 10),
            stale_policy(),
            vec![a(OLD, Delete, StaleInactiveKey, now()), a(NEW, Rotate, Expired, ago(5))],
            vec![],
            St::Managed,
        ),
        case(
            "delete_stale: expired active beside a stale key seen now: record, manual",
            user(vec![inactive(OLD, 200), active(NEW, 95)]),
            stale_policy(),
            vec![a(OLD, RecordInactiveSeen, StaleInactiveKey, now())],
            vec![w(NEW, Some(Rotate), InactiveKeyBlocksRotation, Some(ago(5)), CRIT)],
            St::Manual,
        ),
    ]);
}

#[test]
fn two_active_keys() {
    run_table(vec![
        case("neither expired", user(vec![active(OLD, 50), active(NEW, 10)]), policy(), vec![], vec![], St::Managed),
        case(
            "replacement just created",
            user(vec![active(OLD, 90), active(NEW, 0)]),
            policy(),
            vec![],
            vec![],
            St::Managed,
        ),
        case(
            "mid grace: deactivation announced 7 days ahead",
            user(vec![active(OLD, 93), active(NEW, 3)]),
            policy(),
            vec![],
            vec![upcoming(OLD, Deactivate, ReplacementGraceOver, from_now(7))],
            St::Managed,
        ),
        case(
            "grace over at age 100: deactivated",
            user(vec![active(OLD, 100), active(NEW, 10)]),
            policy(),
            vec![a(OLD, Deactivate, ReplacementGraceOver, now())],
            vec![],
            St::Managed,
        ),
        case(
            "old first seen at age 300, replacement created today",
            user(vec![active(OLD, 300), active(NEW, 0)]),
            policy(),
            vec![],
            vec![],
            St::Managed,
        ),
        case(
            "old first seen at age 300, replacement 3 days old: full grace",
            user(vec![active(OLD, 303), active(NEW, 3)]),
            policy(),
            vec![],
            vec![upcoming(OLD, Deactivate, ReplacementGraceOver, from_now(7))],
            St::Managed,
        ),
        case(
            "old first seen at age 300, replacement 10 days old: deactivated",
            user(vec![active(OLD, 310), active(NEW, 10)]),
            policy(),
            vec![a(OLD, Deactivate, ReplacementGraceOver, now())],
            vec![],
            St::Managed,
        ),
        case(
            "user-made replacement long ago: deactivated, due since old's age 100",
            user(vec![active(OLD, 120), active(NEW, 85)]),
            policy(),
            vec![a(OLD, Deactivate, ReplacementGraceOver, ago(20))],
            vec![],
            St::Managed,
        ),
        case(
            "both expired: manual",
            user(vec![active(OLD, 200), active(NEW, 95)]),
            policy(),
            vec![],
            vec![w(OLD, None, BothKeysExpired, None, CRIT)],
            St::Manual,
        ),
        case(
            "forced with two unexpired keys: manual",
            user(vec![active(OLD, 50), active(NEW, 10)]),
            forced(),
            vec![],
            vec![w(OLD, Some(Rotate), Forced, None, CRIT)],
            St::Manual,
        ),
        case(
            "forced mid-rotation, grace over: deactivation still runs, force reported",
            user(vec![active(OLD, 100), active(NEW, 10)]),
            forced(),
            vec![a(OLD, Deactivate, ReplacementGraceOver, now())],
            vec![w(OLD, Some(Rotate), Forced, None, CRIT)],
            St::Manual,
        ),
        case(
            "recently used (2 days ago, window 7): postponed, escalated",
            // rekey's own replacement: the old key may still be in use.
            with_secret(user(vec![used(active(OLD, 100), 2), active(NEW, 10)]), Some(NEW), None, None),
            unused_policy(7),
            vec![],
            vec![w(OLD, Some(Deactivate), RecentlyUsed, Some(now()), CRIT)],
            St::Manual,
        ),
        case(
            "used 8 days ago, window 7: deactivated",
            // rekey's own replacement: the old key may still be in use.
            with_secret(user(vec![used(active(OLD, 100), 8), active(NEW, 10)]), Some(NEW), None, None),
            unused_policy(7),
            vec![a(OLD, Deactivate, ReplacementGraceOver, now())],
            vec![],
            St::Managed,
        ),
        case(
            "never used, window 7: deactivated",
            user(vec![active(OLD, 100), active(NEW, 10)]),
            unused_policy(7),
            vec![a(OLD, Deactivate, ReplacementGraceOver, now())],
            vec![],
            St::Managed,
        ),
        case(
            "used yesterday but not yet due: only announced",
            // rekey's own replacement: the old key may still be in use.
            with_secret(user(vec![used(active(OLD, 95), 1), active(NEW, 5)]), Some(NEW), None, None),
            unused_policy(7),
            vec![],
            vec![upcoming(OLD, Deactivate, ReplacementGraceOver, from_now(5))],
            St::Managed,
        ),
    ]);
}

#[test]
fn two_inactive_keys() {
    run_table(vec![
        case(
            "both deactivated by rekey: each on its own schedule",
            deactivated(deactivated(user(vec![inactive(OLD, 200), inactive(NEW, 150)]), OLD, 10), NEW, 3),
            policy(),
            vec![a(OLD, Delete, InactiveGraceOver, now())],
            vec![upcoming(NEW, Delete, InactiveGraceOver, from_now(7))],
            St::Managed,
        ),
        case(
            "neither deactivated by rekey: both reported",
            user(vec![inactive(OLD, 200), inactive(NEW, 150)]),
            policy(),
            vec![],
            vec![w(NEW, None, InactiveNotByRekey, None, WARN), w(OLD, None, InactiveNotByRekey, None, WARN)],
            St::Managed,
        ),
    ]);
}

#[test]
fn more_than_two_keys() {
    run_table(vec![case(
        "three keys (IAM allows two): manual, nothing else",
        user(vec![active(OLD, 200), active(NEW, 100), active(THIRD, 1)]),
        policy(),
        vec![],
        vec![w(OLD, None, TooManyKeys, None, CRIT)],
        St::Manual,
    )]);
}

#[test]
fn warning_window_is_exactly_warn_before_days() {
    let policy = Policy { warn_before_days: 3, ..policy() };
    for (age_offset, warned) in [(Duration::zero(), true), (Duration::seconds(1), false)] {
        // Expiry at created + 90 days; created at now − 87 days (+1 s) puts it
        // exactly 3 days ahead (or one second beyond).
        let mut key = active(OLD, 87);
        key.created += age_offset;
        let due = key.created + Duration::days(90);
        let plan = plan_one(&user(vec![key]), &policy);
        let expected = if warned { vec![upcoming(OLD, Rotate, Expired, due)] } else { vec![] };
        assert_eq!(warnings(&plan), expected, "offset {age_offset}");
    }
}

#[test]
fn keys_listed_in_any_order_plan_the_same() {
    let forward = plan_one(&user(vec![active(OLD, 100), active(NEW, 10)]), &policy());
    let backward = plan_one(&user(vec![active(NEW, 10), active(OLD, 100)]), &policy());
    assert_eq!(forward, backward);
    assert_eq!(actions(&forward), vec![a(OLD, Deactivate, ReplacementGraceOver, now())]);
}

#[test]
fn users_come_out_in_name_order() {
    let mut zed = user(vec![active(OLD, 90)]);
    zed.user_name = "zed".into();
    let mut bob = user(vec![]);
    bob.user_name = "bob".into();
    let facts = crate::lifecycle::AccountFacts {
        account_id: ACCOUNT.into(),
        account_name: "test".into(),
        account_email: None,
        users: vec![zed, bob],
    };
    let plan = crate::lifecycle::plan(&facts, &policy(), now());
    let names: Vec<&str> = plan.users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(names, ["bob", "zed"]);
    assert_eq!((plan.account_id.as_str(), plan.now), (ACCOUNT, now()));
    assert_eq!(plan.users[1].actions[0].user_name, "zed");
}
