//! Exempt users: group members and `rekey:exempt-until` tags. Exempt users
//! get no actions but stay in the plan, with what would be due as warnings.

use super::support::*;
use crate::lifecycle::ActionKind::*;
use crate::lifecycle::Reason::*;
use crate::lifecycle::{Policy, Severity, UserFacts, UserStatus, EXEMPT_REASON_TAG, EXEMPT_UNTIL_TAG};
use chrono::NaiveDate;

fn in_group(mut user: UserFacts) -> UserFacts {
    user.in_exemption_group = true;
    user
}

fn named_group() -> Policy {
    Policy { exemption_group: Some("rekey-exempt".into()), ..policy() }
}

fn exempt_until(user: UserFacts, date: &str) -> UserFacts {
    tagged(user, EXEMPT_UNTIL_TAG, date)
}

#[test]
fn exemption_table() {
    let case = |name, user, policy, actions, warnings, status| Case { name, user, policy, actions, warnings, status };
    run_table(vec![
        case(
            "group member with an expired key: exempt, rotation reported",
            in_group(user(vec![active(OLD, 95)])),
            named_group(),
            vec![],
            vec![upcoming(OLD, Rotate, Expired, ago(5))],
            St::Exempt,
        ),
        case(
            "group member with a rotation coming: announced as usual",
            in_group(user(vec![active(OLD, 85)])),
            named_group(),
            vec![],
            vec![upcoming(OLD, Rotate, Expired, from_now(5))],
            St::Exempt,
        ),
        case(
            "group member mid-rotation, grace over: deactivation reported",
            in_group(user(vec![active(OLD, 100), active(NEW, 10)])),
            named_group(),
            vec![],
            vec![upcoming(OLD, Deactivate, ReplacementGraceOver, now())],
            St::Exempt,
        ),
        case(
            "group member with two expired keys: exempt, the problem still reported",
            in_group(user(vec![active(OLD, 200), active(NEW, 95)])),
            named_group(),
            vec![],
            vec![w(OLD, None, BothKeysExpired, None, Severity::Critical)],
            St::Exempt,
        ),
        case(
            "group member with a stale inactive key: not even the seen-inactive record is written",
            in_group(user(vec![inactive(OLD, 200)])),
            Policy { delete_stale_inactive_keys: true, ..named_group() },
            vec![],
            vec![],
            St::Exempt,
        ),
        case(
            "exempt until today: still exempt",
            exempt_until(user(vec![active(OLD, 95)]), "2026-01-01"),
            policy(),
            vec![],
            vec![upcoming(OLD, Rotate, Expired, ago(5))],
            St::Exempt,
        ),
        case(
            "exempt until yesterday: rotated",
            exempt_until(user(vec![active(OLD, 95)]), "2025-12-31"),
            policy(),
            vec![a(OLD, Rotate, Expired, ago(5))],
            vec![],
            St::Managed,
        ),
        case(
            "malformed exempt-until: not exempt, critical warning, rotated",
            exempt_until(user(vec![active(OLD, 95)]), "2026-13-01"),
            policy(),
            vec![a(OLD, Rotate, Expired, ago(5))],
            vec![w("", None, MalformedTag, None, Severity::Critical)],
            St::Managed,
        ),
        case(
            "malformed exempt-until (words): not exempt",
            exempt_until(user(vec![active(OLD, 10)]), "until the migration"),
            policy(),
            vec![],
            vec![w("", None, MalformedTag, None, Severity::Critical)],
            St::Managed,
        ),
    ]);
}

#[test]
fn exemption_reasons_name_the_group_or_the_tag() {
    let status = |user: &UserFacts, policy: &Policy| plan_one(user, policy).status;
    let member = in_group(user(vec![active(OLD, 95)]));
    assert_eq!(
        status(&member, &named_group()),
        UserStatus::Exempt { reason: "member of the exemption group `rekey-exempt`".into(), until: None }
    );
    assert_eq!(
        status(&member, &policy()),
        UserStatus::Exempt { reason: "member of the exemption group".into(), until: None }
    );

    let tagged_user = tagged(exempt_until(user(vec![active(OLD, 95)]), "2026-03-31"), EXEMPT_REASON_TAG, "migration");
    assert_eq!(
        status(&tagged_user, &policy()),
        UserStatus::Exempt { reason: "migration".into(), until: NaiveDate::from_ymd_opt(2026, 3, 31) }
    );
    let no_reason = exempt_until(user(vec![active(OLD, 95)]), "2026-03-31");
    assert_eq!(
        status(&no_reason, &policy()),
        UserStatus::Exempt { reason: "tag `rekey:exempt-until`".into(), until: NaiveDate::from_ymd_opt(2026, 3, 31) }
    );
}

#[test]
fn exempt_report_says_what_would_be_done() {
    let plan = plan_one(&in_group(user(vec![active(OLD, 95)])), &named_group());
    assert_eq!(
        plan.warnings[0].message,
        "key `AKIAOLD0000000000001` is due to be rotated (due 2025-12-27), not done: the user is exempt \
         (member of the exemption group `rekey-exempt`)"
    );
}

#[test]
fn malformed_exempt_until_warning_names_the_tag_and_value() {
    let plan = plan_one(&exempt_until(user(vec![]), "soon"), &policy());
    assert_eq!(
        plan.warnings[0].message,
        "tag `rekey:exempt-until` has value `soon`, which is not a date (YYYY-MM-DD): the user is not exempt; \
         fix or remove the tag"
    );
}
