//! The one Lambda binary: `REKEY_FUNCTION` (`inventory`, `rotation` or
//! `notifier`) selects the handler; see `rekey_runtime::handlers`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rekey_runtime::handlers::main_from_env().await
}
