//! The bulk audit of one account, with a bounded number of calls.
//!
//! Account-wide reads (a fixed number of calls whatever the user count,
//! apart from pagination):
//! - `GenerateCredentialReport` (polled until complete, backing off with
//!   jitter within a wait budget) and
//!   `GetCredentialReport`: every user's key count, status, age
//!   (`access_key_N_last_rotated`) and last use;
//! - `GetAccountAuthorizationDetails` (filter `User`, all pages): users,
//!   tags and group membership, hence every exemption-group member;
//! - `ListSecrets` filtered on `rekey:managed` (all pages): secrets with
//!   tags and version stages; in central storage also on the account's id
//!   as a tag value, so the pages read do not grow with the organization.
//!
//! Per-user reads happen only for users that need attention. Each user is
//! first planned from the report alone (the report has no key ids, so keys
//! get placeholder ids); only users whose plan has an action or a warning,
//! or who carry rekey records (inactive keys, rekey tags, an interrupted
//! rotation), or who are missing from the report, get `ListAccessKeys`
//! (+ `GetAccessKeyLastUsed` for a key the report does not show) and, for a
//! secret rekey did not write, `GetSecretValue` of its current and pending
//! versions. A user whose reads fail is recorded and the account goes on.
//! Up to `runtime.concurrency.users_per_account` users are read at once;
//! results are taken in user order, so the facts do not depend on it.

use super::record::{combined, records_of};
use super::{ACCOUNT_TAG, STAGE_CURRENT, STAGE_PENDING, VERSION_PREFIX};
use crate::lifecycle::{
    self, AccountFacts, KeyFacts, KeyStatus, Policy, SecretFacts, UserFacts, DEACTIVATED_TAG_PREFIX,
    SEEN_INACTIVE_TAG_PREFIX,
};
use crate::ports::{IamAccount, IamUser, PortError, PortResult, ReportState, SecretInfo, SecretStore};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rekey_config::Names;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Placeholder key id prefix for keys known only from the credential report.
pub const REPORT_KEY_PREFIX: &str = "report-key-";

/// What the audit needs to know.
#[derive(Debug)]
pub struct AuditContext<'a> {
    /// Account id.
    pub account_id: &'a str,
    /// Account name.
    pub account_name: &'a str,
    /// Account email.
    pub account_email: Option<&'a str>,
    /// Derived names (exemption group, secret names).
    pub names: &'a Names,
    /// The policy (to tell which users need per-user reads).
    pub policy: &'a Policy,
    /// The planning time.
    pub now: DateTime<Utc>,
    /// First pause between credential-report polls; each next one doubles,
    /// with jitter, up to [`MAX_POLL_PAUSE`].
    pub poll_interval: Duration,
    /// Maximum credential-report polls.
    pub poll_attempts: u32,
    /// Longest total pause waiting for the credential report ([`report_wait`]).
    pub report_wait: Duration,
    /// A continuation: users up to and including this name were handled by
    /// an earlier invocation and are left out (no per-user reads for them).
    pub after_user: Option<&'a str>,
    /// The secret store holds other accounts' secrets too (central storage).
    pub shared_store: bool,
    /// Users whose per-user reads run at once (`runtime.concurrency.users_per_account`).
    pub concurrency: usize,
}

/// Longest pause between two credential-report polls.
pub const MAX_POLL_PAUSE: Duration = Duration::from_secs(20);

/// Longest wait for the credential report, whatever the function's timeout.
pub const MAX_REPORT_WAIT: Duration = Duration::from_secs(120);

/// How long the audit waits for the credential report: a sixth of the
/// rotation function's timeout (the account's time budget, most of which is
/// left for the audit's other reads and the rotations), at most
/// [`MAX_REPORT_WAIT`].
pub fn report_wait(config: &rekey_config::Config) -> Duration {
    (Duration::from_secs(u64::from(config.lambda.timeout_seconds)) / 6).min(MAX_REPORT_WAIT)
}

/// The pause after poll number `attempt` (from 1): `first` doubled per poll
/// up to [`MAX_POLL_PAUSE`], of which the upper half is jitter drawn from
/// `seed` (the account id) and the attempt. Deterministic, yet accounts
/// audited at once (a run starts them together) do not poll IAM in step.
pub fn poll_pause(first: Duration, attempt: u32, seed: &str) -> Duration {
    let full = first.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(MAX_POLL_PAUSE);
    // FNV-1a: a stable hash, the same in every build.
    let hash = seed
        .bytes()
        .chain(attempt.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    let half = full / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(if jitter_nanos == 0 { 0 } else { hash % (jitter_nanos + 1) })
}

/// The audit's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audited {
    /// Facts of every user whose reads succeeded.
    pub facts: AccountFacts,
    /// Users whose reads failed, with the error.
    pub user_errors: BTreeMap<String, String>,
    /// Users that got per-user calls (for tests and the call budget).
    pub detailed_users: BTreeSet<String>,
}

/// One key slot of a credential-report row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportKey {
    /// `access_key_N_active`.
    pub active: bool,
    /// `access_key_N_last_rotated` (the key's CreateDate).
    pub created: DateTime<Utc>,
    /// `access_key_N_last_used_date`.
    pub last_used: Option<DateTime<Utc>>,
}

/// A credential-report row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    /// User ARN.
    pub arn: String,
    /// The user's keys (slots whose `last_rotated` is a date).
    pub keys: Vec<ReportKey>,
}

/// A report date column: a date, or `N/A` / `no_information` / `not_supported`.
fn report_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|d| d.with_timezone(&Utc))
}

/// Parses the credential report CSV into rows by user name (the root
/// account row is skipped).
pub fn parse_credential_report(csv_text: &str) -> Result<BTreeMap<String, ReportRow>, String> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("credential report: {e}"))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| format!("credential report has no `{name}` column"))
    };
    let user_col = col("user")?;
    let arn_col = col("arn")?;
    let slots = [
        (col("access_key_1_active")?, col("access_key_1_last_rotated")?, col("access_key_1_last_used_date")?),
        (col("access_key_2_active")?, col("access_key_2_last_rotated")?, col("access_key_2_last_used_date")?),
    ];
    let mut rows = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("credential report: {e}"))?;
        let user = record.get(user_col).unwrap_or_default();
        if user.is_empty() || user == "<root_account>" {
            continue;
        }
        let keys = slots
            .iter()
            .filter_map(|&(active, rotated, used)| {
                Some(ReportKey {
                    active: record.get(active) == Some("true"),
                    created: report_date(record.get(rotated)?)?,
                    last_used: record.get(used).and_then(report_date),
                })
            })
            .collect();
        rows.insert(user.to_string(), ReportRow { arn: record.get(arn_col).unwrap_or_default().to_string(), keys });
    }
    Ok(rows)
}

/// Generates and reads the credential report ([`wait_for_report`] with
/// the context's poll settings).
async fn credential_report<I: IamAccount>(iam: &I, ctx: &AuditContext<'_>) -> PortResult<BTreeMap<String, ReportRow>> {
    wait_for_report(iam, ctx.account_id, ctx.poll_interval, ctx.poll_attempts, ctx.report_wait).await?;
    let text = iam.credential_report().await?;
    parse_credential_report(&text)
        .map_err(|e| PortError::new(crate::ports::ErrorKind::Other, "iam:GetCredentialReport", ctx.account_id, e))
}

/// Polls `GenerateCredentialReport` until the report is complete, pausing
/// [`poll_pause`] (from `first_pause`, doubling, with jitter) between polls,
/// for at most `wait_budget` of pauses and `max_polls` polls. A report still
/// generating then fails the account as retryable, saying why: reading it
/// would fail with a less telling `ReportInProgress`, and the account is
/// processed again on its message's next delivery.
pub async fn wait_for_report<I: IamAccount>(
    iam: &I,
    account_id: &str,
    first_pause: Duration,
    max_polls: u32,
    wait_budget: Duration,
) -> PortResult<()> {
    let mut waited = Duration::ZERO;
    let mut polls = 0;
    while iam.generate_credential_report().await? != ReportState::Complete {
        polls += 1;
        let out_of_time = waited >= wait_budget && !first_pause.is_zero();
        if polls >= max_polls.max(1) || out_of_time {
            return Err(PortError::new(
                crate::ports::ErrorKind::Retryable,
                "iam:GenerateCredentialReport",
                account_id,
                format!(
                    "IAM credential report still generating after {} s ({polls} polls); retried on the next attempt",
                    waited.as_secs()
                ),
            ));
        }
        let pause = poll_pause(first_pause, polls, account_id).min(wait_budget.saturating_sub(waited));
        tokio::time::sleep(pause).await;
        waited += pause;
    }
    Ok(())
}

/// The key id a version id names, when rekey wrote the version.
fn key_of_version(version_id: &str) -> Option<String> {
    version_id.strip_prefix(VERSION_PREFIX).map(str::to_string)
}

/// The versions holding AWSCURRENT and (not yet promoted) AWSPENDING.
///
/// Secrets Manager puts AWSCURRENT on a secret's first version by itself, so
/// a first rotation's key is current before it was verified. While the
/// rotation is recorded as in flight (`in_flight`: the secret carries a
/// `rekey:rotation-started` record), a version carrying AWSPENDING counts as
/// pending even if it is also current: the next run then verifies and
/// finishes it instead of taking it as done.
fn current_and_pending(info: &SecretInfo, in_flight: bool) -> (Option<&str>, Option<&str>) {
    let current = info.version_with(STAGE_CURRENT);
    let pending = info.version_with(STAGE_PENDING);
    match (current, pending) {
        (Some(c), Some(p)) if c == p && in_flight => (None, Some(p)),
        (Some(c), Some(p)) if c == p => (Some(c), None),
        other => other,
    }
}

/// Secret facts from the listing alone (no value reads).
fn secret_facts(info: &SecretInfo) -> SecretFacts {
    let records = records_of(&info.tags);
    let (current_version, pending_version) = current_and_pending(info, !records.is_empty());
    let record = combined(&records);
    SecretFacts {
        arn: info.arn.clone(),
        current_key_id: current_version.and_then(key_of_version),
        pending_key_id: pending_version.and_then(key_of_version),
        rotation_started: record.as_ref().map(|r| r.started),
        rotation_lease_until: record.as_ref().filter(|r| r.owner.is_some()).map(|r| r.expires),
        rotation_owner: record.as_ref().and_then(|r| r.owner.clone()),
        keys_before_rotation: record.and_then(|r| r.known_keys),
        rotation_record_tags: records.into_iter().map(|(key, _)| key).collect(),
    }
}

/// Fills key ids of versions rekey did not write (e.g. secrets of the
/// reference solution) by reading their values.
async fn complete_secret_facts<S: SecretStore>(
    secrets: &S,
    info: &SecretInfo,
    facts: &mut SecretFacts,
) -> PortResult<()> {
    // The facts were made from the same listing: their records are its records.
    let (current_version, pending_version) = current_and_pending(info, !facts.rotation_record_tags.is_empty());
    for (version, slot) in [(current_version, &mut facts.current_key_id), (pending_version, &mut facts.pending_key_id)]
    {
        if let (Some(version), None) = (version, slot.as_ref()) {
            let value = secrets.get_version(&info.arn, version).await?;
            *slot = serde_json::from_str::<serde_json::Value>(value.expose())
                .ok()
                .and_then(|v| v.get("AccessKeyId").and_then(|k| k.as_str()).map(str::to_string));
        }
    }
    Ok(())
}

/// Reads everything the planner needs about the account.
pub async fn audit<I: IamAccount, S: SecretStore>(iam: &I, secrets: &S, ctx: &AuditContext<'_>) -> PortResult<Audited> {
    let report = credential_report(iam, ctx).await?;
    let users = iam.users().await?;
    // A shared (central) store is asked for this account's secrets only.
    let shared_store = ctx.shared_store.then_some(ctx.account_id);
    let secret_list: Vec<SecretInfo> = secrets
        .list_managed(shared_store)
        .await?
        .into_iter()
        // In central storage one store holds every account's secrets.
        .filter(|s| s.tags.get(ACCOUNT_TAG).is_none_or(|a| a == ctx.account_id))
        .collect();
    let secrets_by_name: BTreeMap<&str, &SecretInfo> = secret_list.iter().map(|s| (s.name.as_str(), s)).collect();
    let group = &ctx.names.exemption_group;

    // Phase 1: every user from the bulk data, keys with placeholder ids.
    let mut facts = AccountFacts {
        account_id: ctx.account_id.to_string(),
        account_name: ctx.account_name.to_string(),
        account_email: ctx.account_email.map(str::to_string),
        users: Vec::new(),
    };
    let mut infos: BTreeMap<String, &SecretInfo> = BTreeMap::new();
    for user in users.iter().filter(|u| ctx.after_user.is_none_or(|after| u.user_name.as_str() > after)) {
        let secret_name = ctx.names.secret_name(ctx.account_id, &user.user_name);
        let secret = secrets_by_name.get(secret_name.as_str()).copied();
        if let Some(info) = secret {
            infos.insert(user.user_name.clone(), info);
        }
        facts.users.push(bulk_user_facts(user, report.get(&user.user_name), secret, group));
    }
    let preliminary = lifecycle::plan(&facts, ctx.policy, ctx.now);
    let attention: BTreeSet<String> = preliminary
        .users
        .iter()
        .filter(|p| !p.actions.is_empty() || !p.warnings.is_empty())
        .map(|p| p.user_name.clone())
        .collect();

    // Phase 2: real key ids (and legacy secret values) for users that need them.
    let mut audited = Audited { facts: facts.clone(), user_errors: BTreeMap::new(), detailed_users: BTreeSet::new() };
    audited.facts.users.clear();
    // Up to `concurrency` users are read at once; `buffered` hands the
    // results back in user order, so the facts are the same as one by one.
    let read = |mut user: UserFacts| {
        let row = report.get(&user.user_name);
        let needs_detail = attention.contains(&user.user_name) || has_records(&user) || row.is_none();
        let info = infos.get(&user.user_name).copied();
        async move {
            let outcome = match needs_detail {
                true => Some(detail(iam, secrets, &mut user, row, info).await),
                false => None,
            };
            (user, outcome)
        }
    };
    let mut reads = futures::stream::iter(facts.users).map(read).buffered(ctx.concurrency.max(1));
    while let Some((user, outcome)) = reads.next().await {
        if outcome.is_some() {
            audited.detailed_users.insert(user.user_name.clone());
        }
        match outcome {
            Some(Err(e)) => {
                audited.user_errors.insert(user.user_name.clone(), e.to_string());
            }
            Some(Ok(())) | None => audited.facts.users.push(user),
        }
    }
    Ok(audited)
}

/// A user's facts from the bulk reads only.
fn bulk_user_facts(user: &IamUser, row: Option<&ReportRow>, secret: Option<&SecretInfo>, group: &str) -> UserFacts {
    let keys = row
        .map(|r| {
            r.keys
                .iter()
                .enumerate()
                .map(|(i, k)| KeyFacts {
                    access_key_id: format!("{REPORT_KEY_PREFIX}{}", i + 1),
                    status: if k.active { KeyStatus::Active } else { KeyStatus::Inactive },
                    created: k.created,
                    last_used: k.last_used,
                })
                .collect()
        })
        .unwrap_or_default();
    UserFacts {
        user_name: user.user_name.clone(),
        user_arn: user.arn.clone(),
        keys,
        tags: user.tags.clone(),
        in_exemption_group: user.groups.iter().any(|g| g == group),
        secret: secret.map(secret_facts),
    }
}

/// Whether the user carries state whose meaning depends on real key ids.
fn has_records(user: &UserFacts) -> bool {
    let secret_busy = user.secret.as_ref().is_some_and(|s| s.rotation_started.is_some() || s.pending_key_id.is_some());
    let tagged =
        user.tags.keys().any(|k| k.starts_with(DEACTIVATED_TAG_PREFIX) || k.starts_with(SEEN_INACTIVE_TAG_PREFIX));
    let inactive = user.keys.iter().any(|k| k.status == KeyStatus::Inactive);
    secret_busy || tagged || inactive
}

/// Replaces placeholder keys by the real ones (`ListAccessKeys`), taking
/// last use from the report where the creation time matches, else from
/// `GetAccessKeyLastUsed`.
async fn detail<I: IamAccount, S: SecretStore>(
    iam: &I,
    secrets: &S,
    user: &mut UserFacts,
    row: Option<&ReportRow>,
    info: Option<&SecretInfo>,
) -> PortResult<()> {
    let listed = iam.list_access_keys(&user.user_name).await?;
    let mut keys = Vec::with_capacity(listed.len());
    for k in listed {
        let from_report = row.and_then(|r| r.keys.iter().find(|rk| rk.created.timestamp() == k.created.timestamp()));
        let last_used = match from_report {
            Some(rk) => rk.last_used,
            None => iam.access_key_last_used(&k.access_key_id).await?,
        };
        keys.push(KeyFacts { access_key_id: k.access_key_id, status: k.status, created: k.created, last_used });
    }
    user.keys = keys;
    if let (Some(info), Some(facts)) = (info, user.secret.as_mut()) {
        complete_secret_facts(secrets, info, facts).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::ROTATION_STARTED_TAG;

    const REPORT: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::111111111111:root,2020-01-01T00:00:00+00:00,not_supported,2020-01-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
alice,arn:aws:iam::111111111111:user/alice,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-01-02T03:04:05+00:00,N/A,N/A,N/A,false,2026-02-01T00:00:00+00:00,2026-02-03T00:00:00+00:00,us-east-1,iam,false,N/A,false,N/A
bob,arn:aws:iam::111111111111:user/bob,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
";

    #[test]
    fn credential_report_rows_give_keys_without_the_root_row() {
        let rows = parse_credential_report(REPORT).expect("parses");
        assert_eq!(rows.keys().collect::<Vec<_>>(), ["alice", "bob"]);
        let alice = &rows["alice"];
        assert_eq!(alice.keys.len(), 2);
        assert!(alice.keys[0].active);
        assert_eq!(alice.keys[0].created.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert_eq!(alice.keys[0].last_used, None);
        assert!(!alice.keys[1].active);
        assert_eq!(alice.keys[1].last_used.map(|d| d.to_rfc3339()), Some("2026-02-03T00:00:00+00:00".into()));
        assert!(rows["bob"].keys.is_empty());
    }

    #[test]
    fn a_report_without_key_columns_is_an_error_naming_the_column() {
        let err = parse_credential_report("user,arn\nalice,arn:x\n").unwrap_err();
        assert!(err.contains("`access_key_1_active`"), "{err}");
    }

    #[test]
    fn secret_facts_come_from_version_ids() {
        let info = SecretInfo {
            name: "s".into(),
            arn: "arn:s".into(),
            tags: [(ROTATION_STARTED_TAG.to_string(), "2026-03-01T00:00:00+00:00".to_string())].into(),
            versions: [
                ("rekey-access-key-AKIAOLD".to_string(), vec![STAGE_CURRENT.to_string()]),
                ("rekey-access-key-AKIANEW".to_string(), vec![STAGE_PENDING.to_string()]),
            ]
            .into(),
            replica_regions: vec![],
            deleted_date: None,
        };
        let f = secret_facts(&info);
        assert_eq!(f.current_key_id.as_deref(), Some("AKIAOLD"));
        assert_eq!(f.pending_key_id.as_deref(), Some("AKIANEW"));
        assert!(f.rotation_started.is_some());
    }

    /// An IAM account whose credential report is ready after `ready_after`
    /// polls (never, when `None`); it records when each poll came.
    struct SlowReportIam {
        ready_after: Option<usize>,
        polls: std::sync::Mutex<Vec<tokio::time::Instant>>,
    }
    impl SlowReportIam {
        fn new(ready_after: Option<usize>) -> Self {
            SlowReportIam { ready_after, polls: std::sync::Mutex::new(Vec::new()) }
        }
        /// The pauses between polls.
        fn gaps(&self) -> Vec<Duration> {
            self.polls.lock().unwrap().windows(2).map(|w| w[1] - w[0]).collect()
        }
    }
    impl IamAccount for SlowReportIam {
        async fn generate_credential_report(&self) -> PortResult<ReportState> {
            let mut polls = self.polls.lock().unwrap();
            polls.push(tokio::time::Instant::now());
            Ok(if self.ready_after.is_some_and(|n| polls.len() >= n) {
                ReportState::Complete
            } else {
                ReportState::InProgress
            })
        }
        async fn credential_report(&self) -> PortResult<String> {
            Ok(REPORT.to_string())
        }
        async fn users(&self) -> PortResult<Vec<IamUser>> {
            unreachable!("only the report is read")
        }
        async fn list_access_keys(&self, _: &str) -> PortResult<Vec<crate::ports::AccessKeyInfo>> {
            unreachable!("only the report is read")
        }
        async fn access_key_last_used(&self, _: &str) -> PortResult<Option<DateTime<Utc>>> {
            unreachable!("only the report is read")
        }
        async fn create_access_key(&self, _: &str) -> PortResult<crate::ports::NewAccessKey> {
            unreachable!("only the report is read")
        }
        async fn set_access_key_status(&self, _: &str, _: &str, _: KeyStatus) -> PortResult<()> {
            unreachable!("only the report is read")
        }
        async fn delete_access_key(&self, _: &str, _: &str) -> PortResult<()> {
            unreachable!("only the report is read")
        }
        async fn tag_user(&self, _: &str, _: &BTreeMap<String, String>) -> PortResult<()> {
            unreachable!("only the report is read")
        }
        async fn untag_user(&self, _: &str, _: &[String]) -> PortResult<()> {
            unreachable!("only the report is read")
        }
    }

    const TWO_S: Duration = Duration::from_secs(2);
    const BUDGET: Duration = Duration::from_secs(120);

    /// Regression (issue 8, defect 6): the poll gave up after 15 polls at a
    /// fixed 2 s, then read the unfinished report and failed the account with
    /// IAM's `ReportInProgress`. Now it backs off with jitter for the whole
    /// wait budget and fails as retryable, saying why.
    #[tokio::test(start_paused = true)]
    async fn a_report_still_generating_after_the_wait_budget_fails_as_retryable_saying_why() {
        let iam = SlowReportIam::new(None);
        let started = tokio::time::Instant::now();
        let err = wait_for_report(&iam, "111111111111", TWO_S, 60, BUDGET).await.unwrap_err();
        // Tokio's timer rounds each sleep up to the millisecond.
        let waited = started.elapsed();
        assert!(
            waited >= BUDGET && waited < BUDGET + Duration::from_millis(50),
            "the whole budget, no more: {waited:?}"
        );
        assert_eq!(err.kind, crate::ports::ErrorKind::Retryable);
        let polls = iam.polls.lock().unwrap().len();
        assert_eq!(
            err.to_string(),
            format!(
                "iam:GenerateCredentialReport on `111111111111` failed (retryable): IAM credential report still \
                 generating after 120 s ({polls} polls); retried on the next attempt"
            )
        );
        let gaps = iam.gaps();
        assert!(polls < 15, "backing off polls less often than every 2 s: {polls}");
        assert!((Duration::from_secs(1)..=TWO_S).contains(&gaps[0]), "{gaps:?}");
        for (i, pair) in gaps.windows(2).enumerate().take(gaps.len().saturating_sub(2)) {
            assert!(pair[1] >= pair[0] / 2 && pair[1] <= MAX_POLL_PAUSE, "pause {i}: {gaps:?}");
        }
        assert!(gaps.iter().rev().skip(1).any(|g| *g > Duration::from_secs(10)), "the pauses grew: {gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_jitter_is_deterministic_per_account_and_differs_between_accounts() {
        let run = |account: &'static str| async move {
            let iam = SlowReportIam::new(None);
            let _ = wait_for_report(&iam, account, TWO_S, 60, BUDGET).await;
            iam.gaps()
        };
        let a = run("111111111111").await;
        assert_eq!(a, run("111111111111").await, "the same account pauses the same way");
        assert_ne!(a, run("222222222222").await, "accounts started together do not poll in step");
        for attempt in 1..10 {
            let p = poll_pause(TWO_S, attempt, "111111111111");
            let full = (TWO_S * (1 << (attempt - 1))).min(MAX_POLL_PAUSE);
            assert!(p >= full / 2 && p <= full, "attempt {attempt}: {p:?} of {full:?}");
        }
        assert_eq!(poll_pause(Duration::ZERO, 3, "111111111111"), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_ready_within_the_budget_is_read_and_the_poll_bound_still_holds() {
        let iam = SlowReportIam::new(Some(4));
        wait_for_report(&iam, "111111111111", TWO_S, 60, BUDGET).await.unwrap();
        assert_eq!(iam.polls.lock().unwrap().len(), 4);
        // Without pauses (unit tests of the executor), the poll bound ends the wait.
        let stuck = SlowReportIam::new(None);
        let err = wait_for_report(&stuck, "111111111111", Duration::ZERO, 3, BUDGET).await.unwrap_err();
        assert_eq!(stuck.polls.lock().unwrap().len(), 3);
        assert!(err.to_string().contains("still generating after 0 s (3 polls)"), "{err}");
    }

    #[test]
    fn the_report_wait_is_a_sixth_of_the_function_timeout_at_most_two_minutes() {
        let config = |timeout: u32| {
            rekey_config::Config::from_yaml_str(&format!("lambda:\n  timeout_seconds: {timeout}\n"), None).unwrap()
        };
        assert_eq!(report_wait(&config(900)), MAX_REPORT_WAIT);
        assert_eq!(report_wait(&config(300)), Duration::from_secs(50));
        assert_eq!(report_wait(&config(60)), Duration::from_secs(10));
    }
}
