//! The in-flight record of a rotation: the value of the secret tag
//! `rekey:rotation-started`, written before a key is created and removed
//! once the new key is promoted.
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
//! hence the space-separated form rather than JSON. A bare RFC 3339 time is
//! the record of earlier rekey versions: no owner, already expired, no known
//! keys (recovery then falls back to comparing creation times).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
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
    fn owners_are_unique_and_tag_safe() {
        let a = new_owner("2026-03-01T00:00:00Z/evt{1}");
        let b = new_owner("2026-03-01T00:00:00Z/evt{1}");
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || "_.:/=+-@".contains(c)), "{a}");
        assert!(!a.contains(' '));
    }
}
