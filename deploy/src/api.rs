//! The small traits rekey's deploy logic talks to: CloudFormation (stacks and StackSets), the asset bucket and
//! the organization. `sdk.rs` implements them on the AWS SDK; tests implement them in memory.

// The traits are only used through generics inside this workspace, never as `dyn` or across threads we do
// not control, so the auto-trait bounds `async fn` cannot state are not needed.
#![allow(async_fn_in_trait)]

use crate::error::DeployError;
use crate::model::*;
use rekey_config::CallAs;

/// CloudFormation in one account and region.
pub trait Cfn {
    /// The stack, or `None` when it does not exist.
    async fn describe_stack(&self, name: &str) -> Result<Option<Stack>, DeployError>;
    /// The deployed template body, or `None` when the stack does not exist.
    async fn get_template(&self, name: &str) -> Result<Option<String>, DeployError>;
    /// Creates a change set and returns its id; `None` when CloudFormation refuses at once because nothing
    /// would change (moto does this; AWS instead fails the change set with a "didn't contain changes" reason).
    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<Option<String>, DeployError>;
    /// The change set's status and changes.
    async fn describe_change_set(&self, stack: &str, id: &str) -> Result<ChangeSet, DeployError>;
    /// Executes a computed change set.
    async fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), DeployError>;
    /// Deletes a change set (the empty ones, which cannot be executed).
    async fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), DeployError>;
    /// Every event of the stack, newest first (as the API lists them).
    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, DeployError>;
    /// Starts deleting a stack.
    async fn delete_stack(&self, name: &str) -> Result<(), DeployError>;

    /// The StackSet, or `None` when it does not exist.
    async fn describe_stack_set(&self, name: &str, call_as: CallAs) -> Result<Option<StackSet>, DeployError>;
    /// Creates a service-managed StackSet with auto-deployment and managed execution.
    async fn create_stack_set(&self, request: &StackSetRequest) -> Result<(), DeployError>;
    /// Updates the StackSet's template and parameters on `targets`; returns the operation id.
    async fn update_stack_set(
        &self,
        request: &StackSetRequest,
        targets: &StackSetTargets,
    ) -> Result<String, DeployError>;
    /// Adds instances for `targets`; returns the operation id.
    async fn create_stack_instances(
        &self,
        name: &str,
        targets: &StackSetTargets,
        call_as: CallAs,
    ) -> Result<String, DeployError>;
    /// Removes the instances of `targets`; returns the operation id.
    async fn delete_stack_instances(
        &self,
        name: &str,
        targets: &StackSetTargets,
        call_as: CallAs,
    ) -> Result<String, DeployError>;
    /// An operation's status.
    async fn describe_operation(&self, name: &str, id: &str, call_as: CallAs) -> Result<Operation, DeployError>;
    /// Every instance of the StackSet.
    async fn list_stack_instances(&self, name: &str, call_as: CallAs) -> Result<Vec<StackInstance>, DeployError>;
    /// Deletes the (instance-less) StackSet.
    async fn delete_stack_set(&self, name: &str, call_as: CallAs) -> Result<(), DeployError>;
}

/// The bucket the Lambda asset is published to.
pub trait AssetStore {
    /// Whether `key` exists in `bucket`.
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, DeployError>;
    /// Uploads `body` as `key`.
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), DeployError>;
}

/// The organization, seen from the management (or delegated-admin) account.
pub trait Org {
    /// The organization root id (`r-xxxx`): the StackSet target when no OU is configured.
    async fn root_id(&self) -> Result<String, DeployError>;
}

/// Secrets the runtime created (tag `rekey:managed=true`), for `destroy --delete-secrets`.
pub trait ManagedSecrets {
    /// ARNs of every secret tagged `rekey:managed=true`.
    async fn list_managed(&self) -> Result<Vec<String>, DeployError>;
    /// Deletes one secret without a recovery window.
    async fn delete(&self, arn: &str) -> Result<(), DeployError>;
}
