//! The in-flight record of a rotation: a secret tag written before a key is
//! created and removed once the new key is promoted.
//!
//! Each run writes its record under a tag key of its own,
//! `rekey:rotation-started/<owner>` ([`record_tag`]). Tags have no
//! compare-and-set, so a shared key would let a second run overwrite the
//! first's record unseen; with one key per run nothing is overwritten, and
//! a claim is: write the own record, read the tags back, go on only if no
//! other run's record is there (two runs claiming at once each see the
//! other and both back off; a run that read back before the other wrote is
//! seen by it). One read-back is the only look a claim needs.
//!
//! The record is a lease as well as a record. Its value is
//! `<started> <owner> <expires> <known keys>`:
//! - `started`: when the rotation began (kept when a later run takes over);
//! - `owner`: the invocation holding the lease; another invocation leaves
//!   the user alone until the lease `expires`, so two runs at once (two CLI
//!   processes, an SQS message delivered twice) never rotate one user twice;
//! - `known keys`: the user's key ids just before `CreateAccessKey`
//!   (`+`-joined, `-` for none). A key not among them was created by this
//!   rotation, whatever the clocks say: this is how a key whose
//!   `CreateAccessKey` answer was lost (the call took effect, the client saw
//!   an error and the SDK's retry got `LimitExceeded`) is recognised.
//!
//! Secrets Manager tag values allow letters, digits, spaces and `_.:/=+-@`,
//! hence the space-separated form rather than JSON. Earlier rekey versions
//! wrote the record under the shared key `rekey:rotation-started`; such a
//! record is still read. A bare RFC 3339 time is the record of the earliest
//! versions: no owner, already expired, no known keys (recovery then falls
//! back to comparing creation times).

use super::ROTATION_STARTED_TAG;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long a lease holds off other runs. A Lambda invocation lasts at most
/// 15 minutes, and one user's rotation takes seconds (SDK attempt timeouts
/// bound each call), so a lease older than this belongs to a run that died;
/// the next run takes over and finishes or undoes its rotation.
pub const LEASE: Duration = Duration::minutes(15);

/// A parsed in-flight record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// When the rotation started.
    pub started: DateTime<Utc>,
    /// The invocation holding the lease (`None` for a legacy record).
    pub owner: Option<String>,
    /// When the lease ends.
    pub expires: DateTime<Utc>,
    /// The user's key ids before the new key was created (`None` for a legacy record).
    pub known_keys: Option<Vec<String>>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

impl InFlight {
    /// A new record of a rotation `owner` starts at `now` over `known_keys`.
    pub fn start(owner: &str, now: DateTime<Utc>, known_keys: Vec<String>) -> InFlight {
        InFlight { started: now, owner: Some(owner.to_string()), expires: now + LEASE, known_keys: Some(known_keys) }
    }

    /// The same rotation, its lease taken over by `owner` at `now`: the start
    /// time and the known keys stay, so the rotation's own key is still told
    /// apart from keys that existed before it.
    pub fn taken_over(&self, owner: &str, now: DateTime<Utc>) -> InFlight {
        InFlight { owner: Some(owner.to_string()), expires: now + LEASE, ..self.clone() }
    }

    /// Parses a tag value; `None` when it is not a record at all.
    pub fn parse(value: &str) -> Option<InFlight> {
        let mut parts = value.split_whitespace();
        let started = parse_time(parts.next()?)?;
        let Some(owner) = parts.next() else {
            // Legacy: a bare start time.
            return Some(InFlight { started, owner: None, expires: started, known_keys: None });
        };
        let expires = parse_time(parts.next()?)?;
        let known_keys = match parts.next()? {
            "-" => Vec::new(),
            keys => keys.split('+').map(str::to_string).collect(),
        };
        Some(InFlight { started, owner: Some(owner.to_string()), expires, known_keys: Some(known_keys) })
    }

    /// The tag value.
    pub fn tag_value(&self) -> String {
        let known = match &self.known_keys {
            Some(keys) if !keys.is_empty() => keys.join("+"),
            _ => "-".to_string(),
        };
        let owner = self.owner.as_deref().unwrap_or("-");
        format!("{} {owner} {} {known}", rfc3339(self.started), rfc3339(self.expires))
    }

    /// Whether another invocation than `owner` holds the lease at `now`.
    pub fn held_by_other(&self, owner: &str, now: DateTime<Utc>) -> bool {
        now < self.expires && self.owner.as_deref() != Some(owner)
    }
}

/// The tag key of `owner`'s record.
pub fn record_tag(owner: &str) -> String {
    format!("{ROTATION_STARTED_TAG}/{owner}")
}

/// Every record among a secret's tags, with its tag key: the per-run keys
/// and the shared key of earlier rekey versions.
pub fn records_of(tags: &BTreeMap<String, String>) -> Vec<(String, InFlight)> {
    tags.iter()
        .filter(|(key, _)| {
            key.strip_prefix(ROTATION_STARTED_TAG).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .filter_map(|(key, value)| InFlight::parse(value).map(|record| (key.clone(), record)))
        .collect()
}

/// A record of another invocation than `owner` whose lease holds at `now`.
pub fn live_other<'r>(records: &'r [(String, InFlight)], owner: &str, now: DateTime<Utc>) -> Option<&'r InFlight> {
    records.iter().map(|(_, record)| record).find(|record| record.held_by_other(owner, now))
}

/// What several records say together, for recovery and the audit: the
/// rotation started at the earliest start; a key any record knew existed
/// before it (so a key counts as the rotation's own, and may be deleted as
/// an orphan, only when no record knew it; a record without known keys,
/// from an earlier version, makes recovery compare creation times); the
/// lease is the one that ends last. Several records are rare: runs that
/// claimed at once and stopped before removing theirs.
pub fn combined(records: &[(String, InFlight)]) -> Option<InFlight> {
    let started = records.iter().map(|(_, r)| r.started).min()?;
    let last = records.iter().map(|(_, r)| r).max_by_key(|r| (r.expires, r.owner.clone()))?;
    let known_keys = records.iter().try_fold(Vec::new(), |mut all: Vec<String>, (_, r)| {
        for key in r.known_keys.as_ref()? {
            if !all.contains(key) {
                all.push(key.clone());
            }
        }
        Some(all)
    });
    Some(InFlight { started, owner: last.owner.clone(), expires: last.expires, known_keys })
}

/// A lease owner token unique to this invocation: the run id (so people can
/// tell which run holds a lease) and a per-process counter with the process
/// id (so two invocations of one run, e.g. an SQS message delivered twice,
/// still differ). Only tag-safe characters are kept.
pub fn new_owner(run_id: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let run: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '=' | '@' | '-'))
        .take(64)
        .collect();
    let run = if run.is_empty() { "run".to_string() } else { run };
    format!("{run}@{}.{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).expect("time")
    }

    #[test]
    fn a_record_round_trips_through_its_tag_value() {
        let r = InFlight::start("run-1@7.1", at("2026-03-01T00:00:00Z"), vec!["AKIA1".into(), "AKIA2".into()]);
        assert_eq!(r.tag_value(), "2026-03-01T00:00:00Z run-1@7.1 2026-03-01T00:15:00Z AKIA1+AKIA2");
        assert_eq!(InFlight::parse(&r.tag_value()), Some(r));
        let none = InFlight::start("o", at("2026-03-01T00:00:00Z"), vec![]);
        assert_eq!(InFlight::parse(&none.tag_value()).and_then(|r| r.known_keys), Some(vec![]));
    }

    #[test]
    fn a_legacy_bare_time_is_an_expired_record_without_known_keys() {
        let r = InFlight::parse("2026-03-01T00:00:00+00:00").expect("legacy");
        assert_eq!(r.owner, None);
        assert_eq!(r.known_keys, None);
        assert!(!r.held_by_other("anyone", at("2026-03-01T00:00:00Z")));
        assert_eq!(InFlight::parse("not a time"), None);
        assert_eq!(InFlight::parse("2026-03-01T00:00:00Z owner"), None, "a truncated record is no record");
    }

    #[test]
    fn a_lease_holds_off_other_owners_until_it_expires_and_a_takeover_keeps_the_start() {
        let r = InFlight::start("a", at("2026-03-01T00:00:00Z"), vec!["AKIA1".into()]);
        assert!(r.held_by_other("b", at("2026-03-01T00:14:59Z")));
        assert!(!r.held_by_other("a", at("2026-03-01T00:01:00Z")));
        assert!(!r.held_by_other("b", at("2026-03-01T00:15:00Z")));
        let t = r.taken_over("b", at("2026-03-02T00:00:00Z"));
        assert_eq!((t.started, t.known_keys.clone()), (r.started, r.known_keys.clone()));
        assert_eq!(t.expires, at("2026-03-02T00:15:00Z"));
    }

    #[test]
    fn records_are_found_under_the_per_run_keys_and_the_shared_key_of_earlier_versions() {
        let a = InFlight::start("run-a@1.1", at("2026-03-01T00:00:00Z"), vec!["AKIA1".into()]);
        let tags = BTreeMap::from([
            (record_tag("run-a@1.1"), a.tag_value()),
            (ROTATION_STARTED_TAG.to_string(), "2026-02-01T00:00:00Z".to_string()),
            (format!("{ROTATION_STARTED_TAG}-not-a-record"), a.tag_value()),
            ("rekey:managed".to_string(), "true".to_string()),
            (record_tag("run-b@1.1"), "garbage".to_string()),
        ]);
        let found: Vec<String> = records_of(&tags).into_iter().map(|(k, _)| k).collect();
        assert_eq!(found, vec![ROTATION_STARTED_TAG.to_string(), record_tag("run-a@1.1")]);
        assert!(record_tag(&new_owner(&"r".repeat(200))).len() <= 128, "Secrets Manager's tag key limit");
    }

    #[test]
    fn records_combine_to_the_earliest_start_every_known_key_and_the_last_lease() {
        let a = InFlight::start("a", at("2026-03-01T00:00:00Z"), vec!["AKIA1".into()]);
        let b = InFlight::start("b", at("2026-03-01T00:05:00Z"), vec!["AKIA1".into(), "AKIA2".into()]);
        let records = vec![(record_tag("b"), b.clone()), (record_tag("a"), a.clone())];
        let c = combined(&records).expect("records");
        assert_eq!(c.started, a.started);
        assert_eq!(c.known_keys, Some(vec!["AKIA1".to_string(), "AKIA2".to_string()]));
        assert_eq!((c.owner.as_deref(), c.expires), (Some("b"), b.expires));
        let legacy = InFlight::parse("2026-02-01T00:00:00Z").unwrap();
        let with_legacy = combined(&[(record_tag("a"), a.clone()), (ROTATION_STARTED_TAG.to_string(), legacy)]);
        assert_eq!(with_legacy.and_then(|r| r.known_keys), None, "a legacy record: creation times decide");
        assert_eq!(combined(&[]), None);

        assert_eq!(live_other(&records, "a", at("2026-03-01T00:10:00Z")), Some(&b));
        assert_eq!(live_other(&records, "a", at("2026-03-01T00:20:00Z")), None, "b's lease ended");
        assert_eq!(live_other(&[(record_tag("a"), a)], "a", at("2026-03-01T00:01:00Z")), None, "its own");
    }

    #[test]
    fn owners_are_unique_and_tag_safe() {
        let a = new_owner("2026-03-01T00:00:00Z/evt{1}");
        let b = new_owner("2026-03-01T00:00:00Z/evt{1}");
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || "_.:/=+-@".contains(c)), "{a}");
        assert!(!a.contains(' '));
    }
}
