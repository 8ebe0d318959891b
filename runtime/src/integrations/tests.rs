//! Unit tests of the integrations: the pure builders (findings and events
//! from a report) and the batching, retrying senders, on in-memory fakes.

use super::events::{account_events, run_completed, DetailType};
use super::findings::{account_findings, finding_id, Compliance, Label};
use super::*;
use crate::lifecycle::{ActionKind, Reason, Severity, UserStatus, Warning};
use crate::ports::{ErrorKind, PortError};
use crate::report::{AccountStatus, ActionReport, ActionResult, EffectiveMode, UserReport};
use std::sync::Mutex;

const ACCOUNT: &str = "200000000001";

fn at(day: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T06:00:00Z")).unwrap().to_utc()
}

fn action(key: &str, action: ActionKind, result: ActionResult) -> ActionReport {
    ActionReport { access_key_id: key.into(), action, reason: Reason::Expired, due: at(1), result }
}

fn critical(user: &str, key: &str, reason: Reason) -> Warning {
    Warning {
        account_id: ACCOUNT.into(),
        user_name: user.into(),
        access_key_id: key.into(),
        upcoming: None,
        reason,
        due: None,
        severity: Severity::Critical,
        message: format!("both active keys of {user} are expired: move them to one key"),
    }
}

fn user(name: &str, actions: Vec<ActionReport>, warnings: Vec<Warning>) -> UserReport {
    let status = if warnings.iter().any(|w| w.severity == Severity::Critical) {
        UserStatus::NeedsManualAction { reason: "move to one key".into() }
    } else {
        UserStatus::Managed
    };
    // Through serde, so fields other features add to the report take their defaults.
    let mut user: UserReport = serde_json::from_value(
        serde_json::json!({"user_name": name, "status": "managed", "actions": [], "warnings": []}),
    )
    .expect("a minimal user report");
    user.status = status;
    user.actions = actions;
    user.warnings = warnings;
    user
}

/// An account with one overdue (planned) key, one blocked key, one key
/// rotated, and one exempt user.
fn report(mode: EffectiveMode, rotate_result: ActionResult) -> AccountReport {
    let mut exempt = user("exempt", vec![], vec![]);
    exempt.status = UserStatus::Exempt { reason: "break-glass".into(), until: None };
    let mut report: AccountReport = serde_json::from_value(serde_json::json!({
        "run_id": "run-2", "account_id": ACCOUNT, "account_name": "dev", "mode": "audit", "status": "succeeded",
        "users": []
    }))
    .expect("a minimal account report");
    report.mode = mode;
    report.users = vec![
        user("alice", vec![action("AKIAALICE", ActionKind::Rotate, rotate_result)], vec![]),
        user("blocked", vec![], vec![critical("blocked", "AKIABLOCKED", Reason::BothKeysExpired)]),
        exempt,
    ];
    report
}

fn ctx<'a>(names: &'a rekey_config::Names, covered: &'a Covered) -> FindingContext<'a> {
    FindingContext { region: "eu-west-1", partition: "aws", names, now: at(20), covered }
}

fn open(user: &str, key: &str, reason: &str) -> OpenFinding {
    OpenFinding {
        id: finding_id(ACCOUNT, user, key),
        user_name: user.into(),
        access_key_id: key.into(),
        reason: reason.into(),
        created_at: at(2),
    }
}

#[test]
fn audit_mode_reports_overdue_and_blocked_keys_and_never_exempt_ones() {
    let names = rekey_config::Config::builtin_default().names();
    let covered = Covered::all();
    let found = account_findings(&report(EffectiveMode::Audit, ActionResult::Planned), &[], &ctx(&names, &covered));
    let summary: Vec<(&str, Compliance, Label, &str)> =
        found.iter().map(|f| (f.access_key_id.as_str(), f.compliance, f.severity, f.reason.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("AKIAALICE", Compliance::Failed, Label::Medium, "expired"),
            ("AKIABLOCKED", Compliance::Failed, Label::High, "both_keys_expired"),
        ]
    );
    let alice = &found[0];
    assert_eq!(alice.id, "rekey/200000000001/alice/AKIAALICE");
    assert_eq!((alice.created_at, alice.updated_at), (at(20), at(20)));
    assert!(alice.remediation.contains("Account_200000000001_User_alice_AccessKey"), "{}", alice.remediation);
    assert!(alice.remediation.contains("rekey rotate --account 200000000001 --force-user alice"));
    assert!(found[1].description.contains("move them to one key"));
}

#[test]
fn an_enforce_run_settles_what_it_fixed_and_keeps_the_rest_open() {
    let names = rekey_config::Config::builtin_default().names();
    let covered = Covered::all();
    let done = ActionResult::Done { new_access_key_id: Some("AKIANEW".into()) };
    let was_open = [
        open("alice", "AKIAALICE", "expired"),
        open("blocked", "AKIABLOCKED", "both_keys_expired"),
        open("exempt", "AKIAEXEMPT", "expired"),
        open("gone", "AKIAGONE", "expired"),
    ];
    let found = account_findings(&report(EffectiveMode::Enforce, done), &was_open, &ctx(&names, &covered));
    let by_key: BTreeMap<&str, (Compliance, &str)> =
        found.iter().map(|f| (f.access_key_id.as_str(), (f.compliance, f.description.as_str()))).collect();
    assert_eq!(by_key["AKIABLOCKED"].0, Compliance::Failed, "still blocked");
    assert_eq!(
        by_key["AKIAALICE"],
        (Compliance::Passed, "rekey rotated key AKIAALICE in run run-2: its replacement is in the user's secret.")
    );
    assert!(by_key["AKIAEXEMPT"].1.contains("exempt from rotation (break-glass)"));
    assert!(by_key["AKIAGONE"].1.contains("no longer exists"));
    assert_eq!(found.len(), 4);
    assert!(found.iter().all(|f| f.created_at == at(2)), "an update keeps the first import's time");
}

#[test]
fn users_this_run_could_not_read_or_did_not_cover_keep_their_findings() {
    let names = rekey_config::Config::builtin_default().names();
    let mut r = report(EffectiveMode::Audit, ActionResult::Planned);
    r.users[0].error = Some("iam `ListAccessKeys` throttled".into());
    let was_open = [open("alice", "AKIAALICE", "expired"), open("zed", "AKIAZED", "expired")];
    // This part covered the users up to `exempt`; `zed` is for the next part.
    let covered = Covered { after: None, through: Some("exempt".into()) };
    let found = account_findings(&r, &was_open, &ctx(&names, &covered));
    let keys: Vec<&str> = found.iter().map(|f| f.access_key_id.as_str()).collect();
    assert_eq!(keys, ["AKIABLOCKED"]);

    r.status = AccountStatus::Failed { error: "sts throttled".into() };
    assert!(account_findings(&r, &was_open, &ctx(&names, &Covered::all())).is_empty());
}

#[test]
fn events_name_each_executed_action_and_never_a_secret() {
    let done = ActionResult::Done { new_access_key_id: Some("AKIANEW".into()) };
    let mut r = report(EffectiveMode::Enforce, done);
    r.users[0].actions.push(action("AKIAOLD", ActionKind::Delete, ActionResult::Done { new_access_key_id: None }));
    r.users[0].actions.push(action(
        "AKIAOLD",
        ActionKind::RecordInactiveSeen,
        ActionResult::Done { new_access_key_id: None },
    ));
    let events = account_events(&r, at(20), |_| true);
    let types: Vec<DetailType> = events.iter().map(|e| e.detail_type).collect();
    assert_eq!(types, [DetailType::KeyRotated, DetailType::KeyDeleted, DetailType::ManualActionNeeded]);
    assert_eq!(
        events[0].detail,
        serde_json::json!({
            "run_id": "run-2", "account_id": ACCOUNT, "account_name": "dev", "user_name": "alice",
            "access_key_id": "AKIAALICE", "action": "rotate", "reason": "expired", "due": "2026-03-01T06:00:00Z",
            "new_access_key_id": "AKIANEW", "finding_id": "rekey/200000000001/alice/AKIAALICE"
        })
    );
    assert_eq!(events[2].detail["reason"], "both_keys_expired");
    // Audit mode executes nothing: only the warning.
    let audit = account_events(&report(EffectiveMode::Audit, ActionResult::Planned), at(20), |_| false);
    assert!(audit.is_empty());

    let done = run_completed("run-2", EffectiveMode::Enforce, &[r], 1, at(20));
    assert_eq!(done.detail_type.as_str(), "Run Completed");
    assert_eq!((done.detail["accounts"].as_u64(), done.detail["accounts_missing"].as_u64()), (Some(1), Some(1)));
    assert_eq!((done.detail["rotated"].as_u64(), done.detail["deleted"].as_u64()), (Some(1), Some(1)));
}

/// Security Hub in memory: findings by id, resolved ids, and scripted
/// trouble (calls throttled, ids refused once).
#[derive(Default)]
struct FakeHub {
    findings: Mutex<BTreeMap<String, Finding>>,
    resolved: Mutex<Vec<String>>,
    throttle_imports: Mutex<u32>,
    refuse_once: Mutex<Vec<String>>,
    batch_sizes: Mutex<Vec<usize>>,
}

impl FindingsSink for &FakeHub {
    async fn open_findings(&self, account_id: &str) -> PortResult<Vec<OpenFinding>> {
        let resolved = self.resolved.lock().unwrap().clone();
        Ok(self
            .findings
            .lock()
            .unwrap()
            .values()
            .filter(|f| f.account_id == account_id && f.compliance == Compliance::Failed && !resolved.contains(&f.id))
            .map(|f| OpenFinding {
                id: f.id.clone(),
                user_name: f.user_name.clone(),
                access_key_id: f.access_key_id.clone(),
                reason: f.reason.clone(),
                created_at: f.created_at,
            })
            .collect())
    }

    async fn import(&self, findings: &[Finding]) -> PortResult<Vec<EntryError>> {
        assert!(findings.len() <= findings::BATCH_LIMIT);
        self.batch_sizes.lock().unwrap().push(findings.len());
        {
            let mut throttle = self.throttle_imports.lock().unwrap();
            if *throttle > 0 {
                *throttle -= 1;
                return Err(PortError::new(
                    ErrorKind::Retryable,
                    "securityhub:BatchImportFindings",
                    ACCOUNT,
                    "ThrottlingException",
                ));
            }
        }
        let mut refused = Vec::new();
        for f in findings {
            let mut refuse = self.refuse_once.lock().unwrap();
            if let Some(i) = refuse.iter().position(|id| id == &f.id) {
                refuse.remove(i);
                refused.push(EntryError {
                    id: f.id.clone(),
                    code: "InternalException".into(),
                    message: "try again".into(),
                });
                continue;
            }
            self.findings.lock().unwrap().insert(f.id.clone(), f.clone());
            if f.compliance == Compliance::Failed {
                // A finding failing again is reopened, as Security Hub resets its workflow.
                self.resolved.lock().unwrap().retain(|id| id != &f.id);
            }
        }
        Ok(refused)
    }

    async fn resolve(&self, ids: &[String]) -> PortResult<Vec<EntryError>> {
        self.resolved.lock().unwrap().extend(ids.iter().cloned());
        Ok(Vec::new())
    }
}

struct HubAccounts<'a>(&'a FakeHub);
impl<'a> FindingsAccounts for HubAccounts<'a> {
    type Sink = &'a FakeHub;
    async fn open(&self, _: &str) -> PortResult<&'a FakeHub> {
        Ok(self.0)
    }
}

/// An event bus in memory that refuses the entries at the given positions of
/// its first call.
#[derive(Default)]
struct FakeBus {
    events: Mutex<Vec<Event>>,
    calls: Mutex<Vec<usize>>,
    refuse_first: Vec<usize>,
}

impl EventSink for &FakeBus {
    async fn put(&self, events: &[Event]) -> PortResult<Vec<Option<EntryError>>> {
        assert!(events.len() <= events::BATCH_LIMIT);
        let first = self.calls.lock().unwrap().is_empty();
        self.calls.lock().unwrap().push(events.len());
        Ok(events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                if first && self.refuse_first.contains(&i) {
                    Some(EntryError {
                        id: String::new(),
                        code: "ThrottlingException".into(),
                        message: "slow down".into(),
                    })
                } else {
                    self.events.lock().unwrap().push(e.clone());
                    None
                }
            })
            .collect())
    }
}

fn publisher<'a>(hub: &'a FakeHub, bus: &'a FakeBus) -> Publisher<HubAccounts<'a>, &'a FakeBus> {
    let config = rekey_config::Config::builtin_default();
    let mut p = Publisher::new(&config, Some(HubAccounts(hub)), Some(bus));
    p.retry = Retry { attempts: 3, pause: Duration::ZERO };
    p
}

#[tokio::test]
async fn runs_update_the_same_findings_and_announce_a_blocked_key_once() {
    let (hub, bus) = (FakeHub::default(), FakeBus::default());
    let p = publisher(&hub, &bus);
    let audit = p.account(&report(EffectiveMode::Audit, ActionResult::Planned), &Covered::all(), at(20)).await;
    assert_eq!((audit.failing, audit.resolved, audit.events, audit.errors.len()), (2, 0, 1, 0));
    let again = p.account(&report(EffectiveMode::Audit, ActionResult::Planned), &Covered::all(), at(21)).await;
    assert_eq!((again.failing, again.events), (2, 0), "the blocked key was announced already");
    assert_eq!(hub.findings.lock().unwrap().len(), 2, "updated, not duplicated");

    let done = ActionResult::Done { new_access_key_id: Some("AKIANEW".into()) };
    let enforce = p.account(&report(EffectiveMode::Enforce, done), &Covered::all(), at(22)).await;
    assert_eq!((enforce.failing, enforce.resolved, enforce.events), (1, 1, 1));
    assert_eq!(*hub.resolved.lock().unwrap(), [finding_id(ACCOUNT, "alice", "AKIAALICE")]);
    let alice = hub.findings.lock().unwrap()[&finding_id(ACCOUNT, "alice", "AKIAALICE")].clone();
    assert_eq!((alice.compliance, alice.created_at), (Compliance::Passed, at(20)));
}

#[tokio::test]
async fn findings_go_in_batches_of_100_through_throttling_and_refusals() {
    let (hub, bus) = (FakeHub::default(), FakeBus::default());
    *hub.throttle_imports.lock().unwrap() = 1;
    let mut r = report(EffectiveMode::Audit, ActionResult::Planned);
    r.users = (0..230)
        .map(|i| {
            user(
                &format!("u{i:03}"),
                vec![action(&format!("AKIA{i:03}"), ActionKind::Rotate, ActionResult::Planned)],
                vec![],
            )
        })
        .collect();
    *hub.refuse_once.lock().unwrap() = vec![finding_id(ACCOUNT, "u150", "AKIA150")];
    let out = publisher(&hub, &bus).account(&r, &Covered::all(), at(20)).await;
    assert_eq!((out.failing, out.errors.len()), (230, 0), "{:?}", out.errors);
    assert_eq!(hub.findings.lock().unwrap().len(), 230);
    // Throttled first batch, then 100 + 100 + 30, then the refused one again... all of the
    // throttled batch is sent again with the rest on the second attempt.
    assert!(hub.batch_sizes.lock().unwrap().iter().all(|&n| n <= 100));
}

#[tokio::test]
async fn events_go_in_batches_of_10_and_refused_entries_are_sent_again() {
    let bus = FakeBus { refuse_first: vec![3, 7], ..FakeBus::default() };
    let events: Vec<Event> =
        (0..23).map(|i| run_completed(&format!("run-{i}"), EffectiveMode::Audit, &[], 0, at(20))).collect();
    let (put, errors) = put_events(&&bus, events, Retry { attempts: 2, pause: Duration::ZERO }).await;
    assert_eq!((put, errors.len()), (23, 0));
    assert_eq!(*bus.calls.lock().unwrap(), [10, 10, 3, 2], "the two refused entries in one more call");
    let mut runs: Vec<String> =
        bus.events.lock().unwrap().iter().map(|e| e.detail["run_id"].as_str().unwrap().to_string()).collect();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 23, "each event once");

    let stubborn = FakeBus { refuse_first: vec![0], ..FakeBus::default() };
    let one = vec![run_completed("r", EffectiveMode::Audit, &[], 0, at(20))];
    let (put, errors) = put_events(&&stubborn, one, Retry { attempts: 1, pause: Duration::ZERO }).await;
    assert_eq!((put, errors), (0, vec!["event 0 not put: ThrottlingException: slow down".to_string()]));
}

#[tokio::test]
async fn a_dry_run_publishes_nothing() {
    let (hub, bus) = (FakeHub::default(), FakeBus::default());
    let message = crate::messages::AccountMessage {
        run_id: "run-2".into(),
        account_id: ACCOUNT.into(),
        account_name: "dev".into(),
        account_email: None,
        dry_run: true,
        force_rotate: vec![],
        resume_after_user: None,
        part: 0,
    };
    let r = report(EffectiveMode::Audit, ActionResult::Planned);
    assert_eq!(publish_part(&publisher(&hub, &bus), &message, &r, None, at(20)).await, None);
    assert!(hub.findings.lock().unwrap().is_empty() && bus.calls.lock().unwrap().is_empty());
    let message = crate::messages::AccountMessage { dry_run: false, ..message };
    assert!(publish_part(&publisher(&hub, &bus), &message, &r, None, at(20)).await.is_some());
    assert_eq!(hub.findings.lock().unwrap().len(), 2);
}
