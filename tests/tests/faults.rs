//! The rotation under real-world faults, against moto through the
//! fault-injecting proxy (`rekey_e2e::fault_proxy`): the proxy's own
//! self-tests; the sweep that fails every mutating call of the rotation,
//! deactivation, deletion and completion paths before and after it takes
//! effect, then reruns until the account converges; a seeded randomized run
//! over a 2-account organization; and the same account rotated twice at
//! once. After every run the invariants of `rekey_e2e::invariants` are
//! checked over moto's state, for every user.
//!
//! Parameters (environment):
//! - `REKEY_FAULT_SWEEP=ci|full` (default `ci`): `ci` seeds one user per
//!   path and fails each operation before and after it takes effect; `full`
//!   seeds three users per path and adds the dropped-connection variant;
//! - `REKEY_FAULT_USERS` (default 40): users per account of the randomized
//!   run (the demanding case is 150; 40 keeps the binary within its
//!   time budget on 2 cores);
//! - `REKEY_FAULT_SEED` (default 8): the seed of the randomized run's ages
//!   and faults.

use aws_sdk_iam::types::StatusType;
use rekey_e2e::fault_proxy::{Fault, FaultProxy, Rule};
use rekey_e2e::moto::{test_account_id, Moto};

async fn user_with_keys(iam: &aws_sdk_iam::Client, user: &str, keys: usize) -> Vec<String> {
    iam.create_user().user_name(user).send().await.expect("create user");
    let mut ids = Vec::new();
    for _ in 0..keys {
        let out = iam.create_access_key().user_name(user).send().await.expect("create key");
        ids.push(out.access_key().unwrap().access_key_id().to_string());
    }
    ids
}

async fn key_ids(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    let out = iam.list_access_keys().user_name(user).send().await.expect("list keys");
    let mut ids: Vec<String> =
        out.access_key_metadata().iter().map(|k| k.access_key_id().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// The case the issue found by hand: `CreateAccessKey` takes effect, the
/// client sees a 5xx, the SDK retries, and the retry hits IAM's two-key
/// limit. The client is left with an error while moto holds the new key,
/// and only the proxy's record knows its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_fail_after_lets_the_call_take_effect_while_the_client_sees_an_error() {
    let account = test_account_id("faults-proxy-fail-after");
    let proxy = FaultProxy::start(1);
    let iam = aws_sdk_iam::Client::new(&proxy.account_config(&account).await);
    let direct = aws_sdk_iam::Client::new(&Moto::get().account_config(&account).await);
    let before = user_with_keys(&direct, "u7", 1).await;
    user_with_keys(&direct, "u8", 1).await;

    for (user, fault) in [("u7", Fault::FailAfter), ("u8", Fault::FailAfterDrop)] {
        proxy.set_rules(vec![Rule::new(fault, ["iam:CreateAccessKey"]).for_user(user).first(1)]);
        let err = iam.create_access_key().user_name(user).send().await.expect_err("the client sees an error");
        let code = aws_sdk_iam::error::ProvideErrorMetadata::code(&err).map(str::to_string);
        assert_eq!(code.as_deref(), Some("LimitExceeded"), "{user}: the SDK's retry hit the 2-key limit: {err:?}");
        let keys = key_ids(&direct, user).await;
        assert_eq!(keys.len(), 2, "{user}: moto created the key: {keys:?}");
        let created: Vec<_> = proxy.created_keys().into_iter().filter(|k| k.user == user).collect();
        assert_eq!(created.len(), 1, "{created:?}");
        assert_eq!(created[0].fault, Some(fault));
        assert_eq!(created[0].account.as_deref(), Some(account.as_str()));
        assert!(keys.contains(&created[0].access_key_id), "the recorded id is moto's: {keys:?} {created:?}");
        if user == "u7" {
            assert!(!before.contains(&created[0].access_key_id));
        }
        let calls: Vec<_> =
            proxy.records_for(&account, user).into_iter().filter(|r| r.op == "iam:CreateAccessKey").collect();
        assert_eq!(calls.len(), 2, "one retry: {calls:#?}");
        assert_eq!(calls[0].fault, Some(fault));
        assert_eq!(calls[0].upstream_status, Some(200));
        assert_eq!(calls[0].client_status, if fault == Fault::FailAfter { Some(500) } else { None });
        assert_eq!((calls[1].fault, calls[1].upstream_status), (None, Some(409)), "{calls:#?}");
    }
}

/// Fail-before never reaches moto; throttling is retried by the SDK; a
/// delay only slows the call; in the JSON protocol (Secrets Manager) too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_fail_before_throttle_and_delay_in_both_protocols() {
    let account = test_account_id("faults-proxy-modes");
    let proxy = FaultProxy::start(2);
    let sdk = proxy.account_config(&account).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    user_with_keys(&aws_sdk_iam::Client::new(&Moto::get().account_config(&account).await), "alice", 1).await;

    proxy.set_rules(vec![Rule::new(Fault::FailBefore, ["iam:CreateAccessKey"])]);
    let err = iam.create_access_key().user_name("alice").send().await.expect_err("every attempt fails");
    assert_eq!(aws_sdk_iam::error::ProvideErrorMetadata::code(&err), Some("InternalFailure"), "{err:?}");
    assert_eq!(key_ids(&iam, "alice").await.len(), 1, "nothing reached moto");
    let attempts = proxy.records().iter().filter(|r| r.op == "iam:CreateAccessKey").count();
    assert_eq!(attempts, 3, "the SDK's standard 3 attempts");
    assert!(proxy.created_keys().is_empty());

    let key = key_ids(&iam, "alice").await.remove(0);
    proxy.set_rules(vec![
        Rule::new(Fault::Delay(std::time::Duration::from_millis(50)), ["*"]),
        Rule::new(Fault::Throttle, ["iam:*", "secretsmanager:CreateSecret"]).first_per_user(2),
    ]);
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&key)
        .status(StatusType::Inactive)
        .send()
        .await
        .expect("throttled twice, then through");
    sm.create_secret()
        .name("Account_1_User_alice_AccessKey")
        .secret_string("{}")
        .send()
        .await
        .expect("throttled twice, then through");
    let faults: Vec<(String, Option<Fault>)> = proxy
        .records()
        .into_iter()
        .filter(|r| r.op == "iam:UpdateAccessKey" || r.op == "secretsmanager:CreateSecret")
        .map(|r| (r.op, r.fault))
        .collect();
    let throttled = Some(Fault::Throttle);
    let delayed = Some(Fault::Delay(std::time::Duration::from_millis(50)));
    assert_eq!(
        faults,
        [
            ("iam:UpdateAccessKey".to_string(), throttled),
            ("iam:UpdateAccessKey".to_string(), throttled),
            ("iam:UpdateAccessKey".to_string(), delayed),
            ("secretsmanager:CreateSecret".to_string(), throttled),
            ("secretsmanager:CreateSecret".to_string(), throttled),
            ("secretsmanager:CreateSecret".to_string(), delayed),
        ]
    );
}

/// The same seed injects the same faults into the same sequence of calls;
/// another seed, other faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_faults_are_deterministic_per_seed() {
    let mut patterns = Vec::new();
    for (name, seed) in [("a", 5), ("b", 5), ("c", 6)] {
        let account = test_account_id(&format!("faults-proxy-seed-{name}"));
        let proxy = FaultProxy::start(seed);
        let iam = aws_sdk_iam::Client::new(&proxy.account_config(&account).await);
        iam.create_user().user_name("bob").send().await.expect("user");
        proxy.set_rules(vec![Rule::new(Fault::Throttle, ["iam:ListUserTags"]).probability(0.5)]);
        for _ in 0..12 {
            // Up to 3 attempts each: some calls may fail, which is part of the pattern.
            let _ = iam.list_user_tags().user_name("bob").send().await;
        }
        let pattern: Vec<bool> = proxy
            .records()
            .iter()
            .filter(|r| r.op == "iam:ListUserTags")
            .map(|r| r.fault == Some(Fault::Throttle))
            .collect();
        assert!(pattern.contains(&true) && pattern.contains(&false), "{pattern:?}");
        patterns.push(pattern);
    }
    assert_eq!(patterns[0], patterns[1], "same seed, same faults");
    assert_ne!(patterns[0], patterns[2], "another seed, other faults");
}
