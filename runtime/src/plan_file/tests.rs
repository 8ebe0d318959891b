//! The plan file (checksum, config SHA-256, age) and the screen (fact
//! comparison), with the real planner and a fixed clock.

use super::*;
use crate::lifecycle::{self, AccountFacts, Policy, UserFacts};
use chrono::TimeZone;
use std::collections::BTreeMap;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 22, 0, 0).unwrap()
}

fn config(yaml: &str) -> Config {
    Config::from_yaml_str(yaml, None).unwrap()
}

fn key(id: &str, age_days: i64) -> KeyFacts {
    KeyFacts {
        access_key_id: id.into(),
        status: KeyStatus::Active,
        created: now() - Duration::days(age_days),
        last_used: None,
    }
}

fn user(name: &str, keys: Vec<KeyFacts>) -> UserFacts {
    UserFacts {
        user_name: name.into(),
        user_arn: format!("arn:aws:iam::200000000001:user/{name}"),
        keys,
        tags: BTreeMap::new(),
        in_exemption_group: false,
        secret: None,
    }
}

fn facts(users: Vec<UserFacts>) -> AccountFacts {
    AccountFacts { account_id: "200000000001".into(), account_name: "dev".into(), account_email: None, users }
}

/// Plans `facts` with the default policy, recording the plan as `rekey plan --out` does.
fn reviewed(facts: &AccountFacts, at: DateTime<Utc>) -> PlannedAccount {
    let plan = lifecycle::plan(facts, &Policy::for_config(&config("")), at);
    let mut review = AccountReview::new(None);
    let kept = review.screen(plan.clone(), facts);
    assert_eq!(kept, plan, "recording alone filters nothing");
    PlannedAccount {
        account_id: facts.account_id.clone(),
        account_name: facts.account_name.clone(),
        users: review.planned,
    }
}

/// Applies `reviewed` to `facts` an hour later: the actions left, and the refusals.
fn apply(reviewed: &PlannedAccount, facts: &AccountFacts) -> (Vec<String>, Vec<Refusal>) {
    let later = now() + Duration::hours(1);
    let plan = lifecycle::plan(facts, &Policy::for_config(&config("")), later);
    let mut review = AccountReview::new(Some(reviewed.clone()));
    let kept = review.screen(plan, facts);
    let actions = kept
        .users
        .iter()
        .flat_map(|u| u.actions.iter().map(move |a| format!("{} {} {:?}", u.user_name, a.access_key_id, a.action)))
        .collect();
    (actions, review.refused)
}

fn sample_plan(config: &Config) -> ReviewedPlan {
    let account = reviewed(&facts(vec![user("alice", vec![key("AKIAALICE1", 95)])]), now());
    ReviewedPlan::new("20261129T220000Z-plan", now(), config, vec![account])
}

#[test]
fn a_written_plan_reads_back_and_its_checksum_covers_every_field() {
    let file = PlanFile::seal(sample_plan(&config("")));
    let text = file.to_json();
    assert_eq!(PlanFile::read(&text).unwrap(), file);
    assert_eq!(file.plan.action_count(), 1);
    // Whitespace is not content; a changed value is.
    assert_eq!(PlanFile::read(&text.replace("  ", " ")).unwrap(), file);
    for (from, to) in
        [("AKIAALICE1", "AKIAOTHER1"), ("\"rotate\"", "\"delete\""), ("2026-11-29T22:00:00Z", "2026-11-30T22:00:00Z")]
    {
        assert!(text.contains(from), "{from}");
        assert_eq!(PlanFile::read(&text.replacen(from, to, 1)), Err(PlanFileError::Checksum), "{from} → {to}");
    }
}

#[test]
fn another_format_or_not_a_plan_is_refused_with_what_it_is() {
    let text = PlanFile::seal(sample_plan(&config(""))).to_json();
    let err = PlanFile::read(&text.replace(FORMAT, "rekey-plan/9")).unwrap_err();
    assert_eq!(err, PlanFileError::Format { found: "rekey-plan/9".into() });
    assert!(matches!(PlanFile::read("{}"), Err(PlanFileError::Unreadable(_))));
    assert!(matches!(PlanFile::read("not json"), Err(PlanFileError::Unreadable(_))));
}

#[test]
fn the_config_sha_ignores_layout_but_not_values() {
    let plain = config("mode: enforce\n");
    let commented = config("# reviewed by security\nmode:   enforce\n");
    assert_eq!(config_sha256(&plain), config_sha256(&commented));
    assert_eq!(config_sha256(&plain).len(), 64);
    let plan = sample_plan(&plain);
    assert_eq!(plan.check(&commented, now()), Ok(()));
    let changed = config(
        "mode: enforce\nlifecycle:\n  rotate_after_days: 60\n  deactivate_after_days: 70\n  delete_after_days: 80\n",
    );
    let err = plan.check(&changed, now()).unwrap_err();
    assert!(matches!(err, PlanFileError::ConfigChanged { .. }), "{err:?}");
    assert!(err.to_string().starts_with("the config changed since the plan"), "{err}");
}

#[test]
fn a_plan_is_refused_past_the_configured_age_or_from_the_future() {
    let default = config("");
    let plan = sample_plan(&default);
    assert_eq!(plan.check(&default, now() + Duration::hours(24)), Ok(()));
    let err = plan.check(&default, now() + Duration::hours(25)).unwrap_err();
    assert_eq!(err, PlanFileError::Stale { created_at: now(), age_hours: 25, max_hours: 24 });
    assert!(err.to_string().contains("more than `plan.max_age_hours` (24)"), "{err}");

    let patient = config("plan:\n  max_age_hours: 72\n");
    let plan = sample_plan(&patient);
    assert_eq!(plan.check(&patient, now() + Duration::hours(71)), Ok(()));
    assert!(matches!(plan.check(&patient, now() + Duration::hours(73)), Err(PlanFileError::Stale { .. })));

    let skewed = now() - Duration::minutes(CLOCK_SKEW_MINUTES - 1);
    assert_eq!(plan.check(&patient, skewed), Ok(()), "a little clock skew is tolerated");
    let err = plan.check(&patient, now() - Duration::hours(1)).unwrap_err();
    assert_eq!(err, PlanFileError::FromTheFuture { created_at: now() });
}

#[test]
fn unchanged_facts_run_exactly_the_reviewed_actions() {
    let account = facts(vec![user("alice", vec![key("AKIAALICE1", 95)]), user("bob", vec![key("AKIABOB1", 95)])]);
    let plan = reviewed(&account, now());
    assert_eq!(plan.users.len(), 2);
    assert_eq!(plan.users[0].keys, vec![KeyFact::from(&key("AKIAALICE1", 95))], "the facts are recorded");
    let (actions, refused) = apply(&plan, &account);
    assert_eq!(actions, ["alice AKIAALICE1 Rotate", "bob AKIABOB1 Rotate"]);
    assert_eq!(refused, []);
}

#[test]
fn a_key_rotated_by_hand_deleted_or_added_refuses_that_users_actions_only() {
    let planned = facts(vec![
        user("alice", vec![key("AKIAALICE1", 95)]),
        user("bob", vec![key("AKIABOB1", 95)]),
        user("carol", vec![key("AKIACAROL1", 95)]),
        user("dave", vec![key("AKIADAVE1", 95)]),
    ]);
    let plan = reviewed(&planned, now());
    let mut inactive = key("AKIADAVE1", 95);
    inactive.status = KeyStatus::Inactive;
    let changed = facts(vec![
        // Rotated by hand: the old key deleted, a new one created.
        user("alice", vec![key("AKIAALICE2", 0)]),
        // A second key added beside the planned one.
        user("bob", vec![key("AKIABOB1", 95), key("AKIABOB2", 0)]),
        user("carol", vec![key("AKIACAROL1", 95)]),
        // Deactivated by hand.
        user("dave", vec![inactive]),
    ]);
    let (actions, refused) = apply(&plan, &changed);
    assert_eq!(actions, ["carol AKIACAROL1 Rotate"], "only the unchanged user runs");
    let why: Vec<String> = refused.iter().map(|r| format!("{} {:?}: {}", r.user_name, r.action, r.why)).collect();
    assert_eq!(
        why,
        [
            "alice Rotate: the user's keys changed since the plan: `AKIAALICE1` deleted, `AKIAALICE2` added",
            "bob Rotate: the user's keys changed since the plan: `AKIABOB2` added",
            "dave Rotate: the user's keys changed since the plan: `AKIADAVE1` now inactive",
        ]
    );
}

#[test]
fn a_deleted_user_is_refused_and_an_unreviewed_action_is_withheld() {
    let plan = reviewed(&facts(vec![user("alice", vec![key("AKIAALICE1", 95)])]), now());
    // alice is gone; erin's key expired since the plan.
    let (actions, refused) = apply(&plan, &facts(vec![user("erin", vec![key("AKIAERIN1", 95)])]));
    assert_eq!(actions, Vec::<String>::new(), "nothing outside the plan runs");
    let why: Vec<(&str, &RefusalReason)> = refused.iter().map(|r| (r.user_name.as_str(), &r.why)).collect();
    assert_eq!(why, [("erin", &RefusalReason::NotInPlan), ("alice", &RefusalReason::UserNotFound)]);
}

#[test]
fn an_action_no_longer_planned_is_refused_though_the_keys_are_unchanged() {
    let plan = reviewed(&facts(vec![user("alice", vec![key("AKIAALICE1", 95)])]), now());
    let mut exempt = user("alice", vec![key("AKIAALICE1", 95)]);
    exempt.in_exemption_group = true;
    let (actions, refused) = apply(&plan, &facts(vec![exempt]));
    assert_eq!(actions, Vec::<String>::new());
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].why, RefusalReason::NoLongerPlanned);
}

#[test]
fn keys_read_only_from_the_credential_report_compare_on_status_and_date() {
    let planned = [KeyFact::from(&key("AKIAALICE1", 95))];
    let same = key(&format!("{}1", crate::rotation::audit::REPORT_KEY_PREFIX), 95);
    assert_eq!(screen::key_changes(&planned, std::slice::from_ref(&same)), Vec::<String>::new());
    let younger = key(&format!("{}1", crate::rotation::audit::REPORT_KEY_PREFIX), 3);
    assert_eq!(
        screen::key_changes(&planned, &[younger]),
        ["`AKIAALICE1` deleted or changed", "a key created 2026-11-26 22:00:00 UTC added"]
    );
}
