//! The crash-safe executor: runs one user's planned actions in order.
//!
//! A rotation follows Secrets Manager's own protocol, so a crash between any
//! two steps leaves a state the next run's planner recognises (from
//! `SecretFacts`) and completes or undoes:
//! 1. claim: create the secret if missing, or adopt one found by name (a
//!    secret of the reference solution has the same name and no tags), then
//!    write this run's in-flight record `rekey:rotation-started/<owner>` (a
//!    lease with the user's current key ids, see [`super::record`]) together
//!    with the `rekey:managed`/`account`/`user` tags, and read the tags back:
//!    a run that finds another run's record there leaves the user alone;
//! 2. `CreateAccessKey`;
//! 3. `PutSecretValue` as `AWSPENDING` with the idempotent token
//!    `rekey-access-key-<AccessKeyId>`;
//! 4. verify with STS `GetCallerIdentity` signed by the new key;
//! 5. promote: `AWSCURRENT` moves to the new version (the old one becomes
//!    `AWSPREVIOUS`), `AWSPENDING` is removed, the record untagged.
//!
//! Every call may have taken effect although it returned an error (the
//! server acted, the answer was lost, the SDK retried). So after an error
//! the executor looks before it acts: a `CreateAccessKey` error re-lists the
//! keys, and the record is dropped only when the list proves no new key
//! exists (a key that does exist keeps its record, and the next run deletes
//! it and rotates again, since its secret half was lost with the answer); a
//! `PutSecretValue` error checks whether the version was stored; a stage
//! move that errs checks whether the stage moved; a delete of a key that is
//! already gone is done. The record is never rewritten with a later start
//! time (a run finishing another's rotation takes over the lease only).
//!
//! Before any destructive action the user's keys are read again and the
//! action is skipped if they changed. After a failed action the user's
//! remaining actions are skipped (a rotate after a failed delete could
//! otherwise exceed the two-key limit).

use super::record::{combined, live_other, record_tag, records_of, InFlight};
use super::{version_id_for, ACCOUNT_TAG, MANAGED_TAG, STAGE_CURRENT, STAGE_PENDING, USER_TAG};
use crate::lifecycle::{
    ActionKind, KeyStatus, PlannedAction, UserFacts, DEACTIVATED_TAG_PREFIX, SEEN_INACTIVE_TAG_PREFIX,
};
use crate::ports::{
    AccessKeyInfo, ErrorKind, IamAccount, NewAccessKey, NewSecret, Platform, PortError, SecretInfo, SecretStore,
    SecretString,
};
use crate::report::{ActionReport, ActionResult};
use chrono::{DateTime, SecondsFormat, Utc};
use rekey_config::Config;
use std::collections::BTreeMap;

/// What the executor acts with.
#[derive(Debug)]
pub struct ExecContext<'a, P: Platform> {
    /// The config (secrets settings).
    pub config: &'a Config,
    /// The member account.
    pub account_id: &'a str,
    /// The run's time (recorded in tags).
    pub now: DateTime<Utc>,
    /// This invocation's lease owner token ([`super::record::new_owner`]).
    pub owner: &'a str,
    /// For key verification.
    pub platform: &'a P,
    /// IAM of the member account.
    pub iam: &'a P::Iam,
    /// The secret store (member or central).
    pub secrets: &'a P::Secrets,
}

/// Why an action did not complete: skipped (state changed) or failed.
enum Outcome {
    Skipped(String),
    Failed(String),
}

type Step<T> = Result<T, Outcome>;

fn failed(e: impl ToString) -> Outcome {
    Outcome::Failed(e.to_string())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Runs `actions` (one user's, in plan order) and reports each.
pub async fn execute_user<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    actions: &[PlannedAction],
) -> Vec<ActionReport> {
    execute_user_storing(ctx, user, actions).await.actions
}

/// What [`execute_user_storing`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// Each action's report.
    pub actions: Vec<ActionReport>,
    /// The secret a key was stored in, when an action stored one: the report
    /// names it without looking it up again.
    pub secret_arn: Option<String>,
}

/// [`execute_user`], also saying which secret a new key went to.
pub async fn execute_user_storing<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    actions: &[PlannedAction],
) -> Executed {
    let mut reports = Vec::with_capacity(actions.len());
    let mut secret_arn = None;
    let mut stop: Option<String> = None;
    for action in actions {
        let result = match &stop {
            Some(why) => ActionResult::Skipped { why: why.clone() },
            None => match run(ctx, user, action).await {
                Ok((new_key, arn)) => {
                    secret_arn = arn.or(secret_arn);
                    ActionResult::Done { new_access_key_id: new_key }
                }
                Err(Outcome::Skipped(why)) => ActionResult::Skipped { why },
                Err(Outcome::Failed(error)) => {
                    stop = Some(format!("not attempted: an earlier action on `{}` failed", action.access_key_id));
                    ActionResult::Failed { error }
                }
            },
        };
        tracing::info!(
            account_id = ctx.account_id,
            user = %user.user_name,
            access_key_id = %action.access_key_id,
            action = ?action.action,
            result = ?result,
            "action"
        );
        reports.push(ActionReport {
            access_key_id: action.access_key_id.clone(),
            action: action.action,
            reason: action.reason,
            due: action.due,
            result,
        });
    }
    Executed { actions: reports, secret_arn }
}

/// A done action: the key it created or promoted, and the secret it stored
/// the key in.
type Done = (Option<String>, Option<String>);

async fn run<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts, action: &PlannedAction) -> Step<Done> {
    let name = &user.user_name;
    let key = action.access_key_id.as_str();
    let keys = ctx.iam.list_access_keys(name).await.map_err(failed)?;
    match action.action {
        ActionKind::Rotate => {
            if keys.len() >= 2 {
                return Err(Outcome::Skipped(format!("`{name}` already has {} keys", keys.len())));
            }
            if !key.is_empty() && find_key(&keys, key).is_none() && !keys.is_empty() {
                return Err(Outcome::Skipped(format!("key `{key}` no longer exists")));
            }
            rotate(ctx, user, &keys).await.map(|(new_key, arn)| (Some(new_key), Some(arn)))
        }
        ActionKind::CompleteRotation => {
            match find_key(&keys, key) {
                Some(k) if k.status == KeyStatus::Active => {}
                _ => return Err(Outcome::Skipped(format!("pending key `{key}` is no longer an active key"))),
            }
            complete(ctx, user, key).await.map(|arn| (Some(key.to_string()), Some(arn)))
        }
        ActionKind::DeleteOrphanKey => delete_orphan(ctx, name, key, &keys).await,
        ActionKind::Deactivate => deactivate(ctx, name, key, &keys).await,
        ActionKind::Delete => delete_inactive(ctx, user, key, &keys).await,
        ActionKind::RecordInactiveSeen => {
            match find_key(&keys, key) {
                Some(k) if k.status == KeyStatus::Inactive => {}
                _ => return Err(Outcome::Skipped(format!("key `{key}` is no longer an inactive key"))),
            }
            let tag = BTreeMap::from([(format!("{SEEN_INACTIVE_TAG_PREFIX}{key}"), rfc3339(ctx.now))]);
            ctx.iam.tag_user(name, &tag).await.map_err(failed)?;
            Ok((None, None))
        }
    }
}

/// The key `id` among `keys`, as listed just before acting.
fn find_key<'k>(keys: &'k [AccessKeyInfo], id: &str) -> Option<&'k AccessKeyInfo> {
    keys.iter().find(|k| k.access_key_id == id)
}

/// Deletes an orphan key (created by a run that crashed before storing it),
/// unless it became the user's only active key or a run stored it since.
async fn delete_orphan<P: Platform>(
    ctx: &ExecContext<'_, P>,
    name: &str,
    key: &str,
    keys: &[AccessKeyInfo],
) -> Step<Done> {
    let Some(k) = find_key(keys, key) else {
        return Err(Outcome::Skipped(format!("key `{key}` no longer exists")));
    };
    let other_active = keys.iter().any(|o| o.access_key_id != key && o.status == KeyStatus::Active);
    if k.status == KeyStatus::Active && !other_active {
        return Err(Outcome::Skipped(format!("key `{key}` is now the user's only active key")));
    }
    // The plan was made from the record as the audit saw it; a run
    // that started since may own this key and be about to store it.
    let secret_name = ctx.config.names().secret_name(ctx.account_id, name);
    let info = ctx.secrets.describe(&secret_name).await.map_err(failed)?;
    let records = info.as_ref().map(|i| records_of(&i.tags)).unwrap_or_default();
    if let Some(record) = live_other(&records, ctx.owner, ctx.now) {
        return Err(Outcome::Skipped(leased_message(name, record)));
    }
    if info.as_ref().is_some_and(|i| i.versions.contains_key(&version_id_for(key))) {
        return Err(Outcome::Skipped(format!("key `{key}` has been stored in the user's secret since")));
    }
    delete_key(ctx, name, key).await.map_err(failed)?;
    Ok((None, None))
}

/// Deactivates a key that has a newer active replacement, recording when.
async fn deactivate<P: Platform>(
    ctx: &ExecContext<'_, P>,
    name: &str,
    key: &str,
    keys: &[AccessKeyInfo],
) -> Step<Done> {
    let newer_active = |of: &AccessKeyInfo| {
        keys.iter()
            .any(|k| k.access_key_id != of.access_key_id && k.status == KeyStatus::Active && k.created > of.created)
    };
    match find_key(keys, key) {
        Some(k) if k.status == KeyStatus::Active && newer_active(k) => {}
        Some(k) if k.status == KeyStatus::Active => {
            return Err(Outcome::Skipped(format!("key `{key}` has no newer active replacement any more")))
        }
        Some(_) => return Err(Outcome::Skipped(format!("key `{key}` is already inactive"))),
        None => return Err(Outcome::Skipped(format!("key `{key}` no longer exists"))),
    }
    // The record first: an inactive key without it is one rekey
    // would never delete (and it would block the next rotation). A
    // record on a key that stays active (the status change failed)
    // is harmless: deletion only considers inactive keys, and the
    // retry writes it again.
    let tag = BTreeMap::from([(format!("{DEACTIVATED_TAG_PREFIX}{key}"), rfc3339(ctx.now))]);
    ctx.iam.tag_user(name, &tag).await.map_err(failed)?;
    ctx.iam.set_access_key_status(name, key, KeyStatus::Inactive).await.map_err(failed)?;
    Ok((None, None))
}

/// Deletes a key that is still inactive, then drops its records from the user's tags.
async fn delete_inactive<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    key: &str,
    keys: &[AccessKeyInfo],
) -> Step<Done> {
    let name = &user.user_name;
    match find_key(keys, key) {
        Some(k) if k.status == KeyStatus::Inactive => {}
        Some(_) => return Err(Outcome::Skipped(format!("key `{key}` is active again"))),
        None => return Err(Outcome::Skipped(format!("key `{key}` no longer exists"))),
    }
    delete_key(ctx, name, key).await.map_err(failed)?;
    // Drop the key's records: IAM allows 50 tags per user.
    let stale: Vec<String> = [DEACTIVATED_TAG_PREFIX, SEEN_INACTIVE_TAG_PREFIX]
        .iter()
        .map(|p| format!("{p}{key}"))
        .filter(|t| user.tags.contains_key(t))
        .collect();
    if !stale.is_empty() {
        ctx.iam.untag_user(name, &stale).await.map_err(|e| failed(format!("key deleted, but {e}")))?;
    }
    Ok((None, None))
}

/// `DeleteAccessKey`; a key already gone counts as deleted (a retried
/// delete whose first attempt took effect answers `NoSuchEntity`).
async fn delete_key<P: Platform>(ctx: &ExecContext<'_, P>, user: &str, key: &str) -> Result<(), PortError> {
    match ctx.iam.delete_access_key(user, key).await {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The secret's JSON value (REF-compatible field names).
fn secret_value(user: &str, key: &NewAccessKey) -> SecretString {
    let value = serde_json::json!({
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key.expose(),
        "UserName": user,
        "CreateDate": rfc3339(key.created),
    });
    SecretString::new(value.to_string())
}

/// The resource policy: the key's owner (and configured extra readers) may read it.
pub fn resource_policy(user_arn: &str, extra_readers: &[String]) -> String {
    let mut principals = vec![user_arn.to_string()];
    principals.extend(extra_readers.iter().cloned());
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OwnerMayRead",
            "Effect": "Allow",
            "Principal": {"AWS": principals},
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "*",
        }],
    })
    .to_string()
}

fn leased_message(user: &str, record: &InFlight) -> String {
    format!(
        "another run (`{}`) is rotating `{user}` (lease until {}): left to it",
        record.owner.as_deref().unwrap_or("unknown"),
        rfc3339(record.expires)
    )
}

/// How a claim treats the record it finds.
enum Claim {
    /// A new rotation over the user's keys as listed just before.
    Start { known_keys: Vec<String> },
    /// Finishing the recorded rotation: take over its lease, keep its start.
    TakeOver,
}

/// A claimed secret: its ARN, the version holding `AWSCURRENT`, the secret
/// as the claim's read-back saw it (`None` for a secret the claim created:
/// it has no version yet), and the record tags the finished rotation
/// removes (this run's, and those of a rotation it took over).
struct Claimed {
    arn: String,
    current: Option<String>,
    seen: Option<SecretInfo>,
    records: Vec<String>,
}

/// Step 1: the secret exists with its tags, policy and replicas, and this
/// invocation holds the rotation's record.
///
/// A user the audit found without a secret gets one created with the record
/// among its tags: `CreateSecret` either creates the name or fails, so the
/// run whose create succeeded holds the record from the secret's first
/// moment, and a concurrent run finds its lease (no read-back needed). A
/// secret that exists (the create failed, or the audit listed it) is tagged
/// with this run's record and read back once: the read-back shows every
/// other run's record ([`super::record`]), a secret scheduled for deletion,
/// the replicas and the labels the promotion starts from. Taking over an
/// unfinished rotation looks at the secret first, for the record it
/// continues.
async fn claim<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts, how: Claim) -> Step<Claimed> {
    let name = ctx.config.names().secret_name(ctx.account_id, &user.user_name);
    let own = record_tag(ctx.owner);
    let mut create_error = None;
    if let (None, Claim::Start { known_keys }) = (&user.secret, &how) {
        let record = InFlight::start(ctx.owner, ctx.now, known_keys.clone());
        match create_claimed(ctx, user, &name, &record).await? {
            Ok(claimed) => return Ok(claimed),
            // It exists (a secret of the reference solution, one created
            // since the audit, or this create took effect although it erred):
            // claim it as any existing secret.
            Err(e) => create_error = Some(e),
        }
    }
    let starting = matches!(how, Claim::Start { .. });
    let record = match how {
        Claim::Start { known_keys } => InFlight::start(ctx.owner, ctx.now, known_keys),
        Claim::TakeOver => taken_over_record(ctx, user, &name).await?,
    };
    // One call adopts a secret found by name (the audit lists only tagged
    // secrets, so an untagged one's pending version would never be seen
    // again) and writes the record.
    if let Err(e) = ctx.secrets.tag(&name, &rekey_tags(ctx, user, Some(&record))).await {
        return match (e.kind, starting, create_error) {
            // No such secret, and this claim's create failed: its error says why.
            (ErrorKind::NotFound, true, Some(create_error)) => Err(failed(create_error)),
            // Gone since the audit listed it: a new secret, created with the record.
            (ErrorKind::NotFound, true, None) => create_claimed(ctx, user, &name, &record).await?.map_err(failed),
            // A secret scheduled for deletion takes no changes: say so.
            _ => match ctx.secrets.describe(&name).await {
                Ok(Some(info)) if info.deleted_date.is_some() => refuse_deleted(&name, &info).and(Err(failed(e))),
                _ => Err(failed(e)),
            },
        };
    }
    let confirmed = match ctx.secrets.describe(&name).await {
        Ok(Some(info)) => info,
        Ok(None) => return Err(failed(format!("secret `{name}` disappeared while being claimed"))),
        Err(e) => {
            release(ctx, &name).await;
            return Err(failed(e));
        }
    };
    let arn = confirmed.arn.clone();
    if let Err(refused) = refuse_deleted(&name, &confirmed) {
        release(ctx, &arn).await;
        return Err(refused);
    }
    let value = record.tag_value();
    if confirmed.tags.get(&own) != Some(&value) {
        return Err(Outcome::Skipped(
            "this run's record was removed right after it was written: left to the next run".to_string(),
        ));
    }
    // Another run's live record: that run claimed at the same moment (each
    // of two such runs sees the other's record, or the one that read back
    // first sees none and the other sees its): leave the user to it. A record
    // whose lease ended is a crashed run's, which the plan already accounts
    // for; this rotation replaces it and removes it when done.
    let records = records_of(&confirmed.tags);
    if let Some(other) = live_other(&records, ctx.owner, ctx.now) {
        let why = leased_message(&user.user_name, other);
        release(ctx, &arn).await;
        return Err(Outcome::Skipped(why));
    }
    if let Err(e) = secure(ctx, user, &arn, &confirmed.replica_regions).await {
        release(ctx, &arn).await;
        return Err(e);
    }
    let current = confirmed.version_with(STAGE_CURRENT).map(str::to_string);
    // This run's record (checked above to be there) and the ended ones,
    // those taken over included: the finished rotation removes them all.
    let records = records.into_iter().map(|(key, _)| key).collect();
    Ok(Claimed { arn, current, seen: Some(confirmed), records })
}

/// The record a run finishing an unfinished rotation writes: the rotation's
/// own (its start and known keys kept, [`combined`] when several runs left
/// one), leased to this run; a live record of another run leaves the user
/// to it.
async fn taken_over_record<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts, name: &str) -> Step<InFlight> {
    let info = ctx.secrets.describe(name).await.map_err(failed)?;
    let info = info.ok_or_else(|| failed(format!("secret `{name}` no longer exists")))?;
    refuse_deleted(name, &info)?;
    let records = records_of(&info.tags);
    if let Some(other) = live_other(&records, ctx.owner, ctx.now) {
        return Err(Outcome::Skipped(leased_message(&user.user_name, other)));
    }
    Ok(match combined(&records) {
        Some(found) => found.taken_over(ctx.owner, ctx.now),
        None => InFlight::start(ctx.owner, ctx.now, Vec::new()),
    })
}

/// Creates the user's secret with `record` among its tags and secures it.
/// The create's error when it fails: the name may exist, so the caller
/// claims it as an existing secret.
async fn create_claimed<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    name: &str,
    record: &InFlight,
) -> Step<Result<Claimed, PortError>> {
    let arn = match ctx.secrets.create(&new_secret(ctx, user, name, Some(record))).await {
        Ok(arn) => arn,
        Err(e) => return Ok(Err(e)),
    };
    if let Err(e) = secure(ctx, user, &arn, &[]).await {
        release(ctx, &arn).await;
        return Err(e);
    }
    Ok(Ok(Claimed { arn, current: None, seen: None, records: vec![record_tag(ctx.owner)] }))
}

/// Refuses a secret scheduled for deletion: it cannot take a new version.
fn refuse_deleted(name: &str, info: &SecretInfo) -> Step<()> {
    match info.deleted_date {
        Some(deleted) => Err(failed(format!(
            "the user's secret `{name}` was scheduled for deletion on {} and cannot take a new key: restore \
             it (`aws secretsmanager restore-secret --secret-id {name}`), or wait until it is deleted and \
             rekey creates a new one",
            rfc3339(deleted)
        ))),
        None => Ok(()),
    }
}

/// The secret's resource policy, and replicas in the configured regions
/// missing from `replicas`.
async fn secure<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts, arn: &str, replicas: &[String]) -> Step<()> {
    let extra: Vec<String> = ctx.config.secrets.extra_reader_principals.iter().map(ToString::to_string).collect();
    ctx.secrets.put_resource_policy(arn, &resource_policy(&user.user_arn, &extra)).await.map_err(failed)?;
    let missing: Vec<String> = ctx
        .config
        .secrets
        .replica_regions
        .iter()
        .map(ToString::to_string)
        .filter(|r| !replicas.contains(r) && r != ctx.config.deployment.region.as_str())
        .collect();
    if !missing.is_empty() {
        ctx.secrets.replicate(arn, &missing).await.map_err(failed)?;
    }
    Ok(())
}

/// The tags rekey keeps on a user's secret, with the in-flight record when given.
fn rekey_tags<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    record: Option<&InFlight>,
) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::from([
        (MANAGED_TAG.to_string(), "true".to_string()),
        (ACCOUNT_TAG.to_string(), ctx.account_id.to_string()),
        (USER_TAG.to_string(), user.user_name.clone()),
    ]);
    if let Some(record) = record {
        tags.insert(record_tag(ctx.owner), record.tag_value());
    }
    tags
}

/// What a user's secret is created with.
fn new_secret<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    name: &str,
    record: Option<&InFlight>,
) -> NewSecret {
    NewSecret {
        name: name.to_string(),
        description: format!(
            "Access key of IAM user `{}` in account `{}`, rotated by rekey",
            user.user_name, ctx.account_id
        ),
        kms_key_id: ctx.config.secrets.kms_key_arn.as_ref().map(ToString::to_string),
        tags: rekey_tags(ctx, user, record),
    }
}

/// Drops this invocation's record (its own tag key: no other run writes it,
/// so there is nothing to check first). Best effort: a record left behind
/// only makes the next run look again.
async fn release<P: Platform>(ctx: &ExecContext<'_, P>, secret_id: &str) {
    if let Err(e) = ctx.secrets.untag(secret_id, &[record_tag(ctx.owner)]).await {
        tracing::warn!(secret = secret_id, error = %e, "could not drop a rotation record; the next run checks it again");
    }
}

/// A full rotation; returns the new key id and the secret's ARN. `keys`
/// are the user's keys as listed just before.
async fn rotate<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    keys: &[AccessKeyInfo],
) -> Step<(String, String)> {
    let known_keys: Vec<String> = keys.iter().map(|k| k.access_key_id.clone()).collect();
    let Claimed { arn, current, records, .. } =
        claim(ctx, user, Claim::Start { known_keys: known_keys.clone() }).await?;
    let new_key = match ctx.iam.create_access_key(&user.user_name).await {
        Ok(k) => k,
        Err(e) => return Err(after_failed_create(ctx, user, &arn, &known_keys, e).await),
    };
    let version = version_id_for(&new_key.access_key_id);
    // The labels the new version got: Secrets Manager makes a secret's first
    // version AWSCURRENT by itself, so the claim's `current` may be out of date.
    let stages = match ctx.secrets.put_pending(&arn, &version, &secret_value(&user.user_name, &new_key)).await {
        Ok(stages) => stages,
        Err(e) => match ctx.secrets.describe(&arn).await {
            // The version may be stored although the call erred.
            Ok(Some(info)) if info.versions.contains_key(&version) => info.versions[&version].clone(),
            _ => return Err(undo_unstored_key(ctx, user, &arn, &known_keys, &new_key.access_key_id, e).await),
        },
    };
    let current = match stages.iter().any(|s| s == STAGE_CURRENT) {
        true => Some(version.as_str()),
        false => current.as_deref(),
    };
    let key = &new_key.access_key_id;
    let promotion = Promotion { arn: &arn, version: &version, current, pending: true, records: &records };
    verify_and_promote(ctx, key, &new_key.secret_access_key, promotion).await?;
    Ok((new_key.access_key_id, arn))
}

/// How often, and how far apart, a failed create looks for a concurrent
/// run storing the key it found (that run stores it within milliseconds).
const CONCURRENT_STORE_POLLS: u32 = 3;
const CONCURRENT_STORE_PAUSE: std::time::Duration = std::time::Duration::from_millis(300);

/// `CreateAccessKey` returned an error. The call may still have created a
/// key (the answer was lost and the SDK's retry hit the two-key limit), so
/// the keys are listed again, and the record is dropped only if no key
/// beyond the known ones exists.
async fn after_failed_create<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    arn: &str,
    known_keys: &[String],
    error: PortError,
) -> Outcome {
    let listed = match ctx.iam.list_access_keys(&user.user_name).await {
        Ok(listed) => listed,
        Err(list_error) => {
            return failed(format!(
                "{error}; the user's keys could not be listed again ({list_error}), so the rotation stays \
                 recorded and the next run checks for a key this call may have created"
            ))
        }
    };
    let unknown: Vec<&str> =
        listed.iter().map(|k| k.access_key_id.as_str()).filter(|id| !known_keys.iter().any(|k| k == id)).collect();
    if unknown.is_empty() {
        release(ctx, arn).await;
        return failed(error);
    }
    // A new key exists. Whose? The claim keeps other rekey runs out, but a
    // run of an earlier version (one shared record key, overwritten unseen)
    // or a person may have created it: a run that stores it does so within
    // moments, or holds a record now; then it is that run's, left to it.
    for attempt in 0..=CONCURRENT_STORE_POLLS {
        let (record_ours, stored) = match ctx.secrets.describe(arn).await {
            Ok(Some(info)) => (
                info.tags.contains_key(&record_tag(ctx.owner))
                    && live_other(&records_of(&info.tags), ctx.owner, ctx.now).is_none(),
                unknown.iter().any(|id| info.versions.contains_key(&version_id_for(id))),
            ),
            _ => (true, false),
        };
        if !record_ours || stored {
            return Outcome::Skipped(format!(
                "another run created key `{}` for `{}` at the same time: left to it",
                unknown.join("`, `"),
                user.user_name
            ));
        }
        if attempt < CONCURRENT_STORE_POLLS {
            tokio::time::sleep(CONCURRENT_STORE_PAUSE).await;
        }
    }
    failed(format!(
        "{error}; yet key `{}` now exists: the call took effect and its answer, with the key's secret half, was \
         lost. The rotation stays recorded: the next run deletes that key (no one can hold its secret) and \
         rotates again",
        unknown.join("`, `")
    ))
}

/// The new key's secret could not be stored: delete the key (a key whose
/// secret nobody has is useless and holds a slot). The record is dropped
/// only when the key list then proves the key is gone.
async fn undo_unstored_key<P: Platform>(
    ctx: &ExecContext<'_, P>,
    user: &UserFacts,
    arn: &str,
    known_keys: &[String],
    key: &str,
    error: PortError,
) -> Outcome {
    if let Err(undo) = delete_key(ctx, &user.user_name, key).await {
        return failed(format!(
            "{error}; deleting the new key `{key}` also failed: {undo}. The rotation stays recorded and the next \
             run deletes that key"
        ));
    }
    let gone = match ctx.iam.list_access_keys(&user.user_name).await {
        Ok(listed) => listed.iter().all(|k| known_keys.contains(&k.access_key_id)),
        Err(_) => false,
    };
    if gone {
        release(ctx, arn).await;
    }
    failed(format!("{error}; the new key `{key}` was deleted again"))
}

/// Finishes a rotation a crashed run left with a pending version; returns
/// the secret's ARN.
async fn complete<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts, key: &str) -> Step<String> {
    let Claimed { arn, current, seen, records } = claim(ctx, user, Claim::TakeOver).await?;
    // The claim's read-back tells which version is pending: rekey's own or
    // (legacy) whatever holds AWSPENDING.
    let labelled = seen.as_ref().and_then(|i| i.version_with(STAGE_PENDING)).map(str::to_string);
    let version = labelled.clone().unwrap_or_else(|| version_id_for(key));
    let value = ctx.secrets.get_version(&arn, &version).await.map_err(failed)?;
    let secret = serde_json::from_str::<serde_json::Value>(value.expose())
        .ok()
        .and_then(|v| v.get("SecretAccessKey").and_then(|s| s.as_str()).map(SecretString::new))
        .ok_or_else(|| failed(format!("pending version `{version}` of `{arn}` holds no SecretAccessKey")))?;
    let promotion = Promotion {
        arn: &arn,
        version: &version,
        current: current.as_deref(),
        pending: labelled.is_some(),
        records: &records,
    };
    verify_and_promote(ctx, key, &secret, promotion).await?;
    Ok(arn)
}

/// `UpdateSecretVersionStage`, accepting an error when a fresh look shows
/// the stage where it was to go (a retried move whose first attempt took
/// effect answers `InvalidParameterException`).
async fn move_stage<P: Platform>(
    ctx: &ExecContext<'_, P>,
    arn: &str,
    stage: &str,
    to: Option<&str>,
    from: Option<&str>,
) -> Step<()> {
    let Err(e) = ctx.secrets.move_stage(arn, stage, to, from).await else {
        return Ok(());
    };
    let done = match ctx.secrets.describe(arn).await {
        Ok(Some(info)) => info.version_with(stage) == to,
        _ => false,
    };
    if done {
        Ok(())
    } else {
        Err(failed(e))
    }
}

/// Where a promotion starts: the secret, the new key's version, the version
/// holding AWSCURRENT as last seen (the claim's read-back, or the new
/// version's own labels), whether the new version carries AWSPENDING (to be
/// removed), and the record tags the finished rotation removes.
struct Promotion<'a> {
    arn: &'a str,
    version: &'a str,
    current: Option<&'a str>,
    pending: bool,
    records: &'a [String],
}

/// Steps 4 and 5; a stage move that errs looks again before failing
/// ([`move_stage`]).
async fn verify_and_promote<P: Platform>(
    ctx: &ExecContext<'_, P>,
    key_id: &str,
    secret: &SecretString,
    promotion: Promotion<'_>,
) -> Step<()> {
    let Promotion { arn, version, current, pending, records } = promotion;
    if ctx.config.secrets.verify_new_key {
        // On failure the key stays pending: the next run verifies again.
        ctx.platform
            .verify_key(key_id, secret)
            .await
            .map_err(|e| failed(format!("new key `{key_id}` is stored as AWSPENDING but did not verify: {e}")))?;
    }
    if current != Some(version) {
        move_stage(ctx, arn, STAGE_CURRENT, Some(version), current).await?;
    }
    if pending {
        move_stage(ctx, arn, STAGE_PENDING, None, Some(version)).await?;
    }
    ctx.secrets.untag(arn, records).await.map_err(failed)?;
    Ok(())
}
