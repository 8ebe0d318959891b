//! Unit tests of the rotation core on the in-memory fake: the protocol,
//! crash recovery at every step, audit mode, the call budget.

use super::fake::{is_mutating, Fake};
use super::record::records_of;
use super::*;
use crate::lifecycle::{ActionKind, KeyStatus, PlannedAction, Reason};
use crate::report::{AccountReport, ActionResult};
use chrono::{Duration as Days, TimeZone};
use std::collections::BTreeMap;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn config(extra: &str) -> Config {
    Config::from_yaml_str(&format!("mode: enforce\n{extra}"), None).expect("valid test config")
}

fn msg(dry_run: bool) -> AccountMessage {
    AccountMessage {
        run_id: "run-1".into(),
        account_id: ACCOUNT.into(),
        account_name: "dev".into(),
        account_email: None,
        dry_run,
        force_rotate: vec![],
        resume_after_user: None,
        part: 0,
    }
}

fn deps(fake: &Fake) -> RotationDeps<Fake> {
    RotationDeps { report_poll_interval: Duration::ZERO, report_poll_attempts: 3, ..RotationDeps::new(fake.clone()) }
}

async fn run_at(fake: &Fake, config: &Config, now: DateTime<Utc>) -> AccountReport {
    fake.world().clock = now;
    rotate_account(&deps(fake), config, &msg(false), now).await
}

fn secret_name(user: &str) -> String {
    format!("Account_{ACCOUNT}_User_{user}_AccessKey")
}

/// The state every run must leave, crashed or not: at most two keys, at
/// least one active, and the secret's AWSCURRENT (when set) names an
/// existing active key.
fn assert_safe(fake: &Fake, user: &str) {
    let w = fake.world();
    let keys = w.keys(ACCOUNT, user);
    assert!(keys.len() <= 2, "never a third key: {keys:?}");
    assert!(keys.iter().any(|k| k.status == KeyStatus::Active), "never without an active key: {keys:?}");
    if let Some(secret) = w.secret(ACCOUNT, REGION, &secret_name(user)) {
        if let Some(current) = secret.version_with(STAGE_CURRENT) {
            let value: serde_json::Value = serde_json::from_str(&secret.versions[current].value).unwrap();
            let id = value["AccessKeyId"].as_str().unwrap();
            assert!(keys.iter().any(|k| k.id == id && k.status == KeyStatus::Active), "current key `{id}` exists");
        }
    }
}

#[tokio::test]
async fn an_expired_key_is_replaced_and_the_new_key_promoted() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    let report = run_at(&fake, &config(""), t0()).await;

    assert_eq!(report.status, AccountStatus::Succeeded);
    let alice = &report.users[0];
    assert_eq!(alice.actions.len(), 1, "{alice:?}");
    assert_eq!(alice.actions[0].access_key_id, old[0]);
    let ActionResult::Done { new_access_key_id: Some(new_id) } = &alice.actions[0].result else {
        panic!("rotation not done: {:?}", alice.actions[0]);
    };
    let w = fake.world();
    let keys = w.keys(ACCOUNT, "alice");
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.status == KeyStatus::Active), "the old key stays active");
    let secret = w.secret(ACCOUNT, REGION, &secret_name("alice")).expect("secret created");
    assert_eq!(alice.secret_arn.as_deref(), Some(secret.arn.as_str()), "the report names the secret the run created");
    let current = secret.version_with(STAGE_CURRENT).expect("current version");
    assert_eq!(current, version_id_for(new_id));
    assert_eq!(secret.version_with(STAGE_PENDING), None);
    let value: serde_json::Value = serde_json::from_str(&secret.versions[current].value).unwrap();
    assert_eq!(value["AccessKeyId"], new_id.as_str());
    assert_eq!(value["UserName"], "alice");
    assert!(value["SecretAccessKey"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(value["CreateDate"].as_str().is_some());
    assert_eq!(secret.tags.get(MANAGED_TAG).map(String::as_str), Some("true"));
    assert_eq!(secret.tags.get(ACCOUNT_TAG).map(String::as_str), Some(ACCOUNT));
    assert_eq!(secret.tags.get(USER_TAG).map(String::as_str), Some("alice"));
    assert!(records_of(&secret.tags).is_empty(), "record removed after promotion: {:?}", secret.tags);
    let policy = secret.policy.as_deref().expect("resource policy");
    assert!(
        policy.contains("arn:aws:iam::111111111111:user/alice") && policy.contains("secretsmanager:GetSecretValue")
    );
    drop(w);
    assert_safe(&fake, "alice");
}

#[tokio::test]
async fn the_report_never_contains_a_secret_value() {
    let fake = Fake::new(t0());
    fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    let report = run_at(&fake, &config(""), t0()).await;
    let json = serde_json::to_string(&report).unwrap();
    let debug = format!("{report:?}");
    for key in fake.world().keys(ACCOUNT, "alice") {
        assert!(!json.contains(&key.secret) && !debug.contains(&key.secret), "secret leaked into the report");
    }
}

#[tokio::test]
async fn audit_mode_makes_no_mutating_call_and_marks_actions_planned() {
    let fake = Fake::new(t0());
    fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    fake.world().add_user(
        ACCOUNT,
        "bob",
        &[(KeyStatus::Active, t0() - Days::days(120)), (KeyStatus::Active, t0() - Days::days(20))],
    );
    for (cfg, dry) in [(config(""), true), (Config::from_yaml_str("mode: audit", None).unwrap(), false)] {
        fake.world().calls.clear();
        let report = rotate_account(&deps(&fake), &cfg, &msg(dry), t0()).await;
        assert_eq!(report.mode, EffectiveMode::Audit);
        let actions: Vec<_> = report.users.iter().flat_map(|u| &u.actions).collect();
        assert!(!actions.is_empty());
        assert!(actions.iter().all(|a| a.result == ActionResult::Planned), "{actions:?}");
        let calls = fake.world().calls.clone();
        let mutating: Vec<_> = calls.iter().filter(|c| is_mutating(c)).collect();
        assert!(mutating.is_empty(), "audit mode mutated: {mutating:?}");
    }
    assert_eq!(fake.world().keys(ACCOUNT, "alice").len(), 1);
}

#[tokio::test]
async fn users_with_fresh_keys_cost_no_per_user_call() {
    let fake = Fake::new(t0());
    for i in 0..150 {
        fake.world().add_user(ACCOUNT, &format!("user{i:03}"), &[(KeyStatus::Active, t0() - Days::days(10))]);
    }
    fake.world().add_user(ACCOUNT, "old", &[(KeyStatus::Active, t0() - Days::days(95))]);
    let report = rotate_account(&deps(&fake), &config(""), &msg(true), t0()).await;
    assert_eq!(report.users.len(), 151);
    let calls = fake.world().calls.clone();
    let per_user: Vec<_> = calls.iter().filter(|c| c.contains("iam:ListAccessKeys")).collect();
    assert_eq!(per_user.len(), 1, "only the user with an action is read per user: {per_user:?}");
    assert!(per_user[0].ends_with(" old"));
    assert!(calls.len() <= 6, "bounded calls for 151 users: {calls:?}");
}

#[tokio::test]
async fn a_missing_member_role_is_not_enrolled_not_a_failure() {
    let fake = Fake::new(t0());
    fake.world().not_enrolled.insert(ACCOUNT.into());
    let report = run_at(&fake, &config(""), t0()).await;
    assert!(matches!(report.status, AccountStatus::NotEnrolled { .. }), "{:?}", report.status);
    assert!(report.counts().failed == 0);
}

#[tokio::test]
async fn one_users_failure_is_recorded_and_the_account_goes_on() {
    let fake = Fake::new(t0());
    fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    fake.world().add_user(ACCOUNT, "bob", &[(KeyStatus::Active, t0() - Days::days(95))]);
    // The first per-user read (alice's) fails.
    fake.world().fail_once.insert("iam:ListAccessKeys".into(), crate::ports::ErrorKind::Retryable);
    let report = run_at(&fake, &config(""), t0()).await;
    assert_eq!(report.status, AccountStatus::Succeeded);
    let alice = report.users.iter().find(|u| u.user_name == "alice").unwrap();
    assert!(alice.error.as_deref().is_some_and(|e| e.contains("iam:ListAccessKeys")), "{alice:?}");
    let bob = report.users.iter().find(|u| u.user_name == "bob").unwrap();
    assert!(matches!(bob.actions[0].result, ActionResult::Done { .. }), "{bob:?}");
    assert_eq!(fake.world().keys(ACCOUNT, "alice").len(), 1);
    assert_eq!(fake.world().keys(ACCOUNT, "bob").len(), 2);
}

#[tokio::test]
async fn a_failed_store_deletes_the_new_key_again() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    fake.world().fail_once.insert("secretsmanager:PutSecretValue".into(), crate::ports::ErrorKind::Retryable);
    let report = run_at(&fake, &config(""), t0()).await;
    let result = &report.users[0].actions[0].result;
    assert!(matches!(result, ActionResult::Failed { error } if error.contains("was deleted again")), "{result:?}");
    let keys = fake.world().keys(ACCOUNT, "alice");
    assert_eq!(keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>(), old, "compensated");
    {
        let w = fake.world();
        let secret = w.secret(ACCOUNT, REGION, &secret_name("alice")).unwrap();
        assert!(records_of(&secret.tags).is_empty(), "{:?}", secret.tags);
    }
    // The next run rotates normally.
    fake.world().restart();
    let report = run_at(&fake, &config(""), t0() + Days::days(1)).await;
    assert!(matches!(report.users[0].actions[0].result, ActionResult::Done { .. }));
    assert_safe(&fake, "alice");
}

/// A crash (the process dies: every later mutating call fails, cleanup
/// included) after each step; the next run must complete or undo, leaving
/// exactly the old key plus one stored, current new key.
#[tokio::test]
async fn a_crash_after_any_step_is_completed_or_undone_by_the_next_run() {
    let steps = [
        "secretsmanager:CreateSecret",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:TagResource",
        "iam:CreateAccessKey",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ];
    for (step, second_rotation) in steps.iter().flat_map(|s| [(*s, false), (*s, true)]) {
        let fake = Fake::new(t0());
        let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
        if second_rotation {
            // The old key is itself stored, from an earlier rotation.
            let value = serde_json::json!({"AccessKeyId": old[0], "SecretAccessKey": format!("secret-{}", old[0])});
            let secret = super::fake::FakeSecret {
                arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:alice-AbCdEf".into(),
                tags: [(MANAGED_TAG.to_string(), "true".to_string())].into(),
                versions: [(
                    version_id_for(&old[0]),
                    super::fake::FakeVersion { value: value.to_string(), stages: vec![STAGE_CURRENT.into()] },
                )]
                .into(),
                ..Default::default()
            };
            fake.world()
                .secrets
                .entry((ACCOUNT.into(), REGION.into()))
                .or_default()
                .insert(secret_name("alice"), secret);
        }
        fake.world().crash_after = Some(step.to_string());
        let first = run_at(&fake, &config(""), t0()).await;
        assert_safe(&fake, "alice");
        let crashed = matches!(first.users[0].actions[0].result, ActionResult::Failed { .. });
        fake.world().restart();
        // Two runs: a recovery may need one run to undo and the next to redo.
        for day in 1..=2 {
            run_at(&fake, &config(""), t0() + Days::hours(day)).await;
            assert_safe(&fake, "alice");
        }
        let w = fake.world();
        let keys = w.keys(ACCOUNT, "alice");
        assert_eq!(
            keys.len(),
            2,
            "after a crash at `{step}` (second rotation: {second_rotation}, crashed: {crashed}): {keys:?}"
        );
        assert!(keys.iter().any(|k| k.id == old[0]), "the old key is kept");
        let new = keys.iter().find(|k| k.id != old[0]).unwrap();
        let secret = w.secret(ACCOUNT, REGION, &secret_name("alice")).unwrap();
        assert_eq!(secret.version_with(STAGE_CURRENT), Some(version_id_for(&new.id).as_str()), "crash at `{step}`");
        assert_eq!(secret.version_with(STAGE_PENDING), None, "crash at `{step}`");
        assert!(records_of(&secret.tags).is_empty(), "crash at `{step}` ({second_rotation}): {:?}", secret.tags);
    }
}

#[tokio::test]
async fn the_full_timeline_rotates_deactivates_then_deletes() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0())]).remove(0);
    let cfg = config("");
    let mut seen = Vec::new();
    for day in 80..=120 {
        let report = run_at(&fake, &cfg, t0() + Days::days(day)).await;
        for a in &report.users[0].actions {
            assert!(matches!(a.result, ActionResult::Done { .. }), "day {day}: {a:?}");
            seen.push((day, a.action, a.access_key_id.clone()));
        }
        assert_safe(&fake, "alice");
    }
    let kinds: Vec<_> = seen.iter().map(|(d, k, _)| (*d, *k)).collect();
    assert_eq!(kinds, vec![(90, ActionKind::Rotate), (100, ActionKind::Deactivate), (110, ActionKind::Delete)]);
    assert!(seen.iter().all(|(_, _, k)| k == &old));
    let w = fake.world();
    let keys = w.keys(ACCOUNT, "alice");
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0].id, old);
    let tags = &w.users[ACCOUNT]["alice"].tags;
    assert!(tags.is_empty(), "the deactivation record is removed with the key: {tags:?}");
}

#[tokio::test]
async fn destructive_actions_are_skipped_when_the_keys_changed() {
    let fake = Fake::new(t0());
    let ids = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(120))]);
    let cfg = config("");
    let creds = fake.assume_role(&format!("arn:aws:iam::{ACCOUNT}:role/x"), "s").await.unwrap();
    let (iam, secrets) = (fake.iam(&creds), fake.secrets(&creds, REGION));
    let ctx = execute::ExecContext {
        config: &cfg,
        account_id: ACCOUNT,
        now: t0(),
        owner: "test-owner",
        platform: &fake,
        iam: &iam,
        secrets: &secrets,
    };
    let user = super::fake::bare_user(ACCOUNT, "alice");
    let action = |kind| PlannedAction {
        account_id: ACCOUNT.into(),
        user_name: "alice".into(),
        access_key_id: ids[0].clone(),
        action: kind,
        reason: Reason::Expired,
        due: t0(),
    };
    // The only key is active: neither deactivated (no replacement) nor deleted.
    let out = execute::execute_user(&ctx, &user, &[action(ActionKind::Deactivate), action(ActionKind::Delete)]).await;
    assert!(out.iter().all(|a| matches!(a.result, ActionResult::Skipped { .. })), "{out:?}");
    assert_eq!(fake.world().keys(ACCOUNT, "alice")[0].status, KeyStatus::Active);
}

#[tokio::test]
async fn central_storage_writes_to_the_inventory_account_and_adds_only_missing_replicas() {
    let fake = Fake::new(t0());
    fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    let cfg = config(
        "organization:\n  management_account_id: '222222222222'\nsecrets:\n  storage: central\n  \
         kms_key_arn: arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab\n  \
         replica_regions: [us-west-2, eu-west-1]\n",
    );
    let report = run_at(&fake, &cfg, t0()).await;
    assert!(matches!(report.users[0].actions[0].result, ActionResult::Done { .. }), "{report:?}");
    {
        let w = fake.world();
        assert!(w.secret(ACCOUNT, REGION, &secret_name("alice")).is_none(), "nothing in the member account");
        let secret = w.secret("222222222222", REGION, &secret_name("alice")).expect("central secret");
        assert!(secret.kms_key_id.as_deref().is_some_and(|k| k.contains(":key/")));
        assert_eq!(secret.replicas, vec!["us-west-2".to_string(), "eu-west-1".to_string()]);
        assert!(w.calls.iter().any(|c| c.contains("sts:AssumeRole arn:aws:iam::222222222222:role/rekey-inventory")));
    }
    // A forced rotation later: the replicas exist, none is added again.
    fake.world().restart();
    let mut m = msg(false);
    m.force_rotate = vec!["alice".into()];
    // Make room: the forced rotation needs a free slot, so delete the old key first.
    let old = fake.world().keys(ACCOUNT, "alice")[0].id.clone();
    fake.world().users.get_mut(ACCOUNT).unwrap().get_mut("alice").unwrap().keys.retain(|k| k.id != old);
    let _ = rotate_account(&deps(&fake), &cfg, &m, t0() + Days::days(1)).await;
    let calls = fake.world().calls.clone();
    assert!(!calls.iter().any(|c| c.contains("ReplicateSecretToRegions")), "{calls:?}");
}

/// A deadline already near: each invocation rotates one user and says
/// where to continue; the continuations together rotate every user once,
/// and every user appears in exactly one part's report.
#[tokio::test]
async fn near_its_deadline_an_invocation_stops_after_one_user_and_the_parts_cover_the_account() {
    let fake = Fake::new(t0());
    let mut old = BTreeMap::new();
    for name in ["ann", "bob", "cat", "dan"] {
        old.insert(name, fake.world().add_user(ACCOUNT, name, &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0));
    }
    fake.world().add_user(ACCOUNT, "bea", &[(KeyStatus::Active, t0() - Days::days(5))]);
    let cfg = config("");
    let deadline = Deadline::at(std::time::Instant::now());
    let mut message = msg(false);
    let mut reported = Vec::new();
    for part in 0.. {
        assert!(part < 10, "the parts end");
        let AccountPart { report, continue_after } =
            rotate_account_within(&deps(&fake), &cfg, &message, t0(), &deadline).await;
        let acted: Vec<_> = report.users.iter().filter(|u| !u.actions.is_empty()).collect();
        assert_eq!(acted.len(), 1, "part {part}: one user with actions per invocation: {report:?}");
        reported.extend(report.users.iter().map(|u| u.user_name.clone()));
        match continue_after {
            Some(last) => {
                assert_eq!(report.users.last().map(|u| u.user_name.as_str()), Some(last.as_str()));
                message = message.continuation(&last);
                assert_eq!(message.part, part + 1);
            }
            None => break,
        }
    }
    assert_eq!(reported, ["ann", "bea", "bob", "cat", "dan"], "every user in exactly one part, in order");
    for (name, key) in old {
        let keys = fake.world().keys(ACCOUNT, name);
        assert_eq!(keys.len(), 2, "{name} rotated once: {keys:?}");
        assert!(keys.iter().any(|k| k.id == key));
    }
    // A continuation reads users after its resume point only.
    let calls = fake.world().calls.clone();
    let listed_ann = calls.iter().filter(|c| c.ends_with("iam:ListAccessKeys ann")).count();
    assert!(listed_ann <= 3, "ann is read in the first part only (audit and executor): {listed_ann}");
}

/// No deadline (the CLI), or one far away: the whole account in one part.
#[tokio::test]
async fn without_a_near_deadline_the_whole_account_is_one_part() {
    let fake = Fake::new(t0());
    for name in ["ann", "bob"] {
        fake.world().add_user(ACCOUNT, name, &[(KeyStatus::Active, t0() - Days::days(95))]);
    }
    let audit = Config::from_yaml_str("mode: audit", None).unwrap();
    let far = Deadline::at(std::time::Instant::now() + Duration::from_secs(3600));
    for deadline in [Deadline::none(), far] {
        fake.world().restart();
        let part = rotate_account_within(&deps(&fake), &audit, &msg(false), t0(), &deadline).await;
        assert_eq!(part.continue_after, None);
        assert_eq!(part.report.users.len(), 2);
    }
}

#[test]
fn the_stop_margin_is_two_minutes_or_a_quarter_of_a_short_invocation() {
    let now = std::time::Instant::now();
    assert!(!Deadline::at(now + Duration::from_secs(900)).near(), "15 minutes left");
    assert!(Deadline::at(now + Duration::from_secs(100)).margin <= Duration::from_secs(25));
    assert!(!Deadline::at(now + Duration::from_secs(100)).near(), "a 100 s invocation starts work");
    assert!(Deadline::at(now).near(), "a passed deadline is near");
    assert!(!Deadline::none().near());
}

/// The calls one user's rotation costs: everything but the account-wide
/// reads (credential report, users, secret list) and role assumptions.
fn rotation_calls(fake: &Fake) -> Vec<String> {
    let account_wide = [
        "sts:AssumeRole",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountAuthorizationDetails",
        "secretsmanager:ListSecrets",
    ];
    let calls = fake.world().calls.clone();
    calls.into_iter().filter(|c| !account_wide.iter().any(|op| c.contains(op))).collect()
}

/// Issue 9: a rotation cost 13 to 14 calls with three or four
/// `DescribeSecret`s. A first rotation now creates the secret with its
/// in-flight record (the create is the claim: no read-back), takes the new
/// version's labels from `PutSecretValue`'s answer and the ARN from the
/// executor: 9 calls, no describe. A later rotation writes its own record
/// (one tag key per run, so no other run's record is overwritten and no look
/// before is needed) and reads the tags back once: 11 calls, one describe,
/// which also serves the promotion.
#[tokio::test]
async fn a_first_rotation_costs_nine_calls_and_a_later_one_eleven_with_one_describe() {
    let fake = Fake::new(t0());
    fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    let report = run_at(&fake, &config(""), t0()).await;
    assert!(matches!(report.users[0].actions[0].result, ActionResult::Done { .. }), "{report:?}");
    assert!(report.users[0].secret_arn.is_some(), "the report names the new secret");
    let calls = rotation_calls(&fake);
    let ops: Vec<&str> = calls.iter().map(|c| c.split(' ').nth(1).unwrap_or_default()).collect();
    assert_eq!(
        ops,
        [
            "iam:ListAccessKeys",
            "iam:ListAccessKeys",
            "secretsmanager:CreateSecret",
            "secretsmanager:PutResourcePolicy",
            "iam:CreateAccessKey",
            "secretsmanager:PutSecretValue",
            "sts:GetCallerIdentity",
            "secretsmanager:UpdateSecretVersionStage",
            "secretsmanager:UntagResource",
        ],
        "a first rotation: the audit's key list, the executor's fresh one, then the protocol"
    );
    assert_safe(&fake, "alice");

    // A year later: the secret exists.
    let later = t0() + Days::days(365);
    fake.world().restart();
    let old: Vec<String> = fake.world().keys(ACCOUNT, "alice").iter().map(|k| k.id.clone()).collect();
    fake.world().users.get_mut(ACCOUNT).unwrap().get_mut("alice").unwrap().keys.retain(|k| k.id == old[1]);
    let report = run_at(&fake, &config(""), later).await;
    assert!(matches!(report.users[0].actions[0].result, ActionResult::Done { .. }), "{report:?}");
    let calls = rotation_calls(&fake);
    let describes = calls.iter().filter(|c| c.contains("secretsmanager:DescribeSecret")).count();
    assert_eq!(describes, 1, "the claim's read-back: {calls:#?}");
    let ops: Vec<&str> = calls.iter().map(|c| c.split(' ').nth(1).unwrap_or_default()).collect();
    assert_eq!(
        ops,
        [
            "iam:ListAccessKeys",
            "iam:ListAccessKeys",
            "secretsmanager:TagResource",
            "secretsmanager:DescribeSecret",
            "secretsmanager:PutResourcePolicy",
            "iam:CreateAccessKey",
            "secretsmanager:PutSecretValue",
            "sts:GetCallerIdentity",
            "secretsmanager:UpdateSecretVersionStage",
            "secretsmanager:UpdateSecretVersionStage",
            "secretsmanager:UntagResource",
        ],
        "a later rotation: the claim is a tag and one read-back"
    );
    assert_safe(&fake, "alice");
}

/// An account of users due for rotation, with every call taking 10 ms.
fn slow_account(users: usize) -> Fake {
    let fake = Fake::new(t0());
    for i in 0..users {
        fake.world().add_user(ACCOUNT, &format!("user{i:02}"), &[(KeyStatus::Active, t0() - Days::days(95))]);
    }
    fake.world().latency = Some(Duration::from_millis(10));
    fake
}

/// Users run up to `runtime.concurrency.users_per_account` at once, and the
/// report is byte for byte the one of a run one user at a time.
#[tokio::test(start_paused = true)]
async fn users_overlap_up_to_the_bound_and_the_report_is_that_of_one_at_a_time() {
    let mut reports = Vec::new();
    for users_per_account in [1, 4] {
        let fake = slow_account(12);
        let cfg = config(&format!("runtime:\n  concurrency:\n    users_per_account: {users_per_account}\n"));
        let started = tokio::time::Instant::now();
        let report = run_at(&fake, &cfg, t0()).await;
        let took = started.elapsed();
        let (_, most) = fake.world().in_flight;
        assert_eq!(most, users_per_account, "calls at once with {users_per_account} users at once");
        assert!(report.users.iter().all(|u| matches!(u.actions[0].result, ActionResult::Done { .. })), "{report:?}");
        for i in 0..12 {
            assert_safe(&fake, &format!("user{i:02}"));
        }
        // Key ids differ between the worlds only by creation order: compare
        // the reports with them masked.
        let mut json = serde_json::to_string(&report).unwrap();
        for key in (0..40).rev() {
            json = json.replace(&format!("AKIAFAKE{key:012}"), "AKIA");
        }
        reports.push((json, took));
    }
    assert_eq!(reports[0].0, reports[1].0, "the same report at any concurrency");
    assert!(reports[1].1 * 3 < reports[0].1, "four at once is faster: {:?} vs {:?}", reports[1].1, reports[0].1);
}

/// Central storage: the audit asks for the account's own secrets (a tag
/// value filter), so the `ListSecrets` pages it reads do not grow with the
/// number of accounts storing secrets centrally.
#[tokio::test]
async fn central_storage_pages_per_account_do_not_grow_with_the_organization() {
    const CENTRAL: &str = "222222222222";
    let cfg = config(
        "organization:\n  management_account_id: '222222222222'\nsecrets:\n  storage: central\n  \
         kms_key_arn: arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
    );
    let mut pages = Vec::new();
    for accounts in [1_usize, 10] {
        let fake = Fake::new(t0());
        fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(5))]);
        {
            let mut w = fake.world();
            let store = w.secrets.entry((CENTRAL.to_string(), REGION.to_string())).or_default();
            for a in 0..accounts {
                let account = if a == 0 { ACCOUNT.to_string() } else { format!("3333333333{a:02}") };
                for u in 0..150 {
                    let name = format!("Account_{account}_User_u{u:03}_AccessKey");
                    let tags = BTreeMap::from([
                        (MANAGED_TAG.to_string(), "true".to_string()),
                        (ACCOUNT_TAG.to_string(), account.clone()),
                        (USER_TAG.to_string(), format!("u{u:03}")),
                    ]);
                    let secret = super::fake::FakeSecret { arn: format!("arn:{name}"), tags, ..Default::default() };
                    store.insert(name, secret);
                }
            }
        }
        let report = rotate_account(&deps(&fake), &cfg, &msg(true), t0()).await;
        assert_eq!(report.status, AccountStatus::Succeeded, "{report:?}");
        let calls = fake.world().calls.clone();
        pages.push(calls.iter().filter(|c| c.contains("secretsmanager:ListSecrets")).count());
    }
    assert_eq!(pages, [2, 2], "150 secrets of the account: two pages of 100, with 1 or 10 accounts");
}
