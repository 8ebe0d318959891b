//! Renders a digest with tera: an HTML part (autoescaped, because its
//! template name ends in `.html`), a plain-text part, and the subject (a
//! tera template from `notifications.subject`). Built-in templates are
//! embedded in the binary; `notifications.html_template` /
//! `text_template` replace them.

use super::context::EmailContext;
use crate::lifecycle::{ActionKind, Reason};
use crate::messages::Digest;
use rekey_config::Config;
use serde::Serialize;
use std::collections::HashMap;
use tera::{Context, Tera, Value};

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
    /// `notifications.inline_account_limit`.
    inline_account_limit: usize,
}

impl Renderer {
    /// Compiles the subject and the (built-in or overridden) templates of `config`.
    pub fn new(config: &Config) -> Result<Renderer, TemplateError> {
        let overrides = config.templates();
        let mut tera = Tera::default();
        tera.register_filter("code_spans", code_spans);
        tera.register_filter("plain", plain);
        for (name, text) in [
            (HTML, overrides.html.as_deref().unwrap_or(BUILTIN_HTML)),
            (TEXT, overrides.text.as_deref().unwrap_or(BUILTIN_TEXT)),
            (SUBJECT, config.notifications.subject.as_str()),
        ] {
            tera.add_raw_template(name, text).map_err(|e| TemplateError::new(name, e))?;
        }
        Ok(Renderer { tera, inline_account_limit: config.notifications.inline_account_limit as usize })
    }

    /// `notifications.inline_account_limit`.
    pub fn inline_account_limit(&self) -> usize {
        self.inline_account_limit
    }

    /// The context of one digest under this config's inline limit, nothing attached.
    pub fn context(&self, digest: &Digest) -> EmailContext {
        EmailContext::new(digest, self.inline_account_limit)
    }

    /// Renders one digest, saying nothing of an attachment.
    pub fn render(&self, digest: &Digest) -> Result<RenderedEmail, TemplateError> {
        self.render_context(&self.context(digest))
    }

    /// Renders a prepared context.
    pub fn render_context(&self, ctx: &EmailContext) -> Result<RenderedEmail, TemplateError> {
        let context = Context::from_serialize(ctx).map_err(|e| TemplateError::new("context", e))?;
        let render = |name: &str| self.tera.render(name, &context).map_err(|e| TemplateError::new(name, e));
        let subject = render(SUBJECT)?;
        // One line: a newline in a header would start another header.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(RenderedEmail { subject, html: render(HTML)?, text: render(TEXT)? })
    }
}

/// Tera filter for the HTML part: escapes the text and shows the spans a
/// log message puts in backticks as `<code>` (use it with `| safe`), so no
/// Markdown reaches a reader.
fn code_spans(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
    // Every second piece between backticks is code (an unclosed last one too).
    let out: String = text
        .split('`')
        .enumerate()
        .map(|(i, piece)| {
            let escaped = tera::escape_html(piece);
            if i % 2 == 1 {
                format!("<code>{escaped}</code>")
            } else {
                escaped
            }
        })
        .collect();
    Ok(Value::String(out))
}

/// Tera filter for the plain-text part: drops the backticks of log
/// messages (the values they quote stay).
fn plain(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
    Ok(Value::String(text.replace('`', "")))
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
