//! The crash-safe executor: runs one user's planned actions in order.
//!
//! A rotation follows Secrets Manager's own four-step protocol, so a crash
//! between any two steps leaves a state the next run's planner recognises
//! (from `SecretFacts`) and completes or undoes:
//! 1. record: create the secret if missing (tags, KMS key, resource policy,
//!    missing replicas), tag it `rekey:rotation-started=<now>`;
//! 2. `CreateAccessKey`;
//! 3. `PutSecretValue` as `AWSPENDING` with the idempotent token
//!    `rekey-access-key-<AccessKeyId>` (on failure the new key is deleted);
//! 4. verify with STS `GetCallerIdentity` signed by the new key;
//! 5. promote: `AWSCURRENT` moves to the new version (the old one becomes
//!    `AWSPREVIOUS`), `AWSPENDING` is removed, the started tag untagged.
//!
//! Before any destructive action the user's keys are read again and the
//! action is skipped if they changed. After a failed action the user's
//! remaining actions are skipped (a rotate after a failed delete could
//! otherwise exceed the two-key limit).

use super::{version_id_for, ACCOUNT_TAG, MANAGED_TAG, ROTATION_STARTED_TAG, STAGE_CURRENT, STAGE_PENDING, USER_TAG};
use crate::lifecycle::{
    ActionKind, KeyStatus, PlannedAction, UserFacts, DEACTIVATED_TAG_PREFIX, SEEN_INACTIVE_TAG_PREFIX,
};
use crate::ports::{AccessKeyInfo, IamAccount, NewAccessKey, NewSecret, Platform, SecretStore, SecretString};
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
    let mut reports = Vec::with_capacity(actions.len());
    let mut stop: Option<String> = None;
    for action in actions {
        let result = match &stop {
            Some(why) => ActionResult::Skipped { why: why.clone() },
            None => match run(ctx, user, action).await {
                Ok(new_key) => ActionResult::Done { new_access_key_id: new_key },
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
    reports
}

async fn run<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts, action: &PlannedAction) -> Step<Option<String>> {
    let name = &user.user_name;
    let key = action.access_key_id.as_str();
    let keys = ctx.iam.list_access_keys(name).await.map_err(failed)?;
    let find = |id: &str| keys.iter().find(|k| k.access_key_id == id);
    let newer_active = |of: &AccessKeyInfo| {
        keys.iter()
            .any(|k| k.access_key_id != of.access_key_id && k.status == KeyStatus::Active && k.created > of.created)
    };
    match action.action {
        ActionKind::Rotate => {
            if keys.len() >= 2 {
                return Err(Outcome::Skipped(format!("`{name}` already has {} keys", keys.len())));
            }
            if !key.is_empty() && find(key).is_none() && !keys.is_empty() {
                return Err(Outcome::Skipped(format!("key `{key}` no longer exists")));
            }
            rotate(ctx, user).await.map(Some)
        }
        ActionKind::CompleteRotation => {
            match find(key) {
                Some(k) if k.status == KeyStatus::Active => {}
                _ => return Err(Outcome::Skipped(format!("pending key `{key}` is no longer an active key"))),
            }
            complete(ctx, user, key).await.map(|()| Some(key.to_string()))
        }
        ActionKind::DeleteOrphanKey => {
            let Some(k) = find(key) else {
                return Err(Outcome::Skipped(format!("key `{key}` no longer exists")));
            };
            let other_active = keys.iter().any(|o| o.access_key_id != key && o.status == KeyStatus::Active);
            if k.status == KeyStatus::Active && !other_active {
                return Err(Outcome::Skipped(format!("key `{key}` is now the user's only active key")));
            }
            ctx.iam.delete_access_key(name, key).await.map_err(failed)?;
            Ok(None)
        }
        ActionKind::Deactivate => {
            match find(key) {
                Some(k) if k.status == KeyStatus::Active && newer_active(k) => {}
                Some(k) if k.status == KeyStatus::Active => {
                    return Err(Outcome::Skipped(format!("key `{key}` has no newer active replacement any more")))
                }
                Some(_) => return Err(Outcome::Skipped(format!("key `{key}` is already inactive"))),
                None => return Err(Outcome::Skipped(format!("key `{key}` no longer exists"))),
            }
            ctx.iam.set_access_key_status(name, key, KeyStatus::Inactive).await.map_err(failed)?;
            let tag = BTreeMap::from([(format!("{DEACTIVATED_TAG_PREFIX}{key}"), rfc3339(ctx.now))]);
            ctx.iam.tag_user(name, &tag).await.map_err(|e| failed(format!("key deactivated, but {e}")))?;
            Ok(None)
        }
        ActionKind::Delete => {
            match find(key) {
                Some(k) if k.status == KeyStatus::Inactive => {}
                Some(_) => return Err(Outcome::Skipped(format!("key `{key}` is active again"))),
                None => return Err(Outcome::Skipped(format!("key `{key}` no longer exists"))),
            }
            ctx.iam.delete_access_key(name, key).await.map_err(failed)?;
            // Drop the key's records: IAM allows 50 tags per user.
            let stale: Vec<String> = [DEACTIVATED_TAG_PREFIX, SEEN_INACTIVE_TAG_PREFIX]
                .iter()
                .map(|p| format!("{p}{key}"))
                .filter(|t| user.tags.contains_key(t))
                .collect();
            if !stale.is_empty() {
                ctx.iam.untag_user(name, &stale).await.map_err(|e| failed(format!("key deleted, but {e}")))?;
            }
            Ok(None)
        }
        ActionKind::RecordInactiveSeen => {
            match find(key) {
                Some(k) if k.status == KeyStatus::Inactive => {}
                _ => return Err(Outcome::Skipped(format!("key `{key}` is no longer an inactive key"))),
            }
            let tag = BTreeMap::from([(format!("{SEEN_INACTIVE_TAG_PREFIX}{key}"), rfc3339(ctx.now))]);
            ctx.iam.tag_user(name, &tag).await.map_err(failed)?;
            Ok(None)
        }
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

/// Step 1: the secret exists with its tags, policy and replicas, and the
/// rotation is recorded as started. Returns the secret's ARN and the
/// version currently holding `AWSCURRENT`.
async fn record_start<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts) -> Step<(String, Option<String>)> {
    let names = ctx.config.names();
    let name = names.secret_name(ctx.account_id, &user.user_name);
    let existing = ctx.secrets.describe(&name).await.map_err(failed)?;
    let (arn, current, replicas) = match existing {
        Some(info) => {
            let current = info.version_with(STAGE_CURRENT).map(str::to_string);
            (info.arn, current, info.replica_regions)
        }
        None => {
            let secret = NewSecret {
                name: name.clone(),
                description: format!(
                    "Access key of IAM user `{}` in account `{}`, rotated by rekey",
                    user.user_name, ctx.account_id
                ),
                kms_key_id: ctx.config.secrets.kms_key_arn.as_ref().map(ToString::to_string),
                tags: BTreeMap::from([
                    (MANAGED_TAG.to_string(), "true".to_string()),
                    (ACCOUNT_TAG.to_string(), ctx.account_id.to_string()),
                    (USER_TAG.to_string(), user.user_name.clone()),
                ]),
            };
            (ctx.secrets.create(&secret).await.map_err(failed)?, None, Vec::new())
        }
    };
    let extra: Vec<String> = ctx.config.secrets.extra_reader_principals.iter().map(ToString::to_string).collect();
    ctx.secrets.put_resource_policy(&arn, &resource_policy(&user.user_arn, &extra)).await.map_err(failed)?;
    let missing: Vec<String> = ctx
        .config
        .secrets
        .replica_regions
        .iter()
        .map(ToString::to_string)
        .filter(|r| !replicas.contains(r) && r != ctx.config.deployment.region.as_str())
        .collect();
    if !missing.is_empty() {
        ctx.secrets.replicate(&arn, &missing).await.map_err(failed)?;
    }
    let started = BTreeMap::from([(ROTATION_STARTED_TAG.to_string(), rfc3339(ctx.now))]);
    ctx.secrets.tag(&arn, &started).await.map_err(failed)?;
    Ok((arn, current))
}

/// A full rotation; returns the new key id.
async fn rotate<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts) -> Step<String> {
    let (arn, current) = record_start(ctx, user).await?;
    let new_key = match ctx.iam.create_access_key(&user.user_name).await {
        Ok(k) => k,
        Err(e) => {
            // Nothing was created: drop the record so no later key is taken
            // for an orphan of this attempt.
            let _ = ctx.secrets.untag(&arn, &[ROTATION_STARTED_TAG.to_string()]).await;
            return Err(failed(e));
        }
    };
    let version = version_id_for(&new_key.access_key_id);
    if let Err(e) = ctx.secrets.put_pending(&arn, &version, &secret_value(&user.user_name, &new_key)).await {
        // Compensation: a key whose secret was never stored is useless.
        let undo = ctx.iam.delete_access_key(&user.user_name, &new_key.access_key_id).await;
        let _ = ctx.secrets.untag(&arn, &[ROTATION_STARTED_TAG.to_string()]).await;
        return Err(failed(match undo {
            Ok(()) => format!("{e}; the new key `{}` was deleted again", new_key.access_key_id),
            Err(u) => format!("{e}; deleting the new key `{}` also failed: {u}", new_key.access_key_id),
        }));
    }
    verify_and_promote(ctx, &arn, &new_key.access_key_id, &new_key.secret_access_key, &version, current.as_deref())
        .await?;
    Ok(new_key.access_key_id)
}

/// Finishes a rotation a crashed run left with a pending version.
async fn complete<P: Platform>(ctx: &ExecContext<'_, P>, user: &UserFacts, key: &str) -> Step<()> {
    let (arn, current) = record_start(ctx, user).await?;
    let version = version_id_for(key);
    let info = ctx.secrets.describe(&arn).await.map_err(failed)?;
    // The pending version is rekey's own or (legacy) whatever holds AWSPENDING.
    let version = match info.as_ref().and_then(|i| i.version_with(STAGE_PENDING)) {
        Some(v) => v.to_string(),
        None => version,
    };
    let value = ctx.secrets.get_version(&arn, &version).await.map_err(failed)?;
    let secret = serde_json::from_str::<serde_json::Value>(value.expose())
        .ok()
        .and_then(|v| v.get("SecretAccessKey").and_then(|s| s.as_str()).map(SecretString::new))
        .ok_or_else(|| failed(format!("pending version `{version}` of `{arn}` holds no SecretAccessKey")))?;
    verify_and_promote(ctx, &arn, key, &secret, &version, current.as_deref()).await
}

/// Steps 4 and 5.
async fn verify_and_promote<P: Platform>(
    ctx: &ExecContext<'_, P>,
    arn: &str,
    key_id: &str,
    secret: &SecretString,
    version: &str,
    current: Option<&str>,
) -> Step<()> {
    if ctx.config.secrets.verify_new_key {
        // On failure the key stays pending: the next run verifies again.
        ctx.platform
            .verify_key(key_id, secret)
            .await
            .map_err(|e| failed(format!("new key `{key_id}` is stored as AWSPENDING but did not verify: {e}")))?;
    }
    // Read the labels again: Secrets Manager puts AWSCURRENT on a secret's
    // first version by itself, and `current` may predate that.
    let fresh = ctx.secrets.describe(arn).await.map_err(failed)?;
    let current = fresh.as_ref().and_then(|i| i.version_with(STAGE_CURRENT)).or(current);
    if current != Some(version) {
        ctx.secrets.move_stage(arn, STAGE_CURRENT, Some(version), current).await.map_err(failed)?;
    }
    ctx.secrets.move_stage(arn, STAGE_PENDING, None, Some(version)).await.map_err(failed)?;
    ctx.secrets.untag(arn, &[ROTATION_STARTED_TAG.to_string()]).await.map_err(failed)?;
    Ok(())
}
