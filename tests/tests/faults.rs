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
use chrono::{DateTime, Duration, DurationRound, Utc};
use futures::StreamExt;
use rekey_config::Config;
use rekey_e2e::fault_proxy::{Fault, FaultProxy, Rule};
use rekey_e2e::invariants::{read_account, shape_differences, AccountState, Tracker, UserShape};
use rekey_e2e::moto::{repo_root, test_account_id, Moto};
use rekey_runtime::messages::AccountMessage;
use rekey_runtime::report::{AccountReport, AccountStatus, ActionResult};
use rekey_runtime::rotation::{rotate_account, version_id_for, RotationDeps, ROTATION_STARTED_TAG};
use std::collections::BTreeMap;

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

// ---------------------------------------------------------------------------
// Shared by the sweep, the randomized run and the concurrency tests.
// ---------------------------------------------------------------------------

/// How many clean runs after the faulted ones may take to converge.
const MAX_RERUNS: usize = 6;

fn config(yaml: &str) -> Config {
    Config::from_yaml_str(yaml, None).expect("valid test config")
}

fn message(account: &str, run_id: &str) -> AccountMessage {
    serde_json::from_value(serde_json::json!({"run_id": run_id, "account_id": account, "account_name": "faults"}))
        .expect("an account message")
}

fn start() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

/// The rotation core through `proxy`, as the Lambda builds it (adaptive
/// retries, 5 attempts), with a short credential-report poll.
fn deps(proxy: &FaultProxy) -> RotationDeps<rekey_runtime::aws::sts::AwsPlatform> {
    let mut deps = RotationDeps::aws(&proxy.sdk_config());
    deps.report_poll_interval = std::time::Duration::from_millis(20);
    deps
}

async fn rotate(proxy: &FaultProxy, cfg: &Config, account: &str, now: DateTime<Utc>) -> AccountReport {
    rotate_account(&deps(proxy), cfg, &message(account, "faults"), now).await
}

/// `run N: user: action key -> result` of every action that was not done.
fn unfinished(run: usize, report: &AccountReport) -> Vec<String> {
    let mut out = Vec::new();
    if let AccountStatus::Failed { error } = &report.status {
        out.push(format!("run {run}: account failed: {error}"));
    }
    for u in &report.users {
        for a in u.actions.iter().filter(|a| !matches!(a.result, ActionResult::Done { .. })) {
            out.push(format!("run {run}: {}: {:?} {} -> {:?}", u.user_name, a.action, a.access_key_id, a.result));
        }
    }
    out
}

/// Whether the run did anything at all (a converged account plans nothing).
fn acted(report: &AccountReport) -> bool {
    report.users.iter().any(|u| !u.actions.is_empty())
}

async fn read(cfg: &Config, account: &str) -> AccountState {
    let names = cfg.names();
    read_account(&Moto::get().account_config(account).await, |u| names.secret_name(account, u)).await
}

/// The calls about `user` that changed something or were faulted, for a
/// violation's evidence.
fn evidence(proxy: &FaultProxy, account: &str, user: &str) -> String {
    proxy
        .records_for(account, user)
        .iter()
        .filter(|r| r.fault.is_some() || !is_read(&r.op))
        .map(|r| format!("      {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_read(op: &str) -> bool {
    let name = op.split(':').nth(1).unwrap_or(op);
    ["List", "Get", "Describe", "Generate"].iter().any(|p| name.starts_with(p))
}

/// A user's secret as rekey writes it: tagged, the key stored under
/// rekey's version id (`AWSCURRENT` as the first version), optionally with
/// an in-flight record.
async fn seed_secret(
    sm: &aws_sdk_secretsmanager::Client,
    account: &str,
    user: &str,
    stored: Option<(&aws_sdk_iam::types::AccessKey, &str)>,
    in_flight: Option<DateTime<Utc>>,
) {
    let tag = |k: &str, v: &str| aws_sdk_secretsmanager::types::Tag::builder().key(k).value(v).build();
    let name = format!("Account_{account}_User_{user}_AccessKey");
    let mut create = sm
        .create_secret()
        .name(&name)
        .tags(tag("rekey:managed", "true"))
        .tags(tag("rekey:account", account))
        .tags(tag("rekey:user", user));
    if let Some(started) = in_flight {
        // The record of an earlier rekey version: a bare start time.
        create = create.tags(tag(ROTATION_STARTED_TAG, &started.to_rfc3339()));
    }
    create.send().await.expect("create secret");
    if let Some((key, stage)) = stored {
        let value = serde_json::json!({
            "AccessKeyId": key.access_key_id(), "SecretAccessKey": key.secret_access_key(),
            "UserName": user, "CreateDate": Utc::now().to_rfc3339(),
        });
        sm.put_secret_value()
            .secret_id(&name)
            .client_request_token(version_id_for(key.access_key_id()))
            .secret_string(value.to_string())
            .version_stages(stage)
            .send()
            .await
            .expect("put secret value");
    }
}

async fn new_key(iam: &aws_sdk_iam::Client, user: &str) -> aws_sdk_iam::types::AccessKey {
    iam.create_access_key().user_name(user).send().await.expect("create key").access_key().unwrap().clone()
}

// ---------------------------------------------------------------------------
// The sweep.
// ---------------------------------------------------------------------------

/// The mutating calls the rotation core's adapters make, read from their
/// source: each names its call in its errors (`port_error("iam:TagUser",
/// ...)`). Anything but a read (List*, Get*, Describe*, Generate*) is
/// mutating; STS (role assumption, the new key's `GetCallerIdentity`)
/// changes nothing in the account.
fn mutating_operations() -> Vec<String> {
    let mut ops = std::collections::BTreeSet::new();
    for file in ["runtime/src/aws/iam.rs", "runtime/src/aws/secrets.rs"] {
        let path = repo_root().join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for service in ["iam", "secretsmanager"] {
            let quoted = format!("\"{service}:");
            for (at, _) in code.match_indices(&quoted) {
                let rest = &code[at + 1..];
                let op = &rest[..rest.find('"').expect("closing quote")];
                if !is_read(op) {
                    ops.insert(op.to_string());
                }
            }
        }
    }
    ops.into_iter().collect()
}

/// The enforce config of the sweep: a replica region, so creating a secret
/// also calls `ReplicateSecretToRegions`.
fn sweep_config() -> Config {
    config("mode: enforce\nsecrets:\n  replica_regions: [us-west-2]\n")
}

/// Seeds one user per path through the rotation, deactivation, deletion and
/// completion code (times `copies`), relative to `now`:
/// - `expired`: one key 95 days old (rotate: record, create, store, verify, promote);
/// - `mid`: a 105-day key and its 15-day replacement stored by rekey (deactivate);
/// - `retired`: a 115-day key rekey deactivated 12 days ago beside its
///   stored replacement (delete, drop the record);
/// - `pending`: an interrupted rotation, new key stored as `AWSPENDING`
///   (complete);
/// - `orphan`: an interrupted rotation whose key was created but never
///   stored (delete the orphan, rotate again);
/// - `fresh`: a 10-day key (nothing to do).
async fn seed_sweep_account(account: &str, copies: usize, now: DateTime<Utc>) {
    let moto = Moto::get();
    let sdk = moto.account_config(account).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    for c in 0..copies {
        let name = |path: &str| if copies == 1 { path.to_string() } else { format!("{path}-{c}") };
        let user = name("expired");
        let old = user_with_keys(&iam, &user, 1).await;
        moto.backdate_key(account, &old[0], 95);

        let user = name("mid");
        let old = user_with_keys(&iam, &user, 1).await;
        moto.backdate_key(account, &old[0], 105);
        let new = new_key(&iam, &user).await;
        moto.backdate_key(account, new.access_key_id(), 15);
        seed_secret(&sm, account, &user, Some((&new, "AWSCURRENT")), None).await;

        let user = name("retired");
        let old = user_with_keys(&iam, &user, 1).await;
        moto.backdate_key(account, &old[0], 115);
        iam.update_access_key()
            .user_name(&user)
            .access_key_id(&old[0])
            .status(StatusType::Inactive)
            .send()
            .await
            .expect("deactivate");
        let deactivated = (now - Duration::days(12)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let tag = aws_sdk_iam::types::Tag::builder().key(format!("rekey:deactivated:{}", old[0])).value(deactivated);
        iam.tag_user().user_name(&user).tags(tag.build().unwrap()).send().await.expect("tag user");
        let new = new_key(&iam, &user).await;
        moto.backdate_key(account, new.access_key_id(), 25);
        seed_secret(&sm, account, &user, Some((&new, "AWSCURRENT")), None).await;

        let user = name("pending");
        let old = user_with_keys(&iam, &user, 1).await;
        moto.backdate_key(account, &old[0], 95);
        let new = new_key(&iam, &user).await;
        seed_secret(&sm, account, &user, Some((&new, "AWSPENDING")), Some(now - Duration::minutes(10))).await;

        let user = name("orphan");
        let old = user_with_keys(&iam, &user, 1).await;
        moto.backdate_key(account, &old[0], 95);
        seed_secret(&sm, account, &user, None, Some(now - Duration::minutes(10))).await;
        new_key(&iam, &user).await;

        let user = name("fresh");
        let old = user_with_keys(&iam, &user, 1).await;
        moto.backdate_key(account, &old[0], 10);
    }
}

/// What one sweep case found.
struct CaseOutcome {
    name: String,
    problems: Vec<String>,
    runs: usize,
    shapes: BTreeMap<String, UserShape>,
    injected: usize,
    ops_done: std::collections::BTreeSet<String>,
}

/// Seeds a fresh account, runs the rotation once with `rules` (none: the
/// fault-free reference), then clean reruns one injected hour apart until a
/// run does nothing, checking the invariants after every run.
async fn sweep_case(name: String, rules: Vec<Rule>, copies: usize) -> CaseOutcome {
    let account = test_account_id(&format!("faults-sweep-{name}"));
    let cfg = sweep_config();
    let t0 = start();
    seed_sweep_account(&account, copies, t0).await;
    let proxy = FaultProxy::start(11);
    let mut before = read(&cfg, &account).await;
    let mut tracker = Tracker::new(&account, &before);
    let faulted = !rules.is_empty();
    proxy.set_rules(rules);
    let mut problems = Vec::new();
    let mut now = t0;
    let mut runs = 0;
    let mut converged = false;
    let mut log = Vec::new();
    for run in 0..=MAX_RERUNS {
        if run > 0 {
            proxy.clear_rules();
            now += Duration::hours(1);
            proxy.set_clock_offset(now - t0);
        }
        let report = rotate(&proxy, &cfg, &account, now).await;
        runs += 1;
        log.extend(unfinished(run, &report));
        if let AccountStatus::Failed { error } = &report.status {
            if run > 0 {
                problems.push(format!("run {run}: the account failed: {error}"));
            }
        }
        let after = read(&cfg, &account).await;
        for v in tracker.check(&before, &after, &proxy.created_keys_in(&account)) {
            problems.push(format!(
                "run {run} ({}): {v}\n{}",
                if run == 0 && faulted { "faulted" } else { "clean" },
                evidence(&proxy, &account, &v.user)
            ));
        }
        before = after;
        if run > 0 && !acted(&report) {
            converged = true;
            break;
        }
    }
    if !converged {
        problems.push(format!("did not converge within {MAX_RERUNS} clean runs"));
    }
    if !problems.is_empty() {
        problems.push(format!("actions not done:\n    {}", log.join("\n    ")));
    }
    let records = proxy.records();
    CaseOutcome {
        name,
        problems,
        runs,
        shapes: tracker.shapes(&before),
        injected: records.iter().filter(|r| r.fault.is_some()).count(),
        ops_done: records.iter().filter(|r| r.client_status == Some(200)).map(|r| r.op.clone()).collect(),
    }
}

/// Size of the sweep: `REKEY_FAULT_SWEEP=ci` (default) or `full`.
fn sweep_size() -> (usize, Vec<Fault>) {
    match std::env::var("REKEY_FAULT_SWEEP").as_deref() {
        Ok("full") => (3, vec![Fault::FailBefore, Fault::FailAfter, Fault::FailAfterDrop]),
        Ok("ci") | Err(_) => (1, vec![Fault::FailBefore, Fault::FailAfter]),
        Ok(other) => panic!("REKEY_FAULT_SWEEP must be `ci` or `full`, not `{other}`"),
    }
}

/// Every mutating call of the rotation paths, failed before it takes effect
/// (on every attempt) and after it took effect (its first call for each
/// user; the SDK's retry then goes through), each in its own seeded
/// account: the invariants hold after every run, the account converges,
/// and it ends as a fault-free run from the same seed ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_call_fails_before_and_after_it_takes_effect_and_the_account_converges() {
    let ops = mutating_operations();
    for required in [
        "iam:CreateAccessKey",
        "iam:UpdateAccessKey",
        "iam:DeleteAccessKey",
        "iam:TagUser",
        "iam:UntagUser",
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:TagResource",
        "secretsmanager:UntagResource",
        "secretsmanager:PutResourcePolicy",
    ] {
        assert!(ops.iter().any(|o| o == required), "`{required}` not found in the adapters: {ops:?}");
    }
    let (copies, modes) = sweep_size();
    // `REKEY_FAULT_ONLY=<text>`: only the cases whose name contains it (while debugging one).
    let only = std::env::var("REKEY_FAULT_ONLY").unwrap_or_default();
    let reference = sweep_case("reference".to_string(), Vec::new(), copies).await;
    assert!(reference.problems.is_empty(), "the fault-free run breaks an invariant: {:#?}", reference.problems);
    // A listed call the seeded paths never make would be swept in vain.
    let unexercised: Vec<&String> = ops.iter().filter(|o| !reference.ops_done.contains(*o)).collect();
    assert!(unexercised.is_empty(), "the seeded users never exercise {unexercised:?}: seed a path that does");

    let cases: Vec<(String, Vec<Rule>)> = ops
        .iter()
        .flat_map(|op| modes.iter().map(move |mode| (op.clone(), *mode)))
        .map(|(op, mode)| {
            let rule = match mode {
                Fault::FailBefore => Rule::new(mode, [op.as_str()]),
                _ => Rule::new(mode, [op.as_str()]).first_per_user(1),
            };
            (format!("{op}-{mode}"), vec![rule])
        })
        .filter(|(name, _)| name.contains(&only))
        .collect();
    let outcomes: Vec<CaseOutcome> = futures::stream::iter(cases)
        .map(|(name, rules)| sweep_case(name, rules, copies))
        .buffer_unordered(4)
        .collect()
        .await;
    let mut summary = Vec::new();
    let mut failed = Vec::new();
    let mut outcomes = outcomes;
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    for o in &outcomes {
        let mut problems = o.problems.clone();
        if o.injected == 0 {
            problems.push("no fault was injected".to_string());
        }
        let diff = shape_differences(&o.shapes, &reference.shapes);
        if !diff.is_empty() {
            problems.push(format!("end state differs from the fault-free run:\n    {}", diff.join("\n    ")));
        }
        let verdict = if problems.is_empty() { "pass" } else { "FAIL" };
        summary.push(format!("{verdict} {} ({} runs, {} faults injected)", o.name, o.runs, o.injected));
        if !problems.is_empty() {
            failed.push(format!("== {}\n  {}", o.name, problems.join("\n  ")));
        }
    }
    println!("fault sweep ({} operations x {} modes):\n{}", ops.len(), modes.len(), summary.join("\n"));
    assert!(
        failed.is_empty(),
        "{} of {} sweep cases failed:\n{}\n\n{}",
        failed.len(),
        outcomes.len(),
        summary.join("\n"),
        failed.join("\n\n")
    );
}
