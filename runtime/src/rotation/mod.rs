//! The rotation core: one account from start to report. Assume the member
//! role (missing role → not enrolled), audit in bulk ([`audit`]), plan with
//! the pure lifecycle engine, then either execute the plan crash-safely
//! ([`execute`], enforce mode) or mark every action planned (audit mode,
//! which makes no mutating call at all).
//!
//! Records rekey keeps in AWS (all documented in `docs/lifecycle.md`):
//! - secret tags `rekey:managed=true`, `rekey:account`, `rekey:user`, and
//!   `rekey:rotation-started/<owner>=<start> <owner> <lease end> <known keys>`
//!   while a rotation is in flight ([`record`]: the record is also a lease,
//!   one tag key per run);
//! - secret versions whose id is `rekey-access-key-<AccessKeyId>`, so the
//!   key a version holds is known from `ListSecrets` without reading values;
//! - user tags `rekey:deactivated:<AccessKeyId>` and
//!   `rekey:seen-inactive:<AccessKeyId>` (written by the executor).

pub mod audit;
pub mod execute;
pub mod limit;
pub mod record;
mod rotator;
mod users;

pub use rotator::AccountRotator;

use crate::lifecycle::{self, ActionKind, Policy, UserPlan};
use crate::messages::AccountMessage;
use crate::ports::{ErrorKind, Platform, SessionCredentials};
use crate::report::{AccountReport, AccountStatus, ActionReport, ActionResult, EffectiveMode, UserReport};
use chrono::{DateTime, Utc};
use rekey_config::{Config, Function, SecretStorage};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

// The tags rekey writes on secrets, named once in `rekey_config::contract`
// (deploy finds managed secrets by the same tag).
pub use crate::ports::{STAGE_CURRENT, STAGE_PENDING};
pub use rekey_config::contract::{ACCOUNT_TAG, MANAGED_TAG, ROTATION_STARTED_TAG, USER_TAG};
/// Prefix of the version ids (`ClientRequestToken`s) rekey writes; the rest is the key id.
pub const VERSION_PREFIX: &str = "rekey-access-key-";

/// The version id (idempotent `ClientRequestToken`) storing `access_key_id`.
pub fn version_id_for(access_key_id: &str) -> String {
    format!("{VERSION_PREFIX}{access_key_id}")
}

/// What the rotation core needs besides the config.
#[derive(Clone, Debug)]
pub struct RotationDeps<P> {
    /// The way into accounts (real AWS or a fake).
    pub platform: P,
    /// First pause between credential-report polls (then doubling, with jitter).
    pub report_poll_interval: Duration,
    /// Polls before the audit gives up waiting for the credential report
    /// (a bound besides its wait budget, `audit::report_wait`).
    pub report_poll_attempts: u32,
    /// The client-side rate limiters, shared by every account this process
    /// handles (set from the first config it is used with).
    pub limits: Arc<OnceLock<limit::Limits>>,
}

impl<P: Platform> RotationDeps<P> {
    /// Deps with the standard credential-report wait (pauses from 2 s, within
    /// the wait budget; the poll bound is not reached first).
    pub fn new(platform: P) -> Self {
        RotationDeps {
            platform,
            report_poll_interval: Duration::from_secs(2),
            report_poll_attempts: 60,
            limits: Arc::default(),
        }
    }

    /// The rate limiters, at `config`'s rates the first time.
    pub fn limits(&self, config: &Config) -> &limit::Limits {
        self.limits.get_or_init(|| limit::Limits::new(&config.runtime.rate_limits))
    }
}

/// The account that stores secrets in central mode: the one hosting the
/// inventory role (management or delegated admin), else the deployment account.
fn central_account(config: &Config) -> Option<String> {
    config
        .organization
        .as_ref()
        .and_then(|o| o.management_account_id.as_ref())
        .or(config.deployment.account_id.as_ref())
        .map(ToString::to_string)
}

fn role_arn(config: &Config, account_id: &str, role: &str) -> String {
    format!(
        "arn:{}:iam::{account_id}:role/{role}",
        rekey_config::contract::partition(config.deployment.region.as_str())
    )
}

/// Audits, plans and (enforce mode) acts on one account at `now`. Never
/// fails as a call: problems end up in the report's status or per-user errors.
pub async fn rotate_account<P: Platform>(
    deps: &RotationDeps<P>,
    config: &Config,
    msg: &AccountMessage,
    now: DateTime<Utc>,
) -> AccountReport {
    rotate_account_within(deps, config, msg, now, &Deadline::none()).await.report
}

/// What one invocation did to an account: the report of the users it
/// covered, and, when it stopped before its deadline, the last user it
/// covered (the rest is for a continuation, [`AccountMessage::continuation`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPart {
    /// The users this invocation covered.
    pub report: AccountReport,
    /// Set when users are left: the last user covered.
    pub continue_after: Option<String>,
}

/// When the invocation must stop starting users: a Lambda invocation is
/// killed at its deadline, possibly mid-rotation, and its report would be
/// lost. The margin covers one user's rotation with its retries (about a
/// dozen calls, each bounded by the SDK's timeouts) and recording the report.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Option<std::time::Instant>,
    margin: Duration,
}

/// Time left at which no further user is started, for an invocation with
/// at least four times as long; a shorter invocation (a function deployed
/// with a short timeout) keeps a quarter of its time as the margin, so it
/// still does more than one user.
pub const STOP_MARGIN: Duration = Duration::from_secs(120);

impl Deadline {
    /// No deadline (the CLI).
    pub fn none() -> Deadline {
        Deadline { at: None, margin: Duration::ZERO }
    }

    /// A deadline at `at` (the Lambda invocation's), from now.
    pub fn at(at: std::time::Instant) -> Deadline {
        let total = at.saturating_duration_since(std::time::Instant::now());
        Deadline { at: Some(at), margin: STOP_MARGIN.min(total / 4) }
    }

    /// Whether less than the margin is left (always, once the deadline passed).
    pub fn near(&self) -> bool {
        self.at.is_some_and(|at| {
            let left = at.saturating_duration_since(std::time::Instant::now());
            left.is_zero() || left < self.margin
        })
    }
}

/// Like [`rotate_account`], for the users after `msg.resume_after_user`,
/// stopping before `deadline` after at least one user with actions (so every
/// invocation makes progress).
pub async fn rotate_account_within<P: Platform>(
    deps: &RotationDeps<P>,
    config: &Config,
    msg: &AccountMessage,
    now: DateTime<Utc>,
    deadline: &Deadline,
) -> AccountPart {
    rotate_account_reviewed(deps, config, msg, now, deadline, &mut crate::plan_file::AccountReview::new(None)).await
}

/// Like [`rotate_account_within`], with each user's new plan screened by
/// `review` before anything is executed (`rekey rotate --plan` runs only
/// reviewed actions whose facts are unchanged; see [`crate::plan_file`]).
pub async fn rotate_account_reviewed<P: Platform>(
    deps: &RotationDeps<P>,
    config: &Config,
    msg: &AccountMessage,
    now: DateTime<Utc>,
    deadline: &Deadline,
    review: &mut crate::plan_file::AccountReview,
) -> AccountPart {
    let mode = EffectiveMode::resolve(config.mode, msg.dry_run);
    let mut report = empty_report(msg, mode);
    let central = config.secrets.storage == SecretStorage::Central;
    let platform = limit::LimitedPlatform::new(&deps.platform, deps.limits(config), central);
    let (iam, secrets) = match open_account(&platform, config, &msg.account_id).await {
        Ok(clients) => clients,
        Err(status) => {
            report.status = status;
            return AccountPart { report, continue_after: None };
        }
    };
    let names = config.names();
    let concurrency = usize::try_from(config.runtime.concurrency.users_per_account).unwrap_or(1);
    let mut policy = Policy::for_config(config);
    policy.force_rotate = msg.force_rotate.iter().cloned().collect();
    let audit_ctx = audit::AuditContext {
        account_id: &msg.account_id,
        account_name: &msg.account_name,
        account_email: msg.account_email.as_deref(),
        names: &names,
        policy: &policy,
        now,
        poll_interval: deps.report_poll_interval,
        poll_attempts: deps.report_poll_attempts,
        report_wait: audit::report_wait(config),
        after_user: msg.resume_after_user.as_deref(),
        shared_store: central,
        concurrency,
    };
    let audited = match audit::audit(&iam, &secrets, &audit_ctx).await {
        Ok(a) => a,
        Err(e) => {
            report.status = AccountStatus::Failed { error: e.to_string() };
            return AccountPart { report, continue_after: None };
        }
    };
    let plan = lifecycle::plan(&audited.facts, &policy, now);
    let plan = review.screen(plan, &audited.facts);
    let owner = record::new_owner(&msg.run_id);
    let exec_ctx = execute::ExecContext {
        config,
        account_id: &msg.account_id,
        now,
        owner: &owner,
        platform: &platform,
        iam: &iam,
        secrets: &secrets,
    };
    let covered = users::cover(&exec_ctx, &audited, plan.users, mode, deadline, concurrency).await;
    report.users = covered.users;
    let continue_after = covered.continue_after;
    add_failed_audits(&mut report.users, &audited.user_errors, continue_after.as_deref());
    report.users.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    report.key_ages = Some(crate::report::AgeBands::for_policy(&policy).recount(&report.users));
    AccountPart { report, continue_after }
}

/// The report of `msg`'s account before any user is covered.
fn empty_report(msg: &AccountMessage, mode: EffectiveMode) -> AccountReport {
    AccountReport {
        run_id: msg.run_id.clone(),
        account_id: msg.account_id.clone(),
        account_name: msg.account_name.clone(),
        account_email: msg.account_email.clone(),
        mode,
        status: AccountStatus::Succeeded,
        users: Vec::new(),
        users_omitted: 0,
        key_ages: None,
    }
}

/// Users whose audit failed are not in the plan; they are reported anyway
/// with their error (those this part covers: up to `continue_after`).
fn add_failed_audits(
    users: &mut Vec<UserReport>,
    user_errors: &std::collections::BTreeMap<String, String>,
    continue_after: Option<&str>,
) {
    let covered = |user: &str| continue_after.is_none_or(|last| user <= last);
    for (user, error) in user_errors {
        if covered(user) && !users.iter().any(|u| &u.user_name == user) {
            users.push(UserReport {
                user_name: user.clone(),
                status: lifecycle::UserStatus::Managed,
                owner_email: None,
                secret_arn: None,
                actions: Vec::new(),
                warnings: Vec::new(),
                error: Some(error.clone()),
                active_key_ages: Vec::new(),
                exemption_expired: None,
            });
        }
    }
}

/// Assumes the member role and builds the account's IAM and secret-store
/// clients; an account that cannot be entered gives its status.
async fn open_account<P: Platform>(
    platform: &P,
    config: &Config,
    account_id: &str,
) -> Result<(P::Iam, P::Secrets), AccountStatus> {
    let names = config.names();
    let session = names.session_name(Function::Rotation);
    let member_arn = role_arn(config, account_id, &names.member_role);
    let member = match platform.assume_role(&member_arn, &session).await {
        Ok(c) => c,
        Err(e) if e.kind == ErrorKind::NotEnrolled => {
            return Err(AccountStatus::NotEnrolled {
                reason: format!("role `{member_arn}` cannot be assumed (not deployed yet?): {}", e.message),
            })
        }
        Err(e) => return Err(AccountStatus::Failed { error: e.to_string() }),
    };
    let store_creds = store_credentials(platform, config, &member, &session)
        .await
        .map_err(|e| AccountStatus::Failed { error: format!("central secret storage: {e}") })?;
    let iam = platform.iam(&member);
    let secrets = platform.secrets(&store_creds, config.deployment.region.as_str());
    Ok((iam, secrets))
}

/// One user's report: its plan executed (`act`: enforce mode, facts read)
/// or marked planned.
async fn report_user<P: Platform>(
    exec_ctx: &execute::ExecContext<'_, P>,
    facts: Option<&lifecycle::UserFacts>,
    user_plan: UserPlan,
    error: Option<String>,
    act: bool,
) -> UserReport {
    let config = exec_ctx.config;
    let secret_arn = facts.and_then(|u| u.secret.as_ref()).map(|s| s.arn.clone());
    let owner_email =
        config.notifications.owner_tag_key.as_ref().and_then(|k| facts.and_then(|u| u.tags.get(k))).cloned();
    let UserPlan { user_name, status, actions, warnings } = user_plan;
    let (actions, stored_in) = match facts {
        Some(facts) if act => {
            tidy_finished_rotation(exec_ctx.secrets, facts).await;
            tidy_stale_records(exec_ctx.iam, facts).await;
            let done = execute::execute_user_storing(exec_ctx, facts, &actions).await;
            (done.actions, done.secret_arn)
        }
        _ => (
            actions
                .iter()
                .map(|a| ActionReport {
                    access_key_id: a.access_key_id.clone(),
                    action: a.action,
                    reason: a.reason,
                    due: a.due,
                    result: ActionResult::Planned,
                })
                .collect(),
            None,
        ),
    };
    // The run that first stores a user's key also created the secret: the
    // executor says which, so the report and the email say where the new
    // key is without another call.
    let secret_arn = secret_arn.or(stored_in.filter(|_| actions.iter().any(stored_a_key)));
    let user = UserReport {
        user_name,
        status,
        owner_email,
        secret_arn,
        actions,
        warnings,
        error,
        active_key_ages: Vec::new(),
        exemption_expired: None,
    };
    match facts {
        Some(facts) => user.with_audit_facts(facts, exec_ctx.now),
        None => user,
    }
}

/// Removes user records (`rekey:deactivated:<id>`, `rekey:seen-inactive:<id>`)
/// of keys that no longer exist: a delete whose record clean-up failed would
/// otherwise leave them for good, and IAM allows 50 tags per user.
/// Housekeeping only, so a failure is logged, not reported. Only for users
/// whose real key ids were read (the audit reads them for every user with
/// such records).
async fn tidy_stale_records<I: crate::ports::IamAccount>(iam: &I, user: &lifecycle::UserFacts) {
    if user.keys.iter().any(|k| k.access_key_id.starts_with(audit::REPORT_KEY_PREFIX)) {
        return;
    }
    let stale: Vec<String> = user
        .tags
        .keys()
        .filter(|tag| {
            [lifecycle::DEACTIVATED_TAG_PREFIX, lifecycle::SEEN_INACTIVE_TAG_PREFIX].iter().any(|prefix| {
                tag.strip_prefix(prefix).is_some_and(|id| !user.keys.iter().any(|k| k.access_key_id == id))
            })
        })
        .cloned()
        .collect();
    if stale.is_empty() {
        return;
    }
    if let Err(e) = iam.untag_user(&user.user_name, &stale).await {
        tracing::warn!(user = %user.user_name, error = %e, "could not remove records of deleted keys");
    }
}

/// Removes the `rekey:rotation-started` records of a rotation that finished
/// (its key reached AWSCURRENT) but whose run stopped before untagging.
/// Housekeeping only, so a failure is logged, not reported.
async fn tidy_finished_rotation<S: crate::ports::SecretStore>(secrets: &S, user: &lifecycle::UserFacts) {
    let Some(secret) = &user.secret else { return };
    let (Some(_), None, Some(current)) =
        (secret.rotation_started, &secret.pending_key_id, secret.current_key_id.as_deref())
    else {
        return;
    };
    if user.keys.iter().any(|k| k.access_key_id == current && secret.new_since_record(k)) {
        if let Err(e) = secrets.untag(&secret.arn, &secret.rotation_record_tags).await {
            tracing::warn!(user = %user.user_name, error = %e, "could not remove a finished rotation's record");
        }
    }
}

/// The credentials secrets are written with: the member's own, or (central
/// storage) the inventory role's in the central account.
async fn store_credentials<P: Platform>(
    platform: &P,
    config: &Config,
    member: &SessionCredentials,
    session: &str,
) -> crate::ports::PortResult<SessionCredentials> {
    if config.secrets.storage != SecretStorage::Central {
        return Ok(member.clone());
    }
    let central = match central_account(config) {
        Some(a) => a,
        None => platform.caller_account().await?,
    };
    let arn = role_arn(config, &central, &config.names().inventory_role);
    platform.assume_role(&arn, session).await
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod regressions;
#[cfg(test)]
mod tests;

/// Whether an action stored a new key in the user's secret.
fn stored_a_key(action: &ActionReport) -> bool {
    matches!(action.action, ActionKind::Rotate | ActionKind::CompleteRotation)
        && matches!(action.result, ActionResult::Done { .. })
}
