//! The small domain-shaped traits the rotation core talks to (IAM, Secrets
//! Manager, role assumption, key verification), their plain data types and
//! one error type. Adapters on the real SDK live in `crate::aws`; the unit
//! tests use in-memory fakes.
//!
//! Traits use `fn ... -> impl Future + Send` (not `async fn`) so the futures
//! are `Send` and the rotation core can run on a multi-threaded runtime.

use crate::lifecycle::KeyStatus;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

/// What kind of failure a port call hit; decides retry and reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttling, 5xx, timeouts: a later attempt may succeed.
    Retryable,
    /// The entity (user, key, secret, version) does not exist.
    NotFound,
    /// The caller may not do this.
    AccessDenied,
    /// A quota was hit (e.g. two keys per user).
    LimitExceeded,
    /// The member role does not exist or cannot be assumed: the account is not enrolled.
    NotEnrolled,
    /// Anything else (bad input, conflicts, unexpected responses).
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::NotFound => "not found",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::LimitExceeded => "limit exceeded",
            ErrorKind::NotEnrolled => "not enrolled",
            ErrorKind::Other => "error",
        })
    }
}

/// A failed port call: the operation, what it was about (account, user, key
/// id or secret name; never a secret value) and the service's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation} on `{target}` failed ({kind}): {message}")]
pub struct PortError {
    /// Kind of failure.
    pub kind: ErrorKind,
    /// The API operation, e.g. `iam:CreateAccessKey`.
    pub operation: &'static str,
    /// What it was about: an account id, `user`, `user/AKIA...` or a secret name.
    pub target: String,
    /// The service's error code and message.
    pub message: String,
}

impl PortError {
    /// A new error.
    pub fn new(
        kind: ErrorKind,
        operation: &'static str,
        target: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PortError { kind, operation, target: target.into(), message: message.into() }
    }

    /// True for throttling and server errors.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }
}

/// Result of a port call.
pub type PortResult<T> = Result<T, PortError>;

/// A secret string (an access key's secret, a session token, a secret's
/// JSON value). Debug and Display print `***`, so it cannot leak into logs,
/// errors or test output by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret itself; call only where it is sent to AWS.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Temporary credentials from an assumed role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCredentials {
    /// The account the credentials act in.
    pub account_id: String,
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret half.
    pub secret_access_key: SecretString,
    /// The session token.
    pub session_token: Option<SecretString>,
    /// When they expire.
    pub expiration: Option<DateTime<Utc>>,
}

/// State of the IAM credential report after a `GenerateCredentialReport` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportState {
    /// Generation started.
    Started,
    /// Still being generated.
    InProgress,
    /// Ready to download.
    Complete,
}

/// An IAM user as `GetAccountAuthorizationDetails` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamUser {
    /// User name.
    pub user_name: String,
    /// User ARN.
    pub arn: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Names of the groups the user is in.
    pub groups: Vec<String>,
}

/// One access key as `ListAccessKeys` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKeyInfo {
    /// `AKIA...`.
    pub access_key_id: String,
    /// Active or inactive.
    pub status: KeyStatus,
    /// CreateDate.
    pub created: DateTime<Utc>,
}

/// A key just created: the only place the secret half exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccessKey {
    /// `AKIA...`.
    pub access_key_id: String,
    /// The secret half (redacted in Debug/Display).
    pub secret_access_key: SecretString,
    /// CreateDate.
    pub created: DateTime<Utc>,
}

/// IAM in one account.
pub trait IamAccount: Send + Sync {
    /// `GenerateCredentialReport`.
    fn generate_credential_report(&self) -> impl Future<Output = PortResult<ReportState>> + Send;
    /// `GetCredentialReport`: the CSV text.
    fn credential_report(&self) -> impl Future<Output = PortResult<String>> + Send;
    /// `GetAccountAuthorizationDetails` (users with tags and groups), all pages.
    fn users(&self) -> impl Future<Output = PortResult<Vec<IamUser>>> + Send;
    /// `ListAccessKeys` for one user, all pages.
    fn list_access_keys(&self, user: &str) -> impl Future<Output = PortResult<Vec<AccessKeyInfo>>> + Send;
    /// `GetAccessKeyLastUsed`.
    fn access_key_last_used(&self, key_id: &str) -> impl Future<Output = PortResult<Option<DateTime<Utc>>>> + Send;
    /// `CreateAccessKey`.
    fn create_access_key(&self, user: &str) -> impl Future<Output = PortResult<NewAccessKey>> + Send;
    /// `UpdateAccessKey`.
    fn set_access_key_status(
        &self,
        user: &str,
        key_id: &str,
        status: KeyStatus,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// `DeleteAccessKey`.
    fn delete_access_key(&self, user: &str, key_id: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// `TagUser`.
    fn tag_user(&self, user: &str, tags: &BTreeMap<String, String>) -> impl Future<Output = PortResult<()>> + Send;
    /// `UntagUser`.
    fn untag_user(&self, user: &str, keys: &[String]) -> impl Future<Output = PortResult<()>> + Send;
}

/// Staging label of the key applications use.
pub const STAGE_CURRENT: &str = "AWSCURRENT";
/// Staging label of a stored but not yet verified key ([`SecretStore::put_pending`]).
pub const STAGE_PENDING: &str = "AWSPENDING";

/// A secret as `ListSecrets`/`DescribeSecret` describe it (never its value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretInfo {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Version id → staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
    /// Regions the secret is replicated to.
    pub replica_regions: Vec<String>,
    /// Set when someone scheduled the secret for deletion (it is in its
    /// recovery window): no value can be written to it until it is restored.
    pub deleted_date: Option<DateTime<Utc>>,
}

impl SecretInfo {
    /// The version carrying `stage` (e.g. `AWSCURRENT`), if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions.iter().find(|(_, stages)| stages.iter().any(|s| s == stage)).map(|(id, _)| id.as_str())
    }
}

/// What a new secret is created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSecret {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Customer-managed KMS key, if configured.
    pub kms_key_id: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Secrets Manager in one account and region.
pub trait SecretStore: Send + Sync {
    /// `ListSecrets` filtered on the `rekey:managed` tag, all pages; with
    /// `account_id` (a store shared by accounts: central storage) also on a
    /// tag value of that account id, so the pages read do not grow with the
    /// number of accounts. The filter is a prefix match on any tag's value,
    /// so callers still check the `rekey:account` tag.
    fn list_managed(&self, account_id: Option<&str>) -> impl Future<Output = PortResult<Vec<SecretInfo>>> + Send;
    /// `DescribeSecret`; `None` when it does not exist.
    fn describe(&self, name: &str) -> impl Future<Output = PortResult<Option<SecretInfo>>> + Send;
    /// `CreateSecret` with no value; returns the ARN.
    fn create(&self, secret: &NewSecret) -> impl Future<Output = PortResult<String>> + Send;
    /// `TagResource`.
    fn tag(&self, secret_id: &str, tags: &BTreeMap<String, String>) -> impl Future<Output = PortResult<()>> + Send;
    /// `UntagResource`.
    fn untag(&self, secret_id: &str, keys: &[String]) -> impl Future<Output = PortResult<()>> + Send;
    /// `PutSecretValue` with `VersionStages=[AWSPENDING]` and the given token
    /// (idempotent); returns the staging labels the new version carries (a
    /// secret's first version also gets `AWSCURRENT`).
    fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> impl Future<Output = PortResult<Vec<String>>> + Send;
    /// `GetSecretValue` of one version.
    fn get_version(&self, secret_id: &str, version_id: &str) -> impl Future<Output = PortResult<SecretString>> + Send;
    /// `UpdateSecretVersionStage`: move `stage` to `version_id`, off `from_version` when set.
    fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version_id: Option<&str>,
        from_version: Option<&str>,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// `PutResourcePolicy` with `BlockPublicPolicy=true`.
    fn put_resource_policy(&self, secret_id: &str, policy: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// `ReplicateSecretToRegions`.
    fn replicate(&self, secret_id: &str, regions: &[String]) -> impl Future<Output = PortResult<()>> + Send;
}

/// Role assumption and client construction: the way into an account.
pub trait Platform: Send + Sync {
    /// IAM adapter type.
    type Iam: IamAccount;
    /// Secrets Manager adapter type.
    type Secrets: SecretStore;
    /// `sts:AssumeRole`; a role that does not exist or does not trust the
    /// caller gives [`ErrorKind::NotEnrolled`].
    fn assume_role(
        &self,
        role_arn: &str,
        session_name: &str,
    ) -> impl Future<Output = PortResult<SessionCredentials>> + Send;
    /// The account of the caller's own credentials (`sts:GetCallerIdentity`).
    fn caller_account(&self) -> impl Future<Output = PortResult<String>> + Send;
    /// `sts:GetCallerIdentity` signed with a new key: proves the key works
    /// before it is promoted. Returns the key's account.
    fn verify_key(
        &self,
        access_key_id: &str,
        secret_access_key: &SecretString,
    ) -> impl Future<Output = PortResult<String>> + Send;
    /// IAM client acting with `credentials`.
    fn iam(&self, credentials: &SessionCredentials) -> Self::Iam;
    /// Secrets Manager client acting with `credentials` in `region`.
    fn secrets(&self, credentials: &SessionCredentials, region: &str) -> Self::Secrets;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_strings_never_print() {
        let s = SecretString::new("wJalrXUtnFEMI/K7MDENG");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "SecretString(***)");
        let key = NewAccessKey { access_key_id: "AKIA1".into(), secret_access_key: s, created: Utc::now() };
        assert!(!format!("{key:?}").contains("wJalr"));
    }
}
