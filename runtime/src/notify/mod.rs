//! Notifications: who gets a digest of a run's reports, one per recipient
//! ([`digests`]), what its templates see ([`EmailContext`]: summary first,
//! what needs a person, then the detail), rendering it with tera
//! ([`Renderer`]), the full report as a CSV attachment within SES's size
//! limit ([`attachment`], [`compose`]), and sending it through a
//! [`ports::Mailer`] ([`send_digest`]). No email ever carries a secret
//! value: digests are built from reports, which hold none; they name the
//! secret's ARN and how to read it.

pub mod attachment;
pub mod compose;
mod context;
mod digest;
mod headline;
pub mod mime;
pub mod ports;
mod render;

pub use context::*;
pub use digest::{digests, has_news};
pub use render::*;

use crate::messages::Digest;
use ports::{MailError, Mailer};
use rekey_config::Config;

/// Why a digest was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The template failed: retrying will not help.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Delivery failed: may work later.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// Email is off (no `notifications.sender`).
    #[error("no `notifications.sender` is configured, so no email can be sent")]
    NoSender,
}

impl NotifyError {
    /// Whether sending again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, NotifyError::Mail(_))
    }
}

/// Renders and sends one digest from the configured sender; returns the
/// provider's message id.
pub async fn send_digest<M: Mailer>(
    config: &Config,
    renderer: &Renderer,
    mailer: &M,
    digest: &Digest,
) -> Result<String, NotifyError> {
    let sender = config.notifications.sender.as_ref().ok_or(NotifyError::NoSender)?;
    let emails = compose::emails(renderer, &sender.to_string(), digest, attachment::SES_MAX_MESSAGE_BYTES)?;
    let mut first = None;
    for email in &emails {
        let id = mailer.send(email).await?;
        first.get_or_insert(id);
    }
    let id = first.unwrap_or_default();
    tracing::info!(
        run_id = %digest.run_id,
        accounts = digest.sections.len(),
        missing_accounts = digest.missing_account_ids.len(),
        recipient_kind = ?digest.recipient_kind(),
        messages = emails.len(),
        message_id = %id,
        "digest sent"
    );
    Ok(id)
}

#[cfg(test)]
mod layout_tests;
#[cfg(test)]
pub(crate) mod tests;
