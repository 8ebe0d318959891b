//! SES v2 adapter: the [`Mailer`] port over `SendEmail`, with Simple content
//! (HTML and text parts), or Raw content (a MIME message built by
//! [`crate::notify::mime`]) when the email has attachments. Raw rather than
//! Simple's `Attachments`: every SES v2 endpoint takes it, its size is known
//! exactly before sending, and moto keeps Raw mail whole (it drops Simple
//! attachments), so tests read the attachment back. Templates are rendered
//! by rekey (tera), not SES.

use crate::notify::mime;
use crate::notify::ports::{Email, MailError, Mailer};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, RawMessage};
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

/// One UTF-8 part of a simple message (subject, HTML or text body).
fn content(data: &str) -> Result<Content, aws_sdk_sesv2::error::BuildError> {
    Content::builder().data(data).charset("UTF-8").build()
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let fail = |message: String| MailError { recipient: email.to.clone(), message };
        let content = if email.attachments.is_empty() {
            let message = Message::builder()
                .subject(content(&email.subject).map_err(|e| fail(e.to_string()))?)
                .body(
                    Body::builder()
                        .html(content(&email.html).map_err(|e| fail(e.to_string()))?)
                        .text(content(&email.text).map_err(|e| fail(e.to_string()))?)
                        .build(),
                )
                .build();
            EmailContent::builder().simple(message).build()
        } else {
            let raw =
                RawMessage::builder().data(Blob::new(mime::message(email))).build().map_err(|e| fail(e.to_string()))?;
            EmailContent::builder().raw(raw).build()
        };
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(content)
            .send()
            .await
            .map_err(|e| fail(format!("ses `SendEmail` failed: {}", DisplayErrorContext(e))))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::operation::send_email::{SendEmailError, SendEmailOutput};
    use aws_sdk_sesv2::types::error::MessageRejected;
    use aws_smithy_mocks::{mock, mock_client};

    fn email() -> Email {
        Email {
            from: "rekey@example.com".into(),
            to: "sec@example.com".into(),
            subject: "s".into(),
            html: "<p>h</p>".into(),
            text: "t".into(),
            attachments: Vec::new(),
        }
    }

    #[tokio::test]
    async fn sends_one_simple_message_with_html_and_text_parts() {
        let rule = mock!(Client::send_email)
            .match_requests(|r| {
                let simple = r.content().and_then(|c| c.simple());
                let body = simple.and_then(|s| s.body());
                r.from_email_address() == Some("rekey@example.com")
                    && r.destination().map(|d| d.to_addresses().to_vec()) == Some(vec!["sec@example.com".to_string()])
                    && simple.and_then(|s| s.subject()).map(|c| (c.data(), c.charset())) == Some(("s", Some("UTF-8")))
                    && body.and_then(|b| b.html()).map(|c| c.data()) == Some("<p>h</p>")
                    && body.and_then(|b| b.text()).map(|c| c.data()) == Some("t")
            })
            .then_output(|| SendEmailOutput::builder().message_id("m-1").build());
        let mailer = SesMailer::new(mock_client!(aws_sdk_sesv2, [&rule]));
        assert_eq!(mailer.send(&email()).await.unwrap(), "m-1");
    }

    #[tokio::test]
    async fn an_email_with_attachments_goes_as_one_raw_mime_message() {
        let mut with_csv = email();
        with_csv.attachments.push(crate::notify::ports::Attachment {
            file_name: "rekey-run.csv".into(),
            content_type: "text/csv".into(),
            data: b"account_id\r\n".to_vec(),
        });
        let expected = mime::message(&with_csv);
        let rule = mock!(Client::send_email)
            .match_requests(move |r| {
                let raw = r.content().and_then(|c| c.raw()).map(|raw| raw.data().as_ref().to_vec());
                r.content().and_then(|c| c.simple()).is_none()
                    && r.destination().map(|d| d.to_addresses().to_vec()) == Some(vec!["sec@example.com".to_string()])
                    && raw.as_deref() == Some(expected.as_slice())
            })
            .then_output(|| SendEmailOutput::builder().message_id("m-2").build());
        let mailer = SesMailer::new(mock_client!(aws_sdk_sesv2, [&rule]));
        assert_eq!(mailer.send(&with_csv).await.unwrap(), "m-2");
    }

    #[tokio::test]
    async fn rejection_names_the_recipient() {
        let rule = mock!(Client::send_email).then_error(|| {
            SendEmailError::MessageRejected(MessageRejected::builder().message("Email address not verified").build())
        });
        let mailer = SesMailer::new(mock_client!(aws_sdk_sesv2, [&rule]));
        let err = mailer.send(&email()).await.unwrap_err();
        assert_eq!(err.recipient, "sec@example.com");
        assert!(
            err.to_string().starts_with("cannot send email to `sec@example.com`: ses `SendEmail` failed: "),
            "{err}"
        );
        assert!(err.message.contains("Email address not verified"), "{err}");
    }
}
