//! The inventory-role stack (management or delegated-administrator account):
//! Organizations read-only access for the inventory function and, in central
//! storage mode only, the secret store for the rotation function.

use crate::policies;
use crate::DEPLOYMENT_ACCOUNT_PARAMETER;
use rekey_config::{Config, Function, SecretStorage};
use rekey_synth::cfn::{Expr, InlinePolicy, Output, PolicyDocument, Role, Statement, Template};

/// What the stack is.
pub const DESCRIPTION: &str =
    "rekey inventory role: lets the rekey inventory function list the organization's accounts";

/// Organizations reads the inventory makes, exactly the calls of
/// `runtime/src/aws/orgs.rs` (none of them has resource-level permissions
/// that the runtime could name before it has listed the organization).
const ORGANIZATIONS_READS: [&str; 3] =
    ["organizations:ListAccounts", "organizations:ListAccountsForParent", "organizations:ListChildren"];

pub fn template(config: &Config) -> (&'static str, Template) {
    let names = config.names();
    let central = config.secrets.storage == SecretStorage::Central;
    let mut t = Template::new(DESCRIPTION);
    t.add_parameter(DEPLOYMENT_ACCOUNT_PARAMETER, policies::deployment_account_parameter(config));

    let trusted: &[Function] =
        if central { &[Function::Inventory, Function::Rotation] } else { &[Function::Inventory] };
    let mut policies = vec![InlinePolicy {
        policy_name: "RekeyInventory".to_string(),
        policy_document: PolicyDocument::new(vec![Statement::allow(
            "ReadOrganization",
            ORGANIZATIONS_READS,
            vec!["*".into()],
        )]),
    }];
    if central {
        // Secret names carry the member account id; this account stores them all.
        policies.push(InlinePolicy {
            policy_name: "RekeyCentralSecrets".to_string(),
            policy_document: PolicyDocument::new(policies::secret_store(config, "*")),
        });
    }
    let description = if central {
        "Assumed by the rekey inventory function (organization listing) and rotation function (central secrets)"
    } else {
        "Assumed by the rekey inventory function to list the organization's accounts"
    };
    let role = t.add(
        "InventoryRole",
        Role {
            role_name: names.inventory_role.clone().into(),
            description: description.to_string(),
            assume_role_policy_document: PolicyDocument::new(vec![policies::trust_execution_roles(config, trusted)]),
            policies,
            max_session_duration: Some(3600),
        },
    );
    t.add_output(
        "InventoryRoleArn",
        Output::new("The role the inventory function assumes", Expr::get_att(&role, "Arn")),
    );
    (DESCRIPTION, t)
}
