//! Regression tests of the executor's bad-day defects, each named after the
//! defect it pins: calls that take effect while the caller sees an error,
//! crashes, two runs at once, secrets left by the reference solution. Each
//! failed on the executor before its fix. The same cases run against a real
//! moto server behind a fault-injecting proxy in `tests/tests/faults.rs`.

use super::fake::{Fake, FakeSecret, FakeVersion};
use super::record::{records_of, InFlight};
use super::*;
use crate::lifecycle::{KeyStatus, Reason};
use crate::ports::ErrorKind;
use crate::report::{AccountReport, ActionResult};
use chrono::{Duration as Days, TimeZone};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn enforce() -> Config {
    Config::from_yaml_str("mode: enforce\n", None).expect("valid test config")
}

fn msg() -> AccountMessage {
    AccountMessage {
        run_id: "run-1".into(),
        account_id: ACCOUNT.into(),
        account_name: "dev".into(),
        account_email: None,
        dry_run: false,
        force_rotate: vec![],
        resume_after_user: None,
        part: 0,
    }
}

fn deps(fake: &Fake) -> RotationDeps<Fake> {
    RotationDeps { report_poll_interval: Duration::ZERO, report_poll_attempts: 3, ..RotationDeps::new(fake.clone()) }
}

async fn run_at(fake: &Fake, now: DateTime<Utc>) -> AccountReport {
    fake.world().clock = now;
    rotate_account(&deps(fake), &enforce(), &msg(), now).await
}

fn secret_name(user: &str) -> String {
    format!("Account_{ACCOUNT}_User_{user}_AccessKey")
}

fn secret(fake: &Fake, user: &str) -> FakeSecret {
    fake.world().secret(ACCOUNT, REGION, &secret_name(user)).cloned().expect("the user's secret")
}

/// The one in-flight record on the user's secret.
fn only_record(fake: &Fake, user: &str) -> InFlight {
    let records = records_of(&secret(fake, user).tags);
    assert_eq!(records.len(), 1, "one record: {records:?}");
    records[0].1.clone()
}

fn results(report: &AccountReport, user: &str) -> Vec<ActionResult> {
    report
        .users
        .iter()
        .filter(|u| u.user_name == user)
        .flat_map(|u| u.actions.iter().map(|a| a.result.clone()))
        .collect()
}

/// The user ends with the old key and exactly one new key, stored and current, and no record.
fn assert_rotated_once(fake: &Fake, user: &str, old: &str) {
    let keys = fake.world().keys(ACCOUNT, user);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.status == KeyStatus::Active), "{keys:?}");
    let new = keys.iter().find(|k| k.id != old).expect("a new key");
    let s = secret(fake, user);
    assert_eq!(s.version_with(STAGE_CURRENT), Some(version_id_for(&new.id).as_str()));
    assert_eq!(s.version_with(STAGE_PENDING), None);
    assert!(records_of(&s.tags).is_empty(), "{:?}", s.tags);
}

/// Defect 1: a secret found by name (the reference solution's, same name
/// pattern, no tags) was reused without rekey's tags, so the audit never saw
/// its pending version again after a crash, and the old key was later
/// deactivated while the new one sat in AWSPENDING.
#[tokio::test]
async fn an_existing_untagged_secret_is_adopted_so_a_crashed_rotation_is_found_again() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
    // The reference's secret: the whole CreateAccessKey answer as JSON, AWSCURRENT, no tags.
    let legacy = serde_json::json!({"AccessKeyId": old, "SecretAccessKey": format!("secret-{old}"),
        "Status": "Active", "UserName": "alice", "CreateDate": "2025-09-28 12:00:00+00:00"});
    let reference = FakeSecret {
        arn: format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{}-AbCdEf", secret_name("alice")),
        versions: [(
            "4f2c8a1e-reference".to_string(),
            FakeVersion { value: legacy.to_string(), stages: vec![STAGE_CURRENT.into()] },
        )]
        .into(),
        ..Default::default()
    };
    fake.world().secrets.entry((ACCOUNT.into(), REGION.into())).or_default().insert(secret_name("alice"), reference);
    // The run stops right after storing the new key as AWSPENDING.
    fake.world().crash_after = Some("secretsmanager:PutSecretValue".into());
    run_at(&fake, t0()).await;
    let s = secret(&fake, "alice");
    assert_eq!(s.tags.get(MANAGED_TAG).map(String::as_str), Some("true"), "adopted: {:?}", s.tags);
    assert_eq!(s.tags.get(USER_TAG).map(String::as_str), Some("alice"));
    assert!(s.version_with(STAGE_PENDING).is_some());
    fake.world().restart();
    // Days later the audit sees the pending version and completes it first.
    let report = run_at(&fake, t0() + Days::days(1)).await;
    let actions: Vec<_> = report.users[0].actions.iter().map(|a| a.action).collect();
    assert_eq!(actions, [ActionKind::CompleteRotation], "{report:?}");
    assert_rotated_once(&fake, "alice", &old);
    let previous = secret(&fake, "alice").versions["4f2c8a1e-reference"].stages.clone();
    assert_eq!(previous, ["AWSPREVIOUS"], "the reference's version stays readable as AWSPREVIOUS");
}

/// Defect 3: `CreateAccessKey` took effect but its answer was lost, and the
/// SDK's retry answered `LimitExceeded`. The executor removed the record, so
/// the new key (whose secret half nobody has) was later taken for the old
/// key's replacement, and no run reported it.
#[tokio::test]
async fn a_create_that_took_effect_keeps_its_record_and_the_next_run_replaces_the_lost_key() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
    fake.world().fail_after_effect.insert("iam:CreateAccessKey".into(), ErrorKind::LimitExceeded);
    let first = run_at(&fake, t0()).await;
    let first_results = results(&first, "alice");
    let [ActionResult::Failed { error }] = first_results.as_slice() else { panic!("the rotation fails: {first:?}") };
    assert!(error.contains("now exists") && error.contains("next run deletes"), "{error}");
    let orphan = fake.world().keys(ACCOUNT, "alice").into_iter().find(|k| k.id != old).expect("the lost key").id;
    assert_eq!(only_record(&fake, "alice").known_keys, Some(vec![old.clone()]), "record kept");

    // The next run, after the lease: delete the lost key, rotate again.
    let second = run_at(&fake, t0() + Days::hours(1)).await;
    let actions: Vec<_> = second.users[0].actions.iter().map(|a| (a.action, a.access_key_id.clone())).collect();
    assert_eq!(actions, [(ActionKind::DeleteOrphanKey, orphan.clone()), (ActionKind::Rotate, old.clone())]);
    assert_rotated_once(&fake, "alice", &old);
    assert!(fake.world().keys(ACCOUNT, "alice").iter().all(|k| k.id != orphan));
}

/// Defect 3: with no record, the lost key was planned as the replacement
/// and the key applications use was deactivated ten days later.
#[tokio::test]
async fn the_lost_key_is_never_taken_for_the_replacement() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
    fake.world().fail_after_effect.insert("iam:CreateAccessKey".into(), ErrorKind::LimitExceeded);
    // The lost key's cleanup keeps failing for days (every DeleteAccessKey errs).
    run_at(&fake, t0()).await;
    for day in 1..=20 {
        fake.world().fail_once.insert("iam:DeleteAccessKey".into(), ErrorKind::Retryable);
        let report = run_at(&fake, t0() + Days::days(day)).await;
        let deactivated = report.users[0].actions.iter().any(|a| a.action == ActionKind::Deactivate);
        assert!(!deactivated, "day {day}: the old key is never deactivated for a key nobody holds: {report:?}");
        let keys = fake.world().keys(ACCOUNT, "alice");
        assert!(keys.iter().any(|k| k.id == old && k.status == KeyStatus::Active), "day {day}: {keys:?}");
    }
}

/// Defect 3: a failed `CreateAccessKey` that created nothing drops the
/// record (the key list proves it), and the next run rotates normally.
#[tokio::test]
async fn a_create_that_did_not_take_effect_drops_its_record() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
    fake.world().fail_once.insert("iam:CreateAccessKey".into(), ErrorKind::Retryable);
    run_at(&fake, t0()).await;
    assert!(records_of(&secret(&fake, "alice").tags).is_empty());
    assert_eq!(fake.world().keys(ACCOUNT, "alice").len(), 1);
    run_at(&fake, t0() + Days::minutes(1)).await;
    assert_rotated_once(&fake, "alice", &old);
}

/// Defect 3: two runs at once. The second finds the first's live lease and
/// leaves the user alone (reported, not failed), instead of overwriting the
/// record or removing it.
#[tokio::test]
async fn a_live_lease_holds_off_a_second_run_and_expires_for_a_crashed_one() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
    // The first run dies right after creating the key.
    fake.world().crash_after = Some("iam:CreateAccessKey".into());
    run_at(&fake, t0()).await;
    fake.world().restart();
    let record = only_record(&fake, "alice");

    // Five minutes later another run: the lease holds, nothing is touched.
    let second = run_at(&fake, t0() + Days::minutes(5)).await;
    let alice = &second.users[0];
    assert!(alice.actions.is_empty(), "{alice:?}");
    assert!(alice.warnings.iter().any(|w| w.reason == Reason::RotationInFlight), "{alice:?}");
    assert_eq!(only_record(&fake, "alice"), record, "the record is untouched, no other added");
    assert_eq!(fake.world().keys(ACCOUNT, "alice").len(), 2);

    // After the lease the crashed rotation is undone and done again.
    run_at(&fake, t0() + LEASE_END).await;
    assert_rotated_once(&fake, "alice", &old);
}

const LEASE_END: Days = Days::minutes(16);

/// Defect 3: a run that claims a user between the first run's claim and
/// its `CreateAccessKey` finds the lease in the executor too (the plan was
/// made before), and skips.
#[tokio::test]
async fn the_executor_skips_a_user_whose_lease_another_run_took_after_the_audit() {
    let fake = Fake::new(t0());
    fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
    let cfg = enforce();
    let creds = fake.assume_role(&format!("arn:aws:iam::{ACCOUNT}:role/x"), "s").await.unwrap();
    let (iam, secrets) = (fake.iam(&creds), fake.secrets(&creds, REGION));
    // Another run holds the lease on an existing secret.
    let other = InFlight::start("other-run@1.1", t0(), vec![]);
    fake.world().secrets.entry((ACCOUNT.into(), REGION.into())).or_default().insert(
        secret_name("alice"),
        FakeSecret {
            arn: "arn:alice".into(),
            tags: [(ROTATION_STARTED_TAG.to_string(), other.tag_value())].into(),
            ..Default::default()
        },
    );
    let ctx = execute::ExecContext {
        config: &cfg,
        account_id: ACCOUNT,
        now: t0() + Days::minutes(1),
        owner: "this-run@1.2",
        platform: &fake,
        iam: &iam,
        secrets: &secrets,
    };
    let user = super::fake::bare_user(ACCOUNT, "alice");
    let key = fake.world().keys(ACCOUNT, "alice")[0].id.clone();
    let rotate = crate::lifecycle::PlannedAction {
        account_id: ACCOUNT.into(),
        user_name: "alice".into(),
        access_key_id: key,
        action: ActionKind::Rotate,
        reason: Reason::Expired,
        due: t0(),
    };
    let out = execute::execute_user(&ctx, &user, &[rotate]).await;
    assert!(matches!(&out[0].result, ActionResult::Skipped { why } if why.contains("other-run")), "{out:?}");
    assert_eq!(fake.world().keys(ACCOUNT, "alice").len(), 1, "no key created");
    assert_eq!(secret(&fake, "alice").tags[ROTATION_STARTED_TAG], other.tag_value(), "the record is not overwritten");
    assert_eq!(only_record(&fake, "alice"), other, "this run removed its own record");
}

/// Issue 9: two runs claim one user whose secret exists, at the same moment
/// or one a little after the other. Each writes its record under its own
/// tag key and reads the tags back once: both back off when each sees the
/// other's record, or the one that read back first goes on alone. Never
/// both; no record is left behind; a later run rotates if neither did.
#[tokio::test(start_paused = true)]
async fn two_runs_claiming_one_user_at_once_never_both_rotate() {
    for offset_ms in [0, 5, 25] {
        let fake = Fake::new(t0());
        let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
        fake.world().secrets.entry((ACCOUNT.into(), REGION.into())).or_default().insert(
            secret_name("alice"),
            FakeSecret {
                arn: "arn:alice".into(),
                tags: [(MANAGED_TAG.to_string(), "true".to_string())].into(),
                ..Default::default()
            },
        );
        fake.world().latency = Some(Duration::from_millis(10));
        let cfg = enforce();
        let creds = fake.assume_role(&format!("arn:aws:iam::{ACCOUNT}:role/x"), "s").await.unwrap();
        let (iam, secrets) = (fake.iam(&creds), fake.secrets(&creds, REGION));
        let context = |owner| execute::ExecContext {
            config: &cfg,
            account_id: ACCOUNT,
            now: t0(),
            owner,
            platform: &fake,
            iam: &iam,
            secrets: &secrets,
        };
        let (first, second) = (context("run-a@1.1"), context("run-b@2.1"));
        let user = super::fake::bare_user(ACCOUNT, "alice");
        let rotate = [crate::lifecycle::PlannedAction {
            account_id: ACCOUNT.into(),
            user_name: "alice".into(),
            access_key_id: old.clone(),
            action: ActionKind::Rotate,
            reason: Reason::Expired,
            due: t0(),
        }];
        let later = async {
            tokio::time::sleep(Duration::from_millis(offset_ms)).await;
            execute::execute_user(&second, &user, &rotate).await
        };
        let (a, b) = tokio::join!(execute::execute_user(&first, &user, &rotate), later);
        let done = [&a[0].result, &b[0].result].iter().filter(|r| matches!(r, ActionResult::Done { .. })).count();
        assert!(done <= 1, "offset {offset_ms} ms: both rotated: {a:?} {b:?}");
        for result in [&a[0].result, &b[0].result] {
            assert!(
                matches!(result, ActionResult::Done { .. })
                    || matches!(result, ActionResult::Skipped { why } if why.contains("another run")),
                "offset {offset_ms} ms: {result:?}"
            );
        }
        assert_eq!(fake.world().keys(ACCOUNT, "alice").len(), 1 + done, "offset {offset_ms} ms");
        assert!(records_of(&secret(&fake, "alice").tags).is_empty(), "offset {offset_ms} ms: a record left");
        match offset_ms {
            0 => assert_eq!(done, 0, "each read back after both wrote: both back off"),
            25 => assert_eq!(done, 1, "the first read back before the second wrote: it goes on alone"),
            _ => {}
        }
        if done == 0 {
            fake.world().latency = None;
            run_at(&fake, t0() + Days::hours(1)).await;
        }
        assert_rotated_once(&fake, "alice", &old);
    }
}

/// Defect 4: completing a rotation rewrote its start time, so a crash
/// after promotion left a record younger than the new key, and the next run
/// rotated again (or took a key created meanwhile for an orphan).
#[tokio::test]
async fn completing_keeps_the_start_so_a_crash_after_promotion_is_recognised_as_finished() {
    let fake = Fake::new(t0());
    let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
    fake.world().crash_after = Some("secretsmanager:PutSecretValue".into());
    run_at(&fake, t0()).await;
    fake.world().restart();
    let started = only_record(&fake, "alice").started;
    // A day later the completion promotes, then dies before untagging.
    fake.world().crash_after = Some("secretsmanager:UpdateSecretVersionStage".into());
    run_at(&fake, t0() + Days::days(1)).await;
    fake.world().restart();
    // The completion died before its untag: its own record and the one it
    // took over are both left, each with the rotation's start.
    let records = records_of(&secret(&fake, "alice").tags);
    assert!(!records.is_empty(), "record left");
    assert!(records.iter().all(|(_, r)| r.started == started), "the takeover keeps the rotation's start: {records:?}");
    // The next run sees a finished rotation: no new key, the record tidied.
    let third = run_at(&fake, t0() + Days::days(2)).await;
    let acted: Vec<_> = third.users[0].actions.iter().map(|a| a.action).collect();
    assert!(!acted.contains(&ActionKind::Rotate), "{third:?}");
    assert_rotated_once(&fake, "alice", &old);
}

/// Defect 4: deactivation wrote the key's status before its record; when
/// the record failed (or the 50-tag limit was hit) the key stayed inactive
/// with no record, so rekey never deleted it and it blocked the next rotation.
#[tokio::test]
async fn deactivation_writes_its_record_before_the_status() {
    let fake = Fake::new(t0());
    let ids = fake.world().add_user(
        ACCOUNT,
        "alice",
        &[(KeyStatus::Active, t0() - Days::days(101)), (KeyStatus::Active, t0() - Days::days(11))],
    );
    // The newer key is rekey's: the secret holds it as AWSCURRENT.
    let value = serde_json::json!({"AccessKeyId": ids[1], "SecretAccessKey": "s"});
    fake.world().secrets.entry((ACCOUNT.into(), REGION.into())).or_default().insert(
        secret_name("alice"),
        FakeSecret {
            arn: "arn:alice".into(),
            tags: [(MANAGED_TAG.to_string(), "true".to_string())].into(),
            versions: [(
                version_id_for(&ids[1]),
                FakeVersion { value: value.to_string(), stages: vec![STAGE_CURRENT.into()] },
            )]
            .into(),
            ..Default::default()
        },
    );
    fake.world().fail_once.insert("iam:TagUser".into(), ErrorKind::LimitExceeded);
    let report = run_at(&fake, t0()).await;
    assert!(matches!(results(&report, "alice").as_slice(), [ActionResult::Failed { .. }]), "{report:?}");
    assert_eq!(fake.world().keys(ACCOUNT, "alice")[0].status, KeyStatus::Active, "no unrecorded inactive key");
    let report = run_at(&fake, t0() + Days::hours(1)).await;
    assert!(matches!(results(&report, "alice").as_slice(), [ActionResult::Done { .. }]), "{report:?}");
    let w = fake.world();
    assert_eq!(w.keys(ACCOUNT, "alice")[0].status, KeyStatus::Inactive);
    assert!(w.users[ACCOUNT]["alice"].tags.contains_key(&format!("rekey:deactivated:{}", ids[0])));
}

/// Defect 4: a secret scheduled for deletion by hand blocked the user's
/// rotation every day with an unexplained error.
#[tokio::test]
async fn a_secret_scheduled_for_deletion_is_reported_with_the_way_out() {
    // Whether the store takes the claim's tags on such a secret (and the
    // read-back shows the deletion) or refuses them, the message says why.
    for tags_refused in [false, true] {
        let fake = Fake::new(t0());
        fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]);
        fake.world().secrets.entry((ACCOUNT.into(), REGION.into())).or_default().insert(
            secret_name("alice"),
            FakeSecret { arn: "arn:alice".into(), deleted_date: Some(t0() - Days::days(2)), ..Default::default() },
        );
        if tags_refused {
            fake.world().fail_once.insert("secretsmanager:TagResource".into(), ErrorKind::Other);
        }
        let report = run_at(&fake, t0()).await;
        let alice = results(&report, "alice");
        let [ActionResult::Failed { error }] = alice.as_slice() else { panic!("{report:?}") };
        assert!(error.contains("scheduled for deletion") && error.contains("restore-secret"), "{error}");
        assert_eq!(fake.world().keys(ACCOUNT, "alice").len(), 1, "no key created that could not be stored");
        assert!(records_of(&secret(&fake, "alice").tags).is_empty(), "no record left behind");
    }
}

/// After-effect failures of the other mutating steps: the executor looks
/// before it acts again, and the rotation completes in the same run.
#[tokio::test]
async fn steps_that_took_effect_before_their_error_are_recognised() {
    for op in
        ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:CreateSecret"]
    {
        let fake = Fake::new(t0());
        let old = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(95))]).remove(0);
        let kind = if op.ends_with("CreateSecret") { ErrorKind::Other } else { ErrorKind::Retryable };
        fake.world().fail_after_effect.insert(op.into(), kind);
        let report = run_at(&fake, t0()).await;
        assert!(matches!(results(&report, "alice").as_slice(), [ActionResult::Done { .. }]), "{op}: {report:?}");
        assert_rotated_once(&fake, "alice", &old);
    }
    // A delete whose first attempt took effect: the retry's NoSuchEntity is done.
    let fake = Fake::new(t0());
    fake.world().add_user(ACCOUNT, "bob", &[(KeyStatus::Inactive, t0() - Days::days(200))]);
    let cfg = Config::from_yaml_str("mode: enforce\nlifecycle:\n  delete_stale_inactive_keys: true\n", None).unwrap();
    fake.world().clock = t0();
    rotate_account(&deps(&fake), &cfg, &msg(), t0()).await;
    let later = t0() + Days::days(30);
    fake.world().clock = later;
    fake.world().fail_after_effect.insert("iam:DeleteAccessKey".into(), ErrorKind::NotFound);
    let report = rotate_account(&deps(&fake), &cfg, &msg(), later).await;
    assert!(matches!(results(&report, "bob").as_slice(), [ActionResult::Done { .. }]), "{report:?}");
    assert!(fake.world().keys(ACCOUNT, "bob").is_empty());
}

/// Found by the fault sweep: a delete whose record clean-up (`UntagUser`)
/// failed left `rekey:deactivated:<deleted key>` on the user for good, one
/// of IAM's 50 tags per user. The next enforce run removes records of keys
/// that no longer exist.
#[tokio::test]
async fn records_of_deleted_keys_are_removed_by_the_next_run() {
    let fake = Fake::new(t0());
    let ids = fake.world().add_user(ACCOUNT, "alice", &[(KeyStatus::Active, t0() - Days::days(10))]);
    let tags = [
        ("rekey:deactivated:AKIAGONE".to_string(), "2025-12-01T00:00:00Z".to_string()),
        ("rekey:seen-inactive:AKIAGONE2".to_string(), "2025-12-01T00:00:00Z".to_string()),
        (format!("rekey:deactivated:{}", ids[0]), "2025-12-01T00:00:00Z".to_string()),
        ("team".to_string(), "payments".to_string()),
    ];
    fake.world().users.get_mut(ACCOUNT).unwrap().get_mut("alice").unwrap().tags.extend(tags);
    run_at(&fake, t0()).await;
    let kept: Vec<String> = fake.world().users[ACCOUNT]["alice"].tags.keys().cloned().collect();
    assert_eq!(
        kept,
        [format!("rekey:deactivated:{}", ids[0]), "team".to_string()],
        "only the existing key's record stays"
    );
}
