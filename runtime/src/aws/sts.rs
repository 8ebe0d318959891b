//! STS: role assumption (a missing or untrusting role is `NotEnrolled`),
//! the caller's account, and the check that a new key works; plus
//! [`AwsPlatform`], which builds the per-account adapters.

use super::clients::config_with;
use super::iam::AwsIam;
use super::secrets::AwsSecrets;
use super::{port_error, to_chrono};
use crate::ports::{ErrorKind, Platform, PortError, PortResult, SecretString, SessionCredentials};
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use std::time::Duration;

/// How often a new key is tried against STS before verification fails: IAM
/// keys take a few seconds to become usable everywhere.
pub const VERIFY_ATTEMPTS: u32 = 6;
/// Pause between verification attempts.
pub const VERIFY_PAUSE: Duration = Duration::from_secs(2);

/// The real AWS behind every port, from one base config.
#[derive(Clone, Debug)]
pub struct AwsPlatform {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    verify_pause: Duration,
}

impl AwsPlatform {
    /// A platform on `base` (from [`super::clients::load_from_env`], or a test config).
    pub fn new(base: SdkConfig) -> Self {
        // Whoever built `base`, every client gets rekey's retry policy.
        let base = base.to_builder().retry_config(super::clients::retry_config()).build();
        let sts = aws_sdk_sts::Client::new(&base);
        AwsPlatform { base, sts, verify_pause: VERIFY_PAUSE }
    }

    /// Replaces the STS client used for role assumption (tests: a mocked client).
    pub fn with_sts_client(mut self, sts: aws_sdk_sts::Client) -> Self {
        self.sts = sts;
        self
    }

    /// The region of the base config (`us-east-1` when unset).
    pub fn region(&self) -> String {
        self.base.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string())
    }

    fn sts(&self) -> &aws_sdk_sts::Client {
        &self.sts
    }
}

/// The account id in a role ARN (`arn:aws:iam::123456789012:role/x`).
pub fn account_of_arn(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

impl Platform for AwsPlatform {
    type Iam = AwsIam;
    type Secrets = AwsSecrets;

    async fn assume_role(&self, role_arn: &str, session_name: &str) -> PortResult<SessionCredentials> {
        let out =
            self.sts().assume_role().role_arn(role_arn).role_session_name(session_name).send().await.map_err(|e| {
                let mut err = port_error("sts:AssumeRole", role_arn, e);
                // STS answers AccessDenied both for a missing role and for one
                // that does not trust us: either way the account is not enrolled.
                if err.kind == ErrorKind::AccessDenied || err.kind == ErrorKind::NotFound {
                    err.kind = ErrorKind::NotEnrolled;
                }
                err
            })?;
        let c = out.credentials().ok_or_else(|| {
            PortError::new(ErrorKind::Other, "sts:AssumeRole", role_arn, "no credentials in the response")
        })?;
        Ok(SessionCredentials {
            account_id: account_of_arn(role_arn).to_string(),
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: SecretString::new(c.secret_access_key()),
            session_token: Some(SecretString::new(c.session_token())),
            expiration: Some(to_chrono(c.expiration())),
        })
    }

    async fn caller_account(&self) -> PortResult<String> {
        let out = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| port_error("sts:GetCallerIdentity", "caller", e))?;
        Ok(out.account().unwrap_or_default().to_string())
    }

    async fn verify_key(&self, access_key_id: &str, secret_access_key: &SecretString) -> PortResult<String> {
        let creds = Credentials::new(access_key_id, secret_access_key.expose(), None, None, "rekey-new-key");
        let config = self.base.to_builder().credentials_provider(SharedCredentialsProvider::new(creds)).build();
        let sts = aws_sdk_sts::Client::new(&config);
        let mut attempt = 1;
        loop {
            match sts.get_caller_identity().send().await {
                Ok(out) => return Ok(out.account().unwrap_or_default().to_string()),
                Err(e) if attempt >= VERIFY_ATTEMPTS => {
                    return Err(port_error("sts:GetCallerIdentity", access_key_id, e));
                }
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(self.verify_pause).await;
                }
            }
        }
    }

    fn iam(&self, credentials: &SessionCredentials) -> AwsIam {
        let config = config_with(&self.base, credentials, &self.region());
        AwsIam::new(aws_sdk_iam::Client::new(&config), credentials.account_id.clone())
    }

    fn secrets(&self, credentials: &SessionCredentials, region: &str) -> AwsSecrets {
        AwsSecrets::new(aws_sdk_secretsmanager::Client::new(&config_with(&self.base, credentials, region)))
    }
}

impl crate::rotation::RotationDeps<AwsPlatform> {
    /// The rotation core's deps on real AWS from a base SDK config. Defined
    /// here, at the edge, so the core never names an adapter.
    pub fn aws(sdk: &aws_config::SdkConfig) -> Self {
        crate::rotation::RotationDeps::new(AwsPlatform::new(sdk.clone()))
    }
}

#[cfg(test)]
mod tests {
    //! Role assumption failures a local emulator cannot produce (moto's
    //! AssumeRole always succeeds), on the real client with `aws-smithy-mocks`.
    use super::*;
    use crate::messages::AccountMessage;
    use crate::report::AccountStatus;
    use crate::rotation::{rotate_account, RotationDeps};
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_sts::Client;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    fn error_body(code: &str) -> String {
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>not allowed</Message></Error>\
             <RequestId>1</RequestId></ErrorResponse>"
        )
    }

    fn platform(rule: &Rule) -> AwsPlatform {
        let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [rule], |c| c
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2)));
        let base =
            SdkConfig::builder().behavior_version(BehaviorVersion::latest()).region(Region::new("us-east-1")).build();
        AwsPlatform::new(base).with_sts_client(sts)
    }

    async fn rotate(platform: AwsPlatform) -> AccountStatus {
        let config = rekey_config::Config::builtin_default();
        let msg = AccountMessage {
            run_id: "r".into(),
            account_id: "111111111111".into(),
            account_name: "dev".into(),
            account_email: None,
            dry_run: false,
            force_rotate: vec![],
            resume_after_user: None,
            part: 0,
        };
        let deps = RotationDeps::new(platform);
        rotate_account(&deps, &config, &msg, chrono::Utc::now()).await.status
    }

    #[tokio::test]
    async fn access_denied_on_the_member_role_means_not_enrolled() {
        let rule = mock!(Client::assume_role).sequence().http_status(403, Some(error_body("AccessDenied"))).build();
        let err = platform(&rule).assume_role("arn:aws:iam::111111111111:role/rekey-member", "s").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotEnrolled);
        assert!(err.to_string().contains("`arn:aws:iam::111111111111:role/rekey-member`"), "{err}");

        let rule = mock!(Client::assume_role).sequence().http_status(403, Some(error_body("AccessDenied"))).build();
        let status = rotate(platform(&rule)).await;
        assert!(
            matches!(&status, AccountStatus::NotEnrolled { reason } if reason.contains("rekey-member")),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn throttled_role_assumption_is_a_failure_not_a_missing_role() {
        let rule =
            mock!(Client::assume_role).sequence().http_status(400, Some(error_body("Throttling"))).repeatedly().build();
        let status = rotate(platform(&rule)).await;
        assert!(matches!(&status, AccountStatus::Failed { error } if error.contains("retryable")), "{status:?}");
        assert_eq!(rule.num_calls(), 2, "retried before giving up");
    }

    #[test]
    fn account_ids_come_from_role_arns() {
        assert_eq!(account_of_arn("arn:aws:iam::123456789012:role/x"), "123456789012");
        assert_eq!(account_of_arn("garbage"), "");
    }
}
