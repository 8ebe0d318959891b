//! The one place an AWS `SdkConfig` is made, for every verb of the CLI and every Lambda function: the region rule,
//! the retry policy, the timeouts, and configs acting as an assumed role. The endpoint always comes from the
//! standard sources (`AWS_ENDPOINT_URL`), so everything works against a local emulator too.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::sync::OnceLock;
use std::time::Duration;

/// The HTTP client of every AWS client rekey builds (and of the credential
/// and region providers): hyper with rustls on ring, trusting the system's
/// root certificates, plain HTTP too (a local emulator). The SDK crates are
/// built without their default features, which would compile two more TLS
/// stacks (see the root `Cargo.toml`), so a config without this client
/// cannot send. One per process, so connection pools are shared.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
        })
        .clone()
}

/// Attempts per call (first try included) before a throttled or failed call
/// is reported, with exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 5;

/// The retry policy every client uses: standard mode. Adaptive mode was
/// tried: its client-side rate limiter is shared by every client of a
/// service in the process and, under steady throttling of one account,
/// slowed every other account handled by the same Lambda container toward
/// its floor of half a request per second (measured behind the fault proxy
/// of `tests/tests/faults.rs`).
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// Longest one attempt of a call may take, and one call with its retries.
/// Every rekey runtime call is small; a hung connection must fail the attempt
/// (and be retried) rather than eat the Lambda's time budget, after which the
/// invocation would die mid-rotation. The whole call's bound leaves room
/// for `MAX_ATTEMPTS` attempts with backoff.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// See [`ATTEMPT_TIMEOUT`].
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(90);
/// Connecting to an endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the calls made with a config are like, which decides their timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calls {
    /// Small API calls (the runtime, `plan`, `rotate`): every attempt and
    /// every call bounded ([`ATTEMPT_TIMEOUT`], [`OPERATION_TIMEOUT`]).
    Small,
    /// Deployment: uploads of the Lambda asset (megabytes, over whatever link
    /// the operator has) must not be cut at twenty seconds; only connecting is
    /// bounded.
    Transfers,
}

/// The timeouts for `calls`.
pub fn timeout_config(calls: Calls) -> TimeoutConfig {
    let builder = TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT);
    match calls {
        Calls::Small => builder.operation_attempt_timeout(ATTEMPT_TIMEOUT).operation_timeout(OPERATION_TIMEOUT).build(),
        Calls::Transfers => builder.build(),
    }
}

/// Where [`resolve_region`] found the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionSource {
    /// `--region`.
    Flag,
    /// The standard AWS SDK chain: `AWS_REGION` / `AWS_DEFAULT_REGION`, the profile, IMDS.
    SdkChain,
    /// `deployment.region` of the config.
    Config,
}

impl std::fmt::Display for RegionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RegionSource::Flag => "--region",
            RegionSource::SdkChain => "the AWS SDK configuration: AWS_REGION or the profile",
            RegionSource::Config => "deployment.region",
        })
    }
}

/// The one region rule of every CLI verb (`plan`, `rotate`, `deploy`, `diff`, `destroy`): `flag` (`--region`),
/// else the standard SDK chain (environment, then `profile` or `AWS_PROFILE`), else `configured`
/// (`deployment.region`). The SDK chain comes before the config as with every AWS tool: the shell's region is
/// what the user expects to act on, and the config is the fallback that makes a bare `rekey deploy` work.
pub async fn resolve_region(flag: Option<&str>, profile: Option<&str>, configured: &str) -> (String, RegionSource) {
    if let Some(region) = flag.filter(|r| !r.is_empty()) {
        return (region.to_string(), RegionSource::Flag);
    }
    // The SDK's default chain (environment, profile, instance metadata),
    // built from its parts because only they take the HTTP client the
    // instance-metadata lookup needs.
    use aws_config::meta::region::RegionProviderChain;
    let providers = aws_config::provider_config::ProviderConfig::default().with_http_client(http_client());
    let mut profile_file = aws_config::profile::region::ProfileFileRegionProvider::builder().configure(&providers);
    if let Some(p) = profile {
        profile_file = profile_file.profile_name(p);
    }
    let chain =
        RegionProviderChain::first_try(aws_config::environment::region::EnvironmentVariableRegionProvider::new())
            .or_else(profile_file.build())
            .or_else(aws_config::imds::region::ImdsRegionProvider::builder().configure(&providers).build());
    match chain.region().await {
        Some(region) => (region.to_string(), RegionSource::SdkChain),
        None => (configured.to_string(), RegionSource::Config),
    }
}

/// The config every client is built from: the standard sources (environment,
/// `~/.aws`, `AWS_ENDPOINT_URL`, the credential chain), `profile` when given,
/// `region` when given (else the chain's), the retry policy, and the timeouts
/// for `calls`. A Lambda function passes neither profile nor region.
pub async fn load(profile: Option<&str>, region: Option<&str>, calls: Calls) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config(calls));
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// [`load`] for a CLI verb: the region by [`resolve_region`] (logged with where it came from).
pub async fn load_for_cli(
    profile: Option<&str>,
    region_flag: Option<&str>,
    configured: &str,
    calls: Calls,
) -> SdkConfig {
    let (region, source) = resolve_region(region_flag, profile, configured).await;
    tracing::info!(region = %region, from = %source, "region");
    load(profile, Some(&region), calls).await
}

/// `base` acting as `role_arn` through STS, credentials refreshed as they
/// expire (endpoint, region, retry and timeouts kept).
pub async fn assume_role(base: &SdkConfig, role_arn: &str, session_name: &str) -> SdkConfig {
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(role_arn).session_name(session_name).configure(base).build().await;
    base.to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_calls_have_attempt_and_operation_timeouts() {
        let t = timeout_config(Calls::Small);
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(ATTEMPT_TIMEOUT * MAX_ATTEMPTS >= OPERATION_TIMEOUT, "the operation bound allows every attempt");
    }

    #[test]
    fn transfers_bound_only_the_connection() {
        let t = timeout_config(Calls::Transfers);
        assert_eq!(t.operation_attempt_timeout(), None);
        assert_eq!(t.operation_timeout(), None);
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
    }

    #[tokio::test]
    async fn the_flag_wins_over_every_other_region() {
        assert_eq!(
            resolve_region(Some("eu-west-3"), None, "us-east-1").await,
            ("eu-west-3".into(), RegionSource::Flag)
        );
    }

    #[tokio::test]
    async fn every_config_carries_the_retry_policy_and_the_region() {
        let config = load(None, Some("eu-central-1"), Calls::Small).await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-central-1"));
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(MAX_ATTEMPTS));
        assert_eq!(config.timeout_config().and_then(|t| t.operation_timeout()), Some(OPERATION_TIMEOUT));
    }
}
