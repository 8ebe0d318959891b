//! A fault-injecting HTTP/1.1 reverse proxy between the AWS SDK and the moto
//! server: rules by service and operation fail a call before it reaches
//! moto, fail it after moto acted (the call took effect, the client sees a
//! 5xx or a dropped connection, and the SDK retries it), throttle it, or
//! delay it; deterministic from a seed; every request and every key moto
//! created is recorded.
//!
//! Point an SDK config at it with [`FaultProxy::sdk_config`] (or
//! [`FaultProxy::account_config`]), or a process at it with
//! `AWS_ENDPOINT_URL=`[`FaultProxy::endpoint_url`].
//!
//! Requests are identified the way AWS routes them: the service from the
//! SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`),
//! the operation from `X-Amz-Target` (JSON protocols) or the form field
//! `Action` (IAM and STS, query protocol), else `METHOD /path`. The account is
//! learnt from `sts:AssumeRole` answers (the credentials moto hands out map
//! to the role's account) and from `iam:CreateAccessKey` answers; the user
//! from `UserName` or the secret name `Account_<id>_User_<user>_AccessKey`.
//!
//! Determinism: whether a rule fires is a hash of the seed, the rule, the
//! request's operation and user, and how many such requests (in the same
//! account) came before, not a draw from one shared generator, so
//! concurrent requests (the audit's, two runs at once) do not change each
//! other's fate. The account id is left out of the hash because moto
//! generates new ones on every run; give users of different accounts
//! different names when their faults should differ.
//!
//! The proxy runs on its own small tokio runtime (shared by every proxy of a
//! test binary), so a test may block its own thread (waiting for a CLI
//! process) while requests flow.

use crate::moto::Moto;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::http::{header, HeaderValue, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What a rule does to a request it fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer `500 InternalFailure` without forwarding: the call never took effect.
    FailBefore,
    /// Forward, let moto act, then answer `500 InternalFailure` instead of
    /// moto's answer: the call took effect but the client sees an error.
    FailAfter,
    /// Forward, let moto act, then close the connection without an answer.
    FailAfterDrop,
    /// Answer `400` with the protocol's throttling error (`Throttling`,
    /// `ThrottlingException`), which the SDK classifies as throttling.
    Throttle,
    /// Hold the request this long, then go on (other rules still apply).
    Delay(Duration),
}

impl Fault {
    fn is_terminal(self) -> bool {
        !matches!(self, Fault::Delay(_))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::FailBefore => f.write_str("fail-before"),
            Fault::FailAfter => f.write_str("fail-after"),
            Fault::FailAfterDrop => f.write_str("fail-after-drop"),
            Fault::Throttle => f.write_str("throttle"),
            Fault::Delay(d) => write!(f, "delay-{}ms", d.as_millis()),
        }
    }
}

/// A request as the rules see it.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// SigV4 signing name: `iam`, `sts`, `secretsmanager`, ...
    pub service: String,
    /// `CreateAccessKey`, `PutSecretValue`, or `METHOD /path` for REST protocols.
    pub operation: String,
    /// The account the caller's credentials act in, when the proxy learnt it.
    pub account: Option<String>,
    /// The IAM user the call is about (`UserName`, or from the secret name).
    pub user: Option<String>,
    /// The request body (form or JSON).
    pub body: Bytes,
}

impl RequestInfo {
    /// `service:Operation`, the form rekey's adapters name calls in errors.
    pub fn op(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }
}

type Predicate = Arc<dyn Fn(&RequestInfo) -> bool + Send + Sync>;

/// One fault rule: which requests, what fault, how often.
#[derive(Clone)]
pub struct Rule {
    ops: Vec<String>,
    when: Option<Predicate>,
    fault: Fault,
    probability: f64,
    max_count: Option<u32>,
    per_user: bool,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("ops", &self.ops)
            .field("fault", &self.fault)
            .field("probability", &self.probability)
            .field("max_count", &self.max_count)
            .field("per_user", &self.per_user)
            .field("when", &self.when.as_ref().map(|_| "<predicate>"))
            .finish()
    }
}

impl Rule {
    /// `fault` on every request whose `service:Operation` matches one of
    /// `ops` (`iam:CreateAccessKey`, `iam:*`, or `*` for everything).
    pub fn new<S: Into<String>>(fault: Fault, ops: impl IntoIterator<Item = S>) -> Rule {
        Rule {
            ops: ops.into_iter().map(Into::into).collect(),
            when: None,
            fault,
            probability: 1.0,
            max_count: None,
            per_user: false,
        }
    }

    /// Fires with probability `p` (0..=1), decided from the proxy's seed.
    pub fn probability(mut self, p: f64) -> Rule {
        self.probability = p;
        self
    }

    /// Fires on the first `n` matching requests only.
    pub fn first(mut self, n: u32) -> Rule {
        self.max_count = Some(n);
        self.per_user = false;
        self
    }

    /// Fires on the first `n` matching requests of each operation for each
    /// (account, user).
    pub fn first_per_user(mut self, n: u32) -> Rule {
        self.max_count = Some(n);
        self.per_user = true;
        self
    }

    /// Only requests about IAM user `name`.
    pub fn for_user(self, name: &str) -> Rule {
        let name = name.to_string();
        self.when(move |r| r.user.as_deref() == Some(name.as_str()))
    }

    /// Only requests for which `predicate` holds (e.g. on the body).
    pub fn when(mut self, predicate: impl Fn(&RequestInfo) -> bool + Send + Sync + 'static) -> Rule {
        self.when = Some(Arc::new(predicate));
        self
    }

    fn matches(&self, req: &RequestInfo) -> bool {
        let op = req.op();
        let op_matches = self.ops.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some("") => true,
            Some(prefix) => op.starts_with(prefix),
            None => *pattern == op,
        });
        op_matches && self.when.as_ref().is_none_or(|p| p(req))
    }
}

/// One request that went through the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Order of arrival.
    pub seq: u64,
    /// `service:Operation`.
    pub op: String,
    /// The caller's account, when known.
    pub account: Option<String>,
    /// The IAM user the call is about, when there is one.
    pub user: Option<String>,
    /// The fault injected (the terminal one; a delay only when alone).
    pub fault: Option<Fault>,
    /// moto's status, when the request reached moto.
    pub upstream_status: Option<u16>,
    /// The status the client got (`None`: the connection was dropped).
    pub client_status: Option<u16>,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} user={}", self.seq, self.op, self.user.as_deref().unwrap_or("-"))?;
        match self.fault {
            Some(fault) => write!(f, " {fault}")?,
            None => f.write_str(" clean")?,
        }
        let status = |s: Option<u16>| s.map_or("none".to_string(), |s| s.to_string());
        write!(f, " (moto {}, client {})", status(self.upstream_status), status(self.client_status))
    }
}

/// An access key moto created, whatever the client saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedKey {
    /// The account, when the proxy knew the caller's.
    pub account: Option<String>,
    /// The key's user.
    pub user: String,
    /// The new key's id.
    pub access_key_id: String,
    /// The fault that hid moto's answer from the client, if any.
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct RuleState {
    fired: u32,
    fired_per_user: HashMap<(String, Option<String>, Option<String>), u32>,
}

struct State {
    seed: u64,
    rules: Vec<(Rule, RuleState)>,
    occurrences: HashMap<String, u64>,
    next_seq: u64,
    records: Vec<Record>,
    created: Vec<CreatedKey>,
    accounts: HashMap<String, String>,
    clock_offset: chrono::Duration,
}

/// A running proxy in front of the shared moto server. Dropping it stops
/// accepting connections.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The runtime every proxy of the binary serves on (two workers: requests
/// are forwarded concurrently, and the test's own runtime may block).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("fault proxy runtime")
    })
}

/// Moto's account for credentials it has never handed out (`testing`).
const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";

impl FaultProxy {
    /// A proxy in front of the shared moto server, with no rule yet.
    pub fn start(seed: u64) -> FaultProxy {
        let upstream = Moto::get().endpoint_url();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State {
            seed,
            rules: Vec::new(),
            occurrences: HashMap::new(),
            next_seq: 0,
            records: Vec::new(),
            created: Vec::new(),
            accounts: HashMap::new(),
            clock_offset: chrono::Duration::zero(),
        }));
        let shared = Arc::new(Shared {
            state: state.clone(),
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let accept = runtime().spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { shared.handle(req).await }
                    });
                    // Errors here are dropped connections (ours, on purpose,
                    // or the client's): nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { addr, state, accept }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rules (and their counts): the first matching terminal
    /// rule that fires decides; delays add up before it.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        let mut state = self.state.lock().unwrap();
        state.rules = rules.into_iter().map(|r| (r, RuleState::default())).collect();
    }

    /// No more faults.
    pub fn clear_rules(&self) {
        self.set_rules(Vec::new());
    }

    /// Keys moto creates from now on get a creation date moved by `offset`
    /// (and the client's answer says so), so a test that runs the rotation
    /// at an injected `now` ahead of the real clock keeps IAM's dates and
    /// rekey's records on one timeline.
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.state.lock().unwrap().clock_offset = offset;
    }

    /// Every request so far, in order of arrival.
    pub fn records(&self) -> Vec<Record> {
        self.state.lock().unwrap().records.clone()
    }

    /// The requests about `user` in `account`, in order.
    pub fn records_for(&self, account: &str, user: &str) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.account.as_deref() == Some(account) && r.user.as_deref() == Some(user))
            .collect()
    }

    /// Every key moto created through the proxy, in order.
    pub fn created_keys(&self) -> Vec<CreatedKey> {
        self.state.lock().unwrap().created.clone()
    }

    /// The keys moto created in `account`, by user.
    pub fn created_keys_in(&self, account: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in self.created_keys().into_iter().filter(|k| k.account.as_deref() == Some(account)) {
            out.entry(k.user).or_default().push(k.access_key_id);
        }
        out
    }

    /// An SDK config through the proxy with moto's dummy static credentials
    /// (moto's default account), as [`Moto::sdk_config`] but through the
    /// proxy, with fast retry backoff ([`FastSleep`]).
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_with(Credentials::new("testing", "testing", None, None, "moto-static"), crate::moto::REGION)
    }

    /// [`FaultProxy::sdk_config`] in `region`. The SDK keeps one retry
    /// quota and one adaptive rate limiter per service and region for the
    /// whole process: a test that throttles heavily works in a region of its
    /// own so it does not slow the other tests of the binary down.
    pub fn sdk_config_in(&self, region: &str) -> SdkConfig {
        self.sdk_config_with(Credentials::new("testing", "testing", None, None, "moto-static"), region)
    }

    /// An SDK config through the proxy with the given credentials and region.
    pub fn sdk_config_with(&self, credentials: Credentials, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(rekey_sdk::http_client())
            .region(Region::new(region.to_string()))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .sleep_impl(SharedAsyncSleep::new(FastSleep))
            .build()
    }

    /// An SDK config acting inside `account_id` through the proxy (the role
    /// is assumed through the proxy too, so it knows the account).
    pub async fn account_config(&self, account_id: &str) -> SdkConfig {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config());
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account_id}:role/rekey-test-admin"))
            .role_session_name("rekey-test")
            .send()
            .await
            .unwrap_or_else(|e| panic!("assume role into `{account_id}` through the proxy: {e:?}"));
        let c = out.credentials().expect("assume role returns credentials");
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "moto-assumed",
        );
        self.sdk_config_with(creds, crate::moto::REGION)
    }
}

/// How much shorter [`FastSleep`] makes the SDK's short sleeps.
pub const SLEEP_SCALE: u32 = 10;
/// Sleeps from this long up are left alone: they are timeouts (rekey's
/// attempt and operation timeouts), not backoff.
pub const SCALED_BELOW: Duration = Duration::from_secs(10);

/// The SDK's sleeps shorter than [`SCALED_BELOW`] (retry backoff: with 5
/// attempts and a 1 s base it stays under 8 s; the adaptive rate limiter)
/// divided by [`SLEEP_SCALE`], but never below the shorter of the requested
/// time and 100 ms: retries behave as in real life, in a tenth of the time.
/// The SDK measures timeouts with this sleep too; the only short one, the
/// connect timeout, stays far above a loopback connect.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastSleep;

impl AsyncSleep for FastSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let scaled = if duration < SCALED_BELOW {
            (duration / SLEEP_SCALE).max(duration.min(Duration::from_millis(100)))
        } else {
            duration
        };
        Sleep::new(tokio::time::sleep(scaled))
    }
}

struct Shared {
    state: Arc<Mutex<State>>,
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// How the client expects errors: query (XML) or JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Query,
    AwsJson,
    RestJson,
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        let form = if is_form(&parts.headers) { parse_form(&body) } else { BTreeMap::new() };
        let target = header_str(&parts.headers, "x-amz-target");
        let protocol = match (&target, form.is_empty()) {
            (Some(_), _) => Protocol::AwsJson,
            (None, false) => Protocol::Query,
            (None, true) => Protocol::RestJson,
        };
        let authorization = header_str(&parts.headers, "authorization").unwrap_or_default();
        let (caller, service) = credential_scope(&authorization);
        let operation = match (&target, form.get("Action")) {
            (Some(t), _) => t.rsplit('.').next().unwrap_or(t).to_string(),
            (None, Some(action)) => action.clone(),
            (None, None) => format!("{} {}", parts.method, parts.uri.path()),
        };
        let json: serde_json::Value = if protocol == Protocol::Query {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_default()
        };
        let user = form.get("UserName").cloned().or_else(|| {
            ["SecretId", "Name"].iter().find_map(|f| json.get(f).and_then(|v| v.as_str()).and_then(user_of_secret))
        });

        // Decide, under the lock, which faults fire.
        let (seq, info, delay, fault) = {
            let mut state = self.state.lock().unwrap();
            let account = caller
                .as_ref()
                .and_then(|c| state.accounts.get(c).cloned())
                .or_else(|| (caller.as_deref() == Some("testing")).then(|| MOTO_DEFAULT_ACCOUNT.to_string()));
            let info = RequestInfo { service: service.clone(), operation: operation.clone(), account, user, body };
            let seq = state.next_seq;
            state.next_seq += 1;
            // Counted per account, but hashed without it: account ids moto
            // generates differ from run to run, user names do not.
            let counter = format!(
                "{}|{}|{}",
                info.op(),
                info.account.as_deref().unwrap_or(""),
                info.user.as_deref().unwrap_or("")
            );
            let n = {
                let n = state.occurrences.entry(counter).or_insert(0);
                *n += 1;
                *n
            };
            let key = format!("{}|{}", info.op(), info.user.as_deref().unwrap_or(""));
            let seed = state.seed;
            let mut delay = Duration::ZERO;
            let mut fault = None;
            for (i, (rule, counts)) in state.rules.iter_mut().enumerate() {
                if fault.is_some() && rule.fault.is_terminal() {
                    continue;
                }
                if !rule.matches(&info) {
                    continue;
                }
                let who = (info.op(), info.account.clone(), info.user.clone());
                let fired = if rule.per_user { *counts.fired_per_user.get(&who).unwrap_or(&0) } else { counts.fired };
                if rule.max_count.is_some_and(|max| fired >= max) {
                    continue;
                }
                if unit(seed, &format!("{i}|{key}|{n}")) >= rule.probability {
                    continue;
                }
                counts.fired += 1;
                *counts.fired_per_user.entry(who).or_insert(0) += 1;
                match rule.fault {
                    Fault::Delay(d) => delay += d,
                    terminal => fault = Some(terminal),
                }
            }
            let recorded = fault.or((delay > Duration::ZERO).then_some(Fault::Delay(delay)));
            (seq, info, delay, recorded)
        };
        if delay > Duration::ZERO {
            tokio::time::sleep(delay).await;
        }
        let record = |upstream: Option<u16>, client: Option<u16>| Record {
            seq,
            op: info.op(),
            account: info.account.clone(),
            user: info.user.clone(),
            fault,
            upstream_status: upstream,
            client_status: client,
        };
        match fault {
            Some(Fault::FailBefore) => {
                self.push(record(None, Some(500)));
                return Ok(error_response(protocol, 500, "InternalFailure", "injected by the fault proxy"));
            }
            Some(Fault::Throttle) => {
                let code = if protocol == Protocol::Query { "Throttling" } else { "ThrottlingException" };
                self.push(record(None, Some(400)));
                return Ok(error_response(protocol, 400, code, "Rate exceeded (injected by the fault proxy)"));
            }
            _ => {}
        }

        // Forward to moto.
        let mut builder =
            Request::builder().method(parts.method.clone()).uri(format!("{}{}", self.upstream, parts.uri));
        for (name, value) in &parts.headers {
            if !is_hop_header(name) && name != header::HOST {
                builder = builder.header(name, value);
            }
        }
        let upstream_req = builder.body(Full::new(info.body.clone())).map_err(std::io::Error::other)?;
        let upstream = match self.client.request(upstream_req).await {
            Ok(r) => r,
            Err(e) => {
                // Not an injected fault: report it as a 502 the SDK retries.
                self.push(record(None, Some(502)));
                let message = format!("the fault proxy could not reach moto: {e}");
                return Ok(error_response(protocol, 502, "InternalFailure", &message));
            }
        };
        let (up_parts, up_body) = upstream.into_parts();
        let mut up_body = up_body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        let status = up_parts.status.as_u16();
        if status == 200 {
            up_body = self.learn(&info, &form, up_body, fault).await;
        }
        match fault {
            Some(Fault::FailAfter) => {
                self.push(record(Some(status), Some(500)));
                Ok(error_response(protocol, 500, "InternalFailure", "injected by the fault proxy after moto acted"))
            }
            Some(Fault::FailAfterDrop) => {
                self.push(record(Some(status), None));
                Err(std::io::Error::other("connection dropped by the fault proxy after moto acted"))
            }
            _ => {
                self.push(record(Some(status), Some(status)));
                let mut response = Response::builder().status(up_parts.status);
                for (name, value) in &up_parts.headers {
                    if !is_hop_header(name) {
                        response = response.header(name, value);
                    }
                }
                response.body(Full::new(up_body)).map_err(std::io::Error::other)
            }
        }
    }

    fn push(&self, record: Record) {
        self.state.lock().unwrap().records.push(record);
    }

    /// Learns from moto's successful answers: the account of assumed-role
    /// credentials, and the keys moto created (moved onto the test's clock).
    /// Returns the body the client gets.
    async fn learn(
        &self,
        info: &RequestInfo,
        form: &BTreeMap<String, String>,
        body: Bytes,
        fault: Option<Fault>,
    ) -> Bytes {
        let text = String::from_utf8_lossy(&body).into_owned();
        match info.op().as_str() {
            "sts:AssumeRole" => {
                let account = form.get("RoleArn").and_then(|arn| arn.split(':').nth(4)).map(str::to_string);
                if let (Some(account), Some(key)) = (account, xml_field(&text, "AccessKeyId")) {
                    self.state.lock().unwrap().accounts.insert(key, account);
                }
                body
            }
            "iam:CreateAccessKey" => {
                let (Some(key), Some(user)) = (xml_field(&text, "AccessKeyId"), xml_field(&text, "UserName")) else {
                    return body;
                };
                let offset = {
                    let mut state = self.state.lock().unwrap();
                    state.created.push(CreatedKey {
                        account: info.account.clone(),
                        user: user.clone(),
                        access_key_id: key.clone(),
                        fault,
                    });
                    if let Some(account) = &info.account {
                        state.accounts.insert(key.clone(), account.clone());
                    }
                    state.clock_offset
                };
                match (&info.account, offset.is_zero()) {
                    (Some(account), false) => {
                        let (account, id) = (account.clone(), key.clone());
                        tokio::task::spawn_blocking(move || Moto::get().shift_key_created(&account, &id, offset))
                            .await
                            .expect("shift the new key's creation date");
                        Bytes::from(shift_create_date(&text, offset))
                    }
                    _ => body,
                }
            }
            _ => body,
        }
    }
}

fn header_str(headers: &hyper::http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn is_form(headers: &hyper::http::HeaderMap) -> bool {
    header_str(headers, "content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

fn is_hop_header(name: &header::HeaderName) -> bool {
    name == header::CONNECTION || name == header::TRANSFER_ENCODING || name == header::CONTENT_LENGTH
}

/// `(access key id, service)` from a SigV4 `Authorization` header.
fn credential_scope(authorization: &str) -> (Option<String>, String) {
    let Some(rest) = authorization.split("Credential=").nth(1) else {
        return (None, "unknown".to_string());
    };
    let scope: Vec<&str> = rest.split([',', ' ']).next().unwrap_or_default().split('/').collect();
    let caller = scope.first().map(|s| s.to_string());
    let service = scope.get(3).map_or("unknown".to_string(), |s| s.to_string());
    (caller, service)
}

/// The user in a rekey secret name or ARN (`Account_<id>_User_<user>_AccessKey`).
fn user_of_secret(id: &str) -> Option<String> {
    let name = id.rsplit(":secret:").next().unwrap_or(id);
    let rest = name.split("_User_").nth(1)?;
    // An ARN ends in `-XXXXXX` after the name.
    let end = rest.rfind("_AccessKey")?;
    Some(rest[..end].to_string())
}

/// A form body's fields (percent-decoded).
fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (!k.is_empty()).then(|| (percent_decode(k), percent_decode(v)))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of the first `<name>` element.
fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + end].trim().to_string())
}

/// `CreateAccessKey`'s answer with its `CreateDate` moved by `offset`.
fn shift_create_date(xml: &str, offset: chrono::Duration) -> String {
    let Some(date) = xml_field(xml, "CreateDate") else { return xml.to_string() };
    let Ok(parsed) = chrono::DateTime::parse_from_rfc3339(&date) else { return xml.to_string() };
    let shifted = (parsed.to_utc() + offset).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    xml.replacen(&format!("<CreateDate>{date}</CreateDate>"), &format!("<CreateDate>{shifted}</CreateDate>"), 1)
}

/// An AWS error answer in the protocol's shape.
fn error_response(protocol: Protocol, status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let (content_type, body) = match protocol {
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>fault-proxy</RequestId></ErrorResponse>",
                if status >= 500 { "Receiver" } else { "Sender" }
            ),
        ),
        Protocol::AwsJson => {
            ("application/x-amz-json-1.1", serde_json::json!({"__type": code, "message": message}).to_string())
        }
        Protocol::RestJson => ("application/json", serde_json::json!({"message": message}).to_string()),
    };
    Response::builder()
        .status(StatusCode::from_u16(status).expect("valid status"))
        .header(header::CONTENT_TYPE, content_type)
        .header("x-amzn-errortype", HeaderValue::from_str(code).expect("ascii code"))
        .header("x-amzn-requestid", "fault-proxy")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

/// A deterministic number in `[0, 1)` from the seed and a request's identity
/// (FNV-1a, then the SplitMix64 finaliser).
fn unit(seed: u64, identity: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in identity.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = h.wrapping_add(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_identified_like_aws_routes_them() {
        let auth = "AWS4-HMAC-SHA256 Credential=ASIAXYZ/20261129/us-east-1/iam/aws4_request, SignedHeaders=host, \
                    Signature=abc";
        assert_eq!(credential_scope(auth), (Some("ASIAXYZ".to_string()), "iam".to_string()));
        let form = parse_form(b"Action=CreateAccessKey&UserName=u%2B7&Version=2010-05-08");
        assert_eq!(form["Action"], "CreateAccessKey");
        assert_eq!(form["UserName"], "u+7");
        assert_eq!(user_of_secret("Account_123456789012_User_alice_AccessKey").as_deref(), Some("alice"));
        assert_eq!(
            user_of_secret("arn:aws:secretsmanager:us-east-1:1:secret:Account_1_User_a_b_AccessKey-AbCdEf").as_deref(),
            Some("a_b")
        );
        assert_eq!(user_of_secret("other"), None);
    }

    #[test]
    fn the_fate_of_a_request_depends_only_on_the_seed_and_its_identity() {
        assert_eq!(unit(7, "x|1"), unit(7, "x|1"));
        assert_ne!(unit(7, "x|1"), unit(8, "x|1"));
        let hits = (0..10_000).filter(|n| unit(3, &format!("op|{n}")) < 0.2).count();
        assert!((1_800..2_200).contains(&hits), "about 20%: {hits}");
    }

    #[test]
    fn created_dates_move_with_the_clock() {
        let xml = "<AccessKey><CreateDate>2026-11-29T10:00:00.123Z</CreateDate></AccessKey>";
        assert_eq!(
            shift_create_date(xml, chrono::Duration::hours(2)),
            "<AccessKey><CreateDate>2026-11-29T12:00:00Z</CreateDate></AccessKey>"
        );
    }
}
