//! The run report: per account, per user, per key, what was planned or done
//! and with what result. Printed by `rekey rotate --output json`, logged as
//! the per-account run summary, and the input of notifications and metrics.

use crate::lifecycle::{ActionKind, KeyStatus, Policy, Reason, UserFacts, UserStatus, Warning, EXEMPT_UNTIL_TAG};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Whether a run changed anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectiveMode {
    /// Nothing was changed; actions are reported as planned.
    Audit,
    /// Actions were executed.
    Enforce,
}

impl EffectiveMode {
    /// The mode of a run: the config's mode, unless the event asks for a dry
    /// run. An event can force audit, never enforce.
    pub fn resolve(configured: rekey_config::Mode, dry_run_requested: bool) -> EffectiveMode {
        match (configured, dry_run_requested) {
            (rekey_config::Mode::Enforce, false) => EffectiveMode::Enforce,
            _ => EffectiveMode::Audit,
        }
    }
}

/// The outcome of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountStatus {
    /// Audited (and in enforce mode, acted on); individual users may still have failed.
    Succeeded,
    /// The member role does not exist (yet) in the account: not a failure.
    NotEnrolled {
        /// What was tried.
        reason: String,
    },
    /// The account could not be audited.
    Failed {
        /// Why (no secret values, ever).
        error: String,
    },
}

/// The result of one action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ActionResult {
    /// Audit mode: would be done.
    Planned,
    /// Done. For rotations, the new key id (never the secret).
    Done {
        /// The key created, for `rotate` and `complete_rotation`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        new_access_key_id: Option<String>,
    },
    /// Not done because state changed since the audit (e.g. key already gone).
    Skipped {
        /// Why.
        why: String,
    },
    /// Attempted and failed.
    Failed {
        /// Why (no secret values, ever).
        error: String,
    },
}

/// One action and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReport {
    /// The key acted on.
    pub access_key_id: String,
    /// What.
    pub action: ActionKind,
    /// Why.
    pub reason: Reason,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub result: ActionResult,
}

/// One user's part of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReport {
    /// IAM user name.
    pub user_name: String,
    /// Managed, exempt or needs manual action.
    #[serde(flatten)]
    pub status: UserStatus,
    /// Owner email from the configured owner tag, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner_email: Option<String>,
    /// ARN of the user's secret, when one exists (never its value).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret_arn: Option<String>,
    /// Actions due now and their results.
    pub actions: Vec<ActionReport>,
    /// Upcoming actions and problems.
    pub warnings: Vec<Warning>,
    /// An error that stopped this user's processing (the account went on).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Age in days of each of the user's active keys (at most two), so a
    /// digest can chart the ages of exactly the keys its reader sees.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub active_key_ages: Vec<u32>,
    /// The date of a `rekey:exempt-until` tag that has passed: the user is
    /// managed again, and a person should know the exemption ended.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exemption_expired: Option<NaiveDate>,
}

/// How much a user's part of the report matters to its readers; a
/// size-limited copy of a report leaves out the lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Newsworthiness {
    /// Nothing to report.
    Quiet,
    /// Warnings, planned or skipped actions, a manual action needed: said
    /// again by the next run.
    Notice,
    /// An action was executed (done or failed) or processing failed: said
    /// once, by this run only.
    Acted,
}

impl UserReport {
    /// Where this user stands when a report must shrink.
    pub fn newsworthiness(&self) -> Newsworthiness {
        let executed =
            self.actions.iter().any(|a| matches!(a.result, ActionResult::Done { .. } | ActionResult::Failed { .. }));
        if executed || self.error.is_some() {
            Newsworthiness::Acted
        } else if self.has_news() {
            Newsworthiness::Notice
        } else {
            Newsworthiness::Quiet
        }
    }

    /// Whether a person should read about this user: an action, a warning,
    /// an error, a manual action needed or an exemption that ended.
    pub fn has_news(&self) -> bool {
        self.exemption_expired.is_some()
            || !self.actions.is_empty()
            || !self.warnings.is_empty()
            || self.error.is_some()
            || matches!(self.status, UserStatus::NeedsManualAction { .. })
    }
}

/// One account's part of the report; also the per-account run summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReport {
    /// The run this belongs to.
    pub run_id: String,
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Account email from Organizations, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account_email: Option<String>,
    /// Audit or enforce, as actually run.
    pub mode: EffectiveMode,
    /// Succeeded, not enrolled or failed.
    #[serde(flatten)]
    pub status: AccountStatus,
    /// One entry per user, by name.
    pub users: Vec<UserReport>,
    /// Users left out of this copy of the report to fit a size limit (an
    /// SQS message or a ledger item); the full report is in the logs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub users_omitted: usize,
    /// The account's active keys by age band, counted over every user
    /// before any copy of the report left users out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ages: Option<AgeBands>,
}

/// Active keys counted by age band against the lifecycle thresholds: R
/// (`rotate_after_days`), W (`warn_before_days`), D (`deactivate_after_days`)
/// and X (`delete_after_days`). The bands are: under R−W days, the warning
/// window (R−W to R), R to D, D to X, and over X. The thresholds travel with
/// the counts, because the notifier's config view has no lifecycle section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeBands {
    /// The band boundaries in days: R−W, R, D, X.
    pub limits: [u32; 4],
    /// Active keys per band, youngest band first.
    pub counts: [u32; 5],
}

impl AgeBands {
    /// No key yet, with `policy`'s boundaries.
    pub fn for_policy(policy: &Policy) -> AgeBands {
        let r = policy.rotate_after_days;
        AgeBands {
            limits: [
                r.saturating_sub(policy.warn_before_days),
                r,
                policy.deactivate_after_days,
                policy.delete_after_days,
            ],
            counts: [0; 5],
        }
    }

    /// The band (0 to 4) of a key `age_days` old.
    pub fn band_of(&self, age_days: u32) -> usize {
        self.limits.iter().take_while(|&&limit| age_days >= limit).count()
    }

    /// Counts one key `age_days` old.
    pub fn add(&mut self, age_days: u32) {
        let band = self.band_of(age_days);
        self.counts[band] += 1;
    }

    /// These boundaries, counting the active keys of `users`.
    pub fn recount<'a>(&self, users: impl IntoIterator<Item = &'a UserReport>) -> AgeBands {
        let mut out = AgeBands { counts: [0; 5], ..*self };
        for age in users.into_iter().flat_map(|u| &u.active_key_ages) {
            out.add(*age);
        }
        out
    }

    /// Adds another account's counts (kept on these boundaries, which every
    /// account of a run shares).
    pub fn merge(&mut self, other: &AgeBands) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
    }

    /// Every key counted.
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }
}

/// Sums `b` into `a` (either may be missing): how parts of an account's
/// report, or the accounts of a digest, add up.
pub fn merge_bands(a: Option<AgeBands>, b: Option<&AgeBands>) -> Option<AgeBands> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.merge(b);
            Some(a)
        }
        (a, b) => a.or(b.copied()),
    }
}

/// What one line of a report says about a user: the unit that the CLI's
/// table, a digest's detail and its CSV attachment all list, in this order
/// per user (actions, warnings, status, error).
#[derive(Clone, Copy, Debug)]
pub enum RowKind<'a> {
    /// An action, planned or with its result.
    Action(&'a ActionReport),
    /// An upcoming action or a problem.
    Warning(&'a Warning),
    /// The user is exempt.
    Exempt {
        /// Why.
        reason: &'a str,
        /// Until when, for tag exemptions.
        until: Option<NaiveDate>,
    },
    /// A person must act on the user.
    Manual {
        /// What to do, and why.
        reason: &'a str,
    },
    /// The user's processing failed.
    Error(&'a str),
    /// The user's `rekey:exempt-until` date has passed.
    ExemptionExpired(NaiveDate),
}

/// One line of a report: an account's user and what is said about them.
#[derive(Clone, Copy, Debug)]
pub struct ReportRow<'a> {
    /// The account.
    pub account: &'a AccountReport,
    /// The user.
    pub user: &'a UserReport,
    /// What.
    pub kind: RowKind<'a>,
}

/// How long after its date an ended exemption is still news: long enough
/// for a weekly reader, short enough that a tag left behind stops mailing.
pub const ENDED_EXEMPTION_NOTICE_DAYS: i64 = 30;

impl UserReport {
    /// Adds what the audit read that a digest shows: the ages of the active
    /// keys at `now`, and an `rekey:exempt-until` date that passed within
    /// [`ENDED_EXEMPTION_NOTICE_DAYS`].
    pub fn with_audit_facts(mut self, facts: &UserFacts, now: DateTime<Utc>) -> UserReport {
        self.active_key_ages = facts
            .keys
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .map(|k| u32::try_from((now - k.created).num_days().max(0)).unwrap_or(u32::MAX))
            .collect();
        let today = now.date_naive();
        self.exemption_expired = facts
            .tags
            .get(EXEMPT_UNTIL_TAG)
            .and_then(|v| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok())
            .filter(|until| *until < today && (today - *until).num_days() <= ENDED_EXEMPTION_NOTICE_DAYS)
            .filter(|_| matches!(self.status, UserStatus::Managed | UserStatus::NeedsManualAction { .. }));
        self
    }

    /// This user's lines, in report order.
    pub fn rows(&self) -> impl Iterator<Item = RowKind<'_>> {
        let status = match &self.status {
            UserStatus::Managed => None,
            UserStatus::Exempt { reason, until } => Some(RowKind::Exempt { reason, until: *until }),
            UserStatus::NeedsManualAction { reason } => Some(RowKind::Manual { reason }),
        };
        self.actions
            .iter()
            .map(RowKind::Action)
            .chain(self.warnings.iter().map(RowKind::Warning))
            .chain(status)
            .chain(self.exemption_expired.map(RowKind::ExemptionExpired))
            .chain(self.error.as_deref().map(RowKind::Error))
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Length of `value`'s compact JSON (what a ledger item or a message holds).
fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX)
}

/// Counts for metrics and summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Keys created (rotations done).
    pub rotated: u64,
    /// Keys deactivated.
    pub deactivated: u64,
    /// Keys deleted.
    pub deleted: u64,
    /// Warnings issued.
    pub warned: u64,
    /// Actions or users that failed.
    pub failed: u64,
    /// Exempt users.
    pub exempt: u64,
    /// Actions planned but not executed (audit mode).
    pub planned: u64,
}

impl AccountReport {
    /// A copy whose JSON fits in `max_bytes`, leaving out exactly as many
    /// users as needed, counted in [`AccountReport::users_omitted`]. Users
    /// go in order of [`UserReport::newsworthiness`] (nothing to report,
    /// then warnings, planned or skipped actions and manual-action notes,
    /// and only then users with an executed action or an error), from the
    /// end of the list within each rank; so a key change is never left out
    /// while a warning stays. Digests are built from such copies, because a
    /// queue message or a ledger item has a size limit and a large account's
    /// report may not. If even the users with executed actions do not all
    /// fit, as many as fit are kept and the rest are counted (the digest
    /// says how many users were left out; the full report is in the logs).
    pub fn fitted(&self, max_bytes: usize) -> AccountReport {
        if json_len(self) <= max_bytes {
            return self.clone();
        }
        // Each user is serialized once; the report's size for any cut is then
        // the empty report's size (whose `users_omitted` count changes with
        // the cut) plus the kept users and the commas between them, so the
        // smallest cut that fits is found exactly in one pass.
        let sizes: Vec<usize> = self.users.iter().map(json_len).collect();
        let mut order: Vec<usize> = (0..self.users.len()).collect();
        order.sort_by_key(|&i| (self.users[i].newsworthiness(), std::cmp::Reverse(i)));
        let shell = |omitted: usize| {
            json_len(&AccountReport { users: Vec::new(), users_omitted: self.users_omitted + omitted, ..self.header() })
        };
        let mut kept_bytes: usize = sizes.iter().sum();
        let mut cut = 0;
        loop {
            let kept = self.users.len() - cut;
            if cut == self.users.len() || shell(cut) + kept_bytes + kept.saturating_sub(1) <= max_bytes {
                break;
            }
            kept_bytes -= sizes[order[cut]];
            cut += 1;
        }
        let dropped: std::collections::BTreeSet<usize> = order[..cut].iter().copied().collect();
        let acted_dropped =
            dropped.iter().filter(|&&i| self.users[i].newsworthiness() == Newsworthiness::Acted).count();
        if acted_dropped > 0 {
            tracing::warn!(
                run_id = %self.run_id,
                account_id = %self.account_id,
                users_omitted = cut,
                with_executed_actions = acted_dropped,
                max_bytes,
                "users with executed actions left out of a size-limited copy of the report; the full report is in the logs"
            );
        }
        AccountReport {
            users: self
                .users
                .iter()
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, u)| u.clone())
                .collect(),
            users_omitted: self.users_omitted + cut,
            ..self.header()
        }
    }

    /// Every line of this report, user by user.
    pub fn rows(&self) -> impl Iterator<Item = ReportRow<'_>> {
        self.users.iter().flat_map(move |user| user.rows().map(move |kind| ReportRow { account: self, user, kind }))
    }

    /// This report without its users (and with their omitted count).
    pub(crate) fn header(&self) -> AccountReport {
        AccountReport {
            run_id: self.run_id.clone(),
            account_id: self.account_id.clone(),
            account_name: self.account_name.clone(),
            account_email: self.account_email.clone(),
            mode: self.mode,
            status: self.status.clone(),
            users: Vec::new(),
            users_omitted: self.users_omitted,
            key_ages: self.key_ages,
        }
    }

    /// Counts of this account's outcomes.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for user in &self.users {
            if matches!(user.status, UserStatus::Exempt { .. }) {
                c.exempt += 1;
            }
            if user.error.is_some() {
                c.failed += 1;
            }
            c.warned += user.warnings.len() as u64;
            for action in &user.actions {
                match (&action.result, action.action) {
                    (ActionResult::Planned, _) => c.planned += 1,
                    (ActionResult::Failed { .. }, _) => c.failed += 1,
                    (ActionResult::Done { .. }, ActionKind::Rotate | ActionKind::CompleteRotation) => c.rotated += 1,
                    (ActionResult::Done { .. }, ActionKind::Deactivate) => c.deactivated += 1,
                    (ActionResult::Done { .. }, ActionKind::Delete | ActionKind::DeleteOrphanKey) => c.deleted += 1,
                    // A tag write (lifecycle planner), not a key change.
                    (ActionResult::Done { .. }, ActionKind::RecordInactiveSeen) => {}
                    (ActionResult::Skipped { .. }, _) => {}
                }
            }
        }
        if matches!(self.status, AccountStatus::Failed { .. }) {
            c.failed += 1;
        }
        c
    }
}

/// A whole run (the CLI's `rotate --output json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Audit or enforce.
    pub mode: EffectiveMode,
    /// Every account, by id.
    pub accounts: Vec<AccountReport>,
}

impl RunReport {
    /// True when every account succeeded or is not enrolled, and no user or action failed.
    pub fn all_succeeded(&self) -> bool {
        self.accounts.iter().all(|a| !matches!(a.status, AccountStatus::Failed { .. }) && a.counts().failed == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{Reason, Severity};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap().to_utc()
    }

    fn warned(name: &str) -> UserReport {
        UserReport {
            user_name: name.into(),
            status: UserStatus::Managed,
            owner_email: Some(format!("{name}@example.com")),
            secret_arn: None,
            actions: vec![],
            warnings: vec![Warning {
                account_id: "200000000001".into(),
                user_name: name.into(),
                access_key_id: "AKIAWARNED0000000001".into(),
                upcoming: Some(ActionKind::Rotate),
                reason: Reason::Expired,
                due: Some(at()),
                severity: Severity::Warning,
                message: "key will be rotated on 2026-11-20".into(),
            }],
            error: None,
            active_key_ages: vec![80],
            exemption_expired: None,
        }
    }

    fn acted(name: &str, result: ActionResult) -> UserReport {
        let mut user = warned(name);
        user.warnings.clear();
        user.actions.push(ActionReport {
            access_key_id: "AKIAACTED00000000001".into(),
            action: ActionKind::Rotate,
            reason: Reason::Expired,
            due: at(),
            result,
        });
        user
    }

    fn report(users: Vec<UserReport>) -> AccountReport {
        AccountReport {
            run_id: "run-1".into(),
            account_id: "200000000001".into(),
            account_name: "dev".into(),
            account_email: None,
            mode: EffectiveMode::Enforce,
            status: AccountStatus::Succeeded,
            users,
            users_omitted: 0,
            key_ages: None,
        }
    }

    /// Regression (issue 8, defect 5): users were dropped in halving steps,
    /// so a report one byte too large lost half its users.
    #[test]
    fn fitting_leaves_out_exactly_the_users_needed() {
        let big = report((0..64).map(|i| warned(&format!("user-{i:03}"))).collect());
        let full = json_len(&big);
        let one_short = big.fitted(full - 1);
        assert_eq!(one_short.users_omitted, 1, "one byte over costs one user, not half of them");
        assert_eq!(one_short.users.len(), 63);
        assert_eq!(one_short.users.last().unwrap().user_name, "user-062", "the last user of the list goes first");

        // For every limit, the copy is the smallest cut that fits: the same
        // users without the last `k` (all are equally newsworthy here).
        let without_last = |k: usize| {
            let mut r = big.clone();
            r.users.truncate(r.users.len() - k);
            r.users_omitted = k;
            r
        };
        for limit in (0..full).step_by(997) {
            let fitted = big.fitted(limit);
            let k = fitted.users_omitted;
            assert_eq!(fitted, without_last(k), "limit {limit}");
            if k > 0 && k < big.users.len() {
                assert!(json_len(&fitted) <= limit, "limit {limit}");
                assert!(json_len(&without_last(k - 1)) > limit, "limit {limit}: {k} users left out, one fewer fits");
            }
        }
        // A copy of a copy keeps counting.
        let twice = one_short.fitted(json_len(&one_short) - 1);
        assert_eq!((twice.users.len(), twice.users_omitted), (62, 2));
    }

    /// Regression (issue 8, defect 5): a user whose key was rotated (or whose
    /// rotation failed) was dropped from the end of the list while users with
    /// mere warnings stayed, so its owner never heard of the new key.
    #[test]
    fn executed_actions_are_left_out_only_after_every_warning() {
        let done = || ActionResult::Done { new_access_key_id: Some("AKIANEWKEY0000000001".into()) };
        let mut users = vec![acted("a-rotated", done())];
        users.extend((0..20).map(|i| warned(&format!("m-warned-{i:02}"))));
        users.push(acted("z-failed", ActionResult::Failed { error: "iam `CreateAccessKey` throttled".into() }));
        let big = report(users);
        let only_acted = report(vec![big.users[0].clone(), big.users[21].clone()]);
        let limit = json_len(&AccountReport { users_omitted: 20, ..only_acted.clone() });
        let fitted = big.fitted(limit);
        let names: Vec<&str> = fitted.users.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(names, ["a-rotated", "z-failed"], "every warning went before any executed action");
        assert_eq!(fitted.users_omitted, 20);

        // Too small even for the executed actions: keep as many as fit, count the rest.
        let fitted = big.fitted(limit - 1);
        let names: Vec<&str> = fitted.users.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(names, ["a-rotated"]);
        assert_eq!(fitted.users_omitted, 21);
        assert!(json_len(&fitted) < limit);
    }

    #[test]
    fn users_rank_by_what_their_readers_would_miss() {
        let quiet = UserReport { warnings: vec![], ..warned("q") };
        assert_eq!(quiet.newsworthiness(), Newsworthiness::Quiet);
        assert_eq!(warned("w").newsworthiness(), Newsworthiness::Notice);
        assert_eq!(acted("p", ActionResult::Planned).newsworthiness(), Newsworthiness::Notice);
        assert_eq!(acted("s", ActionResult::Skipped { why: "gone".into() }).newsworthiness(), Newsworthiness::Notice);
        assert_eq!(acted("d", ActionResult::Done { new_access_key_id: None }).newsworthiness(), Newsworthiness::Acted);
        let errored = UserReport { error: Some("secretsmanager throttled".into()), ..quiet };
        assert_eq!(errored.newsworthiness(), Newsworthiness::Acted);
    }
}
