//! Adapters implementing `crate::ports` on the real AWS SDK, one module per
//! service, and the mapping of SDK errors into [`PortError`].

pub mod clients;
pub mod dynamodb;
#[cfg(feature = "event-bus")]
pub mod eventbridge;
pub mod iam;
pub mod orgs;
pub mod secrets;
#[cfg(feature = "security-hub")]
pub mod securityhub;
pub mod ses;
pub mod sqs;
pub mod sts;

use crate::ports::{ErrorKind, PortError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes that mean "slow down", across IAM, STS and Secrets Manager.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
];
/// Error codes that mean "no such thing".
const NOT_FOUND_CODES: &[&str] = &["NoSuchEntity", "ResourceNotFoundException", "ReportNotPresent"];
/// Error codes that mean "not allowed".
const ACCESS_DENIED_CODES: &[&str] = &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"];
/// Error codes that mean "quota reached".
const LIMIT_CODES: &[&str] = &["LimitExceeded", "LimitExceededException"];

/// Maps an SDK error into a [`PortError`] for `operation` on `target`.
pub(crate) fn port_error<E>(operation: &'static str, target: &str, err: SdkError<E, Response>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            (ErrorKind::Retryable, format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&err)))
        }
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("");
            let status = ctx.raw().status().as_u16();
            let kind = classify(code, status);
            let message = ctx.err().message().unwrap_or("");
            (kind, format!("{} ({status}): {message}", if code.is_empty() { "unknown error" } else { code }))
        }
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            (classify("", status), format!("unreadable response ({status})"))
        }
        _ => (ErrorKind::Other, format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&err))),
    };
    PortError::new(kind, operation, target, message)
}

/// The port error kind of a service error code and HTTP status.
pub(crate) fn classify(code: &str, status: u16) -> ErrorKind {
    if THROTTLING_CODES.contains(&code) || status >= 500 || status == 429 {
        ErrorKind::Retryable
    } else if NOT_FOUND_CODES.contains(&code) {
        ErrorKind::NotFound
    } else if ACCESS_DENIED_CODES.contains(&code) {
        ErrorKind::AccessDenied
    } else if LIMIT_CODES.contains(&code) {
        ErrorKind::LimitExceeded
    } else {
        ErrorKind::Other
    }
}

/// An SDK timestamp as a chrono UTC time.
pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_classified() {
        assert_eq!(classify("Throttling", 400), ErrorKind::Retryable);
        assert_eq!(classify("", 503), ErrorKind::Retryable);
        assert_eq!(classify("NoSuchEntity", 404), ErrorKind::NotFound);
        assert_eq!(classify("ResourceNotFoundException", 400), ErrorKind::NotFound);
        assert_eq!(classify("AccessDenied", 403), ErrorKind::AccessDenied);
        assert_eq!(classify("LimitExceeded", 409), ErrorKind::LimitExceeded);
        assert_eq!(classify("ValidationError", 400), ErrorKind::Other);
    }
}
