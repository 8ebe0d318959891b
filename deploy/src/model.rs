//! Plain data the deploy logic works on: what CloudFormation reports (stacks, events, change sets, StackSet
//! operations) and what rekey asks of it, independent of the SDK types so the logic is tested with fakes.
//!
//! Statuses are enums ([`StackStatus`], [`ChangeSetStatus`], [`StackSetStatus`], [`OperationStatus`],
//! [`InstanceStatus`], [`DetailedStatus`]) with the questions the logic asks of them (`is_in_progress`,
//! `is_failed`, ...); a value CloudFormation adds later is kept as `Other` and read by the naming convention its
//! values follow, never a panic.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use rekey_config::CallAs;
use std::fmt;

/// A status enum: one variant per value CloudFormation documents (named after it), plus `Other` for a value this
/// version does not know, kept as written. `as_str` gives the wire value back, so printing is unchanged.
macro_rules! status {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`")] $variant,)*
            /// A value this version of rekey does not know, as CloudFormation wrote it.
            Other(String),
        }

        impl $name {
            /// The value as CloudFormation writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self::from(text.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

status! {
    /// The status of a stack (`DescribeStacks`) or of one resource in it (`DescribeStackEvents`; the stack's own
    /// events carry stack statuses, the resources' the same words plus a few of their own).
    StackStatus {
        CreateInProgress = "CREATE_IN_PROGRESS",
        CreateFailed = "CREATE_FAILED",
        CreateComplete = "CREATE_COMPLETE",
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        RollbackFailed = "ROLLBACK_FAILED",
        RollbackComplete = "ROLLBACK_COMPLETE",
        DeleteInProgress = "DELETE_IN_PROGRESS",
        DeleteFailed = "DELETE_FAILED",
        DeleteComplete = "DELETE_COMPLETE",
        DeleteSkipped = "DELETE_SKIPPED",
        UpdateInProgress = "UPDATE_IN_PROGRESS",
        UpdateCompleteCleanupInProgress = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        UpdateComplete = "UPDATE_COMPLETE",
        UpdateFailed = "UPDATE_FAILED",
        UpdateRollbackInProgress = "UPDATE_ROLLBACK_IN_PROGRESS",
        UpdateRollbackFailed = "UPDATE_ROLLBACK_FAILED",
        UpdateRollbackCompleteCleanupInProgress = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        UpdateRollbackComplete = "UPDATE_ROLLBACK_COMPLETE",
        ReviewInProgress = "REVIEW_IN_PROGRESS",
        ImportInProgress = "IMPORT_IN_PROGRESS",
        ImportComplete = "IMPORT_COMPLETE",
        ImportRollbackInProgress = "IMPORT_ROLLBACK_IN_PROGRESS",
        ImportRollbackFailed = "IMPORT_ROLLBACK_FAILED",
        ImportRollbackComplete = "IMPORT_ROLLBACK_COMPLETE",
    }
}

impl StackStatus {
    /// Whether CloudFormation is still working on it (wait and poll again).
    pub fn is_in_progress(&self) -> bool {
        use StackStatus::*;
        match self {
            CreateInProgress
            | RollbackInProgress
            | DeleteInProgress
            | UpdateInProgress
            | UpdateCompleteCleanupInProgress
            | UpdateRollbackInProgress
            | UpdateRollbackCompleteCleanupInProgress
            | ReviewInProgress
            | ImportInProgress
            | ImportRollbackInProgress => true,
            Other(text) => text.ends_with("_IN_PROGRESS"),
            _ => false,
        }
    }

    /// Whether an operation failed (`*_FAILED`).
    pub fn is_failed(&self) -> bool {
        use StackStatus::*;
        match self {
            CreateFailed | RollbackFailed | DeleteFailed | UpdateFailed | UpdateRollbackFailed
            | ImportRollbackFailed => true,
            Other(text) => text.ends_with("_FAILED"),
            _ => false,
        }
    }

    /// Whether CloudFormation rolled back (or is rolling back) a change.
    pub fn is_rollback(&self) -> bool {
        use StackStatus::*;
        match self {
            RollbackInProgress
            | RollbackFailed
            | RollbackComplete
            | UpdateRollbackInProgress
            | UpdateRollbackFailed
            | UpdateRollbackCompleteCleanupInProgress
            | UpdateRollbackComplete
            | ImportRollbackInProgress
            | ImportRollbackFailed
            | ImportRollbackComplete => true,
            Other(text) => text.contains("ROLLBACK"),
            _ => false,
        }
    }

    /// Whether a final status means the deploy did not take (failed or rolled back).
    pub fn is_failure(&self) -> bool {
        self.is_failed() || self.is_rollback()
    }
}

status! {
    /// The status of a change set (`DescribeChangeSet`).
    ChangeSetStatus {
        CreatePending = "CREATE_PENDING",
        CreateInProgress = "CREATE_IN_PROGRESS",
        CreateComplete = "CREATE_COMPLETE",
        DeletePending = "DELETE_PENDING",
        DeleteInProgress = "DELETE_IN_PROGRESS",
        DeleteComplete = "DELETE_COMPLETE",
        DeleteFailed = "DELETE_FAILED",
        Failed = "FAILED",
    }
}

impl ChangeSetStatus {
    /// Whether CloudFormation is still computing (or deleting) it.
    pub fn is_pending(&self) -> bool {
        use ChangeSetStatus::*;
        match self {
            CreatePending | CreateInProgress | DeletePending | DeleteInProgress => true,
            Other(text) => text.ends_with("_PENDING") || text.ends_with("_IN_PROGRESS"),
            _ => false,
        }
    }
}

status! {
    /// The status of a StackSet (`DescribeStackSet`).
    StackSetStatus {
        Active = "ACTIVE",
        Deleted = "DELETED",
    }
}

status! {
    /// The status of a StackSet operation (`DescribeStackSetOperation`).
    OperationStatus {
        Queued = "QUEUED",
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Stopping = "STOPPING",
        Stopped = "STOPPED",
    }
}

impl OperationStatus {
    /// Whether the operation has ended (succeeded, failed or stopped). An unknown status is not an end: the wait
    /// goes on until it changes or times out.
    pub fn is_done(&self) -> bool {
        matches!(self, OperationStatus::Succeeded | OperationStatus::Failed | OperationStatus::Stopped)
    }
}

status! {
    /// Whether a StackSet instance has the StackSet's current template (`ListStackInstances`).
    InstanceStatus {
        Current = "CURRENT",
        Outdated = "OUTDATED",
        Inoperable = "INOPERABLE",
    }
}

status! {
    /// What the last operation did to a StackSet instance (`StackInstanceStatus.DetailedStatus`).
    DetailedStatus {
        Pending = "PENDING",
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
        Inoperable = "INOPERABLE",
        SkippedSuspendedAccount = "SKIPPED_SUSPENDED_ACCOUNT",
        FailedImport = "FAILED_IMPORT",
    }
}

/// A stack as `DescribeStacks` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Stack name.
    pub name: String,
    /// `CREATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...
    pub status: StackStatus,
    /// Why it is in that status, when CloudFormation says.
    pub reason: Option<String>,
    /// Outputs, in the order CloudFormation lists them.
    pub outputs: IndexMap<String, String>,
}

/// One line of `DescribeStackEvents`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackEvent {
    /// Unique event id; used to print each event once.
    pub id: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// The stack.
    pub stack: String,
    /// Logical id of the resource (the stack's own name for stack-level events).
    pub logical_id: String,
    /// `AWS::IAM::Role`, ...
    pub resource_type: String,
    /// `CREATE_IN_PROGRESS`, `CREATE_FAILED`, ...
    pub status: StackStatus,
    /// The status reason, when there is one.
    pub reason: Option<String>,
}

/// Whether a change set creates the stack or updates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeSetKind {
    /// The stack does not exist yet.
    Create,
    /// The stack exists.
    Update,
}

/// Everything `CreateChangeSet` is given.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeSetRequest {
    /// Stack name.
    pub stack: String,
    /// Change set name (unique per deploy).
    pub name: String,
    /// Create or update.
    pub kind: ChangeSetKind,
    /// Template body (JSON).
    pub template: String,
    /// Stack parameters.
    pub parameters: Vec<(String, String)>,
    /// Stack tags.
    pub tags: Vec<(String, String)>,
    /// Stack description, shown in the console.
    pub description: Option<String>,
}

/// A change set once CloudFormation has computed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSet {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, ...
    pub status: ChangeSetStatus,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The resource changes.
    pub changes: Vec<ResourceChange>,
}

impl ChangeSet {
    /// Whether CloudFormation is still computing it.
    pub fn is_pending(&self) -> bool {
        self.status.is_pending()
    }

    /// Whether it failed only because there is nothing to change (not an error for rekey).
    pub fn is_empty_failure(&self) -> bool {
        self.status == ChangeSetStatus::Failed
            && self
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("didn't contain changes") || r.contains("No updates are to be performed"))
    }
}

/// One resource change of a change set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, ...
    pub action: String,
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
}

/// Where and how a StackSet's instances go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSetTargets {
    /// OU (or root) ids; the instances follow accounts in and out of them (auto-deployment).
    pub ou_ids: Vec<String>,
    /// The one region (IAM is global: a named role in two regions collides).
    pub region: String,
    /// Percentage of accounts deployed at once.
    pub max_concurrent_percentage: u8,
    /// Percentage of accounts that may fail before the operation stops.
    pub failure_tolerance_percentage: u8,
}

/// Everything `CreateStackSet` / `UpdateStackSet` is given.
#[derive(Clone, Debug, PartialEq)]
pub struct StackSetRequest {
    /// StackSet name.
    pub name: String,
    /// Template body (JSON).
    pub template: String,
    /// Parameters.
    pub parameters: Vec<(String, String)>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Description.
    pub description: Option<String>,
    /// From the management account or a delegated administrator.
    pub call_as: CallAs,
}

/// A StackSet as `DescribeStackSet` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSet {
    /// Name.
    pub name: String,
    /// `ACTIVE` or `DELETED`.
    pub status: StackSetStatus,
    /// The deployed template body.
    pub template: String,
    /// The deployed parameters.
    pub parameters: Vec<(String, String)>,
    /// The OU (or root) ids the instances were deployed to (`OrganizationalUnitIds`: the `DeploymentTargets` of the
    /// create/update calls so far); empty when CloudFormation does not say (moto never does).
    pub ou_ids: Vec<String>,
}

/// A StackSet operation as `DescribeStackSetOperation` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `STOPPED`, `QUEUED`, `STOPPING`.
    pub status: OperationStatus,
    /// Why, when CloudFormation says.
    pub reason: Option<String>,
}

impl Operation {
    /// Whether the operation has ended.
    pub fn is_done(&self) -> bool {
        self.status.is_done()
    }
}

/// One StackSet instance (one account, one region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInstance {
    /// Account id.
    pub account: String,
    /// Region.
    pub region: String,
    /// The OU the instance was deployed for (service-managed StackSets), when CloudFormation says.
    pub ou_id: Option<String>,
    /// `CURRENT`, `OUTDATED`, `INOPERABLE`.
    pub status: InstanceStatus,
    /// Detailed status (`SUCCEEDED`, `FAILED`, ...), when reported.
    pub detailed_status: Option<DetailedStatus>,
    /// Why, when CloudFormation says.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written_and_unknown_ones_are_kept() {
        for text in ["UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "REVIEW_IN_PROGRESS", "CREATE_COMPLETE"] {
            let status = StackStatus::from(text);
            assert!(!matches!(status, StackStatus::Other(_)), "{text}");
            assert_eq!(status.to_string(), text);
        }
        let later = StackStatus::from("EXPORT_IN_PROGRESS");
        assert_eq!(later, StackStatus::Other("EXPORT_IN_PROGRESS".into()));
        assert_eq!(later.as_str(), "EXPORT_IN_PROGRESS");
        assert_eq!(OperationStatus::from("PAUSED"), OperationStatus::Other("PAUSED".into()));
        assert_eq!(StackStatus::from(String::new()), StackStatus::Other(String::new()));
    }

    #[test]
    fn stack_statuses_answer_what_the_deploy_asks() {
        let s = StackStatus::from;
        let in_progress = ["CREATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "REVIEW_IN_PROGRESS"];
        assert!(in_progress.into_iter().all(|t| s(t).is_in_progress()));
        assert!(!s("CREATE_COMPLETE").is_in_progress() && !s("ROLLBACK_COMPLETE").is_in_progress());
        for failure in ["CREATE_FAILED", "ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "DELETE_FAILED"] {
            assert!(s(failure).is_failure(), "{failure}");
        }
        for success in ["CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"] {
            assert!(!s(success).is_failure(), "{success}");
        }
        assert!(s("UPDATE_ROLLBACK_COMPLETE").is_rollback() && !s("DELETE_FAILED").is_rollback());
        assert!(s("CREATE_FAILED").is_failed() && !s("ROLLBACK_COMPLETE").is_failed());
        // A status added later is read by CloudFormation's naming convention.
        assert!(s("EXPORT_IN_PROGRESS").is_in_progress() && s("EXPORT_FAILED").is_failed());
        assert!(s("EXPORT_ROLLBACK_COMPLETE").is_failure() && !s("EXPORT_COMPLETE").is_failure());
    }

    #[test]
    fn change_sets_and_operations_know_when_they_are_done() {
        assert!(ChangeSetStatus::from("CREATE_PENDING").is_pending());
        assert!(ChangeSetStatus::from("DELETE_IN_PROGRESS").is_pending());
        assert!(!ChangeSetStatus::from("FAILED").is_pending() && !ChangeSetStatus::CreateComplete.is_pending());
        assert!(["SUCCEEDED", "FAILED", "STOPPED"].into_iter().all(|t| OperationStatus::from(t).is_done()));
        assert!(["RUNNING", "QUEUED", "STOPPING", "PAUSED"].into_iter().all(|t| !OperationStatus::from(t).is_done()));
    }
}
