//! The one place SDK configuration is made: the base `SdkConfig` from the
//! environment (profile, region, `AWS_ENDPOINT_URL`), the retry policy, and
//! per-account configs from assumed-role credentials (keeping the endpoint,
//! so everything works against a local emulator too).

use crate::ports::SessionCredentials;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use std::time::Duration;

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
/// Every rekey call is small; a hung connection must fail the attempt (and
/// be retried) rather than eat the Lambda's time budget, after which the
/// invocation would die mid-rotation. The whole call's bound leaves room
/// for `MAX_ATTEMPTS` attempts with backoff.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// See [`ATTEMPT_TIMEOUT`].
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(90);
/// Connecting to an endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The timeouts every client uses.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The base config from the environment: `AWS_PROFILE`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL` and the standard credential chain.
pub async fn load_from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}

/// `base` acting with `credentials` in `region` (endpoint, retry and
/// timeouts kept).
pub fn config_with(base: &SdkConfig, credentials: &SessionCredentials, region: &str) -> SdkConfig {
    let creds = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_string(),
        credentials.session_token.as_ref().map(|t| t.expose().to_string()),
        credentials.expiration.map(std::time::SystemTime::from),
        "rekey-assumed-role",
    );
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .region(Region::new(region.to_string()))
        .build()
}

/// The partition of a region, for ARNs (defined with the other contracts in `rekey_config`).
pub use rekey_config::contract::partition;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SecretString;

    #[test]
    fn per_account_config_keeps_the_endpoint() {
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:5000")
            .region(Region::new("us-east-1"))
            .build();
        let creds = SessionCredentials {
            account_id: "111111111111".into(),
            access_key_id: "ASIA1".into(),
            secret_access_key: SecretString::new("s"),
            session_token: Some(SecretString::new("t")),
            expiration: None,
        };
        let cfg = config_with(&base, &creds, "eu-west-1");
        assert_eq!(cfg.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(cfg.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(cfg.credentials_provider().is_some());
    }

    #[test]
    fn every_call_has_attempt_and_operation_timeouts() {
        let t = timeout_config();
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(ATTEMPT_TIMEOUT * MAX_ATTEMPTS >= OPERATION_TIMEOUT, "the operation bound allows every attempt");
        let base = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).timeout_config(t.clone()).build();
        let creds = SessionCredentials {
            account_id: "111111111111".into(),
            access_key_id: "ASIA1".into(),
            secret_access_key: SecretString::new("s"),
            session_token: None,
            expiration: None,
        };
        assert_eq!(config_with(&base, &creds, "us-east-1").timeout_config(), Some(&t), "kept for member accounts");
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }
}
