//! The lifecycle proper: rotate at R, deactivate the replaced key at D,
//! delete it at X, decided from the keys' statuses, ages and last use, and
//! from which key the user's secret holds.
//!
//! Invariants every branch keeps (each one a REF defect, §5.2.5-6):
//! - an ACTIVE key is deactivated only when a newer ACTIVE replacement
//!   exists, and never deleted by these rules;
//! - a newer key counts as the replacement only when it is rekey's own or
//!   the older key has not been used since it was created;
//! - a rotation is planned only when it leaves the user at most 2 keys;
//! - when no safe action exists, nothing destructive is planned: the user
//!   needs a person (critical warning, `NeedsManualAction`).

use super::records::Records;
use super::{date, days, Ctx};
use crate::lifecycle::model::*;
use chrono::{DateTime, Utc};

/// Plans the user's keys. `keys` are sorted oldest first; `restart` asks for
/// a rotation because an earlier one was interrupted.
pub(super) fn decide(ctx: &mut Ctx<'_>, keys: &[&KeyFacts], restart: bool, records: &Records) {
    if keys.len() > 2 {
        let message = format!(
            "IAM reports {} keys for the user, more than its limit of 2: rekey does nothing until the extra keys \
             are removed",
            keys.len()
        );
        ctx.needs_person(&keys[0].access_key_id, None, Reason::TooManyKeys, None, message);
        return;
    }

    // Inactive keys first: a delete planned here frees the slot a rotation
    // below may need, and runs before it.
    let mut blockers = Vec::new();
    for key in keys.iter().filter(|k| k.status == KeyStatus::Inactive) {
        if let Remains::Yes(deletion) = inactive_key(ctx, key, records) {
            blockers.push((*key, deletion));
        }
    }

    let active: Vec<&KeyFacts> = keys.iter().copied().filter(|k| k.status == KeyStatus::Active).collect();
    match active.as_slice() {
        [] => {
            if ctx.forced() {
                let message = "a rotation was forced, but the user has no active key to rotate".to_string();
                ctx.warn("", Some(ActionKind::Rotate), Reason::Forced, None, Severity::Warning, message);
            }
        }
        [key] => single_active(ctx, key, blockers.first().copied(), restart),
        [old, new, ..] => two_active(ctx, old, new),
    }
}

/// Whether an inactive key stays after this run, and if so when rekey will
/// delete it (`None`: never, it is left for a person).
enum Remains {
    No,
    Yes(Option<DateTime<Utc>>),
}

/// Plans the deletion of an inactive key.
///
/// REF deleted a lone inactive key 17 days after its *creation*, including
/// keys an administrator disabled on purpose (§5.2.5). Here only keys rekey
/// deactivated itself are deleted by default, once the key is X days old
/// *and* has been inactive X−D days, measured from rekey's own record.
fn inactive_key(ctx: &mut Ctx<'_>, key: &KeyFacts, records: &Records) -> Remains {
    let id = key.access_key_id.as_str();
    let policy = ctx.policy;
    let grace = days(policy.delete_after_days - policy.deactivate_after_days);
    let oldest = key.created + days(policy.delete_after_days);

    let (reason, due) = if let Some(at) = records.deactivated.get(id) {
        (Reason::InactiveGraceOver, oldest.max(*at + grace))
    } else if !policy.delete_stale_inactive_keys {
        let message = format!(
            "key `{id}` is inactive and rekey did not deactivate it: left alone (an administrator may have \
             disabled it on purpose; `lifecycle.delete_stale_inactive_keys` lets rekey delete such keys)"
        );
        ctx.warn(id, None, Reason::InactiveNotByRekey, None, Severity::Warning, message);
        return Remains::Yes(None);
    } else if let Some(at) = records.seen_inactive.get(id) {
        (Reason::StaleInactiveKey, oldest.max(*at + grace))
    } else {
        // First sighting: record it, so the stale grace starts now rather
        // than at some unknown past moment.
        ctx.act(id, ActionKind::RecordInactiveSeen, Reason::StaleInactiveKey, ctx.now);
        (Reason::StaleInactiveKey, oldest.max(ctx.now + grace))
    };

    if ctx.now >= due {
        ctx.act(id, ActionKind::Delete, reason, due);
        return Remains::No;
    }
    let why = match reason {
        Reason::InactiveGraceOver => "rekey deactivated it, and its inactive grace ends then",
        _ => "it is an old inactive key rekey did not deactivate, and its inactive grace ends then",
    };
    ctx.announce(id, ActionKind::Delete, reason, due, why);
    Remains::Yes(Some(due))
}

/// The user's only active key: rotate it when expired, forced, or when an
/// interrupted rotation must start over, unless an inactive key that may not
/// be deleted yet holds the second slot.
fn single_active(
    ctx: &mut Ctx<'_>,
    key: &KeyFacts,
    blocker: Option<(&KeyFacts, Option<DateTime<Utc>>)>,
    restart: bool,
) {
    let id = key.access_key_id.as_str();
    let expiry = key.created + days(ctx.policy.rotate_after_days);
    // Never-used keys take this same path: REF deleted them once expired
    // (issue #11, "keys deleted instead of rotated"); here they are rotated
    // and retired on the same timeline as any other key.
    let (reason, due) = if restart {
        (Reason::InterruptedRotation, ctx.now)
    } else if ctx.forced() {
        (Reason::Forced, ctx.now)
    } else if ctx.now >= expiry {
        (Reason::Expired, expiry)
    } else {
        if let Some(problem) = secret_name_problem(ctx) {
            if expiry <= ctx.now + days(ctx.policy.warn_before_days) {
                let message =
                    format!("key `{id}` reaches the rotation age on {}, but {problem}: {NAME_FIX}", date(expiry));
                ctx.needs_person(id, Some(ActionKind::Rotate), Reason::InvalidSecretName, Some(expiry), message);
            }
            return;
        }
        let why = format!(
            "it reaches the rotation age of {} days; a replacement key is created and stored in the user's secret, \
             and the key stays active for at least {} more days",
            ctx.policy.rotate_after_days,
            ctx.policy.deactivate_after_days - ctx.policy.rotate_after_days
        );
        ctx.announce(id, ActionKind::Rotate, Reason::Expired, expiry, &why);
        return;
    };

    if let Some(problem) = secret_name_problem(ctx) {
        // The rotation would fail at the secret on every run.
        let message = format!("key `{id}` must be rotated ({}), but {problem}: {NAME_FIX}", reason_text(reason));
        ctx.needs_person(id, Some(ActionKind::Rotate), Reason::InvalidSecretName, Some(due), message);
        return;
    }
    let Some((other, deletion)) = blocker else {
        ctx.act(id, ActionKind::Rotate, reason, due);
        return;
    };
    // REF deleted the inactive key immediately to make room (§5.2.5). An
    // inactive key may be the way back after a bad rotation, so it stays
    // until its own grace is over.
    let other_id = other.access_key_id.as_str();
    let when = match deletion {
        Some(at) => format!("rekey deletes it on {}", date(at)),
        None => "rekey never deletes it, as rekey did not deactivate it".to_string(),
    };
    let message = format!(
        "key `{id}` must be rotated ({}), but the user's other key `{other_id}` is inactive and may not be \
         deleted yet ({when}): delete `{other_id}` by hand to let the rotation proceed",
        reason_text(reason)
    );
    ctx.needs_person(id, Some(ActionKind::Rotate), Reason::InactiveKeyBlocksRotation, Some(due), message);
}

/// What a person can do about a user name no secret name can hold.
const NAME_FIX: &str = "rename the user (`aws iam update-user --new-user-name`) so that its secret name is valid, \
                        or exempt the user (`rekey:exempt-until`) and rotate its key by hand";

/// Why the user's secret cannot be created, if it cannot: its name, derived
/// from the user name, would be one Secrets Manager refuses.
fn secret_name_problem(ctx: &Ctx<'_>) -> Option<String> {
    rekey_config::secret_name_problem(&ctx.policy.secret_name_pattern, ctx.account_id, &ctx.user.user_name)
}

/// Two active keys: mid-rotation when only the older one is expired and the
/// newer one is its replacement (see [`replaces`]).
fn two_active(ctx: &mut Ctx<'_>, old: &KeyFacts, new: &KeyFacts) {
    let policy = ctx.policy;
    let (old_id, new_id) = (old.access_key_id.as_str(), new.access_key_id.as_str());
    if ctx.forced() {
        // REF deleted one active key on the spot to make room (§5.2.5).
        let message = format!(
            "a rotation was forced, but the user already has two active keys (`{old_id}`, `{new_id}`) and rekey \
             never deletes an active key to make room: deactivate and delete the one no application uses"
        );
        ctx.needs_person(old_id, Some(ActionKind::Rotate), Reason::Forced, None, message);
    }
    if ctx.now >= new.created + days(policy.rotate_after_days) {
        // REF picked one by last use and deleted it at once (§5.2.5).
        // Which key applications use cannot be known from IAM; a person decides.
        let message = format!(
            "both active keys `{old_id}` and `{new_id}` are expired and rekey cannot tell which one applications \
             use: move them to one key, then deactivate and delete the other"
        );
        ctx.needs_person(old_id, None, Reason::BothKeysExpired, None, message);
        return;
    }
    if !replaces(ctx.user, old, new) {
        // REF (and rekey before) took any newer key for the replacement and
        // deactivated the older one after its grace: a user running one key
        // per application lost the older application's key without warning.
        let message = format!(
            "the user has two active keys: `{old_id}` (last used {}) and the newer `{new_id}` (last used {}), which \
             rekey did not create; `{old_id}` was used after `{new_id}` was created, so rekey cannot tell whether \
             `{new_id}` replaces it or serves another application, and deactivates neither: move the applications \
             to one key and deactivate the other, or give each application its own IAM user",
            last_use(old),
            last_use(new)
        );
        ctx.needs_person(old_id, None, Reason::TwoKeysInUse, None, message);
        return;
    }

    // The replacement gets its full installation grace (D−R days) even when
    // the old key was first seen long expired, e.g. at age 300; REF measured
    // a fixed 7 days (§2.2, configurable here as D−R).
    let due = (old.created + days(policy.deactivate_after_days))
        .max(new.created + days(policy.deactivate_after_days - policy.rotate_after_days));
    if ctx.now < due {
        let why = format!("applications must use its replacement `{new_id}` by then");
        ctx.announce(old_id, ActionKind::Deactivate, Reason::ReplacementGraceOver, due, &why);
        return;
    }
    if let (Some(window), Some(used)) = (policy.require_unused_days_before_deactivate, old.last_used) {
        if used > ctx.now - days(window) {
            let message = format!(
                "key `{old_id}` is due for deactivation since {} but was last used on {}, within the {window} days \
                 of `lifecycle.require_unused_days_before_deactivate`: deactivation is postponed; move applications \
                 to `{new_id}`",
                date(due),
                date(used)
            );
            ctx.needs_person(old_id, Some(ActionKind::Deactivate), Reason::RecentlyUsed, Some(due), message);
            return;
        }
    }
    ctx.act(old_id, ActionKind::Deactivate, Reason::ReplacementGraceOver, due);
}

/// Whether `new` counts as the replacement of the older active key `old`:
/// when it is rekey's own (the user's secret holds it as `AWSCURRENT` or
/// `AWSPENDING`), or when nothing has used `old` since `new` was created, so
/// retiring `old` cannot cut off an application that still relies on it.
fn replaces(user: &UserFacts, old: &KeyFacts, new: &KeyFacts) -> bool {
    let id = Some(new.access_key_id.as_str());
    let rekeys_own =
        user.secret.as_ref().is_some_and(|s| s.current_key_id.as_deref() == id || s.pending_key_id.as_deref() == id);
    rekeys_own || old.last_used.is_none_or(|used| used < new.created)
}

/// A key's last use as people read it.
fn last_use(key: &KeyFacts) -> String {
    key.last_used.map_or_else(|| "never".to_string(), date)
}

fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::Forced => "the rotation was forced",
        Reason::InterruptedRotation => "an interrupted rotation must start over",
        _ => "it is expired",
    }
}
