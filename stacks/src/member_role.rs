//! The member-role stack: the role the rotation function assumes in every
//! audited account, allowed only the IAM calls the runtime makes (no
//! `iam:PutUserPolicy`, `AttachUserPolicy`, `CreatePolicy`, `iam:*` or
//! `iam:List*`), and the exemption group. No assets, so member accounts need
//! no CDK bootstrap.

use crate::policies::{self, arn};
use crate::DEPLOYMENT_ACCOUNT_PARAMETER;
use rekey_config::{Config, Function, SecretStorage};
use rekey_synth::cfn::{Expr, Group, InlinePolicy, Output, PolicyDocument, Resource, Role, Statement, Template};

/// What the stack is.
pub const DESCRIPTION: &str =
    "rekey member role: lets the rekey rotation function audit and rotate IAM user access keys in this account";

/// IAM reads that have no resource-level permissions.
const ACCOUNT_WIDE_READS: [&str; 3] =
    ["iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountAuthorizationDetails"];

/// IAM calls on users. Users' tags and exemption-group membership come
/// from `GetAccountAuthorizationDetails`, so no per-user tag or group reads.
const USER_ACTIONS: [&str; 5] = [
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
];

pub fn template(config: &Config) -> (&'static str, Template) {
    let names = config.names();
    let mut t = Template::new(DESCRIPTION);
    t.add_parameter(DEPLOYMENT_ACCOUNT_PARAMETER, policies::deployment_account_parameter(config));

    let users = arn("iam::${AWS::AccountId}:user/*");
    let mut statements =
        vec![
            Statement::allow("ReadAccountReports", ACCOUNT_WIDE_READS, vec!["*".into()]),
            Statement::allow("ManageUserAccessKeys", USER_ACTIONS, vec![users.clone()]),
            // rekey records its own state (e.g. when it deactivated a key) as
            // `rekey:*` user tags; no other tag can be written or removed.
            Statement::allow("RecordRekeyStateAsUserTags", ["iam:TagUser", "iam:UntagUser"], vec![users])
                .with_condition("ForAllValues:StringLike", "aws:TagKeys", "rekey:*".into()),
        ];
    if config.secrets.storage == SecretStorage::Member {
        statements.extend(policies::secret_store(config, "${AWS::AccountId}"));
    }
    statements.extend(policies::security_hub_findings(config));
    let role = Role {
        role_name: names.member_role.clone().into(),
        description: "Assumed by the rekey rotation function of the deployment account".to_string(),
        assume_role_policy_document: PolicyDocument::new(vec![policies::trust_execution_roles(
            config,
            &[Function::Rotation],
        )]),
        policies: vec![InlinePolicy {
            policy_name: "RekeyRotation".to_string(),
            policy_document: PolicyDocument::new(statements),
        }],
        max_session_duration: Some(3600),
    };
    let role = Resource::from(role);
    let role = t.add("MemberRole", role);
    t.add("ExemptionGroup", Group { group_name: names.exemption_group.clone().into() });
    t.add_output("MemberRoleArn", Output::new("The role the rotation function assumes", Expr::get_att(&role, "Arn")));
    t.add_output(
        "ExemptionGroupName",
        Output::new("Members of this IAM group are exempt from rotation", Expr::r#ref("ExemptionGroup")),
    );
    (DESCRIPTION, t)
}
