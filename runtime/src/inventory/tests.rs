//! Selection rules over an in-memory organization.

use super::ports::*;
use super::*;
use std::cell::RefCell;

/// An organization tree: root `r-root`, OUs, accounts under parents.
#[derive(Default)]
struct FakeOrg {
    /// parent id -> child OU ids
    ous: BTreeMap<String, Vec<String>>,
    /// parent id -> accounts
    accounts: BTreeMap<String, Vec<OrgAccount>>,
    /// Fail every call naming this parent.
    fail_parent: Option<String>,
    calls: RefCell<Vec<String>>,
}

impl FakeOrg {
    fn ou(mut self, parent: &str, ou: &str) -> Self {
        self.ous.entry(parent.to_string()).or_default().push(ou.to_string());
        self
    }
    fn account(mut self, parent: &str, id: &str, state: AccountState) -> Self {
        let account =
            OrgAccount { id: id.into(), name: format!("name-{id}"), email: Some(format!("{id}@example.com")), state };
        self.accounts.entry(parent.to_string()).or_default().push(account);
        self
    }
}

impl Directory for FakeOrg {
    async fn list_accounts(&self) -> Result<Vec<OrgAccount>, DirectoryError> {
        self.calls.borrow_mut().push("ListAccounts".into());
        Ok(self.accounts.values().flatten().cloned().collect())
    }
    async fn list_accounts_for_parent(&self, parent_id: &str) -> Result<Vec<OrgAccount>, DirectoryError> {
        self.calls.borrow_mut().push(format!("ListAccountsForParent {parent_id}"));
        if self.fail_parent.as_deref() == Some(parent_id) {
            return Err(DirectoryError {
                operation: "ListAccountsForParent",
                parent: Some(parent_id.into()),
                message: "TooManyRequestsException: rate exceeded".into(),
            });
        }
        Ok(self.accounts.get(parent_id).cloned().unwrap_or_default())
    }
    async fn list_child_ous(&self, parent_id: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(self.ous.get(parent_id).cloned().unwrap_or_default())
    }
}

const MGMT: &str = "111111111111";

/// root
/// ├── 111111111111 (management), 200000000001
/// ├── ou-root-aaaaaaaa: 200000000002, 200000000003 (suspended)
/// │   └── ou-root-bbbbbbbb: 200000000004
/// │       └── ou-root-cccccccc: 200000000005
/// └── ou-root-dddddddd: 200000000006
fn org() -> FakeOrg {
    FakeOrg::default()
        .account("r-root", MGMT, AccountState::Active)
        .account("r-root", "200000000001", AccountState::Active)
        .ou("r-root", "ou-root-aaaaaaaa")
        .ou("r-root", "ou-root-dddddddd")
        .account("ou-root-aaaaaaaa", "200000000002", AccountState::Active)
        .account("ou-root-aaaaaaaa", "200000000003", AccountState::Other("SUSPENDED".into()))
        .ou("ou-root-aaaaaaaa", "ou-root-bbbbbbbb")
        .account("ou-root-bbbbbbbb", "200000000004", AccountState::Active)
        .ou("ou-root-bbbbbbbb", "ou-root-cccccccc")
        .account("ou-root-cccccccc", "200000000005", AccountState::Active)
        .account("ou-root-dddddddd", "200000000006", AccountState::Active)
}

fn config(organization: &str) -> Config {
    let yaml = format!("organization:\n  management_account_id: '{MGMT}'\n{organization}");
    Config::from_yaml_str(&yaml, None).expect("valid test config")
}

async fn ids(org: &FakeOrg, config: &Config, request: &InventoryRequest) -> Vec<String> {
    select_accounts(Some(org), config, "999999999999", request).await.unwrap().into_iter().map(|a| a.id).collect()
}

#[tokio::test]
async fn whole_org_keeps_active_accounts_and_drops_management() {
    let got = ids(&org(), &config(""), &InventoryRequest::default()).await;
    assert_eq!(got, ["200000000001", "200000000002", "200000000004", "200000000005", "200000000006"]);
}

#[tokio::test]
async fn management_account_included_on_request() {
    let got = ids(&org(), &config("  include_management_account: true\n"), &InventoryRequest::default()).await;
    assert_eq!(got.first().map(String::as_str), Some(MGMT));
    assert_eq!(got.len(), 6);
}

#[tokio::test]
async fn target_ou_recurses_into_nested_ous() {
    let org = org();
    let got = ids(&org, &config("  target_ou_ids: [ou-root-aaaaaaaa]\n"), &InventoryRequest::default()).await;
    // 200000000003 is suspended; 4 and 5 are two and three levels down.
    assert_eq!(got, ["200000000002", "200000000004", "200000000005"]);
    assert!(!org.calls.borrow().contains(&"ListAccounts".to_string()), "OU mode must not list the whole org");
}

#[tokio::test]
async fn overlapping_target_ous_are_deduplicated() {
    let got =
        ids(&org(), &config("  target_ou_ids: [ou-root-aaaaaaaa, ou-root-bbbbbbbb]\n"), &InventoryRequest::default())
            .await;
    assert_eq!(got, ["200000000002", "200000000004", "200000000005"]);
}

#[tokio::test]
async fn exclude_ou_removes_its_whole_subtree() {
    let got = ids(&org(), &config("  exclude_ou_ids: [ou-root-bbbbbbbb]\n"), &InventoryRequest::default()).await;
    assert_eq!(got, ["200000000001", "200000000002", "200000000006"]);
}

#[tokio::test]
async fn include_and_exclude_account_lists() {
    let cfg = config(
        "  include_account_ids: ['200000000001', '200000000003', '200000000004']\n  exclude_ou_ids: [ou-root-bbbbbbbb]\n",
    );
    // 200000000003 is included but suspended; 200000000004 sits in an excluded OU.
    assert_eq!(ids(&org(), &cfg, &InventoryRequest::default()).await, ["200000000001"]);
    let cfg = config("  exclude_account_ids: ['200000000002', '200000000005']\n");
    assert_eq!(ids(&org(), &cfg, &InventoryRequest::default()).await, ["200000000001", "200000000004", "200000000006"]);
}

#[tokio::test]
async fn request_accounts_restrict_and_unknown_ones_fail() {
    let request = InventoryRequest { account_ids: vec!["200000000006".into()], ..Default::default() };
    assert_eq!(ids(&org(), &config(""), &request).await, ["200000000006"]);

    let request = InventoryRequest { account_ids: vec!["200000000003".into(), MGMT.into()], ..Default::default() };
    let err = select_accounts(Some(&org()), &config(""), "999999999999", &request).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "account(s) `200000000003`, `111111111111` not covered by this run (not in the organization, not active, or excluded by the config)"
    );
}

#[tokio::test]
async fn zero_accounts_is_a_valid_run() {
    let empty = FakeOrg::default().account("r-root", MGMT, AccountState::Active);
    let accounts = select_accounts(Some(&empty), &config(""), "999999999999", &InventoryRequest::default()).await;
    assert_eq!(accounts.unwrap(), vec![]);
    assert!(account_messages(&[], &InventoryRequest::default()).is_empty());
}

#[tokio::test]
async fn organizations_errors_fail_the_run() {
    let mut org = org();
    org.fail_parent = Some("ou-root-bbbbbbbb".into());
    let err = select_accounts(Some(&org), &config("  target_ou_ids: [ou-root-aaaaaaaa]\n"), MGMT, &Default::default())
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        "organizations `ListAccountsForParent` for `ou-root-bbbbbbbb` failed: TooManyRequestsException: rate exceeded"
    );
}

#[tokio::test]
async fn single_account_mode_audits_the_deployment_account() {
    let cfg = Config::from_yaml_str("mode: audit\n", None).unwrap();
    let accounts = select_accounts::<FakeOrg>(None, &cfg, "333333333333", &InventoryRequest::default()).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].id, "333333333333");
}

#[tokio::test]
async fn management_defaults_to_the_deployment_account() {
    let cfg = Config::from_yaml_str("organization: {}\n", None).unwrap();
    let got: Vec<String> = select_accounts(Some(&org()), &cfg, "200000000001", &InventoryRequest::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert!(!got.contains(&"200000000001".to_string()));
    assert!(got.contains(&MGMT.to_string()));
}

#[test]
fn messages_carry_run_id_and_request_options() {
    let accounts = vec![OrgAccount {
        id: "200000000001".into(),
        name: "dev".into(),
        email: Some("dev@example.com".into()),
        state: AccountState::Active,
    }];
    let request = InventoryRequest {
        run_id: "run-1".into(),
        dry_run: true,
        force_rotate: vec!["alice".into()],
        account_ids: vec![],
    };
    let messages = account_messages(&accounts, &request);
    assert_eq!(
        serde_json::to_value(&messages).unwrap(),
        serde_json::json!([{
            "run_id": "run-1", "account_id": "200000000001", "account_name": "dev",
            "account_email": "dev@example.com", "dry_run": true, "force_rotate": ["alice"]
        }])
    );
}

#[test]
fn a_qualified_forced_user_is_forced_in_its_account_only() {
    let account = |id: &str| OrgAccount { id: id.into(), name: id.into(), email: None, state: AccountState::Active };
    let request = InventoryRequest {
        force_rotate: vec!["200000000001/alice".into(), "bob".into(), "200000000002/carol".into()],
        ..InventoryRequest::default()
    };
    let messages = account_messages(&[account("200000000001"), account("200000000002")], &request);
    let forced: Vec<(&str, Vec<String>)> =
        messages.iter().map(|m| (m.account_id.as_str(), m.force_rotate.clone())).collect();
    assert_eq!(
        forced,
        vec![
            ("200000000001", vec!["alice".to_string(), "bob".to_string()]),
            ("200000000002", vec!["bob".to_string(), "carol".to_string()])
        ]
    );
}

#[test]
fn run_id_is_time_then_event_id() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-29T22:00:00Z").unwrap().to_utc();
    assert_eq!(run_id(at, "1a2b3c4d-5e6f-7a8b"), "20261129T220000Z-1a2b3c4d");
    assert_eq!(run_id(at, ""), "20261129T220000Z");
}

/// A queue that fails chosen entries a number of times, and records batches.
struct FlakyQueue {
    fail_times: RefCell<BTreeMap<String, usize>>,
    batches: RefCell<Vec<Vec<String>>>,
}

impl MessageQueue for FlakyQueue {
    async fn send_batch(&self, _queue_url: &str, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
        self.batches.borrow_mut().push(entries.iter().map(|e| e.body.clone()).collect());
        let mut failed = Vec::new();
        for e in entries {
            if let Some(n) = self.fail_times.borrow_mut().get_mut(&e.body) {
                if *n > 0 {
                    *n -= 1;
                    failed.push(e.id.clone());
                }
            }
        }
        Ok(failed)
    }
}

#[tokio::test]
async fn send_all_batches_by_ten_and_retries_failed_entries() {
    let queue = FlakyQueue {
        fail_times: RefCell::new(BTreeMap::from([("b3".to_string(), 2)])),
        batches: RefCell::new(Vec::new()),
    };
    let bodies: Vec<String> = (0..23).map(|i| format!("b{i}")).collect();
    send_all(&queue, "q", bodies).await.unwrap();
    let sizes: Vec<usize> = queue.batches.borrow().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 1, 1, 10, 3]);

    let stuck = FlakyQueue {
        fail_times: RefCell::new(BTreeMap::from([("b0".to_string(), 99)])),
        batches: RefCell::new(Vec::new()),
    };
    let err = send_all(&stuck, "https://sqs/q", vec!["b0".into()]).await.unwrap_err();
    assert_eq!(err.to_string(), "cannot send to queue `https://sqs/q`: 1 message(s) still failed after 3 attempts");
}
