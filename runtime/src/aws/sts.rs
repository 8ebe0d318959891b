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
    verify_pause: Duration,
}

impl AwsPlatform {
    /// A platform on `base` (from [`super::clients::load_from_env`], or a test config).
    pub fn new(base: SdkConfig) -> Self {
        AwsPlatform { base, verify_pause: VERIFY_PAUSE }
    }

    /// The region of the base config (`us-east-1` when unset).
    pub fn region(&self) -> String {
        self.base.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string())
    }

    fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.base)
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
