//! The first line of a digest, per audience: an owner reads what to do and
//! by when; an account contact and an admin read the state of their
//! account(s) at a glance. Plain text (no markup), so both parts and
//! custom templates can use it as is.

use super::context::EmailContext;

/// The headline of a finished context.
pub(crate) fn headline(ctx: &EmailContext) -> String {
    match ctx.recipient_kind {
        "owner" => owner(ctx),
        _ => overview(ctx),
    }
}

/// What the owner must do first, and by when.
fn owner(ctx: &EmailContext) -> String {
    let people = ctx.needs_person.len();
    if people > 0 {
        let users = join_users(ctx.needs_person.iter().map(|p| p.user.as_str()));
        return format!("Action needed now: {people} item(s) need you ({users}); see \"Needs a person\" below.");
    }
    let stored: Vec<&str> = ctx.secrets.iter().map(|s| s.user.as_str()).collect();
    let rotated = !ctx.audit && ctx.actions.iter().any(|a| a.result == "done" && a.detail.is_some());
    // The earliest date something happens to one of the owner's keys.
    let next = ctx
        .warnings
        .iter()
        .filter_map(|w| w.due.as_deref().map(|d| (d, w.user.as_str())))
        .chain(ctx.actions.iter().filter(|a| a.result == "planned").map(|a| (a.due.as_str(), a.user.as_str())))
        .min();
    match (rotated, next) {
        (true, Some((due, _))) => format!(
            "Switch {} to the new key in AWS Secrets Manager by {due}: the old key is deactivated after that.",
            join_users(stored.into_iter())
        ),
        (true, None) => format!(
            "Switch {} to the new key in AWS Secrets Manager now: the old key will be deactivated.",
            join_users(stored.into_iter())
        ),
        (false, Some((due, user))) => {
            format!("By {due}: {user}'s access key is due for a change; see below for what rekey will do.")
        }
        (false, None) => "Nothing needs you: your keys are within policy.".to_string(),
    }
}

/// The state of the account(s): what changed and what needs a person.
fn overview(ctx: &EmailContext) -> String {
    let s = &ctx.summary;
    let scope = match ctx.account_count {
        1 if !ctx.account_name.is_empty() => format!("Account {} ({})", ctx.account_name, ctx.account_id),
        n => format!("{n} account(s)"),
    };
    let done = if ctx.audit {
        format!("{} action(s) planned (audit: nothing was changed)", s.planned)
    } else {
        format!("{} key(s) rotated, {} deactivated, {} deleted", s.rotated, s.deactivated, s.deleted)
    };
    let people = match s.needs_person {
        0 => "nothing needs a person".to_string(),
        n => format!("{n} item(s) need a person"),
    };
    format!("{scope}: {done}; {people}.")
}

/// `a, b and 3 more`, without repeats.
fn join_users<'a>(users: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = users.filter(|u| !u.is_empty()).collect();
    names.dedup();
    match names.len() {
        0 => "your users".to_string(),
        1..=3 => names.join(", "),
        n => format!("{} and {} more", names[..3].join(", "), n - 3),
    }
}
