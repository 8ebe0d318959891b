//! End-to-end tests of the rotation core (`rekey_runtime::rotation`) on the
//! real AWS SDK against a moto server: bulk audit of large accounts,
//! exemption groups beyond 100 members, the 90 → 100 → 110 timeline, two-key
//! combinations, recovery of a crashed run, central vs member storage, and
//! audit mode leaving the account untouched.
//!
//! Time: keys are backdated (or moved forward) through the moto launcher's
//! control port, and the injected `now` moves with them.

use chrono::{DateTime, Duration, DurationRound, Utc};
use rekey_config::Config;
use rekey_e2e::moto::{test_account_id, Moto};
use rekey_runtime::lifecycle::{ActionKind, UserStatus};
use rekey_runtime::messages::AccountMessage;
use rekey_runtime::report::{AccountReport, AccountStatus, ActionResult, UserReport};
use rekey_runtime::rotation::record::records_of;
use rekey_runtime::rotation::{rotate_account, version_id_for, RotationDeps, ROTATION_STARTED_TAG};
use std::collections::BTreeMap;

fn config(yaml: &str) -> Config {
    Config::from_yaml_str(yaml, None).expect("valid test config")
}

fn enforce() -> Config {
    config("mode: enforce\n")
}

fn deps(moto: &Moto) -> RotationDeps<rekey_runtime::aws::sts::AwsPlatform> {
    let mut deps = RotationDeps::aws(&moto.sdk_config());
    deps.report_poll_interval = std::time::Duration::from_millis(20);
    deps
}

async fn run(account: &str, config: &Config, now: DateTime<Utc>, dry_run: bool) -> AccountReport {
    let msg = AccountMessage {
        run_id: "e2e".into(),
        account_id: account.into(),
        account_name: "e2e".into(),
        account_email: None,
        dry_run,
        force_rotate: vec![],
        resume_after_user: None,
        part: 0,
    };
    rotate_account(&deps(Moto::get()), config, &msg, now).await
}

fn start() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

async fn iam(account: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&Moto::get().account_config(account).await)
}

async fn secrets(account: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&Moto::get().account_config(account).await)
}

async fn user_with_key(iam: &aws_sdk_iam::Client, user: &str) -> String {
    iam.create_user().user_name(user).send().await.expect("create user");
    let key = iam.create_access_key().user_name(user).send().await.expect("create key");
    key.access_key().unwrap().access_key_id().to_string()
}

/// `(key id, active)` of a user's keys, by id.
async fn keys(iam: &aws_sdk_iam::Client, user: &str) -> Vec<(String, bool)> {
    let out = iam.list_access_keys().user_name(user).send().await.expect("list keys");
    let mut keys: Vec<_> = out
        .access_key_metadata()
        .iter()
        .map(|k| (k.access_key_id().unwrap().to_string(), k.status() == Some(&aws_sdk_iam::types::StatusType::Active)))
        .collect();
    keys.sort();
    keys
}

fn user<'r>(report: &'r AccountReport, name: &str) -> &'r UserReport {
    report.users.iter().find(|u| u.user_name == name).unwrap_or_else(|| panic!("no user `{name}` in {report:#?}"))
}

fn actions(u: &UserReport) -> Vec<ActionKind> {
    u.actions.iter().map(|a| a.action).collect()
}

/// The key id in a secret version's value.
async fn stored_key(sm: &aws_sdk_secretsmanager::Client, name: &str, stage: &str) -> Option<String> {
    let out = sm.get_secret_value().secret_id(name).version_stage(stage).send().await.ok()?;
    let v: serde_json::Value = serde_json::from_str(out.secret_string()?).ok()?;
    v["AccessKeyId"].as_str().map(str::to_string)
}

fn secret_name(account: &str, user: &str) -> String {
    format!("Account_{account}_User_{user}_AccessKey")
}

#[tokio::test]
async fn a_150_user_account_is_audited_whole_and_a_large_exemption_group_counts() {
    let account = test_account_id("rotation-150-users");
    let iam = iam(&account).await;
    iam.create_group().group_name("rekey-exempt").send().await.expect("group");
    let mut expired = Vec::new();
    for i in 0..150 {
        let name = format!("user{i:03}");
        if i % 10 == 0 {
            let key = user_with_key(&iam, &name).await;
            Moto::get().backdate_key(&account, &key, 95);
            expired.push(name.clone());
        } else {
            iam.create_user().user_name(&name).send().await.expect("create user");
        }
        // 105 members: more than one page of GetGroup.
        if i < 105 {
            iam.add_user_to_group().group_name("rekey-exempt").user_name(&name).send().await.expect("add");
        }
    }
    let report = run(&account, &enforce(), start(), true).await;
    assert_eq!(report.status, AccountStatus::Succeeded, "{:?}", report.status);
    assert_eq!(report.users.len(), 150, "every user audited");
    let exempt = report.users.iter().filter(|u| matches!(u.status, UserStatus::Exempt { .. })).count();
    assert_eq!(exempt, 105);
    // user000..user100 (step 10) are exempt, so only user110..user140 get a rotation.
    let rotating: Vec<_> =
        report.users.iter().filter(|u| actions(u) == [ActionKind::Rotate]).map(|u| u.user_name.clone()).collect();
    assert_eq!(rotating, ["user110", "user120", "user130", "user140"]);
    assert!(report.users.iter().flat_map(|u| &u.actions).all(|a| a.result == ActionResult::Planned));
    // Exempt users with an expired key are visible, with a warning, never dropped.
    assert!(!user(&report, "user000").warnings.is_empty());
}

#[tokio::test]
async fn one_key_goes_through_rotate_deactivate_delete_at_90_100_110_days() {
    let account = test_account_id("rotation-timeline");
    let iam = iam(&account).await;
    let sm = secrets(&account).await;
    let t0 = start();
    let old = user_with_key(&iam, "alice").await;
    let cfg = enforce();
    let mut seen = Vec::new();
    let mut new_key = None;
    for day in [85, 89, 90, 91, 95, 99, 100, 101, 105, 109, 110, 111] {
        // One hour past midnight of the day: covers the seconds between t0 and key creation.
        let now = t0 + Duration::days(day) + Duration::hours(1);
        let report = run(&account, &cfg, now, false).await;
        assert_eq!(report.status, AccountStatus::Succeeded, "day {day}: {:?}", report.status);
        let alice = user(&report, "alice");
        for a in &alice.actions {
            let ActionResult::Done { new_access_key_id } = &a.result else {
                panic!("day {day}: {a:?}");
            };
            if let Some(id) = new_access_key_id {
                // Created "now" by moto's clock: move it to the injected day.
                Moto::get().backdate_key(&account, id, -day);
                new_key = Some(id.clone());
            }
            seen.push((day, a.action, a.access_key_id.clone()));
        }
        let keys = keys(&iam, "alice").await;
        assert!(keys.len() <= 2 && keys.iter().any(|(_, active)| *active), "day {day}: {keys:?}");
    }
    let kinds: Vec<_> = seen.iter().map(|(d, k, id)| (*d, *k, id == &old)).collect();
    assert_eq!(
        kinds,
        [(90, ActionKind::Rotate, true), (100, ActionKind::Deactivate, true), (110, ActionKind::Delete, true)]
    );
    let new_key = new_key.expect("a key was created");
    assert_eq!(keys(&iam, "alice").await, [(new_key.clone(), true)]);
    let name = secret_name(&account, "alice");
    assert_eq!(stored_key(&sm, &name, "AWSCURRENT").await.as_deref(), Some(new_key.as_str()));
    let tags = iam.list_user_tags().user_name("alice").send().await.unwrap();
    assert!(tags.tags().is_empty(), "the deactivation record went with the key: {:?}", tags.tags());
}

#[tokio::test]
async fn users_with_two_keys_in_each_combination() {
    let account = test_account_id("rotation-two-keys");
    let iam = iam(&account).await;
    let make = |user: &'static str, ages: [(i64, bool); 2]| {
        let iam = iam.clone();
        let account = account.clone();
        async move {
            iam.create_user().user_name(user).send().await.unwrap();
            let mut ids = Vec::new();
            for (age, active) in ages {
                let id = iam.create_access_key().user_name(user).send().await.unwrap();
                let id = id.access_key().unwrap().access_key_id().to_string();
                if !active {
                    iam.update_access_key()
                        .user_name(user)
                        .access_key_id(&id)
                        .status(aws_sdk_iam::types::StatusType::Inactive)
                        .send()
                        .await
                        .unwrap();
                }
                Moto::get().backdate_key(&account, &id, age);
                ids.push(id);
            }
            ids
        }
    };
    // Mid-rotation: old expired + replacement past its grace → deactivate the old one.
    let mid = make("active-active-mid", [(120, true), (20, true)]).await;
    // Both expired and active: no safe action.
    make("active-active-expired", [(200, true), (150, true)]).await;
    // Both fresh: nothing.
    make("active-active-fresh", [(30, true), (10, true)]).await;
    // An inactive key rekey did not deactivate: reported, left alone.
    let ai = make("active-inactive", [(150, false), (20, true)]).await;
    // An expired active key beside a newer inactive key rekey did not deactivate: nothing destructive.
    let ia = make("active-expired-inactive-new", [(95, true), (20, false)]).await;
    // Both inactive: left alone.
    make("inactive-inactive", [(150, false), (120, false)]).await;

    let report = run(&account, &enforce(), start(), false).await;
    assert_eq!(actions(user(&report, "active-active-mid")), [ActionKind::Deactivate]);
    assert_eq!(keys(&iam, "active-active-mid").await, {
        let mut k = vec![(mid[0].clone(), false), (mid[1].clone(), true)];
        k.sort();
        k
    });
    let both = user(&report, "active-active-expired");
    assert!(matches!(both.status, UserStatus::NeedsManualAction { .. }), "{both:?}");
    assert!(both.actions.is_empty());
    assert!(user(&report, "active-active-fresh").actions.is_empty());
    assert!(user(&report, "active-inactive").actions.is_empty());
    assert!(keys(&iam, "active-inactive").await.iter().any(|(id, active)| id == &ai[0] && !active));
    let blocked = user(&report, "active-expired-inactive-new");
    assert!(
        blocked.actions.iter().all(|a| !matches!(a.action, ActionKind::Delete | ActionKind::Deactivate)),
        "{blocked:?}"
    );
    assert!(!blocked.warnings.is_empty(), "the expired key is reported: {blocked:?}");
    let expected = [(ia[0].clone(), true), (ia[1].clone(), false)];
    let after = keys(&iam, "active-expired-inactive-new").await;
    assert!(after.len() <= 2 && expected.iter().all(|k| after.contains(k)), "{after:?}");
    assert!(user(&report, "inactive-inactive").actions.is_empty());
    assert_eq!(keys(&iam, "inactive-inactive").await.len(), 2);
    let tags = iam.list_user_tags().user_name("active-active-mid").send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == format!("rekey:deactivated:{}", mid[0])));
}

#[tokio::test]
async fn a_key_stored_by_a_crashed_run_is_verified_and_promoted() {
    let account = test_account_id("rotation-crashed");
    let iam = iam(&account).await;
    let sm = secrets(&account).await;
    let old = user_with_key(&iam, "alice").await;
    Moto::get().backdate_key(&account, &old, 95);
    // What a run that crashed after step 3 leaves: a started record, a new
    // key, its value as AWSPENDING and no AWSCURRENT at all.
    let name = secret_name(&account, "alice");
    let started = start() - Duration::minutes(10);
    let tag = |k: &str, v: &str| aws_sdk_secretsmanager::types::Tag::builder().key(k).value(v).build();
    sm.create_secret()
        .name(&name)
        .tags(tag("rekey:managed", "true"))
        .tags(tag("rekey:account", &account))
        .tags(tag("rekey:user", "alice"))
        .tags(tag(ROTATION_STARTED_TAG, &started.to_rfc3339()))
        .send()
        .await
        .unwrap();
    let new = iam.create_access_key().user_name("alice").send().await.unwrap();
    let new = new.access_key().unwrap();
    let value = serde_json::json!({
        "AccessKeyId": new.access_key_id(), "SecretAccessKey": new.secret_access_key(),
        "UserName": "alice", "CreateDate": started.to_rfc3339(),
    });
    sm.put_secret_value()
        .secret_id(&name)
        .client_request_token(version_id_for(new.access_key_id()))
        .secret_string(value.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();

    let report = run(&account, &enforce(), start(), false).await;
    let alice = user(&report, "alice");
    assert_eq!(actions(alice), [ActionKind::CompleteRotation], "{alice:#?}");
    assert!(matches!(alice.actions[0].result, ActionResult::Done { .. }), "{alice:#?}");
    assert_eq!(stored_key(&sm, &name, "AWSCURRENT").await.as_deref(), Some(new.access_key_id()));
    assert_eq!(keys(&iam, "alice").await.len(), 2, "no third key, none lost");
    let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
    let left: BTreeMap<String, String> =
        d.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect();
    assert!(records_of(&left).is_empty(), "every record removed, the legacy one too: {left:?}");
    // The secret's value never reaches the report.
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(new.secret_access_key()));
    assert!(!format!("{report:?}").contains(new.secret_access_key()));
}

#[tokio::test]
async fn member_storage_keeps_secrets_in_the_member_account_central_in_the_inventory_account() {
    let member = test_account_id("rotation-storage-member");
    let central = test_account_id("rotation-storage-central");
    let iam = iam(&member).await;
    for user in ["m-user", "c-user"] {
        let key = user_with_key(&iam, user).await;
        Moto::get().backdate_key(&member, &key, 95);
    }
    // Member storage (the default), with a replica region.
    let cfg = config("mode: enforce\nsecrets:\n  replica_regions: [us-west-2]\n");
    let msg = AccountMessage {
        run_id: "e2e".into(),
        account_id: member.clone(),
        account_name: "m".into(),
        account_email: None,
        dry_run: false,
        force_rotate: vec![],
        resume_after_user: None,
        part: 0,
    };
    let report = rotate_account(&deps(Moto::get()), &cfg, &msg, start()).await;
    assert!(report.users.iter().all(|u| u.actions.iter().all(|a| matches!(a.result, ActionResult::Done { .. }))));
    let sm_member = secrets(&member).await;
    let name = secret_name(&member, "m-user");
    assert!(stored_key(&sm_member, &name, "AWSCURRENT").await.is_some(), "member secret");
    let d = sm_member.describe_secret().secret_id(&name).send().await.unwrap();
    assert_eq!(d.replication_status().iter().filter_map(|r| r.region()).collect::<Vec<_>>(), ["us-west-2"]);
    let policy = sm_member.get_resource_policy().secret_id(&name).send().await.unwrap();
    assert!(policy.resource_policy().unwrap().contains(&format!("arn:aws:iam::{member}:user/m-user")));

    // Central storage: a second member account, secrets written in the central account.
    let member2 = test_account_id("rotation-storage-member2");
    let iam2 = self::iam(&member2).await;
    let key = user_with_key(&iam2, "c-user").await;
    Moto::get().backdate_key(&member2, &key, 95);
    let cfg = config(&format!(
        "mode: enforce\norganization:\n  management_account_id: '{central}'\nsecrets:\n  storage: central\n  \
         kms_key_arn: arn:aws:kms:us-east-1:{central}:key/1234abcd-12ab-34cd-56ef-1234567890ab\n"
    ));
    let report = run(&member2, &cfg, start(), false).await;
    assert!(matches!(user(&report, "c-user").actions[0].result, ActionResult::Done { .. }), "{report:#?}");
    let name = secret_name(&member2, "c-user");
    let sm_central = secrets(&central).await;
    assert!(stored_key(&sm_central, &name, "AWSCURRENT").await.is_some(), "central secret");
    let sm_member2 = secrets(&member2).await;
    assert!(sm_member2.describe_secret().secret_id(&name).send().await.is_err(), "nothing in the member account");
}

/// Everything an audit could change: users, keys and statuses, user tags,
/// secrets with tags and version stages.
async fn snapshot(account: &str) -> BTreeMap<String, String> {
    let iam = iam(account).await;
    let sm = secrets(account).await;
    let mut state = BTreeMap::new();
    let users = iam.list_users().send().await.unwrap();
    for u in users.users() {
        let name = u.user_name();
        state.insert(format!("keys {name}"), format!("{:?}", keys(&iam, name).await));
        let tags = iam.list_user_tags().user_name(name).send().await.unwrap();
        let tags: BTreeMap<_, _> = tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        state.insert(format!("tags {name}"), format!("{tags:?}"));
    }
    let list = sm.list_secrets().send().await.unwrap();
    for s in list.secret_list() {
        let tags: BTreeMap<_, _> =
            s.tags().iter().map(|t| (t.key().unwrap_or("").to_string(), t.value().unwrap_or("").to_string())).collect();
        let versions: BTreeMap<_, _> = s.secret_versions_to_stages().cloned().unwrap_or_default().into_iter().collect();
        state.insert(format!("secret {}", s.name().unwrap()), format!("{tags:?} {versions:?}"));
    }
    state
}

#[tokio::test]
async fn audit_mode_changes_nothing() {
    let account = test_account_id("rotation-audit-mode");
    let iam = iam(&account).await;
    let moto = Moto::get();
    let a = user_with_key(&iam, "expired").await;
    moto.backdate_key(&account, &a, 95);
    iam.create_user().user_name("mid").send().await.unwrap();
    for age in [120, 20] {
        let k = iam.create_access_key().user_name("mid").send().await.unwrap();
        moto.backdate_key(&account, k.access_key().unwrap().access_key_id(), age);
    }
    let before = snapshot(&account).await;
    // Audit by config, and by the event's dry_run over an enforce config.
    for (cfg, dry) in [(config("mode: audit\n"), false), (enforce(), true)] {
        let report = run(&account, &cfg, start(), dry).await;
        let planned: Vec<_> = report.users.iter().flat_map(|u| &u.actions).collect();
        assert!(planned.len() >= 2, "{report:#?}");
        assert!(planned.iter().all(|a| a.result == ActionResult::Planned));
    }
    assert_eq!(snapshot(&account).await, before);
}

#[tokio::test]
async fn a_forced_user_is_rotated_whatever_the_key_age() {
    let account = test_account_id("rotation-forced");
    let iam = iam(&account).await;
    let fresh = user_with_key(&iam, "alice").await;
    user_with_key(&iam, "bob").await;
    let msg = AccountMessage {
        run_id: "e2e".into(),
        account_id: account.clone(),
        account_name: "e2e".into(),
        account_email: None,
        dry_run: false,
        force_rotate: vec!["alice".into()],
        resume_after_user: None,
        part: 0,
    };
    let report = rotate_account(&deps(Moto::get()), &enforce(), &msg, start()).await;
    let alice = user(&report, "alice");
    assert_eq!(actions(alice), [ActionKind::Rotate]);
    assert_eq!(alice.actions[0].access_key_id, fresh);
    let ActionResult::Done { new_access_key_id: Some(new) } = &alice.actions[0].result else {
        panic!("{alice:?}");
    };
    assert!(user(&report, "bob").actions.is_empty(), "only the forced user");
    let sm = secrets(&account).await;
    assert_eq!(stored_key(&sm, &secret_name(&account, "alice"), "AWSCURRENT").await.as_deref(), Some(new.as_str()));
    assert_eq!(keys(&iam, "alice").await.len(), 2, "the old key stays active for its grace");
}

/// Issue 8, defect 1, on moto: a user migrating from the reference solution
/// has a secret of the same name, created with a value in the reference's
/// format (the whole `CreateAccessKey` answer, sorted keys, indented) and no
/// tags. rekey adopts it (tags it, so the audit sees it from then on), keeps
/// the reference's key readable as `AWSPREVIOUS`, and its new key becomes
/// `AWSCURRENT`; the next run finds the adopted secret by its tag.
#[tokio::test]
async fn a_secret_left_by_the_reference_solution_is_adopted() {
    let account = test_account_id("rotation-adopt-reference-secret");
    let (iam, sm) = (iam(&account).await, secrets(&account).await);
    let old = user_with_key(&iam, "carol").await;
    Moto::get().backdate_key(&account, &old, 95);
    let legacy = format!(
        "{{\n    \"AccessKeyId\": \"{old}\",\n    \"CreateDate\": \"2025-08-28 10:00:00+00:00\",\n    \
         \"SecretAccessKey\": \"reference-secret\",\n    \"Status\": \"Active\",\n    \"UserName\": \"carol\"\n}}"
    );
    let name = secret_name(&account, "carol");
    sm.create_secret().name(&name).description("Auto-created secret").secret_string(legacy).send().await.expect("seed");

    let report = run(&account, &enforce(), start(), false).await;
    let carol = user(&report, "carol");
    assert_eq!(actions(carol), [ActionKind::Rotate]);
    let ActionResult::Done { new_access_key_id: Some(new) } = &carol.actions[0].result else {
        panic!("rotated: {carol:?}")
    };
    let described = sm.describe_secret().secret_id(&name).send().await.expect("describe");
    let tags: BTreeMap<_, _> = described.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags.get("rekey:managed"), Some(&"true"), "adopted: {tags:?}");
    assert_eq!(tags.get("rekey:user"), Some(&"carol"));
    assert!(!tags.keys().any(|k| k.starts_with(ROTATION_STARTED_TAG)), "finished: {tags:?}");
    assert_eq!(stored_key(&sm, &name, "AWSCURRENT").await.as_deref(), Some(new.as_str()));
    assert_eq!(stored_key(&sm, &name, "AWSPREVIOUS").await.as_deref(), Some(old.as_str()));
    assert_eq!(carol.secret_arn.as_deref(), described.arn(), "the report names the adopted secret");

    // The audit lists the adopted secret by its tag: the next run knows the
    // new key is rekey's own replacement (announced, never "two keys in use").
    let next = run(&account, &enforce(), start() + Duration::days(1), true).await;
    let carol = user(&next, "carol");
    assert!(carol.actions.is_empty() && !matches!(carol.status, UserStatus::NeedsManualAction { .. }), "{carol:?}");
}
