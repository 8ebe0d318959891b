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
    /// The config turns on parts this binary was built without (a Lambda
    /// asset packaged for another config: retrying does not help).
    #[error("this Lambda binary was built without {}; synthesize and deploy again with this config (`rekey synth`, `rekey deploy`), which builds them in", not_built_text(.0))]
    NotBuiltWith(Vec<rekey_config::RuntimeFeature>),
}

fn not_built_text(missing: &[rekey_config::RuntimeFeature]) -> String {
    let parts: Vec<String> =
        missing.iter().map(|f| format!("`{}` (needed by `{}`)", f.cargo_name(), f.setting())).collect();
    parts.join(" and ")
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
            | HandlerError::Template(_)
            | HandlerError::NotBuiltWith(_) => false,
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
            HandlerError::NotBuiltWith(_) => "NotBuiltWith",
        };
        format!("rekey.{}.{kind}", if self.is_retryable() { "Retryable" } else { "Fatal" })
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type(), error_message: e.to_string() }
    }
}

/// JSON logs on stdout (CloudWatch Logs). The level follows Lambda's advanced logging controls as
/// `lambda_runtime::tracing::init_default_subscriber` reads them: `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
/// `info`. The format is JSON whatever `AWS_LAMBDA_LOG_FORMAT` says (`JSON` or `Text`): the account summaries and
/// the EMF metrics are JSON documents that CloudWatch only parses as such, and a JSON line is what a Lambda log
/// group with the JSON format expects too. Unlike that default subscriber, ours keeps the `requestId` of the
/// runtime's `Lambda runtime invoke` span on every line (`span.requestId`).
pub fn init_tracing() {
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(json_logs(
        lambda_log_filter(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(), std::env::var("RUST_LOG").ok()),
        std::io::stdout,
    ));
}

/// `AWS_LAMBDA_LOG_LEVEL` (`TRACE`..`FATAL`, as Lambda names them) wins over `RUST_LOG` (any `EnvFilter`
/// directive), else `info`. `FATAL` is tracing's `error`.
pub(crate) fn lambda_log_filter(
    lambda_level: Option<String>,
    rust_log: Option<String>,
) -> tracing_subscriber::EnvFilter {
    let directive = match lambda_level.filter(|l| !l.is_empty()) {
        Some(level) if level.eq_ignore_ascii_case("fatal") => "error".to_string(),
        Some(level) => level.to_ascii_lowercase(),
        None => rust_log.filter(|l| !l.is_empty()).unwrap_or_else(|| "info".to_string()),
    };
    tracing_subscriber::EnvFilter::try_new(&directive).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
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
        // The runtime's span carries the invocation's `requestId`: kept, so each line ties to its invocation.
        .with_current_span(true)
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
    let config = Config::from_runtime_json(json, &root)?;
    let missing = crate::integrations::not_built_with(&config.integrations, crate::integrations::BUILT_WITH);
    if !missing.is_empty() {
        return Err(HandlerError::NotBuiltWith(missing));
    }
    Ok(config)
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

/// The `bootstrap` binary's body: read the environment once, parse
/// `REKEY_CONFIG` once, build the selected handler's dependencies and
/// [`serve`] it.
///
/// A function that cannot start (unknown `REKEY_FUNCTION`, missing or invalid
/// `REKEY_CONFIG`, a missing variable) still runs the loop and fails every
/// invocation with the start error's `rekey.Fatal.*` type: `lambda_runtime`
/// has no call for Lambda's `/init/error`, and a process that exits shows
/// callers and alarms only `Runtime.ExitError`. SQS keeps the records and
/// moves them to the DLQ.
pub async fn main_from_env() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let env: Env = std::env::vars().collect();
    let (function, config) = match selected_function(&env).and_then(|f| Ok((f, load_config(&env)?))) {
        Ok(selected) => selected,
        Err(e) => return serve_start_error(e).await,
    };
    let sdk = crate::aws::clients::load_from_env().await;
    match function {
        Function::Inventory => serve(inventory::deps(config, &env, &sdk).await, inventory::on_event).await,
        Function::Rotation => serve(rotation::deps(config, &env, &sdk).await, rotation::on_event).await,
        Function::Notifier => serve(notifier::deps(config, &env, &sdk).await, notifier::on_event).await,
    }
}

/// The one Lambda loop of every function: `handle` answers each event with
/// the dependencies built once at start-up (`built`), or, when they could not
/// be built, every invocation is answered with that error
/// ([`serve_start_error`]). The dependencies live as long as the process, so
/// they are leaked once rather than reference-counted per event.
pub async fn serve<D, E, R, F, Fut>(built: Result<D, HandlerError>, handle: F) -> Result<(), lambda_runtime::Error>
where
    D: Sync + 'static,
    E: serde::de::DeserializeOwned,
    R: serde::Serialize,
    F: Fn(lambda_runtime::LambdaEvent<E>, &'static D) -> Fut,
    Fut: std::future::Future<Output = Result<R, HandlerError>>,
{
    let deps: &'static D = match built {
        Ok(deps) => Box::leak(Box::new(deps)),
        Err(e) => return serve_start_error(e).await,
    };
    let handle = &handle;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<E>| async move {
        // Every response type is a plain struct: serializing cannot fail.
        handle(event, deps).await.map(|r| serde_json::to_value(r).expect("responses serialize"))
    }))
    .await
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

/// Log output collected in memory, for tests that read the lines the
/// functions' subscriber writes.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn aws_lambda_log_level_wins_over_rust_log() {
        let filter = |lambda: Option<&str>, rust: Option<&str>| {
            lambda_log_filter(lambda.map(str::to_string), rust.map(str::to_string)).to_string()
        };
        assert_eq!(filter(Some("DEBUG"), Some("warn")), "debug");
        assert_eq!(filter(Some("FATAL"), None), "error");
        assert_eq!(filter(None, Some("rekey_runtime=debug")), "rekey_runtime=debug");
        assert_eq!(filter(None, None), "info");
        assert_eq!(filter(Some(""), None), "info");
    }

    /// A line logged inside the runtime's invocation span carries its request id.
    #[test]
    fn log_lines_carry_the_request_id_of_the_invocation() {
        let out = Captured::default();
        let writer = out.clone();
        let logs = json_logs(tracing_subscriber::EnvFilter::new("info"), move || writer.clone());
        tracing::subscriber::with_default(logs, || {
            // See `rotation.rs`'s log test: another thread may have cached this callsite's interest as "never".
            tracing::callsite::rebuild_interest_cache();
            let span = tracing::info_span!("Lambda runtime invoke", requestId = "req-0001");
            let _entered = span.enter();
            tracing::info!(account_id = "111111111111", "account done");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().expect("one line")).unwrap();
        assert_eq!(line["span"]["requestId"], "req-0001");
        assert_eq!(line["message"], "account done");
        assert_eq!(line["level"], "INFO");
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

    #[test]
    fn a_binary_built_without_a_configured_integration_refuses_the_config() {
        use crate::integrations::{not_built_with, BUILT_WITH};
        use rekey_config::RuntimeFeature::{EventBus, SecurityHub};
        let config =
            Config::from_yaml_str("integrations:\n  security_hub: { enabled: true }\n  event_bus: b\n", None).unwrap();
        assert_eq!(not_built_with(&config.integrations, &[]), vec![SecurityHub, EventBus]);
        assert_eq!(not_built_with(&config.integrations, &[EventBus]), vec![SecurityHub]);
        assert_eq!(not_built_with(&Config::builtin_default().integrations, &[]), vec![]);
        // The tests' build has every part, so the deployed config starts.
        assert_eq!(not_built_with(&config.integrations, BUILT_WITH), vec![]);

        let refused = HandlerError::NotBuiltWith(vec![SecurityHub, EventBus]);
        assert_eq!(refused.error_type(), "rekey.Fatal.NotBuiltWith");
        assert_eq!(
            refused.to_string(),
            "this Lambda binary was built without `security-hub` (needed by `integrations.security_hub.enabled`) \
             and `event-bus` (needed by `integrations.event_bus`); synthesize and deploy again with this config \
             (`rekey synth`, `rekey deploy`), which builds them in"
        );
    }
}
