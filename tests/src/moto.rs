//! The moto server the end-to-end tests share: started once per test binary
//! from `tests/moto/launcher.py` (moto plus a time-travel control port),
//! stopped when the binary exits, with helpers for SDK configs, per-test
//! account isolation, key backdating and reading sent mail back.
//!
//! Isolation: moto keeps state per account, and an STS `AssumeRole` into any
//! made-up account id succeeds and yields credentials that moto maps to that
//! account. So each test picks its own account ids ([`test_account_id`]) and
//! tests run in parallel on one server; nothing ever calls `/moto-api/reset`
//! after start-up.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The region every test client uses unless it asks for another.
pub const REGION: &str = "us-east-1";
/// Dummy credentials moto accepts (it checks no signature).
const DUMMY_KEY: &str = "testing";

/// A running moto server (shared by every test of one binary).
#[derive(Debug)]
pub struct Moto {
    port: u16,
    control_port: u16,
    // Kept so the launcher lives as long as the binary: it exits when its
    // stdin closes, i.e. when this process exits (statics are never dropped,
    // but the OS closes the pipe).
    _child: Mutex<(Child, ChildStdin)>,
}

/// The repository root (parent of the `tests` crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests crate has a parent").to_path_buf()
}

static MOTO: OnceLock<Moto> = OnceLock::new();

impl Moto {
    /// The shared server, started on first use.
    pub fn get() -> &'static Moto {
        MOTO.get_or_init(Moto::start)
    }

    fn start() -> Moto {
        let root = repo_root();
        let python = root.join(".tools/moto/bin/python");
        let launcher = root.join("tests/moto/launcher.py");
        assert!(
            python.exists(),
            "moto is not installed at `{}`: run `scripts/install-tools moto` first",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(&launcher)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", launcher.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the launcher's first line");
        let ports: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("moto launcher did not report its ports (`{}`): {e}", line.trim()));
        let port = ports["moto"].as_u64().expect("moto port") as u16;
        let control_port = ports["control"].as_u64().expect("control port") as u16;
        let moto = Moto { port, control_port, _child: Mutex::new((child, stdin)) };
        // Readiness: the reset endpoint answers once moto serves requests.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match http(port, "POST", "/moto-api/reset", "") {
                Ok((200, _)) => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                other => panic!("moto did not become ready on port {port}: {other:?}"),
            }
        }
        moto
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK config for moto's default account `123456789012` with dummy
    /// static credentials, in [`REGION`].
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_with(Credentials::new(DUMMY_KEY, DUMMY_KEY, None, None, "moto-static"), REGION)
    }

    /// An SDK config pointed at moto with the given credentials and region.
    pub fn sdk_config_with(&self, credentials: Credentials, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(rekey_sdk::http_client())
            .region(Region::new(region.to_string()))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// An SDK config acting inside `account_id` (moto maps assumed-role
    /// credentials to the role's account; the role need not exist).
    pub async fn account_config(&self, account_id: &str) -> SdkConfig {
        self.account_config_in(account_id, REGION).await
    }

    /// Like [`Moto::account_config`], in another region.
    pub async fn account_config_in(&self, account_id: &str, region: &str) -> SdkConfig {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config());
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account_id}:role/rekey-test-admin"))
            .role_session_name("rekey-test")
            .send()
            .await
            .unwrap_or_else(|e| panic!("assume role into `{account_id}` on moto: {e:?}"));
        let c = out.credentials().expect("assume role returns credentials");
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "moto-assumed",
        );
        self.sdk_config_with(creds, region)
    }

    /// Creates a run ledger table named `name` in `account_id`, with the key
    /// schema of the main stack's `RunLedgerTable` (the deploy tests check the
    /// deployed one); returns the ledger adapter on it.
    pub async fn create_run_ledger(&self, account_id: &str, name: &str) -> rekey_runtime::aws::dynamodb::DynamoLedger {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let client = aws_sdk_dynamodb::Client::new(&self.account_config(account_id).await);
        let attr = |n: &str| {
            AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().unwrap()
        };
        let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build().unwrap();
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("run_id"))
            .attribute_definitions(attr("entry"))
            .key_schema(key("run_id", KeyType::Hash))
            .key_schema(key("entry", KeyType::Range))
            .send()
            .await
            .expect("create the run ledger table");
        rekey_runtime::aws::dynamodb::DynamoLedger::new(client, name)
    }

    /// Creates an organization managed by `management` with `members` member
    /// accounts named `<name>-<i>`; returns the member ids, sorted. Each test
    /// passes its own management account, so organizations never collide.
    pub async fn create_organization(&self, management: &str, name: &str, members: usize) -> Vec<String> {
        let orgs = aws_sdk_organizations::Client::new(&self.account_config(management).await);
        orgs.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create organization");
        let mut ids = Vec::new();
        for i in 0..members {
            let out = orgs
                .create_account()
                .account_name(format!("{name}-{i}"))
                .email(format!("{name}-{i}@example.com"))
                .send()
                .await
                .expect("create account");
            ids.push(out.create_account_status().and_then(|s| s.account_id()).expect("account id").to_string());
        }
        ids.sort();
        ids
    }

    /// Moves a key's creation date `days` days into the past.
    pub fn backdate_key(&self, account_id: &str, access_key_id: &str, days: i64) {
        self.backdate(serde_json::json!({"account_id": account_id, "access_key_id": access_key_id, "days": days}));
    }

    /// Moves a key's creation date `days` days back and marks it last used
    /// `last_used_days_ago` days ago.
    pub fn backdate_key_used(&self, account_id: &str, access_key_id: &str, days: i64, last_used_days_ago: i64) {
        self.backdate(serde_json::json!({
            "account_id": account_id, "access_key_id": access_key_id,
            "days": days, "last_used_days_ago": last_used_days_ago,
        }));
    }

    /// Moves a key's creation date by `by` (forward when positive), to the
    /// second: keeps keys created during a test on its injected clock.
    pub fn shift_key_created(&self, account_id: &str, access_key_id: &str, by: chrono::Duration) {
        let days = -(by.num_seconds() as f64) / 86_400.0;
        self.backdate(serde_json::json!({"account_id": account_id, "access_key_id": access_key_id, "days": days}));
    }

    fn backdate(&self, body: serde_json::Value) {
        let (status, text) = http(self.control_port, "POST", "/backdate", &body.to_string())
            .unwrap_or_else(|e| panic!("moto control port: {e}"));
        assert_eq!(status, 200, "backdate {body} failed: {text}");
    }

    /// The SES mail sent from `account_id` in `region`, oldest first:
    /// `[{"id", "source", "subject", "body", "destinations": {"ToAddresses", ...},
    /// "attachments": [{"filename", "content"}]}]`; raw MIME mail (a digest with
    /// its report attached) is parsed into the same shape, its HTML part as `body`
    /// (the launcher's `/sent-mail`; works when [`Moto::data_json`] cannot).
    pub fn sent_mail(&self, account_id: &str, region: &str) -> Vec<serde_json::Value> {
        let path = format!("/sent-mail?account_id={account_id}&region={region}");
        let (status, text) =
            http(self.control_port, "GET", &path, "").unwrap_or_else(|e| panic!("moto control port: {e}"));
        assert_eq!(status, 200, "sent-mail answered {status}: {text}");
        serde_json::from_str(&text).expect("sent-mail is a JSON list")
    }

    /// moto's `/moto-api/data.json`: every model instance it tracks (sent
    /// SES mail under `ses.Message`). Cumulative across tests: filter by
    /// recipient or subject. moto answers 500 once the server holds a Lambda
    /// function (see `tests/moto/launcher.py`): use [`Moto::sent_mail`] there.
    pub fn data_json(&self) -> serde_json::Value {
        let (status, text) =
            http(self.port, "GET", "/moto-api/data.json", "").unwrap_or_else(|e| panic!("moto data.json: {e}"));
        assert_eq!(status, 200, "moto data.json answered {status}");
        serde_json::from_str(&text).expect("data.json is JSON")
    }
}

/// A 12-digit account id derived from `name` (FNV-1a), so each test owns
/// accounts no other test touches, and the ids are the same on every run.
pub fn test_account_id(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Leading 9: never collides with moto's default 123456789012.
    format!("9{:011}", h % 100_000_000_000)
}

/// A minimal HTTP/1.0 client for moto's side endpoints (no HTTP crate needed).
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP status line in `{head}`")))?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_stable_and_distinct() {
        assert_eq!(test_account_id("a"), test_account_id("a"));
        assert_ne!(test_account_id("a"), test_account_id("b"));
        assert_eq!(test_account_id("a").len(), 12);
    }

    #[tokio::test]
    async fn accounts_are_isolated_and_keys_can_be_backdated() {
        let moto = Moto::get();
        let a = test_account_id("moto-harness-a");
        let b = test_account_id("moto-harness-b");
        let iam_a = aws_sdk_iam::Client::new(&moto.account_config(&a).await);
        let iam_b = aws_sdk_iam::Client::new(&moto.account_config(&b).await);
        iam_a.create_user().user_name("alice").send().await.expect("create user");
        let key = iam_a.create_access_key().user_name("alice").send().await.expect("create key");
        let key_id = key.access_key().expect("key").access_key_id().to_string();
        assert!(iam_b.list_users().send().await.expect("list").users().is_empty(), "account b sees no user of a");
        moto.backdate_key(&a, &key_id, 100);
        let keys = iam_a.list_access_keys().user_name("alice").send().await.expect("list keys");
        let created = keys.access_key_metadata()[0].create_date().expect("create date");
        let age_days = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
            - created.secs())
            / 86_400;
        assert_eq!(age_days, 100);
        assert!(moto.data_json().is_object());
    }
}
