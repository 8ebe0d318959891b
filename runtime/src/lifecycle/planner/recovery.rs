//! Crash recovery: what a rotation interrupted by an earlier run left in
//! the user's secret, and how to finish or undo it before anything else.
//!
//! The executor follows Secrets Manager's own protocol: record the rotation
//! as started (a lease, with the keys the user had), create the key, store
//! it as `AWSPENDING`, verify, promote to `AWSCURRENT`. A crash can stop it
//! between any two steps, and a call can take effect while its caller sees
//! an error; the reference had no such protocol and lost the new secret
//! when its run stopped after `CreateAccessKey`.
//!
//! While another run holds the record's lease, the user is left alone:
//! that run may be between `CreateAccessKey` and storing the key, and its
//! key would look exactly like an orphan.

use super::{date, Ctx};
use crate::lifecycle::model::*;
use chrono::DateTime;
use chrono::Utc;

/// What recovery leaves for the lifecycle rules.
pub(super) struct Recovery<'k> {
    /// The keys the lifecycle rules decide over (orphans being deleted removed).
    pub keys: Vec<&'k KeyFacts>,
    /// A rotation was started and must start over (if the user has a free slot).
    pub restart: bool,
    /// A `CompleteRotation` was planned: it runs alone this time.
    pub completing: bool,
    /// Another run is rotating the user right now: plan nothing else.
    pub leased: bool,
}

/// Plans the recovery actions for the user and returns what is left to decide.
pub(super) fn recover<'k>(ctx: &mut Ctx<'_>, keys: Vec<&'k KeyFacts>) -> Recovery<'k> {
    let nothing = |keys| Recovery { keys, restart: false, completing: false, leased: false };
    let Some(secret) = ctx.user.secret.as_ref() else {
        return nothing(keys);
    };

    if secret.rotation_leased_at(ctx.now) {
        let owner = secret.rotation_owner.as_deref().unwrap_or("another run");
        let until = secret.rotation_lease_until.map(|t| t.to_rfc3339()).unwrap_or_default();
        let message = format!(
            "a rotation of this user by `{owner}` is in flight (its lease holds until {until}): rekey leaves the \
             user alone until it finishes or the lease ends{}",
            secret.rotation_started.map(|s| format!("; started {}", date(s))).unwrap_or_default()
        );
        let key = keys.first().map(|k| k.access_key_id.as_str()).unwrap_or("");
        ctx.warn(key, None, Reason::RotationInFlight, secret.rotation_lease_until, Severity::Warning, message);
        return Recovery { keys, restart: false, completing: false, leased: true };
    }

    if let Some(pending) = secret.pending_key_id.as_deref() {
        if let Some(key) = keys.iter().find(|k| k.access_key_id == pending) {
            if key.status == KeyStatus::Active {
                // The key exists and its secret is stored: finish, never
                // create a second key for the same rotation.
                ctx.act(pending, ActionKind::CompleteRotation, Reason::InterruptedRotation, ctx.now);
                return Recovery { keys, restart: false, completing: true, leased: false };
            }
            let message = format!(
                "the pending key `{pending}` of an interrupted rotation is inactive, so rekey cannot verify and \
                 promote it: reactivate it, or delete it and clear the secret's pending version"
            );
            ctx.needs_person(pending, Some(ActionKind::CompleteRotation), Reason::InterruptedRotation, None, message);
            return nothing(keys);
        }
    }

    // A pending version whose key is gone, or a started rotation with no
    // pending version, means the rotation has to be done again.
    let restart = secret.pending_key_id.is_some();
    let Some(started) = secret.rotation_started else {
        return Recovery { keys, restart, completing: false, leased: false };
    };
    let current = secret.current_key_id.as_deref();
    if keys.iter().any(|k| secret.new_since_record(k) && Some(k.access_key_id.as_str()) == current) {
        // The new key reached AWSCURRENT: the rotation finished and only
        // its record lingers. Rotating again would be a needless rotation.
        return nothing(keys);
    }
    let mut restart = true;

    let is_orphan = |k: &KeyFacts| {
        secret.created_by_recorded_rotation(k)
            // Never delete the key applications read from AWSCURRENT.
            && Some(k.access_key_id.as_str()) != current
            && Some(k.access_key_id.as_str()) != secret.pending_key_id.as_deref()
    };
    let (orphans, mut kept): (Vec<&KeyFacts>, Vec<&KeyFacts>) = keys.into_iter().partition(|k| is_orphan(k));
    let kept_active = kept.iter().any(|k| k.status == KeyStatus::Active);
    for orphan in orphans {
        if kept_active {
            // Its secret was never stored, so nothing can be using it; it
            // only holds the slot the restarted rotation needs.
            ctx.act(&orphan.access_key_id, ActionKind::DeleteOrphanKey, Reason::InterruptedRotation, ctx.now);
        } else {
            let message = orphan_is_only_active_key(orphan, started);
            ctx.needs_person(
                &orphan.access_key_id,
                Some(ActionKind::DeleteOrphanKey),
                Reason::InterruptedRotation,
                None,
                message,
            );
            kept.push(orphan);
            // Rotating would replace a key nobody holds; a person decides.
            restart = false;
        }
    }
    kept.sort_by(|a, b| (a.created, &a.access_key_id).cmp(&(b.created, &b.access_key_id)));
    Recovery { keys: kept, restart, completing: false, leased: false }
}

fn orphan_is_only_active_key(orphan: &KeyFacts, started: DateTime<Utc>) -> String {
    format!(
        "key `{}` was created by a rotation interrupted at {} and its secret was never stored, but it is the \
         user's only active key: rekey does not delete it; delete it by hand if no application uses it",
        orphan.access_key_id,
        started.to_rfc3339()
    )
}
