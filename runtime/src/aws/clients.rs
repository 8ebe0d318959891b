//! The runtime's SDK configurations: the base `SdkConfig` of a function (made by
//! [`rekey_sdk`], the one builder), and per-account configs from assumed-role
//! credentials (keeping the endpoint, retry policy and timeouts, so everything
//! works against a local emulator too).

use crate::ports::SessionCredentials;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

/// The retry policy and timeouts every client uses, defined once in [`rekey_sdk`].
pub use rekey_sdk::{retry_config, ATTEMPT_TIMEOUT, MAX_ATTEMPTS, OPERATION_TIMEOUT};

/// The timeouts of the runtime's calls (all small).
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    rekey_sdk::timeout_config(rekey_sdk::Calls::Small)
}

/// The base config of a Lambda function from its environment: `AWS_REGION`,
/// `AWS_ENDPOINT_URL` and the standard credential chain ([`rekey_sdk::load`]).
pub async fn load_from_env() -> SdkConfig {
    rekey_sdk::load(None, None, rekey_sdk::Calls::Small).await
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
    use aws_config::BehaviorVersion;

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
