//! Who gets which digest: one [`NotificationMessage`] per recipient per
//! account. The account email and admins see the whole account; an owner
//! (from the configured user tag) sees only the users they own.

use crate::lifecycle::UserStatus;
use crate::messages::{NotificationMessage, RecipientKind};
use crate::report::{AccountReport, AccountStatus};
use rekey_config::{Config, EmailAddress};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a report has anything a person should read: an action (planned
/// or done), a warning, a user needing manual action or that failed, or a
/// failed account.
pub fn has_news(report: &AccountReport) -> bool {
    matches!(report.status, AccountStatus::Failed { .. })
        || report.users.iter().any(|u| {
            !u.actions.is_empty()
                || !u.warnings.is_empty()
                || u.error.is_some()
                || matches!(u.status, UserStatus::NeedsManualAction { .. })
        })
}

/// The digests to send for one account's report. Empty when no sender is
/// configured (email is off), when the account is not enrolled, or when
/// there is nothing to report (unless `send_when_nothing_to_report`).
pub fn digests(config: &Config, report: &AccountReport) -> Vec<NotificationMessage> {
    let settings = &config.notifications;
    if settings.sender.is_none() {
        tracing::info!(account_id = %report.account_id, "no `notifications.sender` configured: no email is sent");
        return Vec::new();
    }
    if matches!(report.status, AccountStatus::NotEnrolled { .. }) {
        return Vec::new();
    }
    let wanted = |r: &AccountReport| settings.send_when_nothing_to_report || has_news(r);
    let message = |recipient: &str, kind: RecipientKind, report: AccountReport| NotificationMessage {
        run_id: report.run_id.clone(),
        recipient: recipient.to_string(),
        recipient_kind: kind,
        report,
    };

    let mut out = Vec::new();
    // Lowercased addresses already covered by a full-account digest.
    let mut full_view = BTreeSet::new();
    let mut full: Vec<(String, RecipientKind)> = Vec::new();
    if settings.notify_account_email {
        if let Some(email) = report.account_email.as_deref().and_then(valid_email) {
            full.push((email, RecipientKind::Account));
        }
    }
    full.extend(settings.admin_recipients.iter().map(|a| (a.to_string(), RecipientKind::Admin)));
    for (email, kind) in full {
        if full_view.insert(email.to_lowercase()) && wanted(report) {
            out.push(message(&email, kind, report.clone()));
        }
    }

    if settings.owner_tag_key.is_some() {
        // Owner (lowercased) -> (address as written, indexes of their users).
        let mut owners: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
        for (i, user) in report.users.iter().enumerate() {
            let Some(owner) = user.owner_email.as_deref() else { continue };
            let Some(owner) = valid_email(owner) else {
                tracing::warn!(account_id = %report.account_id, user = %user.user_name, "owner tag value is not an email address; no owner digest");
                continue;
            };
            owners.entry(owner.to_lowercase()).or_insert_with(|| (owner, Vec::new())).1.push(i);
        }
        for (key, (owner, users)) in owners {
            if full_view.contains(&key) {
                continue;
            }
            let mut own = report.clone();
            own.users = users.iter().map(|&i| report.users[i].clone()).collect();
            if wanted(&own) {
                out.push(message(&owner, RecipientKind::Owner, own));
            }
        }
    }
    out
}

fn valid_email(value: &str) -> Option<String> {
    EmailAddress::try_from(value.trim()).ok().map(|e| e.to_string())
}
