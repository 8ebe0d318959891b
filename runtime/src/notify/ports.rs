//! The notifier's view of email delivery: one small trait, so digests are
//! tested with an in-memory outbox and the SES v2 adapter
//! (`crate::aws::ses`) against moto.

use std::future::Future;

/// One rendered email, ready to send. Holds no secret value by construction:
/// it is rendered from an [`crate::report::AccountReport`], which has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Verified sender.
    pub from: String,
    /// The one recipient (one digest per recipient).
    pub to: String,
    /// Subject line (single line).
    pub subject: String,
    /// HTML part (autoescaped).
    pub html: String,
    /// Plain-text part.
    pub text: String,
    /// Files attached (the full report as CSV); none for most digests.
    pub attachments: Vec<Attachment>,
}

/// One file attached to an email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the reader.
    pub file_name: String,
    /// MIME type, e.g. `text/csv`.
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A send that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot send email to `{recipient}`: {message}")]
pub struct MailError {
    /// Who it was for.
    pub recipient: String,
    /// Why.
    pub message: String,
}

/// Something that delivers email (SES v2).
pub trait Mailer {
    /// Sends one email; returns the provider's message id.
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, MailError>>;
}
