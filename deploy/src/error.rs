//! Why a deploy, diff or destroy stopped.

use crate::model::{OperationStatus, StackStatus};

/// Why a deploy, diff or destroy stopped. Every variant names the stack, StackSet or object involved.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An AWS call failed (credentials, permissions, throttling, service error).
    #[error("{operation} failed for `{target}`: {message}")]
    Aws {
        /// The API operation (`CreateChangeSet`, ...).
        operation: &'static str,
        /// The stack, StackSet, bucket or account it was about.
        target: String,
        /// The service's message.
        message: String,
    },
    /// A stack ended in a failed or rolled-back state.
    #[error("stack `{stack}` {}: {status}; first failure: {reason}", if *.rolled_back { "was rolled back" } else { "failed" })]
    StackFailed {
        /// Stack name.
        stack: String,
        /// Final status.
        status: StackStatus,
        /// Whether CloudFormation rolled it back.
        rolled_back: bool,
        /// Status reason of the first failed resource (or of the stack).
        reason: String,
    },
    /// A change set could not be computed (template error, missing capability, ...).
    #[error("change set `{change_set}` of stack `{stack}` failed: {reason}")]
    ChangeSetFailed {
        /// Stack name.
        stack: String,
        /// Change set name.
        change_set: String,
        /// CloudFormation's reason.
        reason: String,
    },
    /// A stack is busy with another operation.
    #[error("stack `{stack}` is busy (`{status}`); wait for it to finish and run the command again")]
    Busy {
        /// Stack name.
        stack: String,
        /// Its in-progress status.
        status: StackStatus,
    },
    /// A StackSet operation failed or was stopped.
    #[error("StackSet `{stack_set}` operation `{operation_id}` ended `{status}`: {reason}")]
    StackSetFailed {
        /// StackSet name.
        stack_set: String,
        /// Operation id.
        operation_id: String,
        /// Final status.
        status: OperationStatus,
        /// First failed instance's reason (or the operation's).
        reason: String,
    },
    /// Waiting took longer than the configured limit.
    #[error("gave up waiting for `{target}` after {seconds} s")]
    Timeout {
        /// What was waited for.
        target: String,
        /// How long.
        seconds: u64,
    },
    /// A change widens IAM permissions and was not approved.
    #[error("stack `{stack}`: the change widens IAM permissions or resource policies and was not approved{}", if *.interactive { "" } else { " (not a terminal: run interactively or pass `--require-approval never`)" })]
    NotApproved {
        /// Stack name.
        stack: String,
        /// Whether the user was asked.
        interactive: bool,
    },
    /// `destroy` was not confirmed.
    #[error("destroy was not confirmed{}", if *.interactive { "" } else { " (not a terminal: pass `--force` to delete without asking)" })]
    NotConfirmed {
        /// Whether the user was asked.
        interactive: bool,
    },
    /// Reading a local file (asset, template) failed.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Writing progress or output failed.
    #[error("cannot write output: {0}")]
    Write(#[from] std::io::Error),
    /// A template is not valid JSON.
    #[error("template of `{stack}` is not JSON: {message}")]
    Template {
        /// Stack name.
        stack: String,
        /// The parser's message.
        message: String,
    },
    /// The plan cannot be carried out with the credentials given.
    #[error("{0}")]
    Setup(String),
}
