//! The lifecycle of one key simulated day by day: each day is planned at
//! the same time of day, and the plan's effects are applied to the facts
//! with the in-test executor [`Sim`], which asserts the safety invariants
//! (never more than 2 keys, never an active key deleted, never zero active
//! keys, deactivation only with a newer active replacement).

use super::support::*;
use crate::lifecycle::ActionKind::{self, *};
use crate::lifecycle::{KeyStatus, Policy, UserFacts};
use chrono::{DateTime, Duration, Utc};

/// What happened on a simulated day.
#[derive(Debug, Default)]
struct Log {
    /// (day, action, key) for every action run.
    actions: Vec<(i64, ActionKind, String)>,
    /// (day, upcoming action, key, due) for every announcement.
    announced: Vec<(i64, ActionKind, String, DateTime<Utc>)>,
}

impl Log {
    fn days_of(&self, action: ActionKind, key: &str) -> Vec<i64> {
        self.actions.iter().filter(|(_, a, k)| *a == action && k == key).map(|(d, _, _)| *d).collect()
    }

    fn announced_days(&self, action: ActionKind, key: &str, due: DateTime<Utc>) -> Vec<i64> {
        self.announced
            .iter()
            .filter(|(_, a, k, d)| *a == action && k == key && *d == due)
            .map(|(day, _, _, _)| *day)
            .collect()
    }
}

/// Day `d` of the simulation (day 0 = [`now`]).
fn day(d: i64) -> DateTime<Utc> {
    now() + Duration::days(d)
}

/// Runs days `0..=last`; `each_day` may change the facts before planning
/// (e.g. record key use).
fn simulate(user: UserFacts, policy: &Policy, last: i64, mut each_day: impl FnMut(i64, &mut UserFacts)) -> (Sim, Log) {
    let mut sim = Sim::new(user);
    let mut log = Log::default();
    for d in 0..=last {
        each_day(d, &mut sim.user);
        let plan = plan_at(&sim.user, policy, day(d));
        assert_eq!(status(&plan), St::Managed, "day {d}: {:?} {:?}", plan.status, plan.warnings);
        for x in &plan.actions {
            log.actions.push((d, x.action, x.access_key_id.clone()));
        }
        for x in &plan.warnings {
            if let (Some(action), Some(due)) = (x.upcoming, x.due) {
                log.announced.push((d, action, x.access_key_id.clone(), due));
            }
        }
        sim.apply(&plan, day(d));
        assert!(sim.active_count() >= 1, "day {d}: no active key: {:?}", sim.user.keys);
    }
    (sim, log)
}

const FIRST: &str = "AKIASIM0000000000001";
const SECOND: &str = "AKIASIM0000000000002";

#[test]
fn one_key_from_day_0_to_day_200() {
    let (sim, log) = simulate(user(vec![active(OLD, 0)]), &policy(), 200, |_, _| {});
    assert_eq!(log.days_of(Rotate, OLD), [90]);
    assert_eq!(log.days_of(Deactivate, OLD), [100]);
    assert_eq!(log.days_of(Delete, OLD), [110]);
    // The replacement, created on day 90, goes through the same cycle.
    assert_eq!(log.days_of(Rotate, FIRST), [180]);
    assert_eq!(log.days_of(Deactivate, FIRST), [190]);
    assert_eq!(log.days_of(Delete, FIRST), [200]);
    assert_eq!(log.actions.len(), 6, "{:?}", log.actions);

    // Every action announced on each of the 7 days before it, with its exact date.
    assert_eq!(log.announced_days(Rotate, OLD, day(90)), (83..=89).collect::<Vec<_>>());
    assert_eq!(log.announced_days(Deactivate, OLD, day(100)), (93..=99).collect::<Vec<_>>());
    assert_eq!(log.announced_days(Delete, OLD, day(110)), (103..=109).collect::<Vec<_>>());
    assert_eq!(log.announced_days(Rotate, FIRST, day(180)), (173..=179).collect::<Vec<_>>());
    // Six actions, seven announcements each, nothing else announced.
    assert_eq!(log.announced.len(), 6 * 7, "{:?}", log.announced);

    let ids: Vec<(&str, KeyStatus)> = sim.user.keys.iter().map(|k| (k.access_key_id.as_str(), k.status)).collect();
    assert_eq!(ids, [(SECOND, KeyStatus::Active)]);
    assert!(sim.user.tags.is_empty(), "records of deleted keys are removed: {:?}", sim.user.tags);
}

#[test]
fn used_and_never_used_keys_follow_the_same_timeline() {
    let (_, never) = simulate(user(vec![active(OLD, 0)]), &policy(), 120, |_, _| {});
    let (_, daily) = simulate(user(vec![active(OLD, 0)]), &policy(), 120, |d, u| {
        for key in u.keys.iter_mut().filter(|k| k.status == KeyStatus::Active) {
            key.last_used = Some(day(d) - Duration::hours(1));
        }
    });
    assert_eq!(never.actions, daily.actions);
    assert_eq!(never.announced, daily.announced);
}

#[test]
fn key_first_seen_at_age_300_gets_the_full_graces() {
    let (_, log) = simulate(user(vec![active(OLD, 300)]), &policy(), 30, |_, _| {});
    assert_eq!(log.days_of(Rotate, OLD), [0]);
    assert_eq!(log.days_of(Deactivate, OLD), [10], "installation grace D−R from the replacement's creation");
    assert_eq!(log.days_of(Delete, OLD), [20], "inactive grace X−D from the deactivation");
    assert_eq!(log.actions.len(), 3);
}

#[test]
fn recent_use_postpones_deactivation_until_the_key_is_unused() {
    let policy = Policy { require_unused_days_before_deactivate: Some(7), ..policy() };
    // Applications keep using the old key until day 103, then move.
    let mut sim = Sim::new(user(vec![active(OLD, 0)]));
    let mut deactivated_on = None;
    for d in 0..=125 {
        if d <= 103 {
            sim.user.keys.iter_mut().filter(|k| k.access_key_id == OLD).for_each(|k| k.last_used = Some(day(d)));
        }
        let plan = plan_at(&sim.user, &policy, day(d));
        let expected = if (100..110).contains(&d) { St::Manual } else { St::Managed };
        assert_eq!(status(&plan), expected, "day {d}: {:?}", plan.warnings);
        if plan.actions.iter().any(|a| a.action == Deactivate) {
            deactivated_on.get_or_insert(d);
        }
        sim.apply(&plan, day(d));
    }
    // Last used on day 103: on day 110 that is no longer "within 7 days".
    assert_eq!(deactivated_on, Some(110));
    assert!(sim.user.keys.iter().all(|k| k.access_key_id != OLD), "deleted after its own inactive grace");
}

#[test]
fn stale_inactive_key_is_recorded_then_deleted_after_the_grace() {
    let policy = Policy { delete_stale_inactive_keys: true, ..policy() };
    // An administrator disabled the key at age 150; rekey first sees it on day 0.
    let (_, log) = simulate(user(vec![inactive(OLD, 150), active(NEW, 20)]), &policy, 15, |_, _| {});
    assert_eq!(log.days_of(RecordInactiveSeen, OLD), [0]);
    assert_eq!(log.days_of(Delete, OLD), [10]);
    assert_eq!(log.announced_days(Delete, OLD, day(10)), (3..=9).collect::<Vec<_>>());
}

#[test]
fn shorter_policy_runs_on_its_own_days() {
    let policy = Policy {
        rotate_after_days: 30,
        deactivate_after_days: 45,
        delete_after_days: 50,
        warn_before_days: 2,
        ..policy()
    };
    let (_, log) = simulate(user(vec![active(OLD, 0)]), &policy, 60, |_, _| {});
    assert_eq!(log.days_of(Rotate, OLD), [30]);
    assert_eq!(log.days_of(Deactivate, OLD), [45]);
    assert_eq!(log.days_of(Delete, OLD), [50]);
    assert_eq!(log.days_of(Rotate, FIRST), [60]);
    assert_eq!(log.announced_days(Deactivate, OLD, day(45)), [43, 44]);
}

/// The bound `validate` puts on timelines (`delete_after_days ≤ 2 ×
/// rotate_after_days`) is exactly the planner's: the replacement, created at
/// the old key's age R, expires at the old key's age 2R. With X = 2R the old
/// key's deletion falls in the same run as the replacement's rotation (the
/// delete runs first and frees the slot), cycle after cycle, with no person
/// needed; one day more and the inactive key blocks the rotation.
#[test]
fn the_longest_valid_timeline_needs_no_person_and_one_day_more_does() {
    let longest = Policy { rotate_after_days: 30, deactivate_after_days: 59, delete_after_days: 60, ..policy() };
    let (_, log) = simulate(user(vec![active(OLD, 0)]), &longest, 200, |_, _| {});
    assert_eq!(log.days_of(Rotate, OLD), [30]);
    assert_eq!(log.days_of(Deactivate, OLD), [59]);
    assert_eq!(log.days_of(Delete, OLD), [60]);
    assert_eq!(log.days_of(Rotate, FIRST), [60], "the replacement rotates the day its predecessor is deleted");
    assert_eq!(log.actions.iter().filter(|(_, a, _)| *a == Rotate).count(), 6, "every 30 days");

    let too_long = Policy { delete_after_days: 61, ..longest.clone() };
    let mut sim = Sim::new(user(vec![active(OLD, 0)]));
    let mut manual = Vec::new();
    for d in 0..=70 {
        let plan = plan_at(&sim.user, &too_long, day(d));
        if status(&plan) == St::Manual {
            manual.push(d);
            assert_eq!(plan.warnings[0].reason, crate::lifecycle::Reason::InactiveKeyBlocksRotation, "day {d}");
        }
        sim.apply(&plan, day(d));
    }
    assert_eq!(manual, [60], "the replacement expires while the old key still holds the slot");

    // Deactivating at 2R: the replacement is itself expired by then.
    let late = Policy { deactivate_after_days: 60, delete_after_days: 61, ..longest };
    let mut sim = Sim::new(user(vec![active(OLD, 0)]));
    for d in 0..=60 {
        let plan = plan_at(&sim.user, &late, day(d));
        assert_eq!(status(&plan) == St::Manual, d == 60, "day {d}: {:?}", plan.warnings);
        sim.apply(&plan, day(d));
    }
}
