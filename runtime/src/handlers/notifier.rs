//! The notifier function: one SQS record per digest; renders it (tera) and
//! sends it (SES v2). Records that could not be sent are reported in
//! `batchItemFailures` and redelivered by SQS.

use super::{Env, HandlerError};
use crate::aws::ses::SesMailer;
use crate::messages::NotificationMessage;
use crate::notify::ports::Mailer;
use crate::notify::{send_digest, Renderer};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use rekey_config::Config;

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct NotifierDeps<M> {
    /// The validated config.
    pub config: Config,
    /// Compiled templates.
    pub renderer: Renderer,
    /// The mail client.
    pub mailer: M,
}

/// Handles one batch; returns the records to redeliver.
pub async fn handle<M: Mailer>(event: SqsEvent, deps: &NotifierDeps<M>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let (id, message): (String, NotificationMessage) = match super::parse_record(&record, "a notification message")
        {
            Ok(parsed) => parsed,
            Err(id) => {
                response.add_failure(id);
                continue;
            }
        };
        if let Err(e) = send_digest(&deps.config, &deps.renderer, &deps.mailer, &message).await {
            tracing::error!(
                message_id = %id,
                account_id = %message.report.account_id,
                retryable = e.is_retryable(),
                error = %e,
                "digest not sent"
            );
            response.add_failure(id);
        }
    }
    response
}

/// The real dependencies, as the notifier function builds them at start-up:
/// the config from `env`'s `REKEY_CONFIG`, its compiled templates, and SES v2 on `sdk`.
pub async fn deps_from_env(env: &Env, sdk: &aws_config::SdkConfig) -> Result<NotifierDeps<SesMailer>, HandlerError> {
    let config = super::load_config(env)?;
    let renderer = Renderer::new(&config).map_err(|e| HandlerError::Setup(e.to_string()))?;
    Ok(NotifierDeps { config, renderer, mailer: SesMailer::new(aws_sdk_sesv2::Client::new(sdk)) })
}

/// Builds the real dependencies from the process environment and runs the Lambda loop.
pub async fn main(sdk: &aws_config::SdkConfig) -> Result<(), lambda_runtime::Error> {
    let deps = deps_from_env(&std::env::vars().collect(), sdk).await.inspect_err(
        |e| tracing::error!(error = %e, error_type = %e.error_type(), "cannot start the notifier function"),
    )?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, HandlerError>(handle(event.payload, deps).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::RecipientKind;
    use crate::notify::ports::{Email, MailError};
    use crate::notify::tests::sample_report;
    use crate::report::EffectiveMode;
    use aws_lambda_events::event::sqs::SqsMessage;
    use std::cell::RefCell;

    /// Fails for one recipient, records the rest.
    #[derive(Default)]
    struct Outbox(RefCell<Vec<Email>>);
    impl Mailer for Outbox {
        async fn send(&self, email: &Email) -> Result<String, MailError> {
            if email.to == "bounce@example.com" {
                return Err(MailError { recipient: email.to.clone(), message: "throttled".into() });
            }
            self.0.borrow_mut().push(email.clone());
            Ok("id".into())
        }
    }

    fn record(id: &str, recipient: &str) -> SqsMessage {
        let report = sample_report(EffectiveMode::Audit);
        let body = serde_json::to_string(&NotificationMessage {
            run_id: report.run_id.clone(),
            recipient: recipient.into(),
            recipient_kind: RecipientKind::Admin,
            report,
        })
        .unwrap();
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body);
        m
    }

    #[tokio::test]
    async fn failed_sends_are_redelivered_and_the_rest_sent() {
        let config = Config::from_yaml_str("notifications:\n  sender: rekey@example.com\n", None).unwrap();
        let deps = NotifierDeps { renderer: Renderer::new(&config).unwrap(), config, mailer: Outbox::default() };
        let mut event = SqsEvent::default();
        let mut garbage = SqsMessage::default();
        garbage.message_id = Some("m3".into());
        garbage.body = Some("[]".into());
        event.records = vec![record("m1", "sec@example.com"), record("m2", "bounce@example.com"), garbage];
        let response = handle(event, &deps).await;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m2", "m3"]);
        let sent = deps.mailer.0.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].from.as_str(), sent[0].to.as_str()), ("rekey@example.com", "sec@example.com"));
    }
}
