//! The four rekey stacks as pure functions from a validated config to typed
//! CloudFormation templates: no I/O, no clock, no AWS calls. Every resource
//! name comes from [`rekey_config::Names`], so the stacks, the deploy code and
//! the runtime can never disagree about what a role or queue is called.

mod dashboard;
mod inventory_role;
mod main_stack;
mod member_role;
mod policies;
mod vpc_endpoints;

#[cfg(test)]
mod tests;

use rekey_config::{Config, StackId};
use rekey_synth::asset::LambdaAsset;
use rekey_synth::cfn::Template;

// The environment variables the main stack sets, named once in
// `rekey_config::contract` (the handlers read the same constants).
pub use rekey_config::contract::{
    ACCOUNTS_MAX_RECEIVE_COUNT_ENV as ENV_ACCOUNTS_MAX_RECEIVE_COUNT, ACCOUNTS_QUEUE_ENV as ENV_ACCOUNTS_QUEUE_URL,
    DEPLOYMENT_ACCOUNT_ENV as ENV_DEPLOYMENT_ACCOUNT_ID, FUNCTION_ENV as ENV_FUNCTION,
    NOTIFICATIONS_QUEUE_ENV as ENV_NOTIFICATIONS_QUEUE_URL, RUN_LEDGER_TABLE_ENV as ENV_RUN_LEDGER_TABLE,
};

/// Lambda's limit on the total size of a function's environment variables.
pub const LAMBDA_ENV_LIMIT_BYTES: usize = 4096;

/// Name of the parameter of the role stacks that holds the deployment account id.
pub const DEPLOYMENT_ACCOUNT_PARAMETER: &str = "DeploymentAccountId";

/// One synthesized stack and where it goes.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthesizedStack {
    /// Which stack.
    pub id: StackId,
    /// Stack (and StackSet) name, from [`rekey_config::Names::stack`].
    pub name: String,
    /// One line saying what the stack is.
    pub description: String,
    /// The template.
    pub template: Template,
    /// Where deploy sends it.
    pub target: DeployTarget,
}

/// Where a stack is deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployTarget {
    /// A plain stack in the deployment account, in `deployment.region`
    /// (main, VPC endpoints, and the member role in single-account mode).
    DeploymentAccount,
    /// A plain stack in the management or delegated-administrator account
    /// (`organization.management_account_id`, default the deployment account).
    ManagementAccount,
    /// A service-managed StackSet with auto-deployment to the targeted OUs (or
    /// the whole organization), in `deployment.region` only (IAM is global);
    /// also a plain stack in the management account when
    /// `organization.include_management_account` is true, since StackSets
    /// never deploy there.
    MemberAccountsStackSet,
}

/// Why a config cannot be turned into stacks (rules the config validation
/// cannot see because they depend on the synthesized output).
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A function's environment is over Lambda's 4 KB limit.
    #[error(
        "the environment of function `{function}` is about {size} bytes, over Lambda's limit of {limit} bytes; \
         shorten `notifications.subject`, the template paths or the account and OU lists"
    )]
    EnvironmentTooLarge {
        /// The function (`rekey-rotation`).
        function: String,
        /// Estimated size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Synthesizes every stack `config` needs, in deployment order: VPC endpoints
/// (only when `vpc.enabled`), inventory role (only in organization mode),
/// member role, main.
pub fn synthesize(config: &Config, asset: &LambdaAsset) -> Result<Vec<SynthesizedStack>, StackError> {
    let names = config.names();
    let mut stacks = Vec::new();
    let mut push = |id: StackId, description: &str, template: Template, target: DeployTarget| {
        stacks.push(SynthesizedStack {
            id,
            name: names.stack(id),
            description: description.to_string(),
            template,
            target,
        });
    };
    if config.vpc.enabled {
        let (description, template) = vpc_endpoints::template(config);
        push(StackId::VpcEndpoints, description, template, DeployTarget::DeploymentAccount);
    }
    if config.organization.is_some() {
        let (description, template) = inventory_role::template(config);
        push(StackId::InventoryRole, description, template, DeployTarget::ManagementAccount);
    }
    let (description, template) = member_role::template(config);
    let member_target = if config.organization.is_some() {
        DeployTarget::MemberAccountsStackSet
    } else {
        DeployTarget::DeploymentAccount
    };
    push(StackId::MemberRole, description, template, member_target);
    let (description, template) = main_stack::template(config, asset)?;
    push(StackId::Main, description, template, DeployTarget::DeploymentAccount);
    Ok(stacks)
}
