//! `bench`: rekey's figures from one command, on a moto server it starts.
//!
//! ```text
//! cargo run --release -p rekey-e2e --bin bench -- --accounts 10 --users 150
//! cargo run --release -p rekey-e2e --bin bench -- --accounts 100 --users 1000
//! cargo run --release -p rekey-e2e --bin bench -- --accounts 1000 --users 20
//! ```
//!
//! It seeds an organization of `2 × accounts` member accounts (`users` IAM
//! users each, keys at the ages of `seed::AGES`): the first half runs the
//! rotation core in this process (audit, audit with concurrency 1 for the
//! ratio, enforce), the second half runs the deployed flow handler by
//! handler (inventory, accounts queue, rotation, run ledger, notifier, SES;
//! audit then enforce), which must handle every account exactly once and
//! send one digest per recipient. Every call goes through the counting proxy
//! (`rekey_e2e::fault_proxy`; with `--latency-ms N` it holds every request
//! N ms, the round trip a real AWS endpoint costs and moto does not, so the
//! gain of users at once shows as it would against AWS). The per-account
//! gain of users at once is measured on accounts processed one at a time:
//! the same accounts audited with the config's concurrency and with
//! concurrency 1, and two equal sets of further accounts enforced each way.
//! Then the shipped `bootstrap`
//! under a local Lambda Runtime API (cold start, peak RSS auditing and
//! rotating a `--lambda-users` account), and the synthesis figures (templates
//! alone, warm `rekey synth`, asset size, `cdk synth` of a one-function app).
//! `--handlers-only` runs the deployed flow alone (the organization-sized
//! run: `--accounts 1000 --users 10 --handlers-only --account-concurrency 1`;
//! one account at a time because moto miscounts concurrent DynamoDB
//! transactions, see `docs/testing.md`). `--json FILE` writes every figure
//! as JSON.

mod lambda;
mod measure;
mod phases;
mod seed;
mod synth;

use measure::Phase;
use phases::{Org, Pipeline};
use rekey_config::Config;
use rekey_e2e::fault_proxy::{Fault, FaultProxy, Rule};
use rekey_e2e::moto::{test_account_id, Moto};
use serde_json::json;

/// The command line.
#[derive(Debug)]
struct Args {
    accounts: usize,
    users: usize,
    /// Accounts processed at once by the core runs (and rotation invocations at once on the handler path).
    account_concurrency: usize,
    /// Users processed at once inside an account (`runtime.concurrency.users_per_account`; default: the config's).
    user_concurrency: Option<u32>,
    /// Accounts of the sequential comparison.
    sequential_accounts: usize,
    /// Users of the account the Lambda binary audits and rotates (0: skip).
    lambda_users: usize,
    /// Every request held this long by the proxy (a service round trip).
    latency_ms: u64,
    /// Only the deployed flow, over `accounts` accounts (the organization-sized run).
    handlers_only: bool,
    skip_synth: bool,
    json: Option<std::path::PathBuf>,
}

const USAGE: &str = "usage: bench [--accounts N] [--users U] [--account-concurrency A] [--concurrency C] \
[--sequential-accounts S] [--lambda-users L] [--latency-ms MS] [--handlers-only] [--skip-synth] [--json FILE]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        accounts: 10,
        users: 150,
        account_concurrency: 5,
        user_concurrency: None,
        sequential_accounts: 3,
        lambda_users: 1000,
        latency_ms: 0,
        handlers_only: false,
        skip_synth: false,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        let number = |v: String| v.parse::<usize>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--accounts" => args.accounts = number(value()?)?.max(1),
            "--users" => args.users = number(value()?)?.max(1),
            "--account-concurrency" => args.account_concurrency = number(value()?)?.max(1),
            "--concurrency" => args.user_concurrency = Some(number(value()?)?.max(1) as u32),
            "--sequential-accounts" => args.sequential_accounts = number(value()?)?,
            "--lambda-users" => args.lambda_users = number(value()?)?,
            "--latency-ms" => args.latency_ms = number(value()?)? as u64,
            "--handlers-only" => args.handlers_only = true,
            "--skip-synth" => args.skip_synth = true,
            "--json" => args.json = Some(value()?.into()),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(args)
}

/// The bench's config: enforce, the organization, mail to an admin and to each account's email.
fn config(management: &str, user_concurrency: Option<u32>) -> Config {
    let mut yaml = format!(
        "mode: enforce\norganization:\n  management_account_id: '{management}'\nnotifications:\n  \
         sender: rekey-bench@example.com\n  admin_recipients: [admin-bench@example.com]\n  notify_account_email: true\n"
    );
    if let Some(n) = user_concurrency {
        yaml.push_str(&format!("runtime:\n  concurrency:\n    users_per_account: {n}\n"));
    }
    Config::from_yaml_str(&yaml, None).unwrap_or_else(|e| panic!("bench config: {e}"))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let report = runtime.block_on(run(&args));
    println!("{}", render(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report).expect("json")).expect("write --json");
    }
    if !report["problems"].as_array().is_none_or(|p| p.is_empty()) {
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> serde_json::Value {
    let moto = Moto::get();
    let proxy = FaultProxy::start(1);
    let management = test_account_id("bench-management");
    let seeded = std::time::Instant::now();
    let sequential_count = if args.handlers_only { 0 } else { args.sequential_accounts.min(args.accounts) };
    let core_count = if args.handlers_only { 0 } else { args.accounts };
    let members = seed::organization(moto, &management, core_count + args.accounts + sequential_count * 2).await;
    let (core_accounts, rest) = members.split_at(core_count);
    let (handler_accounts, rest) = rest.split_at(args.accounts);
    let (enforce_one_at_a_time, enforce_sequential) = rest.split_at(sequential_count);
    seed::seed_accounts(moto, &members, args.users).await;
    let ses = aws_sdk_sesv2::Client::new(&moto.account_config(&management).await);
    ses.create_email_identity().email_identity("rekey-bench@example.com").send().await.expect("SES identity");
    eprintln!(
        "bench: seeded {} accounts x {} users in {:.1} s",
        members.len(),
        args.users,
        seeded.elapsed().as_secs_f64()
    );

    let org =
        Org { config: config(&management, args.user_concurrency), management: management.clone(), users: args.users };
    let mut phases: Vec<Phase> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let c = args.account_concurrency;
    if args.latency_ms > 0 {
        let delay = Fault::Delay(std::time::Duration::from_millis(args.latency_ms));
        proxy.set_rules(vec![Rule::new(delay, ["*"])]);
    }
    let sequential_config = config(&management, Some(1));
    let sequential = &core_accounts[..sequential_count];
    let configured = &org.config;
    // (phase, config, accounts, dry run, accounts at once), in this order;
    // a phase without accounts (--handlers-only, --sequential-accounts 0) is skipped.
    let core_runs: [(&str, &Config, &[String], bool, usize); 6] = [
        ("audit", configured, core_accounts, true, c),
        ("audit, one account at a time", configured, sequential, true, 1),
        ("audit, sequential", &sequential_config, sequential, true, 1),
        ("enforce", configured, core_accounts, false, c),
        ("enforce, one account at a time", configured, enforce_one_at_a_time, false, 1),
        ("enforce, sequential", &sequential_config, enforce_sequential, false, 1),
    ];
    for (name, config, accounts, dry_run, at_once) in core_runs {
        if !accounts.is_empty() {
            phases.push(phases::core_run(name, &org, config, &proxy, accounts, dry_run, at_once).await);
        }
    }

    let due = seed::due_keys(args.users) as u64;
    for phase in phases.iter().filter(|p| p.name.starts_with("enforce")) {
        let expected = due * phase.accounts as u64;
        if phase.rotations != expected {
            problems.push(format!("{} rotated {} keys, {expected} are due", phase.name, phase.rotations));
        }
    }
    let pipeline = Pipeline::create(moto, &proxy, &management).await;
    let mut checks = Vec::new();
    for (name, dry_run) in [("handlers: audit", true), ("handlers: enforce", false)] {
        let (phase, check) =
            phases::handler_run((name, dry_run), &org, moto, &proxy, &pipeline, handler_accounts, c).await;
        problems.extend(check.problems(handler_accounts.len()).into_iter().map(|p| format!("{name}: {p}")));
        checks.push(json!({ "phase": name, "accounts_handled_once": check.deliveries.values().all(|n| *n == 1)
            && check.deliveries.len() == handler_accounts.len(), "ledger_done": check.ledger_done,
            "recipients": check.digests.len(), "digests_per_recipient_max": check.digests.values().max() }));
        phases.push(phase);
    }
    let lambda = lambda_figures(args, moto, &org).await;
    let synth = if args.skip_synth { None } else { Some(synth_figures()) };
    json!({
        "parameters": { "accounts": args.accounts, "users": args.users, "account_concurrency": c,
            "user_concurrency": args.user_concurrency, "latency_ms": args.latency_ms,
            "lambda_users": args.lambda_users },
        "machine": machine(),
        "phases": phases.iter().map(Phase::to_json).collect::<Vec<_>>(),
        "ratios": ratios(&phases),
        "pipeline_checks": checks,
        "lambda": lambda,
        "synth": synth,
        "problems": problems,
    })
}

/// Throughput ratios against the sequential runs (users one at a time),
/// and calls per rotation (enforce minus audit, over the keys rotated).
///
/// - `audit_speedup_vs_sequential`: the audit as configured (accounts and
///   users at once) over the audit of one account and one user at a time;
/// - `audit_users_at_once_speedup`, `enforce_users_at_once_speedup`: one
///   account at a time both ways, users at once against one user at a time:
///   the per-account gain the issue's targets are about.
fn ratios(phases: &[Phase]) -> serde_json::Value {
    let find = |name: &str| phases.iter().find(|p| p.name == name);
    let speedup = |fast: &str, slow: &str| match (find(fast), find(slow)) {
        (Some(f), Some(s)) => Some(f.accounts_per_second() / s.accounts_per_second()),
        _ => None,
    };
    let per_rotation = match (find("audit"), find("enforce")) {
        (Some(a), Some(e)) if e.rotations > 0 => {
            Some((e.total_calls() as f64 - a.total_calls() as f64) / e.rotations as f64)
        }
        _ => None,
    };
    json!({
        "audit_speedup_vs_sequential": speedup("audit", "audit, sequential"),
        "audit_users_at_once_speedup": speedup("audit, one account at a time", "audit, sequential"),
        "enforce_users_at_once_speedup": speedup("enforce, one account at a time", "enforce, sequential"),
        "extra_calls_per_rotation": per_rotation,
    })
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
    });
    let memory = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| t.lines().next().map(str::to_string));
    json!({ "cores": std::thread::available_parallelism().map(|n| n.get()).ok(), "cpu": cpu, "memory": memory,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" } })
}

/// The shipped binary's figures, when `rekey synth` has built it.
async fn lambda_figures(args: &Args, moto: &'static Moto, org: &Org) -> serde_json::Value {
    use aws_credential_types::provider::ProvideCredentials;
    let options = rekey_synth::build::BuildOptions::new(&rekey_config::Config::builtin_default(), None);
    let bootstrap = options.binary_path();
    if args.lambda_users == 0 || !bootstrap.is_file() {
        return json!({ "skipped": format!("no `{}` (run `rekey synth` first) or --lambda-users 0", bootstrap.display()) });
    }
    let account = test_account_id("bench-lambda-account");
    seed::seed_account(moto, &account, args.lambda_users).await;
    let pipeline = Pipeline::create_named(moto, None, &org.management, "rekey-bench-lambda").await;
    let sdk = moto.account_config(&org.management).await;
    let credentials =
        sdk.credentials_provider().expect("credentials").provide_credentials().await.expect("credentials");
    let mut env: Vec<(String, String)> = vec![
        ("REKEY_FUNCTION".into(), "rotation".into()),
        ("REKEY_CONFIG".into(), org.config.function_env_json(rekey_config::Function::Rotation)),
        ("REKEY_ACCOUNTS_MAX_RECEIVE_COUNT".into(), "3".into()),
        ("REKEY_DEPLOYMENT_ACCOUNT_ID".into(), org.management.clone()),
        ("AWS_REGION".into(), rekey_e2e::moto::REGION.into()),
        ("AWS_ENDPOINT_URL".into(), moto.endpoint_url()),
        ("AWS_ACCESS_KEY_ID".into(), credentials.access_key_id().into()),
        ("AWS_SECRET_ACCESS_KEY".into(), credentials.secret_access_key().into()),
        ("AWS_SESSION_TOKEN".into(), credentials.session_token().unwrap_or_default().into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "rekey-bench-rotation".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), "/aws/lambda/rekey-bench".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "bench".into()),
    ];
    env.extend(pipeline.environment());
    let message = |dry_run: bool| {
        let body = json!({ "run_id": "bench-lambda", "account_id": account, "account_name": "bench-lambda",
            "dry_run": dry_run, "force_rotate": [], "part": 0 });
        json!({ "Records": [{ "messageId": format!("m-{dry_run}"), "body": body.to_string(),
            "attributes": { "ApproximateReceiveCount": "1" } }] })
        .to_string()
    };
    let events = [
        ("empty batch (cold start)".to_string(), json!({ "Records": [] }).to_string()),
        (format!("audit of a {}-user account", args.lambda_users), message(true)),
        (format!("enforce of a {}-user account", args.lambda_users), message(false)),
    ];
    let zipped = std::fs::metadata(&bootstrap).map(|m| m.len()).ok();
    let handled = tokio::task::spawn_blocking(move || lambda::run_events(&bootstrap, &env, &events))
        .await
        .expect("the Lambda run");
    json!({
        "profile": options.profile,
        "binary_bytes": zipped,
        "events": handled.iter().map(|h| json!({ "event": h.label, "seconds": h.seconds,
            "peak_rss_mib": h.peak_rss_mib, "outcome": h.outcome })).collect::<Vec<_>>(),
    })
}

fn synth_figures() -> serde_json::Value {
    let mut figures = synth::SynthFigures { templates_ms: synth::templates_only(), ..Default::default() };
    if let Err(e) = synth::rekey_synth(&mut figures) {
        figures.notes.push(format!("rekey synth: {e}"));
    }
    if let Err(e) = synth::cdk_synth(&mut figures) {
        figures.notes.push(format!("cdk synth: {e}"));
    }
    let ratio = match (figures.cdk_ms, figures.warm_ms) {
        (Some(cdk), Some(warm)) => Some(cdk / warm),
        _ => None,
    };
    json!({
        "templates_only_ms": figures.templates_ms,
        "warm_rekey_synth_ms": figures.warm_ms,
        "warm_rekey_synth_peak_rss_mib": figures.warm_rss_mib,
        "warm_output_byte_identical": figures.warm_identical,
        "cdk_synth_one_function_ms": figures.cdk_ms,
        "cdk_synth_peak_rss_mib": figures.cdk_rss_mib,
        "cdk_over_warm_rekey": ratio,
        "asset_zipped_bytes": figures.asset_zipped,
        "asset_unzipped_bytes": figures.asset_unzipped,
        "notes": figures.notes,
    })
}

fn number(value: &serde_json::Value, decimals: usize) -> String {
    value.as_f64().map_or("n/a".to_string(), |v| format!("{v:.decimals$}"))
}

/// The report as text: one table of phases, then the calls by operation, then Lambda and synthesis.
fn render(report: &serde_json::Value) -> String {
    let mut out = format!("rekey bench {}\n\n", report["parameters"]);
    out.push_str(&format!(
        "{:<32} {:>9} {:>10} {:>10} {:>10} {:>10} {:>12} {:>9}\n",
        "phase", "accounts", "wall s", "accts/s", "keys/s", "rotations", "calls/acct", "RSS MiB"
    ));
    for p in report["phases"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<32} {:>9} {:>10} {:>10} {:>10} {:>10} {:>12} {:>9}\n",
            p["name"].as_str().unwrap_or(""),
            p["accounts"].to_string(),
            number(&p["wall_seconds"], 2),
            number(&p["accounts_per_second"], 2),
            number(&p["keys_per_second"], 0),
            p["rotations"].to_string(),
            number(&p["calls_per_account"], 1),
            number(&p["peak_rss_mib"], 1),
        ));
    }
    out.push_str("\ncalls per account by operation:\n");
    for p in report["phases"].as_array().into_iter().flatten() {
        let ops = p["calls_per_account_by_operation"].as_object().into_iter().flatten();
        let ops: Vec<String> = ops.map(|(op, n)| format!("{op} {}", number(n, 1))).collect();
        out.push_str(&format!("  {}: {}\n", p["name"].as_str().unwrap_or(""), ops.join(", ")));
    }
    out.push_str(&format!("\nratios: {}\n", report["ratios"]));
    out.push_str(&format!("pipeline checks: {}\n", report["pipeline_checks"]));
    out.push_str(&format!("lambda: {}\n", report["lambda"]));
    out.push_str(&format!("synth: {}\n", report["synth"]));
    out.push_str(&format!("problems: {}", report["problems"]));
    out
}
