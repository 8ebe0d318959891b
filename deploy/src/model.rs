//! Plain data the deploy logic works on: what CloudFormation reports (stacks, events, change sets, StackSet
//! operations) and what rekey asks of it, independent of the SDK types so the logic is tested with fakes.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use rekey_config::CallAs;

/// A stack as `DescribeStacks` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Stack name.
    pub name: String,
    /// `CREATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...
    pub status: String,
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
    pub status: String,
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
    pub status: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The resource changes.
    pub changes: Vec<ResourceChange>,
}

impl ChangeSet {
    /// Whether CloudFormation is still computing it.
    pub fn is_pending(&self) -> bool {
        self.status.ends_with("_PENDING") || self.status.ends_with("_IN_PROGRESS")
    }

    /// Whether it failed only because there is nothing to change (not an error for rekey).
    pub fn is_empty_failure(&self) -> bool {
        self.status == "FAILED"
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
    pub status: String,
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
    pub status: String,
    /// Why, when CloudFormation says.
    pub reason: Option<String>,
}

impl Operation {
    /// Whether the operation has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.status.as_str(), "SUCCEEDED" | "FAILED" | "STOPPED")
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
    pub status: String,
    /// Detailed status (`SUCCEEDED`, `FAILED`, ...), when reported.
    pub detailed_status: Option<String>,
    /// Why, when CloudFormation says.
    pub reason: Option<String>,
}

/// Whether a stack status is still moving.
pub fn is_in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

/// Whether a final stack status means the deploy did not take (rolled back or failed).
pub fn is_failure(status: &str) -> bool {
    status.ends_with("_FAILED") || status.contains("ROLLBACK")
}
