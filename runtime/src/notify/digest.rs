//! Who gets which digest: one [`Digest`] per recipient per run, with one
//! section per account that recipient may see. The account email and admins
//! see whole accounts; an owner (from the configured user tag) sees only the
//! users they own. Accounts that never reported before the run's wait ran
//! out are named in the admins' digests.

use crate::messages::{Digest, DigestSection, RecipientKind};
use crate::report::{AccountReport, AccountStatus, UserReport};
use rekey_config::{Config, EmailAddress};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a report has anything a person should read: an action (planned
/// or done), a warning, a user needing manual action or that failed, or a
/// failed account.
pub fn has_news(report: &AccountReport) -> bool {
    matches!(report.status, AccountStatus::Failed { .. }) || report.users.iter().any(UserReport::has_news)
}

/// The digests of a run: `reports` are the accounts that reported (in any
/// order), `missing_account_ids` those that did not. Empty when no sender
/// is configured (email is off). Accounts that are not enrolled, and (unless
/// `send_when_nothing_to_report`) sections with nothing to report, are left
/// out; a recipient with no section left gets no email.
pub fn digests(
    config: &Config,
    run_id: &str,
    reports: &[AccountReport],
    missing_account_ids: &[String],
) -> Vec<Digest> {
    if config.notifications.sender.is_none() {
        tracing::info!(run_id, "no `notifications.sender` configured: no email is sent");
        return Vec::new();
    }
    let mut reports: Vec<&AccountReport> = reports.iter().collect();
    reports.sort_by(|a, b| a.account_id.cmp(&b.account_id));

    // Recipient (lowercased) -> its digest; `order` keeps first-seen order.
    let mut by_recipient: BTreeMap<String, Digest> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut add = |recipient: String, section: Option<DigestSection>, missing: &[String]| {
        let key = recipient.to_lowercase();
        let digest = by_recipient.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Digest { run_id: run_id.to_string(), recipient, sections: Vec::new(), missing_account_ids: Vec::new() }
        });
        digest.sections.extend(section);
        digest.missing_account_ids.extend(missing.iter().cloned());
    };
    for report in reports {
        for (recipient, recipient_kind, report) in account_views(config, report) {
            add(recipient, Some(DigestSection { recipient_kind, report }), &[]);
        }
    }
    if !missing_account_ids.is_empty() {
        for admin in &config.notifications.admin_recipients {
            add(admin.to_string(), None, missing_account_ids);
        }
    }
    order.into_iter().filter_map(|key| by_recipient.remove(&key)).collect()
}

/// Who sees one account's report, and what of it: (recipient, why, view).
fn account_views(config: &Config, report: &AccountReport) -> Vec<(String, RecipientKind, AccountReport)> {
    let settings = &config.notifications;
    if matches!(report.status, AccountStatus::NotEnrolled { .. }) {
        return Vec::new();
    }
    let wanted = |r: &AccountReport| settings.send_when_nothing_to_report || has_news(r);

    let mut out = Vec::new();
    // Lowercased addresses already given the whole account.
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
            out.push((email, kind, report.clone()));
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
            // The chart of an owner's digest counts only their keys.
            own.key_ages = report.key_ages.map(|bands| bands.recount(&own.users));
            if wanted(&own) {
                out.push((owner, RecipientKind::Owner, own));
            }
        }
    }
    out
}

fn valid_email(value: &str) -> Option<String> {
    EmailAddress::try_from(value.trim()).ok().map(|e| e.to_string())
}
