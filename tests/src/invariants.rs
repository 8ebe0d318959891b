//! The rotation's safety invariants, checked over moto's real state (read
//! with the SDK straight from moto, never from rekey's report), and the
//! per-user "shape" two runs are compared by.
//!
//! After every run, for every user:
//! - [`Invariant::LostLastActiveKey`]: a user who had an active key before
//!   the run still has one;
//! - [`Invariant::TooManyKeys`]: at most 2 keys;
//! - [`Invariant::OrphanKey`]: no active key rekey created (as the fault
//!   proxy recorded moto creating it) is missing from the user's secret,
//!   unless a secret's in-flight record (`rekey:rotation-started/<run>`) is there;
//! - [`Invariant::CurrentNotActive`]: the secret's `AWSCURRENT` version
//!   holds an existing, active key of the user;
//! - [`Invariant::TwoKeysForOneRotation`]: at most one key rekey created
//!   survives (the tests span hours, so each user is rotated at most once);
//! - [`Invariant::RecordLost`]: a key rekey deactivated keeps its
//!   `rekey:deactivated:<id>` record while it exists.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The secret tag of a rotation in flight: each run writes
/// `rekey:rotation-started/<run>`; earlier versions wrote the bare key.
pub const IN_FLIGHT_TAG: &str = "rekey:rotation-started";

/// A rotation record among a secret's tags (the first, if several runs left one).
pub fn in_flight_record(tags: &BTreeMap<String, String>) -> Option<InFlightRecord> {
    tags.iter()
        .find(|(key, _)| key.strip_prefix(IN_FLIGHT_TAG).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
        .map(|(_, value)| InFlightRecord::parse(value))
}
/// Prefix of the user tag recording a deactivation by rekey.
pub const DEACTIVATED_PREFIX: &str = "rekey:deactivated:";
/// Prefix of the version ids rekey writes (the rest is the key id).
pub const VERSION_PREFIX: &str = "rekey-access-key-";

/// One access key as IAM reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    /// The key id.
    pub id: String,
    /// Active (else inactive).
    pub active: bool,
    /// IAM's creation date.
    pub created: DateTime<Utc>,
}

/// The value of the in-flight record: `"<started> <owner> <expires> <keys>"`,
/// or a bare RFC 3339 start time (records of earlier rekey versions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlightRecord {
    /// The tag's value as found.
    pub raw: String,
    /// The start time, when the value parses.
    pub started: Option<DateTime<Utc>>,
    /// The run holding the lease (new format only).
    pub owner: Option<String>,
    /// The key ids the user had before the rotation's key (new format only).
    pub known_keys: Option<Vec<String>>,
}

impl InFlightRecord {
    /// Parses either format; any value counts as a record being present.
    pub fn parse(raw: &str) -> InFlightRecord {
        let time = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc));
        let parts: Vec<&str> = raw.split_whitespace().collect();
        InFlightRecord {
            raw: raw.to_string(),
            started: parts.first().and_then(|s| time(s)),
            owner: parts.get(1).map(|s| s.to_string()),
            known_keys: parts.get(3).map(|k| match *k {
                "-" => Vec::new(),
                keys => keys.split('+').map(str::to_string).collect(),
            }),
        }
    }
}

/// A user's secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretState {
    /// The secret's tags.
    pub tags: BTreeMap<String, String>,
    /// Version id → staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
    /// The key id in the `AWSCURRENT` version's value (read with
    /// `VersionStage=AWSCURRENT` explicitly: moto answers another version
    /// when no stage is given), when the secret has that stage.
    pub current_key: Option<String>,
    /// Whether the secret has an `AWSCURRENT` version at all.
    pub has_current: bool,
    /// The in-flight record, if present.
    pub in_flight: Option<InFlightRecord>,
}

impl SecretState {
    /// Whether the secret stores `key_id` in some version.
    pub fn stores(&self, key_id: &str) -> bool {
        self.current_key.as_deref() == Some(key_id) || self.versions.contains_key(&format!("{VERSION_PREFIX}{key_id}"))
    }
}

/// One user's keys, tags and secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserState {
    /// Keys, oldest first.
    pub keys: Vec<KeyState>,
    /// The user's tags.
    pub tags: BTreeMap<String, String>,
    /// The user's secret, if it exists.
    pub secret: Option<SecretState>,
}

impl UserState {
    fn active(&self) -> usize {
        self.keys.iter().filter(|k| k.active).count()
    }

    fn key(&self, id: &str) -> Option<&KeyState> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// Every user of an account, by name.
pub type AccountState = BTreeMap<String, UserState>;

/// Reads `account`'s users, keys, user tags and secrets (member storage:
/// the secrets live in the account) with `sdk` acting in the account,
/// straight from moto. `secret_name` gives a user's secret name.
pub async fn read_account(sdk: &SdkConfig, secret_name: impl Fn(&str) -> String) -> AccountState {
    let iam = aws_sdk_iam::Client::new(sdk);
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let mut users = Vec::new();
    let mut pages = iam.list_users().into_paginator().send();
    while let Some(page) = pages.next().await {
        users.extend(page.expect("list users").users().iter().map(|u| u.user_name().to_string()));
    }
    let mut secrets = BTreeMap::new();
    let mut pages = sm.list_secrets().into_paginator().send();
    while let Some(page) = pages.next().await {
        for s in page.expect("list secrets").secret_list() {
            secrets.insert(s.name().unwrap_or_default().to_string(), s.clone());
        }
    }
    let reads = users.into_iter().map(|user| {
        let (iam, sm) = (iam.clone(), sm.clone());
        let listed = secrets.get(&secret_name(&user)).cloned();
        async move {
            let out = iam.list_access_keys().user_name(&user).send().await.expect("list keys");
            let mut keys: Vec<KeyState> = out
                .access_key_metadata()
                .iter()
                .map(|k| KeyState {
                    id: k.access_key_id().unwrap_or_default().to_string(),
                    active: k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
                    created: k
                        .create_date()
                        .and_then(|d| DateTime::from_timestamp(d.secs(), d.subsec_nanos()))
                        .unwrap_or_default(),
                })
                .collect();
            keys.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
            let tags = iam.list_user_tags().user_name(&user).send().await.expect("list user tags");
            let tags = tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            let secret = match listed {
                None => None,
                Some(s) => Some(secret_state(&sm, &s).await),
            };
            (user, UserState { keys, tags, secret })
        }
    });
    stream::iter(reads).buffer_unordered(8).collect().await
}

async fn secret_state(
    sm: &aws_sdk_secretsmanager::Client,
    listed: &aws_sdk_secretsmanager::types::SecretListEntry,
) -> SecretState {
    let name = listed.name().unwrap_or_default();
    let tags: BTreeMap<String, String> = listed
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect();
    let versions: BTreeMap<String, Vec<String>> =
        listed.secret_versions_to_stages().cloned().unwrap_or_default().into_iter().collect();
    let has_current = versions.values().any(|stages| stages.iter().any(|s| s == "AWSCURRENT"));
    let current_key = if has_current {
        let out = sm.get_secret_value().secret_id(name).version_stage("AWSCURRENT").send().await.ok();
        out.and_then(|o| o.secret_string().map(str::to_string))
            .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
            .and_then(|v| v["AccessKeyId"].as_str().map(str::to_string))
    } else {
        None
    };
    let in_flight = in_flight_record(&tags);
    SecretState { tags, versions, current_key, has_current, in_flight }
}

/// Which invariant a state broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// A user with an active key before the run has none after it.
    LostLastActiveKey,
    /// More than two keys.
    TooManyKeys,
    /// An active key rekey created is in no secret, and no in-flight record says why.
    OrphanKey,
    /// The secret's `AWSCURRENT` holds no existing active key of the user.
    CurrentNotActive,
    /// Two keys rekey created for the user both exist.
    TwoKeysForOneRotation,
    /// A key rekey deactivated lost its `rekey:deactivated:<id>` record.
    RecordLost,
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The account.
    pub account: String,
    /// The user.
    pub user: String,
    /// What broke.
    pub invariant: Invariant,
    /// The evidence.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}: {:?}: {}", self.account, self.user, self.invariant, self.detail)
    }
}

/// Where a key came from, relative to the keys the test seeded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// The user's n-th seeded key (oldest first).
    Seeded(usize),
    /// A key created during the test.
    New,
    /// A key id that no longer exists (e.g. in a secret).
    Gone,
}

/// What two end states are compared by: key origins and statuses, which key
/// the secret's `AWSCURRENT` holds, and which records exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserShape {
    /// `(origin, active)`, sorted.
    pub keys: Vec<(Origin, bool)>,
    /// Whether the user has a secret.
    pub has_secret: bool,
    /// The origin of the key in `AWSCURRENT`.
    pub current: Option<Origin>,
    /// rekey's records: `deactivated:<origin>`, `seen-inactive:<origin>`, `in-flight`.
    pub records: BTreeSet<String>,
}

/// The invariant checker of one account across a test's runs: remembers the
/// seeded keys (for shapes) and the keys rekey deactivated (whose records
/// must stay).
#[derive(Clone, Debug)]
pub struct Tracker {
    account: String,
    seeded: BTreeMap<String, Vec<String>>,
    deactivated: BTreeSet<(String, String)>,
}

impl Tracker {
    /// Starts from the seeded state: its keys are the seeded ones, and its
    /// inactive keys with a deactivation record are rekey's.
    pub fn new(account: &str, seeded: &AccountState) -> Tracker {
        let mut deactivated = BTreeSet::new();
        for (user, state) in seeded {
            for k in state.keys.iter().filter(|k| !k.active) {
                if state.tags.contains_key(&format!("{DEACTIVATED_PREFIX}{}", k.id)) {
                    deactivated.insert((user.clone(), k.id.clone()));
                }
            }
        }
        Tracker {
            account: account.to_string(),
            seeded: seeded.iter().map(|(u, s)| (u.clone(), s.keys.iter().map(|k| k.id.clone()).collect())).collect(),
            deactivated,
        }
    }

    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Checks `after` (a run's end state) against `before` (its start
    /// state); `created` are the keys moto created for rekey in this
    /// account, by user (from the fault proxy), since the test began.
    pub fn check(
        &mut self,
        before: &AccountState,
        after: &AccountState,
        created: &BTreeMap<String, Vec<String>>,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        for (user, now) in after {
            let mut broke = |invariant, detail: String| {
                out.push(Violation { account: self.account.clone(), user: user.clone(), invariant, detail })
            };
            let was = before.get(user);
            if was.is_some_and(|w| w.active() > 0) && now.active() == 0 {
                broke(
                    Invariant::LostLastActiveKey,
                    format!("keys before {:?}, after {:?}", keys(was), keys(Some(now))),
                );
            }
            if now.keys.len() > 2 {
                broke(Invariant::TooManyKeys, format!("{:?}", keys(Some(now))));
            }
            let ours: Vec<&str> = created.get(user).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
            for k in now.keys.iter().filter(|k| k.active && ours.contains(&k.id.as_str())) {
                let stored = now.secret.as_ref().is_some_and(|s| s.stores(&k.id));
                let recorded = now.secret.as_ref().is_some_and(|s| s.in_flight.is_some());
                if !stored && !recorded {
                    broke(
                        Invariant::OrphanKey,
                        format!(
                            "active key `{}` created by rekey is in no secret version and no in-flight record \
                             (secret: {})",
                            k.id,
                            describe_secret(now.secret.as_ref())
                        ),
                    );
                }
            }
            if let Some(secret) = now.secret.as_ref().filter(|s| s.has_current) {
                let ok = secret.current_key.as_deref().and_then(|id| now.key(id)).is_some_and(|k| k.active);
                if !ok {
                    broke(
                        Invariant::CurrentNotActive,
                        format!(
                            "AWSCURRENT holds {:?}; keys {:?}",
                            secret.current_key.as_deref().unwrap_or("no readable key id"),
                            keys(Some(now))
                        ),
                    );
                }
            }
            let surviving: Vec<&str> = now.keys.iter().map(|k| k.id.as_str()).filter(|id| ours.contains(id)).collect();
            if surviving.len() > 1 {
                broke(Invariant::TwoKeysForOneRotation, format!("rekey-created keys {surviving:?} all exist"));
            }
            // Keys this run deactivated are rekey's from now on.
            for k in now.keys.iter().filter(|k| !k.active) {
                if was.and_then(|w| w.key(&k.id)).is_some_and(|w| w.active) || ours.contains(&k.id.as_str()) {
                    self.deactivated.insert((user.clone(), k.id.clone()));
                }
            }
            for k in now.keys.iter().filter(|k| !k.active) {
                if self.deactivated.contains(&(user.clone(), k.id.clone()))
                    && !now.tags.contains_key(&format!("{DEACTIVATED_PREFIX}{}", k.id))
                {
                    broke(
                        Invariant::RecordLost,
                        format!("inactive key `{}` (deactivated by rekey) has no `{DEACTIVATED_PREFIX}` tag", k.id),
                    );
                }
            }
        }
        out
    }

    /// The shape of every user in `state`.
    pub fn shapes(&self, state: &AccountState) -> BTreeMap<String, UserShape> {
        state
            .iter()
            .map(|(user, s)| {
                let seeded = self.seeded.get(user).cloned().unwrap_or_default();
                let origin = |id: &str| match seeded.iter().position(|k| k == id) {
                    Some(i) => Origin::Seeded(i),
                    None if s.key(id).is_some() => Origin::New,
                    None => Origin::Gone,
                };
                let mut keys: Vec<(Origin, bool)> = s.keys.iter().map(|k| (origin(&k.id), k.active)).collect();
                keys.sort();
                let mut records = BTreeSet::new();
                for tag in s.tags.keys() {
                    for prefix in ["rekey:deactivated:", "rekey:seen-inactive:"] {
                        if let Some(id) = tag.strip_prefix(prefix) {
                            records.insert(format!("{}{:?}", &prefix["rekey:".len()..], origin(id)));
                        }
                    }
                }
                if s.secret.as_ref().is_some_and(|x| x.in_flight.is_some()) {
                    records.insert("in-flight".to_string());
                }
                let shape = UserShape {
                    keys,
                    has_secret: s.secret.is_some(),
                    current: s.secret.as_ref().and_then(|x| x.current_key.as_deref()).map(origin),
                    records,
                };
                (user.clone(), shape)
            })
            .collect()
    }
}

fn keys(state: Option<&UserState>) -> Vec<String> {
    state
        .map(|s| s.keys.iter().map(|k| format!("{}:{}", k.id, if k.active { "active" } else { "inactive" })).collect())
        .unwrap_or_default()
}

fn describe_secret(secret: Option<&SecretState>) -> String {
    match secret {
        None => "none".to_string(),
        Some(s) => format!("versions {:?}, in-flight {:?}", s.versions, s.in_flight.as_ref().map(|r| &r.raw)),
    }
}

/// The differences between two accounts' shapes, user by user (empty: equal).
pub fn shape_differences(got: &BTreeMap<String, UserShape>, want: &BTreeMap<String, UserShape>) -> Vec<String> {
    let users: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    users
        .into_iter()
        .filter_map(|u| match (got.get(u), want.get(u)) {
            (Some(g), Some(w)) if g == w => None,
            (g, w) => Some(format!("{u}: got {g:?}, fault-free {w:?}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_record_formats_parse() {
        let legacy = InFlightRecord::parse("2026-11-29T10:00:00+00:00");
        assert!(legacy.started.is_some());
        assert_eq!((legacy.owner, legacy.known_keys), (None, None));
        let new = InFlightRecord::parse("2026-11-29T10:00:00Z run-1 2026-11-29T10:15:00Z AKIA1+AKIA2");
        assert_eq!(new.owner.as_deref(), Some("run-1"));
        assert_eq!(new.known_keys, Some(vec!["AKIA1".to_string(), "AKIA2".to_string()]));
        assert_eq!(InFlightRecord::parse("2026-11-29T10:00:00Z r 2026-11-29T10:15:00Z -").known_keys, Some(vec![]));
    }

    fn key(id: &str, active: bool) -> KeyState {
        KeyState { id: id.into(), active, created: DateTime::UNIX_EPOCH }
    }

    #[test]
    fn an_unstored_key_without_a_record_is_an_orphan_and_a_lost_tag_is_reported() {
        let before: AccountState =
            [("u".to_string(), UserState { keys: vec![key("OLD", true)], tags: BTreeMap::new(), secret: None })].into();
        let after: AccountState = [(
            "u".to_string(),
            UserState { keys: vec![key("OLD", false), key("NEW", true)], tags: BTreeMap::new(), secret: None },
        )]
        .into();
        let created = [("u".to_string(), vec!["NEW".to_string()])].into();
        let mut tracker = Tracker::new("1", &before);
        let found: Vec<Invariant> = tracker.check(&before, &after, &created).iter().map(|v| v.invariant).collect();
        assert_eq!(found, [Invariant::OrphanKey, Invariant::RecordLost]);
        let shapes = tracker.shapes(&after);
        assert_eq!(shapes["u"].keys, [(Origin::Seeded(0), false), (Origin::New, true)]);
    }
}
