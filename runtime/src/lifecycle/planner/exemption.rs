//! Exemptions: membership of the exemption group, or the
//! `rekey:exempt-until` tag while its date has not passed.

use super::Ctx;
use crate::lifecycle::model::*;
use chrono::NaiveDate;

/// The user's `Exempt` status, if exempt. A malformed `rekey:exempt-until`
/// value is not an exemption (a typo must not silently stop rotation
/// forever); it raises a critical warning instead.
pub(super) fn check(ctx: &mut Ctx<'_>) -> Option<UserStatus> {
    if ctx.user.in_exemption_group {
        let reason = match &ctx.policy.exemption_group {
            Some(group) => format!("member of the exemption group `{group}`"),
            None => "member of the exemption group".to_string(),
        };
        return Some(UserStatus::Exempt { reason, until: None });
    }
    let value = ctx.user.tags.get(EXEMPT_UNTIL_TAG)?;
    match NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
        // Inclusive: "exempt until 2026-01-31" still covers that whole day.
        Ok(until) if ctx.now.date_naive() <= until => {
            let reason = match ctx.user.tags.get(EXEMPT_REASON_TAG) {
                Some(reason) if !reason.trim().is_empty() => reason.trim().to_string(),
                _ => format!("tag `{EXEMPT_UNTIL_TAG}`"),
            };
            Some(UserStatus::Exempt { reason, until: Some(until) })
        }
        Ok(_) => None,
        Err(_) => {
            let message = format!(
                "tag `{EXEMPT_UNTIL_TAG}` has value `{value}`, which is not a date (YYYY-MM-DD): \
                 the user is not exempt; fix or remove the tag"
            );
            ctx.warn("", None, Reason::MalformedTag, None, Severity::Critical, message);
            None
        }
    }
}
