//! The real `bootstrap` binary under a Lambda runtime emulator (`cargo lambda
//! watch`, installed by `scripts/install-tools lambda`) against moto: the
//! `lambda_runtime` loop, the `REKEY_FUNCTION` dispatch, the config loaded from
//! `REKEY_CONFIG`, the JSON logs and the error mapping run as they do in
//! Lambda, invoked through the Lambda Invoke API
//! (`POST /2015-03-31/functions/bootstrap/invocations`).
//!
//! Each function's environment is the one the main stack gives it
//! (`rekey_stacks::synthesize`, `Environment.Variables`): the resources those
//! variables name (queues, the run ledger table, and what they depend on) are
//! created on moto by CloudFormation from the synthesized template itself, and
//! moto resolves the `Ref`s as stack outputs. Only what the Lambda service adds
//! is set by the test: region, the execution role's credentials (here assumed
//! into the test's own deployment account) and `AWS_ENDPOINT_URL` = moto.
//!
//! Emulator facts this test relies on or works around (cargo-lambda 1.9.2):
//! - One `watch` serves the workspace's binaries by name with one environment,
//!   and the invoke URL's function name must be a binary (`bootstrap`); the
//!   three functions differ only by environment, so each function runs under
//!   its own `watch` (its own port and `--env-file`), stopped by a drop guard.
//! - `watch` runs `cargo run --manifest-path Cargo.toml --bin bootstrap` in
//!   the workspace's `target/` (dev profile); the test builds exactly that once
//!   up front so no invocation waits for a compile, and a warm run rebuilds
//!   nothing.
//! - A function error is answered with HTTP 500 and the runtime's
//!   `{"errorType","errorMessage"}` body (real Lambda: 200 plus
//!   `X-Amz-Function-Error`); an `/init/error` report is answered with 200 and
//!   that body; a process that exits without reporting leaves the invocation
//!   hanging (real Lambda: `Runtime.ExitError`), hence the invoke timeout.
//! - `--env-file` is dotenv-like: JSON values go in single quotes (a value may
//!   not contain `'`), and `--env-var` splits values at commas.
//!
//! moto gaps: none beyond those of `rotation.rs` and `inventory_notify.rs`
//! (keys are backdated through the launcher's control port).

use aws_credential_types::provider::ProvideCredentials;
use rekey_config::{Config, Function};
use rekey_e2e::moto::{test_account_id, Moto, REGION};
use rekey_e2e::tools::{tool, workspace_root};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long one invocation may take. Each takes well under a second on moto
/// once `bootstrap` is built; the first one of an emulator includes its
/// `cargo run` finding the build fresh, which waits for cargo's lock while
/// another build holds it.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(600);

/// What `watch` logs when the function process ends.
const FUNCTION_EXITED: &str = "command exited";

// ---------------------------------------------------------------------------
// What the deployed system would hand the functions. Kept together here so a
// change of environment or message format is a change of these helpers only.
// ---------------------------------------------------------------------------

/// The config of the pipeline test: enforce mode, one management account
/// (also the deployment account), mail from `sender` to `admin`.
fn pipeline_config(management: &str, sender: &str, admin: &str) -> Config {
    Config::from_yaml_str(
        &format!(
            "mode: enforce\norganization:\n  management_account_id: '{management}'\nnotifications:\n  \
             sender: {sender}\n  admin_recipients: [{admin}]\n  notify_account_email: false\n"
        ),
        None,
    )
    .expect("valid test config")
}

/// A manual inventory event narrowing the run to `account_ids`.
fn inventory_event(account_ids: &[String]) -> Value {
    json!({ "account_ids": account_ids })
}

/// An SQS event as the event source mapping delivers it, from received messages.
fn sqs_event(queue_arn: &str, messages: &[aws_sdk_sqs::types::Message]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: BTreeMap<String, String> =
                m.attributes().into_iter().flatten().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// A record whose body no function can parse.
fn malformed_record(queue_arn: &str) -> Value {
    json!({
        "messageId": "malformed-1", "receiptHandle": "r", "body": "{not json", "attributes": {},
        "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": REGION,
    })
}

/// What the Lambda service adds to a function's environment: region, the
/// execution role's credentials (`sdk`'s, i.e. the deployment account's), and
/// the endpoint (moto).
async fn service_env(moto: &Moto, sdk: &aws_config::SdkConfig) -> BTreeMap<String, String> {
    let creds = sdk
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("the test's credentials resolve");
    let mut env = BTreeMap::new();
    env.insert("AWS_ENDPOINT_URL".into(), moto.endpoint_url());
    env.insert("AWS_REGION".into(), REGION.into());
    env.insert("AWS_DEFAULT_REGION".into(), REGION.into());
    env.insert("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().into());
    env.insert("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key().into());
    if let Some(token) = creds.session_token() {
        env.insert("AWS_SESSION_TOKEN".into(), token.into());
    }
    env.insert("RUST_LOG".into(), "info".into());
    env
}

/// The `Environment.Variables` of each function of the main stack for
/// `config`, with every intrinsic resolved by moto: the resources the variables
/// reference (transitively) are created from the synthesized template in one
/// CloudFormation stack whose outputs are the variables' values.
async fn deployed_environments(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> BTreeMap<Function, BTreeMap<String, String>> {
    let asset = rekey_synth::asset::LambdaAsset { sha256: "0".repeat(64) };
    let stacks = rekey_stacks::synthesize(config, &asset).expect("the config synthesizes");
    let main = stacks.iter().find(|s| s.id == rekey_config::StackId::Main).expect("a main stack");
    let template = main.template.to_value();
    let resources = template["Resources"].as_object().expect("resources");

    let mut literal: BTreeMap<Function, BTreeMap<String, String>> = BTreeMap::new();
    let mut outputs = serde_json::Map::new();
    let mut wanted = BTreeSet::new();
    let mut output_of: BTreeMap<String, (Function, String)> = BTreeMap::new();
    for function in Function::ALL {
        let logical = resources
            .iter()
            .find(|(_, r)| {
                r["Type"] == "AWS::Lambda::Function"
                    && r["Properties"]["Environment"]["Variables"][rekey_stacks::ENV_FUNCTION] == function.name()
            })
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no function with `REKEY_FUNCTION={}` in the main stack", function.name()));
        let vars = resources[&logical]["Properties"]["Environment"]["Variables"].as_object().expect("variables");
        for (name, value) in vars {
            match value {
                Value::String(s) => {
                    literal.entry(function).or_default().insert(name.clone(), s.clone());
                }
                intrinsic => {
                    references(intrinsic, &mut wanted);
                    let id = format!("Env{}{}", outputs.len(), name.replace('_', ""));
                    outputs.insert(id.clone(), json!({ "Value": intrinsic }));
                    output_of.insert(id, (function, name.clone()));
                }
            }
        }
    }
    // The referenced resources and what they reference (a queue's dead-letter queue).
    let mut todo: Vec<String> = wanted.iter().cloned().collect();
    while let Some(id) = todo.pop() {
        let resource = resources.get(&id).unwrap_or_else(|| panic!("`{id}` is not a resource of the main stack"));
        let mut more = BTreeSet::new();
        references(resource, &mut more);
        for r in more {
            if wanted.insert(r.clone()) {
                todo.push(r);
            }
        }
    }
    let partial = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": wanted.iter().map(|id| (id.clone(), resources[id].clone())).collect::<serde_json::Map<_, _>>(),
        "Outputs": outputs,
    });
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let stack = format!("{}-emulator", main.name);
    cfn.create_stack().stack_name(&stack).template_body(partial.to_string()).send().await.unwrap_or_else(|e| {
        panic!("moto cannot create the function resources of the main stack: {e:?}\ntemplate: {partial:#}")
    });
    let described = cfn.describe_stacks().stack_name(&stack).send().await.expect("describe stack");
    let out = &described.stacks()[0];
    assert_eq!(out.stack_status().map(|s| s.as_str()), Some("CREATE_COMPLETE"), "{:?}", out.stack_status_reason());
    for o in out.outputs() {
        let key = o.output_key().expect("output key");
        let (function, name) = &output_of[key];
        let value = o.output_value().unwrap_or_else(|| panic!("moto left `{name}` unresolved"));
        literal.entry(*function).or_default().insert(name.clone(), value.to_string());
    }
    for (id, (function, name)) in &output_of {
        assert!(literal[function].contains_key(name), "output `{id}` ({name}) missing from moto's stack");
    }
    literal
}

/// Resource ids referenced by `Ref`/`Fn::GetAtt`/`Fn::Sub` in `v` (pseudo parameters excluded).
fn references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("Ref", Value::String(id)) if !id.starts_with("AWS::") => {
                        out.insert(id.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(id)) = parts.first() {
                            out.insert(id.clone());
                        }
                    }
                    ("Fn::Sub", Value::String(text)) => {
                        for piece in text.split("${").skip(1) {
                            let id = piece.split(['}', '.']).next().unwrap_or_default();
                            if !id.starts_with("AWS::") {
                                out.insert(id.to_string());
                            }
                        }
                    }
                    _ => references(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// The emulator.
// ---------------------------------------------------------------------------

/// Builds the binary once per test binary, with the very command `watch`
/// runs, so the emulator's own `cargo run` finds it fresh.
fn build_bootstrap() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .args(["build", "--manifest-path", "Cargo.toml", "--bin", "bootstrap"])
            .current_dir(workspace_root())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{cargo}`: {e}"));
        assert!(out.status.success(), "building `bootstrap` failed:\n{}", String::from_utf8_lossy(&out.stderr));
        eprintln!("lambda_emulator: `bootstrap` built (or found fresh) in {:.1?}", started.elapsed());
    });
}

/// One `cargo lambda watch` serving the `bootstrap` binary with one
/// function's environment. Dropping it stops the emulator and the function.
struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// An invocation's HTTP status and JSON answer.
#[derive(Debug)]
struct Invocation {
    status: u16,
    body: Value,
}

impl Emulator {
    fn start(env: &BTreeMap<String, String>) -> Emulator {
        build_bootstrap();
        let dir = tempfile::tempdir().expect("temp dir");
        let env_file = dir.path().join("function.env");
        let mut text = String::new();
        for (k, v) in env {
            assert!(!v.contains('\'') && !v.contains('\n'), "`{k}` cannot be written to an env file");
            text.push_str(&format!("{k}='{v}'\n"));
        }
        std::fs::write(&env_file, text).expect("write the env file");
        let log = dir.path().join("watch.log");
        let file = std::fs::File::create(&log).expect("log file");
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        let child = Command::new(tool("lambda/bin/cargo-lambda"))
            .args(["lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start cargo lambda watch");
        let mut emulator = Emulator { child, port, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                panic!("cargo lambda watch exited ({status}):\n{}", emulator.logs());
            }
            assert!(Instant::now() < deadline, "cargo lambda watch did not listen:\n{}", emulator.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    /// Everything the emulator and the function printed so far.
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The function's JSON log lines (and EMF documents).
    fn json_logs(&self) -> Vec<Value> {
        self.logs().lines().filter(|l| l.starts_with('{')).filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// `POST /2015-03-31/functions/bootstrap/invocations` with `payload`.
    /// Fails fast when the function process exits without answering (the
    /// emulator would leave the request hanging).
    fn invoke(&self, payload: &Value) -> Invocation {
        let body = payload.to_string();
        let exits_before = self.logs().matches(FUNCTION_EXITED).count();
        let started = Instant::now();
        let attempt = || -> std::io::Result<Vec<u8>> {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_read_timeout(Some(Duration::from_millis(500)))?;
            write!(
                stream,
                "POST /2015-03-31/functions/bootstrap/invocations HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                self.port,
                body.len()
            )?;
            let mut raw = Vec::new();
            loop {
                // On a timeout the bytes read so far stay in `raw`.
                match stream.read_to_end(&mut raw) {
                    Ok(_) => return Ok(raw),
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        let exited = self.logs().matches(FUNCTION_EXITED).count() > exits_before;
                        if exited || started.elapsed() > INVOKE_TIMEOUT {
                            let why = if exited { "the function process exited" } else { "timed out" };
                            return Err(std::io::Error::other(why));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        // The emulator can accept and then drop a connection while it is still
        // setting the function up (seen on a cold machine, with nothing in its
        // log): such a request never reached the function, so it is sent again.
        let mut answer = attempt();
        while let Err(e) = &answer {
            let dropped = matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionAborted
            );
            if !dropped || started.elapsed() > INVOKE_TIMEOUT {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            answer = attempt();
        }
        let raw =
            answer.unwrap_or_else(|e| panic!("no answer to the invocation ({e}); emulator log:\n{}", self.logs()));
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body =
            if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.into() };
        let body = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("answer `{body}` (HTTP {status}) is not JSON: {e}\n{}", self.logs()));
        Invocation { status, body }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Emulator {
    /// SIGTERM lets `watch` stop the function it started; whatever of its
    /// process tree is left after a grace period is killed by pid.
    fn drop(&mut self) {
        let tree = descendants(self.child.id());
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in tree {
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

/// Pids of the processes below `root` (from `/proc`).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may contain spaces, so split after the last `)`.
        if let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)) {
            if let Ok(ppid) = ppid.parse::<u32>() {
                parent_of.insert(pid, ppid);
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (&child, _) in parent_of.iter().filter(|(_, &pp)| pp == p) {
            out.push(child);
            frontier.push(child);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------

/// Receives (and deletes) every visible message of a queue.
async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return all;
        }
        for m in out.messages() {
            sqs.delete_message().queue_url(queue_url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
        all.extend(out.messages().iter().cloned());
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    out.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)).expect("arn").clone()
}

/// Schedule → inventory → accounts queue → rotation → notifications queue →
/// notifier → SES, each function the real binary in its own emulator with the
/// environment the main stack gives it.
#[tokio::test(flavor = "multi_thread")]
async fn the_three_functions_run_under_the_lambda_runtime() {
    let moto = Moto::get();
    let mgmt = test_account_id("emulator-mgmt");
    let sdk = moto.account_config(&mgmt).await;
    let members = moto.create_organization(&mgmt, "emu", 2).await;
    let target = members[0].clone();
    // alice's only key is 95 days old: enforce mode creates a replacement.
    let member_iam = aws_sdk_iam::Client::new(&moto.account_config(&target).await);
    member_iam.create_user().user_name("alice").send().await.expect("user");
    let old = member_iam.create_access_key().user_name("alice").send().await.expect("key");
    let old = old.access_key().expect("key");
    moto.backdate_key(&target, old.access_key_id(), 95);
    let sender = "rekey-emulator@example.com";
    let admin = "admin-emulator-e2e@example.com";
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity(sender).send().await.expect("identity");

    let config = pipeline_config(&mgmt, sender, admin);
    let envs = deployed_environments(&sdk, &config).await;
    let service = service_env(moto, &sdk).await;
    let env_of = |f: Function| {
        let mut env = service.clone();
        env.extend(envs[&f].clone());
        env
    };
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let accounts_url = envs[&Function::Inventory][rekey_stacks::ENV_ACCOUNTS_QUEUE_URL].clone();
    let notifications_url = envs[&Function::Rotation][rekey_stacks::ENV_NOTIFICATIONS_QUEUE_URL].clone();

    // Start the three emulators side by side (each a few seconds).
    let (inventory, rotation, notifier) = std::thread::scope(|s| {
        let i = s.spawn(|| Emulator::start(&env_of(Function::Inventory)));
        let r = s.spawn(|| Emulator::start(&env_of(Function::Rotation)));
        let n = s.spawn(|| Emulator::start(&env_of(Function::Notifier)));
        (i.join().unwrap(), r.join().unwrap(), n.join().unwrap())
    });

    // Inventory: a manual event narrowed to one account.
    let started = Instant::now();
    let answer = inventory.invoke(&inventory_event(std::slice::from_ref(&target)));
    eprintln!("lambda_emulator: first inventory invocation answered in {:.1?}", started.elapsed());
    assert_eq!(answer.status, 200, "{answer:?}\n{}", inventory.logs());
    let run_id = answer.body["run_id"].as_str().expect("the response has the run id").to_string();
    assert_eq!(answer.body["account_ids"], json!([target]), "{answer:?}");
    let queued = drain(&sqs, &accounts_url).await;
    assert_eq!(queued.len(), 1, "one message per selected account");
    let message: Value = serde_json::from_str(queued[0].body().unwrap()).expect("JSON message");
    assert_eq!((message["account_id"].as_str(), message["run_id"].as_str()), (Some(&*target), Some(&*run_id)));

    // Rotation: the queued account plus a malformed record.
    let accounts_arn = queue_arn(&sqs, &accounts_url).await;
    let mut event = sqs_event(&accounts_arn, &queued);
    event["Records"].as_array_mut().unwrap().push(malformed_record(&accounts_arn));
    let answer = rotation.invoke(&event);
    assert_eq!(answer.status, 200, "{answer:?}\n{}", rotation.logs());
    assert_eq!(answer.body, json!({"batchItemFailures": [{"itemIdentifier": "malformed-1"}]}), "{answer:?}");
    let keys = member_iam.list_access_keys().user_name("alice").send().await.expect("keys");
    assert_eq!(keys.access_key_metadata().len(), 2, "alice's key was rotated: {keys:?}");
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.account_config(&target).await);
    let stored = secrets
        .get_secret_value()
        .secret_id(format!("Account_{target}_User_alice_AccessKey"))
        .send()
        .await
        .expect("the new key is stored in the member account");
    let stored: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    let new_secret = stored["SecretAccessKey"].as_str().expect("secret value").to_string();
    let rotation_logs = rotation.json_logs();
    assert!(
        rotation_logs.iter().any(|l| l["level"] == "ERROR" && l.to_string().contains("malformed-1")),
        "the malformed record is logged as JSON"
    );
    assert!(
        rotation_logs.iter().any(|l| l["_aws"]["CloudWatchMetrics"].is_array() && l["AccountId"] == *target),
        "an EMF metrics line for the account"
    );

    // Notifier: what the rotation (and the inventory) queued for it.
    let notifications_arn = queue_arn(&sqs, &notifications_url).await;
    let digests = drain(&sqs, &notifications_url).await;
    assert!(!digests.is_empty(), "the rotation queued work for the notifier");
    let answer = notifier.invoke(&sqs_event(&notifications_arn, &digests));
    assert_eq!(answer.status, 200, "{answer:?}\n{}", notifier.logs());
    assert_eq!(answer.body["batchItemFailures"], json!([]), "{answer:?}\n{}", notifier.logs());
    let mail: Vec<Value> =
        moto.sent_mail(&mgmt, REGION).into_iter().filter(|m| m["destinations"]["ToAddresses"][0] == admin).collect();
    assert_eq!(mail.len(), 1, "one digest for the admin: {mail:#?}");
    assert_eq!(mail[0]["source"], sender);
    let subject = mail[0]["subject"].as_str().unwrap_or_default();
    assert!(subject.contains(&target) || mail[0]["body"].as_str().unwrap_or_default().contains(&target), "{subject}");

    // No secret anywhere: not the new key, not the old one, not the function's credentials.
    let secrets = [new_secret.as_str(), old.secret_access_key(), service["AWS_SECRET_ACCESS_KEY"].as_str()];
    for (name, e) in [("inventory", &inventory), ("rotation", &rotation), ("notifier", &notifier)] {
        let logs = e.logs();
        assert!(logs.contains("\"level\":\"INFO\""), "{name} logs JSON:\n{logs}");
        // Every handler line carries the invocation's request id (the runtime's span), so it can be tied to it.
        let handler_lines: Vec<Value> = e.json_logs().into_iter().filter(|l| l.get("level").is_some()).collect();
        assert!(
            handler_lines.iter().any(|l| l["span"]["requestId"].as_str().is_some_and(|id| !id.is_empty())),
            "{name}: no log line with a request id:\n{logs}"
        );
        for s in secrets {
            assert!(!logs.contains(s), "a secret value reached the {name} logs");
        }
    }
    assert!(secrets.iter().all(|s| !mail[0].to_string().contains(s)), "a secret value reached the email");
}

/// A function that cannot start (its `REKEY_CONFIG` is invalid) fails its
/// invocation with a `rekey.Fatal.*` error type, and logs no secret.
#[tokio::test(flavor = "multi_thread")]
async fn a_function_with_an_invalid_config_fails_fatally() {
    let moto = Moto::get();
    let account = test_account_id("emulator-bad-config");
    let sdk = moto.account_config(&account).await;
    let config = pipeline_config(&account, "rekey@example.com", "admin@example.com");
    let mut env = service_env(moto, &sdk).await;
    env.extend(deployed_environments(&sdk, &config).await[&Function::Rotation].clone());
    // A threshold order the validation rejects: a deployment bug, not worth retrying.
    let mut view: Value = serde_json::from_str(&env[rekey_config::CONFIG_ENV]).unwrap();
    view["lifecycle"]["rotate_after_days"] = json!(500);
    env.insert(rekey_config::CONFIG_ENV.into(), view.to_string());
    let emulator = Emulator::start(&env);
    let answer = emulator.invoke(&json!({"Records": []}));
    let error_type = answer.body["errorType"].as_str().unwrap_or_default();
    assert!(error_type.starts_with("rekey.Fatal."), "{answer:?}\n{}", emulator.logs());
    assert!(answer.body["errorMessage"].as_str().unwrap_or_default().contains("rotate_after_days"), "{answer:?}");
    let logs = emulator.logs();
    assert!(logs.contains(error_type), "the start failure is logged with its type:\n{logs}");
    assert!(!logs.contains(&env["AWS_SECRET_ACCESS_KEY"]), "the credentials reached the logs");
}
