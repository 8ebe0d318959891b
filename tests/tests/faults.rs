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
//! - `REKEY_FAULT_USERS` (default 10): users per account of the randomized
//!   run. The demanding case is 150, but its run time grows faster
//!   than the user count: under a steady 8% throttling the SDK's adaptive
//!   retry mode (rekey's retry policy) keeps cutting its client-side send
//!   rate towards its floor of 0.5 requests per second (10 users: ~20 s,
//!   20 users: ~90 s, 40 users: ~5 min on 2 cores);
//! - `REKEY_FAULT_SEED` (default 8): the seed of the randomized run's ages
//!   and faults;
//! - `REKEY_FAULT_ONLY=<text>`: only the sweep cases whose name contains it
//!   (e.g. `iam:CreateAccessKey-fail-after`), while debugging one.
//!
//! The sweep prints one line per case (`pass`/`FAIL`, runs, faults
//! injected); a failing case lists each broken invariant with the proxy's
//! record of the user's calls, the actions not done, and how its end state
//! differs from the fault-free run.

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
/// retries, 5 attempts), with a short credential-report poll, in the
/// config's region.
fn deps(proxy: &FaultProxy, cfg: &Config) -> RotationDeps<rekey_runtime::aws::sts::AwsPlatform> {
    let mut deps = RotationDeps::aws(&proxy.sdk_config_in(cfg.deployment.region.as_str()));
    deps.report_poll_interval = std::time::Duration::from_millis(20);
    deps
}

async fn rotate(proxy: &FaultProxy, cfg: &Config, account: &str, now: DateTime<Utc>) -> AccountReport {
    rotate_account(&deps(proxy, cfg), cfg, &message(account, "faults"), now).await
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
    let sdk = Moto::get().account_config_in(account, cfg.deployment.region.as_str()).await;
    read_account(&sdk, |u| names.secret_name(account, u)).await
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

// ---------------------------------------------------------------------------
// The randomized run.
// ---------------------------------------------------------------------------

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("`{name}` must be a number, not `{v}`")),
        Err(_) => default,
    }
}

/// A deterministic number from the seed and a label (SplitMix64 over FNV-1a).
fn draw(seed: u64, label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seeds `users` users in the `index`-th account (user names carry the
/// index, so the proxy draws other faults for the other account): ages
/// spread over 0-200 days; 60% one key, 20% two active keys, 10% an old
/// inactive key beside an active one, 10% no key.
async fn seed_random_account(account: &str, index: usize, users: usize, seed: u64) {
    let moto = Moto::get();
    let iam = aws_sdk_iam::Client::new(&moto.account_config(account).await);
    let seeds = (0..users).map(|i| {
        let iam = iam.clone();
        async move {
            let user = format!("a{index}-user{i:03}");
            let d = |what: &str| draw(seed, &format!("{user}/{what}"));
            let kind = d("kind") % 10;
            let (a, b) = ((d("age-a") % 201) as i64, (d("age-b") % 201) as i64);
            let (older, newer) = (a.max(b), a.min(b));
            let keys: Vec<(i64, bool)> = match kind {
                0..=5 => vec![(a, true)],
                6 | 7 => vec![(older, true), (newer, true)],
                8 => vec![(older, false), (newer, true)],
                _ => vec![],
            };
            iam.create_user().user_name(&user).send().await.expect("create user");
            for (age, active) in keys {
                let id = new_key(&iam, &user).await.access_key_id().to_string();
                if !active {
                    iam.update_access_key()
                        .user_name(&user)
                        .access_key_id(&id)
                        .status(StatusType::Inactive)
                        .send()
                        .await
                        .expect("deactivate");
                }
                let account = account.to_string();
                tokio::task::spawn_blocking(move || Moto::get().backdate_key(&account, &id, age)).await.unwrap();
            }
        }
    });
    futures::stream::iter(seeds).buffer_unordered(6).collect::<Vec<()>>().await;
}

/// Runs every account of `accounts` once at `now`, at the same time (as the
/// Lambda functions would), and returns their reports.
async fn rotate_all(proxy: &FaultProxy, cfg: &Config, accounts: &[String], now: DateTime<Utc>) -> Vec<AccountReport> {
    futures::future::join_all(accounts.iter().map(|a| rotate(proxy, cfg, a, now))).await
}

/// A seeded 2-account organization: several enforce runs (one injected hour
/// apart) through a proxy failing 15-25% of the mutating calls, half before
/// and half after they take effect, and throttling 8% of every call; then
/// clean runs until nothing is left to do. The invariants hold after every
/// run, and each account ends as the same seed ends when rotated without
/// faults. The demanding case is 150 users per account
/// (`REKEY_FAULT_USERS=150`); the default keeps the binary within budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_organization_under_random_faults_ends_as_a_fault_free_run_ends() {
    let users = env_number("REKEY_FAULT_USERS", 10) as usize;
    let seed = env_number("REKEY_FAULT_SEED", 8);
    let faulted_runs = 3;
    // A region of its own: its throttling slows the SDK's per-region rate
    // limiter down, which the other tests must not share.
    let cfg = config("mode: enforce\ndeployment:\n  region: eu-west-3\n");
    let moto = Moto::get();
    let t0 = start();
    let mut orgs = Vec::new();
    for name in ["faults-random", "faults-random-reference"] {
        let mgmt = test_account_id(&format!("{name}-{seed}-{users}"));
        let members = moto.create_organization(&mgmt, name, 2).await;
        for (i, m) in members.iter().enumerate() {
            seed_random_account(m, i, users, seed).await;
        }
        orgs.push(members);
    }
    let (faulted, reference) = (&orgs[0], &orgs[1]);

    // The reference: the same seed, no fault.
    let clean_proxy = FaultProxy::start(seed);
    let mut now = t0;
    let mut reference_shapes = Vec::new();
    let mut trackers = Vec::new();
    for account in reference {
        trackers.push(Tracker::new(account, &read(&cfg, account).await));
    }
    for run in 0..=MAX_RERUNS {
        clean_proxy.set_clock_offset(now - t0);
        let reports = rotate_all(&clean_proxy, &cfg, reference, now).await;
        now += Duration::hours(1);
        if run > 0 && !reports.iter().any(acted) {
            break;
        }
        assert!(run < MAX_RERUNS, "the fault-free organization did not converge");
    }
    for (account, tracker) in reference.iter().zip(&trackers) {
        reference_shapes.push(tracker.shapes(&read(&cfg, account).await));
    }

    // The faulted organization.
    let proxy = FaultProxy::start(seed);
    let rate = 0.15 + 0.10 * (draw(seed, "rate") % 1000) as f64 / 1000.0;
    let mutating = mutating_operations();
    proxy.set_rules(vec![
        Rule::new(Fault::Throttle, ["*"]).probability(0.08),
        Rule::new(Fault::FailBefore, mutating.iter().map(String::as_str)).probability(rate / 2.0),
        Rule::new(Fault::FailAfter, mutating.iter().map(String::as_str)).probability(rate / (2.0 - rate)),
    ]);
    let mut trackers = Vec::new();
    let mut before = Vec::new();
    for account in faulted {
        let state = read(&cfg, account).await;
        trackers.push(Tracker::new(account, &state));
        before.push(state);
    }
    let mut problems = Vec::new();
    let mut now = t0;
    let mut converged = false;
    let mut durations = Vec::new();
    for run in 0..faulted_runs + MAX_RERUNS {
        if run == faulted_runs {
            proxy.clear_rules();
        }
        proxy.set_clock_offset(now - t0);
        let clock = std::time::Instant::now();
        let reports = rotate_all(&proxy, &cfg, faulted, now).await;
        durations.push(clock.elapsed().as_secs());
        now += Duration::hours(1);
        let created: Vec<_> = faulted.iter().map(|a| proxy.created_keys_in(a)).collect();
        for (i, account) in faulted.iter().enumerate() {
            let after = read(&cfg, account).await;
            for v in trackers[i].check(&before[i], &after, &created[i]) {
                problems.push(format!("run {run}: {v}\n{}", evidence(&proxy, account, &v.user)));
            }
            before[i] = after;
            if run >= faulted_runs {
                if let AccountStatus::Failed { error } = &reports[i].status {
                    problems.push(format!("clean run {run}: account {account} failed: {error}"));
                }
            }
        }
        if run >= faulted_runs && !reports.iter().any(acted) {
            converged = true;
            break;
        }
    }
    let records = proxy.records();
    let injected = |f: Fault| records.iter().filter(|r| r.fault == Some(f)).count();
    println!(
        "randomized run: seed {seed}, {users} users per account, mutating-call failure rate {rate:.2}, {} calls, \
         {} failed before, {} failed after, {} throttled; runs took {durations:?} s",
        records.len(),
        injected(Fault::FailBefore),
        injected(Fault::FailAfter),
        injected(Fault::Throttle)
    );
    assert!(injected(Fault::FailAfter) > 0 && injected(Fault::FailBefore) > 0 && injected(Fault::Throttle) > 0);
    if !converged {
        problems.push(format!("did not converge within {MAX_RERUNS} clean runs"));
    }
    for (i, tracker) in trackers.iter().enumerate() {
        let diff = shape_differences(&tracker.shapes(&before[i]), &reference_shapes[i]);
        if !diff.is_empty() {
            problems
                .push(format!("account #{i}: end state differs from the fault-free run:\n    {}", diff.join("\n    ")));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

// ---------------------------------------------------------------------------
// Concurrency.
// ---------------------------------------------------------------------------

/// What each side of two runs at once did to each user, for the test output.
fn sides(a: &AccountReport, b: &AccountReport) -> Vec<String> {
    let result = |r: &AccountReport, user: &str| -> String {
        r.users
            .iter()
            .find(|u| u.user_name == user)
            .map(|u| {
                let acts: Vec<String> = u
                    .actions
                    .iter()
                    .map(|a| match &a.result {
                        ActionResult::Done { .. } => format!("{:?}:done", a.action),
                        ActionResult::Skipped { .. } => format!("{:?}:skipped", a.action),
                        ActionResult::Failed { error } => format!("{:?}:FAILED ({error})", a.action),
                        ActionResult::Planned => format!("{:?}:planned", a.action),
                    })
                    .collect();
                match &u.error {
                    Some(_) => format!("{acts:?} error"),
                    None => format!("{acts:?}"),
                }
            })
            .unwrap_or_else(|| "absent".to_string())
    };
    a.users
        .iter()
        .map(|u| format!("{}: {} | {}", u.user_name, result(a, &u.user_name), result(b, &u.user_name)))
        .collect()
}

/// Checks the invariants after `first` (two runs at once), then reruns
/// clean one injected hour later until nothing is left, and compares with
/// the same seed rotated by one run at a time. Returns the problems.
async fn two_at_once_then_converge(
    proxy: &FaultProxy,
    cfg: &Config,
    account: &str,
    reference: &str,
    t0: DateTime<Utc>,
    first: impl std::future::Future<Output = Vec<String>>,
) -> Vec<String> {
    let mut reference_tracker = Tracker::new(reference, &read(cfg, reference).await);
    let mut state = read(cfg, reference).await;
    let clean = FaultProxy::start(1);
    for run in 0..=MAX_RERUNS {
        clean.set_clock_offset(Duration::hours(run as i64));
        let report = rotate(&clean, cfg, reference, t0 + Duration::hours(run as i64)).await;
        let after = read(cfg, reference).await;
        assert!(reference_tracker.check(&state, &after, &clean.created_keys_in(reference)).is_empty());
        state = after;
        if run > 0 && !acted(&report) {
            break;
        }
    }
    let reference_shapes = reference_tracker.shapes(&state);

    let mut before = read(cfg, account).await;
    let mut tracker = Tracker::new(account, &before);
    let observed = first.await;
    println!("two runs at once on `{account}` (user: first | second):\n  {}", observed.join("\n  "));
    let mut problems = Vec::new();
    for run in 0..=MAX_RERUNS {
        if run > 0 {
            proxy.set_clock_offset(Duration::hours(run as i64));
            let report = rotate(proxy, cfg, account, t0 + Duration::hours(run as i64)).await;
            if !acted(&report) {
                break;
            }
        }
        let after = read(cfg, account).await;
        for v in tracker.check(&before, &after, &proxy.created_keys_in(account)) {
            problems.push(format!("after run {run}: {v}\n{}", evidence(proxy, account, &v.user)));
        }
        before = after;
    }
    // Exactly one rotation per user: rekey's new keys, created once, all stored.
    for (user, created) in proxy.created_keys_in(account) {
        let state = &before[&user];
        let alive: Vec<&String> = created.iter().filter(|k| state.keys.iter().any(|s| &s.id == *k)).collect();
        if alive.len() > 1 || alive.iter().any(|k| !state.secret.as_ref().is_some_and(|s| s.stores(k))) {
            problems.push(format!("{user}: keys created {created:?}, alive {alive:?}, not all stored"));
        }
        if created.len() > 1 {
            println!(
                "note: {user}: {} keys created for one rotation ({created:?}), {} alive",
                created.len(),
                alive.len()
            );
        }
    }
    let diff = shape_differences(&tracker.shapes(&before), &reference_shapes);
    if !diff.is_empty() {
        problems.push(format!("end state differs from one run at a time:\n    {}", diff.join("\n    ")));
    }
    problems
}

/// The same account message processed twice at once by the rotation core
/// (an SQS message delivered twice, two Lambda containers): every user is
/// rotated once, no key is orphaned, no record is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_account_rotated_twice_at_once_rotates_each_user_once() {
    let account = test_account_id("faults-twice-core");
    let reference = test_account_id("faults-twice-core-reference");
    let cfg = sweep_config();
    let t0 = start();
    seed_sweep_account(&account, 2, t0).await;
    seed_sweep_account(&reference, 2, t0).await;
    let proxy = FaultProxy::start(3);
    let first = async {
        // Two platforms, as two containers would have.
        let (a, b) = (deps(&proxy, &cfg), deps(&proxy, &cfg));
        let msg = message(&account, "twice");
        let (ra, rb) = tokio::join!(rotate_account(&a, &cfg, &msg, t0), rotate_account(&b, &cfg, &msg, t0));
        sides(&ra, &rb)
    };
    let problems = two_at_once_then_converge(&proxy, &cfg, &account, &reference, t0, first).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The same account delivered twice at once to the rotation handler, as two
/// Lambda containers would receive it: the same guarantees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_account_delivered_twice_to_the_rotation_handler_rotates_each_user_once() {
    use rekey_runtime::handlers::rotation;
    let moto = Moto::get();
    let account = test_account_id("faults-twice-handler");
    let reference = test_account_id("faults-twice-handler-reference");
    let home = test_account_id("faults-twice-handler-home");
    let cfg = sweep_config();
    let t0 = start();
    seed_sweep_account(&account, 2, t0).await;
    seed_sweep_account(&reference, 2, t0).await;
    let proxy = FaultProxy::start(4);
    let sdk = moto.account_config(&home).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut urls = Vec::new();
    for name in ["rekey-twice-accounts", "rekey-twice-notifications"] {
        urls.push(sqs.create_queue().queue_name(name).send().await.expect("queue").queue_url().unwrap().to_string());
    }
    let ledger = moto.create_run_ledger(&home, "rekey-twice-runs").await;
    let handler_deps = || async {
        rotation::RotationFunctionDeps {
            config: cfg.clone(),
            rotator: rekey_runtime::wiring::CoreRotator::new(&cfg, &proxy.sdk_config()).await,
            queue: rekey_runtime::aws::sqs::SqsQueue::new(sqs.clone()),
            notifications_queue_url: urls[1].clone(),
            accounts_queue_url: urls[0].clone(),
            ledger: ledger.clone(),
            max_receive_count: 3,
            clock: Utc::now,
        }
    };
    let (a, b) = (handler_deps().await, handler_deps().await);
    let event = |id: &str| -> rekey_runtime::handlers::SqsEvent {
        let body = serde_json::to_string(&message(&account, "twice-handler")).unwrap();
        serde_json::from_value(serde_json::json!({"Records": [{
            "messageId": id, "body": body, "attributes": {"ApproximateReceiveCount": "1"},
        }]}))
        .expect("an SQS event")
    };
    let first = async {
        let (ra, rb) = tokio::join!(rotation::handle(event("m-1"), &a), rotation::handle(event("m-2"), &b));
        vec![format!("batch item failures: {:?} | {:?}", ra.batch_item_failures, rb.batch_item_failures)]
    };
    // The handler runs on the real clock: keys were aged against it, and t0 is just before.
    let problems = two_at_once_then_converge(&proxy, &cfg, &account, &reference, t0, first).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
