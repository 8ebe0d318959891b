//! The three Lambda handlers, one shape each: `main` initializes tracing,
//! builds the real dependencies once with `deps_from_env` (config and AWS
//! clients from the function's environment), then `run(service_fn(...))`
//! calls a plain `handle(event, &deps)` that tests drive with fakes.
//! `REKEY_FUNCTION` (set by the synthesizer) selects the handler of the one
//! `bootstrap` binary.
//!
//! `deps_from_env` takes the environment as a map rather than reading
//! `std::env`, so a test can hand it the `Environment.Variables` of a
//! deployed function and run exactly what was deployed.

pub mod inventory;
pub mod notifier;
pub mod rotation;

/// The SQS event and batch response types the rotation and notifier
/// handlers take and return (re-exported so tests can build events).
pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use crate::inventory::ports::QueueError;
use crate::inventory::InventoryError;
use rekey_config::{Config, ConfigError, Function, CONFIG_ENV};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A function's environment variables: `std::env::vars()` in Lambda, a
/// deployed function's `Environment.Variables` in tests.
pub type Env = BTreeMap<String, String>;

// The environment variables the main stack sets, named once in
// `rekey_config::contract`.
pub use rekey_config::contract::{
    ACCOUNTS_MAX_RECEIVE_COUNT_ENV, ACCOUNTS_QUEUE_ENV, DEPLOYMENT_ACCOUNT_ENV, FUNCTION_ENV, NOTIFICATIONS_QUEUE_ENV,
    RUN_LEDGER_TABLE_ENV,
};

/// Why an invocation failed as a whole. Mapped to the Lambda error type
/// `rekey.Retryable.*` or `rekey.Fatal.*` so alarms and retries can tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The config in the environment is invalid (a deployment bug: retrying does not help).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The environment lacks something the function needs.
    #[error("environment variable `{0}` is not set; redeploy with `rekey deploy`")]
    MissingEnv(&'static str),
    /// `REKEY_FUNCTION` names no handler.
    #[error("`{FUNCTION_ENV}` is `{0}`; expected `inventory`, `rotation` or `notifier`")]
    UnknownFunction(String),
    /// The account list could not be built.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A queue send failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The run ledger could not be read or written.
    #[error("run ledger: {0}")]
    Ledger(#[from] crate::ports::PortError),
    /// A set-up call (identity) failed.
    #[error("{0}")]
    Setup(String),
    /// An email template does not compile (a deployment bug: retrying does not help).
    #[error(transparent)]
    Template(#[from] crate::notify::TemplateError),
}

impl HandlerError {
    /// Whether the same invocation may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Inventory(e) => e.is_retryable(),
            HandlerError::Queue(_) => true,
            HandlerError::Ledger(e) => e.kind != crate::ports::ErrorKind::AccessDenied,
            HandlerError::Setup(_) => true,
            HandlerError::Config(_)
            | HandlerError::MissingEnv(_)
            | HandlerError::UnknownFunction(_)
            | HandlerError::Template(_) => false,
        }
    }

    /// The Lambda `errorType`, e.g. `rekey.Retryable.Queue`.
    pub fn error_type(&self) -> String {
        let kind = match self {
            HandlerError::Config(_) => "Config",
            HandlerError::MissingEnv(_) => "MissingEnv",
            HandlerError::UnknownFunction(_) => "UnknownFunction",
            HandlerError::Inventory(_) => "Inventory",
            HandlerError::Queue(_) => "Queue",
            HandlerError::Ledger(_) => "Ledger",
            HandlerError::Setup(_) => "Setup",
            HandlerError::Template(_) => "Template",
        };
        format!("rekey.{}.{kind}", if self.is_retryable() { "Retryable" } else { "Fatal" })
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type(), error_message: e.to_string() }
    }
}

/// JSON logs on stdout (CloudWatch Logs), level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(json_logs(filter, std::io::stdout));
}

/// The functions' log format, one JSON object per event and line, written
/// to `writer` (stdout in Lambda; a buffer in tests that measure lines).
pub(crate) fn json_logs<W>(filter: tracing_subscriber::EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// The config as the function was deployed with it: the `REKEY_CONFIG`
/// JSON of `env`, template overrides from the unpacked asset
/// (`LAMBDA_TASK_ROOT` in `env`, else the binary's folder).
pub fn load_config(env: &Env) -> Result<Config, HandlerError> {
    let json = env.get(CONFIG_ENV).ok_or(HandlerError::MissingEnv(CONFIG_ENV))?;
    let root = env.get("LAMBDA_TASK_ROOT").map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("."))
    });
    Ok(Config::from_runtime_json(json, &root)?)
}

/// A required, non-empty variable of `env`.
pub fn require(env: &Env, name: &'static str) -> Result<String, HandlerError> {
    env.get(name).filter(|v| !v.is_empty()).cloned().ok_or(HandlerError::MissingEnv(name))
}

/// Which handler `REKEY_FUNCTION` in `env` selects.
pub fn selected_function(env: &Env) -> Result<Function, HandlerError> {
    let name = require(env, FUNCTION_ENV)?;
    Function::ALL.into_iter().find(|f| f.name() == name).ok_or(HandlerError::UnknownFunction(name))
}

/// The `bootstrap` binary's body: start the selected handler's runtime loop.
///
/// A function that cannot start (unknown `REKEY_FUNCTION`, missing or invalid
/// `REKEY_CONFIG`) still runs the loop and fails every invocation with the
/// start error's `rekey.Fatal.*` type: `lambda_runtime` has no call for
/// Lambda's `/init/error`, and a process that exits shows callers and alarms
/// only `Runtime.ExitError`. SQS keeps the records and moves them to the DLQ.
pub async fn main_from_env() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let env: Env = std::env::vars().collect();
    let function = match selected_function(&env).and_then(|f| load_config(&env).map(|_| f)) {
        Ok(function) => function,
        Err(e) => return serve_start_error(e).await,
    };
    let sdk = crate::aws::clients::load_from_env().await;
    match function {
        Function::Inventory => inventory::main(&sdk).await,
        Function::Rotation => rotation::main(&sdk).await,
        Function::Notifier => notifier::main(&sdk).await,
    }
}

/// Answers every invocation with `error`, logged once here.
pub(crate) async fn serve_start_error(error: HandlerError) -> Result<(), lambda_runtime::Error> {
    tracing::error!(error = %error, error_type = %error.error_type(), "cannot start");
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    lambda_runtime::run(lambda_runtime::service_fn(move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let diagnostic = diagnostic.clone();
        async move { Err::<(), _>(diagnostic) }
    }))
    .await
}

/// Parses one SQS record's body as `T`. On failure it logs (naming `what`)
/// and returns the message id for `batch_item_failures`: redelivery cannot fix
/// a malformed body, but after `maxReceiveCount` it lands in the DLQ for a person.
pub(crate) fn parse_record<T: serde::de::DeserializeOwned>(
    record: &aws_lambda_events::sqs::SqsMessage,
    what: &str,
) -> Result<(String, T), String> {
    let id = record.message_id.clone().unwrap_or_default();
    match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
        Ok(message) => Ok((id, message)),
        Err(e) => {
            tracing::error!(message_id = %id, error = %e, "record is not {what}");
            Err(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn config_and_variables_come_from_the_given_map() {
        let config = Config::from_yaml_str("mode: enforce\n", None).unwrap();
        let vars = env(&[(CONFIG_ENV, &config.function_env_json(Function::Rotation)), (FUNCTION_ENV, "rotation")]);
        assert_eq!(load_config(&vars).unwrap().mode, config.mode);
        assert_eq!(selected_function(&vars).unwrap(), Function::Rotation);
        assert!(matches!(load_config(&env(&[])), Err(HandlerError::MissingEnv(CONFIG_ENV))));
        let empty = env(&[(ACCOUNTS_QUEUE_ENV, "")]);
        assert!(matches!(require(&empty, ACCOUNTS_QUEUE_ENV), Err(HandlerError::MissingEnv(ACCOUNTS_QUEUE_ENV))));
        assert!(matches!(
            selected_function(&env(&[(FUNCTION_ENV, "cron")])),
            Err(HandlerError::UnknownFunction(n)) if n == "cron"
        ));
    }

    #[test]
    fn error_types_say_retryable_or_fatal() {
        let fatal = HandlerError::MissingEnv(ACCOUNTS_QUEUE_ENV);
        assert!(!fatal.is_retryable());
        let d: lambda_runtime::Diagnostic = fatal.into();
        assert_eq!(d.error_type, "rekey.Fatal.MissingEnv");
        assert_eq!(
            d.error_message,
            "environment variable `REKEY_ACCOUNTS_QUEUE_URL` is not set; redeploy with `rekey deploy`"
        );
        let retry = HandlerError::Queue(QueueError { queue_url: "q".into(), message: "throttled".into() });
        assert_eq!(retry.error_type(), "rekey.Retryable.Queue");
        let config = Config::from_yaml_str("notifications:\n  subject: '{{ oops'\n", None).unwrap();
        let template = HandlerError::from(crate::notify::Renderer::new(&config).unwrap_err());
        assert_eq!(template.error_type(), "rekey.Fatal.Template");
    }
}
