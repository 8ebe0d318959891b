//! The serialized plan of a mixed account, snapshotted: the JSON shape the
//! report and the CLI print, and every message text, reviewed as code.

use super::support::*;
use crate::lifecycle::{plan, AccountFacts, Policy, UserFacts, EXEMPT_REASON_TAG, EXEMPT_UNTIL_TAG};

fn named(name: &str, mut user: UserFacts) -> UserFacts {
    user.user_name = name.to_string();
    user.user_arn = format!("arn:aws:iam::{ACCOUNT}:user/{name}");
    user
}

fn mixed_account() -> (AccountFacts, Policy) {
    let mut exempt = named("exempt-group", user(vec![active(OLD, 95)]));
    exempt.in_exemption_group = true;
    let users = vec![
        named("rotate", user(vec![active(OLD, 90)])),
        named("announce", user(vec![active(OLD, 85)])),
        named("deactivate", user(vec![used(active(OLD, 100), 20), active(NEW, 10)])),
        named("delete", deactivated(user(vec![inactive(OLD, 110), active(NEW, 20)]), OLD, 10)),
        named("both-expired", user(vec![active(OLD, 200), active(NEW, 95)])),
        named("blocked", user(vec![inactive(OLD, 200), active(NEW, 95)])),
        named(
            "recently-used",
            with_secret(user(vec![used(active(OLD, 100), 1), active(NEW, 10)]), Some(NEW), None, None),
        ),
        named("two-keys-in-use", user(vec![used(active(OLD, 100), 1), used(active(NEW, 10), 2)])),
        named("stale", user(vec![inactive(OLD, 300)])),
        exempt,
        named(
            "exempt-tag",
            tagged(tagged(user(vec![active(OLD, 95)]), EXEMPT_UNTIL_TAG, "2026-02-01"), EXEMPT_REASON_TAG, "migration"),
        ),
        named("bad-tag", tagged(user(vec![active(OLD, 10)]), EXEMPT_UNTIL_TAG, "someday")),
        named("crashed", with_secret(user(vec![active(OLD, 95), active(NEW, 0)]), Some(OLD), Some(NEW), None)),
        named("forced-two-keys", user(vec![active(OLD, 50), active(NEW, 10)])),
    ];
    let facts = AccountFacts {
        account_id: ACCOUNT.into(),
        account_name: "test".into(),
        account_email: Some("owner@example.com".into()),
        users,
    };
    let mut policy = Policy { require_unused_days_before_deactivate: Some(7), ..policy() };
    policy.exemption_group = Some("rekey-exempt".into());
    policy.force_rotate.insert("forced-two-keys".into());
    (facts, policy)
}

#[test]
fn mixed_account_plan_json() {
    let (facts, policy) = mixed_account();
    insta::assert_json_snapshot!(plan(&facts, &policy, now()));
}

#[test]
fn plan_is_deterministic_and_round_trips_through_json() {
    let (facts, policy) = mixed_account();
    let first = plan(&facts, &policy, now());
    let mut reversed = facts.clone();
    reversed.users.reverse();
    assert_eq!(plan(&reversed, &policy, now()), first, "input order must not matter");
    let json = serde_json::to_string(&first).unwrap();
    let back: crate::lifecycle::Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, first);
}
