//! SES v2 adapter: the [`Mailer`] port over `SendEmail` with Simple content
//! (HTML and text parts). Templates are rendered by rekey (tera), not SES.

use crate::notify::ports::{Email, MailError, Mailer};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;
use aws_smithy_types::error::display::DisplayErrorContext;

/// An SES v2 client.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
}

impl SesMailer {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn content(data: &str) -> Result<Content, String> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|e| e.to_string())
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let fail = |message: String| MailError { recipient: email.to.clone(), message };
        let message = Message::builder()
            .subject(content(&email.subject).map_err(fail)?)
            .body(
                Body::builder()
                    .html(content(&email.html).map_err(fail)?)
                    .text(content(&email.text).map_err(fail)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| fail(format!("ses `SendEmail` failed: {}", DisplayErrorContext(e))))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}
