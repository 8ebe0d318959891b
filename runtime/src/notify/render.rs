//! Renders a digest with tera: an HTML part (autoescaped, because its
//! template name ends in `.html`), a plain-text part, and the subject (a
//! tera template from `notifications.subject`). Built-in templates are
//! embedded in the binary; `notifications.html_template` /
//! `text_template` replace them.

use crate::lifecycle::{ActionKind, Reason, Severity, UserStatus};
use crate::messages::{Digest, RecipientKind};
use crate::report::{AccountStatus, ActionResult, EffectiveMode};
use rekey_config::Config;
use serde::Serialize;
use tera::{Context, Tera};

/// The built-in HTML template.
pub const BUILTIN_HTML: &str = include_str!("../../templates/email.html.tera");
/// The built-in plain-text template.
pub const BUILTIN_TEXT: &str = include_str!("../../templates/email.txt.tera");

// Names decide escaping: tera autoescapes names ending in `.html`.
const HTML: &str = "email.html";
const TEXT: &str = "email.txt";
const SUBJECT: &str = "subject.txt";

/// A template that does not compile or render.
#[derive(Debug, thiserror::Error)]
#[error("email template `{template}`: {message}")]
pub struct TemplateError {
    /// Which template (`email.html`, `email.txt`, `subject.txt`).
    pub template: String,
    /// Tera's message, with its causes.
    pub message: String,
}

impl TemplateError {
    fn new(template: &str, e: tera::Error) -> Self {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        TemplateError { template: template.to_string(), message }
    }
}

/// The three rendered parts of a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedEmail {
    /// One line.
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

/// Compiled templates, built once per process.
#[derive(Debug)]
pub struct Renderer {
    tera: Tera,
}

impl Renderer {
    /// Compiles the subject and the (built-in or overridden) templates of `config`.
    pub fn new(config: &Config) -> Result<Renderer, TemplateError> {
        let overrides = config.templates();
        let mut tera = Tera::default();
        for (name, text) in [
            (HTML, overrides.html.as_deref().unwrap_or(BUILTIN_HTML)),
            (TEXT, overrides.text.as_deref().unwrap_or(BUILTIN_TEXT)),
            (SUBJECT, config.notifications.subject.as_str()),
        ] {
            tera.add_raw_template(name, text).map_err(|e| TemplateError::new(name, e))?;
        }
        Ok(Renderer { tera })
    }

    /// Renders one digest.
    pub fn render(&self, digest: &Digest) -> Result<RenderedEmail, TemplateError> {
        let context =
            Context::from_serialize(EmailContext::from_digest(digest)).map_err(|e| TemplateError::new("context", e))?;
        let render = |name: &str| self.tera.render(name, &context).map_err(|e| TemplateError::new(name, e));
        let subject = render(SUBJECT)?;
        // One line: a newline in a header would start another header.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(RenderedEmail { subject, html: render(HTML)?, text: render(TEXT)? })
    }
}

/// Everything a template can use. Documented in the README; fields are
/// only ever added, so custom templates keep working. A digest covers every
/// account of a run the recipient may see: the line lists are flat, each
/// line naming its account, and `accounts` lists the accounts themselves.
#[derive(Clone, Debug, Serialize)]
pub struct EmailContext {
    /// Run id.
    pub run_id: String,
    /// The account's id when the digest covers exactly one account, else empty.
    pub account_id: String,
    /// The account's name when the digest covers exactly one account, else empty.
    pub account_name: String,
    /// Accounts in this digest.
    pub account_count: usize,
    /// `audit` or `enforce`.
    pub mode: &'static str,
    /// True in audit mode: nothing was changed.
    pub audit: bool,
    /// Actions plus warnings plus user errors plus failed and missing accounts (the subject's count).
    pub action_count: usize,
    /// This digest's recipient.
    pub recipient: String,
    /// `account`, `owner` or `admin`: the widest view among the accounts.
    pub recipient_kind: &'static str,
    /// The accounts, by id.
    pub accounts: Vec<AccountLine>,
    /// Accounts of the run with no result when its wait ran out (admins only).
    pub missing_accounts: Vec<String>,
    /// Actions, planned (audit) or with their result (enforce).
    pub actions: Vec<ActionLine>,
    /// Upcoming actions and problems.
    pub warnings: Vec<WarningLine>,
    /// Exempt users.
    pub exempt: Vec<ExemptLine>,
    /// Users a person must act on.
    pub manual: Vec<ManualLine>,
    /// Users whose processing failed.
    pub errors: Vec<ErrorLine>,
    /// Secrets holding new keys, and how to read them.
    pub secrets: Vec<SecretLine>,
}

/// One account of the digest.
#[derive(Clone, Debug, Serialize)]
pub struct AccountLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Why the recipient sees it: `account`, `owner` or `admin`.
    pub recipient_kind: &'static str,
    /// Set when the whole account failed.
    pub error: Option<String>,
    /// Users left out of the report to fit a size limit (see the run summary in the logs).
    pub users_omitted: usize,
}

/// One action line.
#[derive(Clone, Debug, Serialize)]
pub struct ActionLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Key acted on.
    pub access_key_id: String,
    /// E.g. `rotate`.
    pub action: String,
    /// Human sentence for the action.
    pub action_text: String,
    /// Human sentence for the reason.
    pub reason: String,
    /// Due date, `YYYY-MM-DD`.
    pub due: String,
    /// `planned`, `done`, `skipped` or `failed`.
    pub result: &'static str,
    /// Why skipped or failed, or the new key id.
    pub detail: Option<String>,
}

/// One warning line.
#[derive(Clone, Debug, Serialize)]
pub struct WarningLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Key concerned.
    pub access_key_id: String,
    /// `warning` or `critical`.
    pub severity: &'static str,
    /// The sentence.
    pub message: String,
    /// Due date of the coming action, `YYYY-MM-DD`, if any.
    pub due: Option<String>,
}

/// One exempt user.
#[derive(Clone, Debug, Serialize)]
pub struct ExemptLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Why.
    pub reason: String,
    /// Until when, `YYYY-MM-DD`.
    pub until: Option<String>,
}

/// One user needing manual action.
#[derive(Clone, Debug, Serialize)]
pub struct ManualLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// What to do and why.
    pub reason: String,
}

/// One failed user.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// The error (no secret, ever).
    pub error: String,
}

/// One secret: where a user's current key is stored.
#[derive(Clone, Debug, Serialize)]
pub struct SecretLine {
    /// 12-digit account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// IAM user.
    pub user: String,
    /// Secret ARN.
    pub arn: String,
    /// The AWS CLI command that reads it (run by the user).
    pub read_command: String,
}

fn kind_name(kind: RecipientKind) -> &'static str {
    match kind {
        RecipientKind::Account => "account",
        RecipientKind::Owner => "owner",
        RecipientKind::Admin => "admin",
    }
}

impl EmailContext {
    /// The context of one digest.
    pub fn from_digest(digest: &Digest) -> EmailContext {
        let date = |d: &chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d").to_string();
        let mode = digest.sections.first().map_or(EffectiveMode::Audit, |s| s.report.mode);
        let single = (digest.sections.len() == 1).then(|| &digest.sections[0].report);
        let mut ctx = EmailContext {
            run_id: digest.run_id.clone(),
            account_id: single.map(|r| r.account_id.clone()).unwrap_or_default(),
            account_name: single.map(|r| r.account_name.clone()).unwrap_or_default(),
            account_count: digest.sections.len(),
            mode: match mode {
                EffectiveMode::Audit => "audit",
                EffectiveMode::Enforce => "enforce",
            },
            audit: mode == EffectiveMode::Audit,
            action_count: 0,
            recipient: digest.recipient.clone(),
            recipient_kind: kind_name(digest.recipient_kind()),
            accounts: Vec::new(),
            missing_accounts: digest.missing_account_ids.clone(),
            actions: Vec::new(),
            warnings: Vec::new(),
            exempt: Vec::new(),
            manual: Vec::new(),
            errors: Vec::new(),
            secrets: Vec::new(),
        };
        let mut failed_accounts = 0;
        for section in &digest.sections {
            let report = &section.report;
            let error = match &report.status {
                AccountStatus::Failed { error } => Some(error.clone()),
                _ => None,
            };
            failed_accounts += usize::from(error.is_some());
            ctx.accounts.push(AccountLine {
                account_id: report.account_id.clone(),
                account_name: report.account_name.clone(),
                recipient_kind: kind_name(section.recipient_kind),
                error,
                users_omitted: report.users_omitted,
            });
            let account_id = || report.account_id.clone();
            let account_name = || report.account_name.clone();
            for user in &report.users {
                for a in &user.actions {
                    let (result, detail) = match &a.result {
                        ActionResult::Planned => ("planned", None),
                        ActionResult::Done { new_access_key_id } => {
                            ("done", new_access_key_id.as_ref().map(|k| format!("new key {k}")))
                        }
                        ActionResult::Skipped { why } => ("skipped", Some(why.clone())),
                        ActionResult::Failed { error } => ("failed", Some(error.clone())),
                    };
                    ctx.actions.push(ActionLine {
                        account_id: account_id(),
                        account_name: account_name(),
                        user: user.user_name.clone(),
                        access_key_id: a.access_key_id.clone(),
                        action: code(a.action),
                        action_text: action_text(a.action),
                        reason: reason_text(a.reason),
                        due: date(&a.due),
                        result,
                        detail,
                    });
                }
                for w in &user.warnings {
                    ctx.warnings.push(WarningLine {
                        account_id: account_id(),
                        account_name: account_name(),
                        user: user.user_name.clone(),
                        access_key_id: w.access_key_id.clone(),
                        severity: match w.severity {
                            Severity::Warning => "warning",
                            Severity::Critical => "critical",
                        },
                        message: w.message.clone(),
                        due: w.due.as_ref().map(date),
                    });
                }
                match &user.status {
                    UserStatus::Managed => {}
                    UserStatus::Exempt { reason, until } => ctx.exempt.push(ExemptLine {
                        account_id: account_id(),
                        account_name: account_name(),
                        user: user.user_name.clone(),
                        reason: reason.clone(),
                        until: until.map(|d| d.format("%Y-%m-%d").to_string()),
                    }),
                    UserStatus::NeedsManualAction { reason } => ctx.manual.push(ManualLine {
                        account_id: account_id(),
                        account_name: account_name(),
                        user: user.user_name.clone(),
                        reason: reason.clone(),
                    }),
                }
                if let Some(error) = &user.error {
                    ctx.errors.push(ErrorLine {
                        account_id: account_id(),
                        account_name: account_name(),
                        user: user.user_name.clone(),
                        error: error.clone(),
                    });
                }
                if let Some(arn) = &user.secret_arn {
                    ctx.secrets.push(SecretLine {
                        account_id: account_id(),
                        account_name: account_name(),
                        user: user.user_name.clone(),
                        arn: arn.clone(),
                        read_command: read_command(arn),
                    });
                }
            }
        }
        ctx.action_count =
            ctx.actions.len() + ctx.warnings.len() + ctx.errors.len() + failed_accounts + ctx.missing_accounts.len();
        ctx
    }
}

/// `aws secretsmanager get-secret-value ...` for a secret ARN, with the
/// ARN's region so it works from any default region.
pub fn read_command(arn: &str) -> String {
    let region = arn.split(':').nth(3).filter(|r| !r.is_empty());
    match region {
        Some(region) => format!(
            "aws secretsmanager get-secret-value --secret-id {arn} --region {region} --query SecretString --output text"
        ),
        None => format!("aws secretsmanager get-secret-value --secret-id {arn} --query SecretString --output text"),
    }
}

/// The snake_case name of an action or reason, as in the run report.
pub fn code<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// What an action does, for people (by its report name, so new actions
/// read sensibly before they get their own sentence).
pub fn action_text(kind: ActionKind) -> String {
    let code = code(kind);
    match code.as_str() {
        "rotate" => "create a replacement key and store it in the user's secret".into(),
        "complete_rotation" => "finish an interrupted rotation".into(),
        "delete_orphan_key" => "delete a key whose secret was never stored".into(),
        "deactivate" => "deactivate the old key".into(),
        "delete" => "delete the inactive key".into(),
        "record_inactive_seen" => "record when the inactive key was first seen".into(),
        _ => code.replace('_', " "),
    }
}

/// Why, for people.
pub fn reason_text(reason: Reason) -> String {
    let code = code(reason);
    match code.as_str() {
        "expired" => "the key reached the rotation age".into(),
        "forced" => "rotation was requested for this user".into(),
        "replacement_grace_over" => "the replacement key has had its installation grace period".into(),
        "inactive_grace_over" => "the key has been inactive for the whole recovery grace period".into(),
        "stale_inactive_key" => "the key is inactive and old (stale inactive keys are deleted)".into(),
        "interrupted_rotation" => "an earlier run was interrupted mid-rotation".into(),
        "recently_used" => "the old key was used recently".into(),
        "both_keys_expired" => "both keys are expired and active".into(),
        "two_keys_in_use" => "both active keys are in use, and the newer one was not created by rekey".into(),
        "inactive_key_blocks_rotation" => "an inactive key that may not be deleted yet blocks the rotation".into(),
        "invalid_secret_name" => "the user's name cannot be part of a secret name".into(),
        "inactive_not_by_rekey" => "the key was deactivated outside rekey".into(),
        "rotation_in_flight" => "another run is rotating this user's key right now".into(),
        _ => code.replace('_', " "),
    }
}
