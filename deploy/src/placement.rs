//! Where each synthesized stack goes and in which order: the deployment account, the management (or
//! delegated-admin) account, or the member-role StackSet. Derived from the config alone, so `deploy`, `diff` and
//! `destroy` agree.

use crate::model::StackSetTargets;
use rekey_config::{CallAs, Config, StackId};
use serde_json::Value;

/// A synthesized stack, as `rekey_stacks::synthesize` or a cloud assembly provides it.
#[derive(Clone, Debug, PartialEq)]
pub struct StackTemplate {
    /// Which of rekey's stacks.
    pub id: StackId,
    /// Stack name (from `Names::stack`).
    pub name: String,
    /// Stack description.
    pub description: Option<String>,
    /// The CloudFormation template.
    pub template: Value,
}

/// Which credentials a stack is deployed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountRole {
    /// The account hosting the functions (the caller's credentials).
    Deployment,
    /// The management or delegated-admin account (`--role-arn`, or the caller when it is that account).
    Management,
}

/// How a stack is deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A plain stack.
    Stack(AccountRole),
    /// A service-managed StackSet with auto-deployment, created from the management account. `targets.ou_ids`
    /// empty means the organization root, resolved at deploy time.
    StackSet {
        /// OUs, region and operation preferences.
        targets: StackSetTargets,
        /// From the management account or a delegated administrator.
        call_as: CallAs,
    },
}

/// One step of a deploy.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The stack.
    pub stack: StackTemplate,
    /// Where it goes.
    pub placement: Placement,
}

impl Step {
    /// `rekey-main (deployment account)`, `rekey-member-role (StackSet)`, ...
    pub fn title(&self) -> String {
        let place = match &self.placement {
            Placement::Stack(AccountRole::Deployment) => "deployment account",
            Placement::Stack(AccountRole::Management) => "management account",
            Placement::StackSet { .. } => "StackSet",
        };
        format!("{} ({place})", self.stack.name)
    }
}

/// A stack asked for by name that the synthesized stacks do not have (`rekey deploy NAME`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no stack named `{wanted}`; the stacks are {}", .known.join(", "))]
pub struct UnknownStack {
    /// The name or suffix asked for.
    pub wanted: String,
    /// The names of the stacks there are.
    pub known: Vec<String>,
}

/// Orders `stacks` (VPC endpoints, inventory role, member role, main) and places each. `only` keeps the stacks
/// whose name or id suffix (`main`, `member-role`, ...) is listed; empty keeps all.
pub fn place_stacks(config: &Config, stacks: &[StackTemplate], only: &[String]) -> Result<Vec<Step>, UnknownStack> {
    for wanted in only {
        if !stacks.iter().any(|s| &s.name == wanted || s.id.suffix() == wanted) {
            let known = stacks.iter().map(|s| s.name.clone()).collect();
            return Err(UnknownStack { wanted: wanted.clone(), known });
        }
    }
    let mut steps = Vec::new();
    for id in StackId::ALL {
        let Some(stack) = stacks.iter().find(|s| s.id == id) else { continue };
        if !only.is_empty() && !only.iter().any(|w| w == &stack.name || w == id.suffix()) {
            continue;
        }
        match (id, &config.organization) {
            (StackId::Main | StackId::VpcEndpoints, _) => {
                steps.push(Step { stack: stack.clone(), placement: Placement::Stack(AccountRole::Deployment) })
            }
            (StackId::InventoryRole, Some(_)) => {
                steps.push(Step { stack: stack.clone(), placement: Placement::Stack(AccountRole::Management) })
            }
            (StackId::InventoryRole, None) | (StackId::MemberRole, None) => {
                steps.push(Step { stack: stack.clone(), placement: Placement::Stack(AccountRole::Deployment) })
            }
            (StackId::MemberRole, Some(org)) => {
                let targets = StackSetTargets {
                    ou_ids: org.target_ou_ids.iter().map(ToString::to_string).collect(),
                    region: config.deployment.region.to_string(),
                    max_concurrent_percentage: org.stackset.max_concurrent_percentage,
                    failure_tolerance_percentage: org.stackset.failure_tolerance_percentage,
                };
                steps.push(Step {
                    stack: stack.clone(),
                    placement: Placement::StackSet { targets, call_as: org.stackset.call_as },
                });
                // StackSets never deploy to the management account itself.
                if org.include_management_account {
                    steps.push(Step { stack: stack.clone(), placement: Placement::Stack(AccountRole::Management) });
                }
            }
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks(config: &Config) -> Vec<StackTemplate> {
        let names = config.names();
        [StackId::Main, StackId::MemberRole, StackId::InventoryRole]
            .into_iter()
            .map(|id| StackTemplate { id, name: names.stack(id), description: None, template: Value::Null })
            .collect()
    }

    fn titles(steps: &[Step]) -> Vec<String> {
        steps.iter().map(Step::title).collect()
    }

    #[test]
    fn organization_roles_go_first_and_the_member_role_is_a_stackset() {
        let config = Config::builtin_default();
        let steps = place_stacks(&config, &stacks(&config), &[]).expect("plan");
        assert_eq!(
            titles(&steps),
            [
                "rekey-inventory-role (management account)",
                "rekey-member-role (StackSet)",
                "rekey-main (deployment account)"
            ]
        );
        let Placement::StackSet { targets, call_as } = &steps[1].placement else { panic!("not a StackSet") };
        assert_eq!(targets.ou_ids, Vec::<String>::new());
        assert_eq!(targets.region, "us-east-1");
        assert_eq!((targets.max_concurrent_percentage, targets.failure_tolerance_percentage), (25, 0));
        assert_eq!(*call_as, CallAs::SelfAccount);
    }

    #[test]
    fn the_management_account_gets_a_plain_member_role_stack_when_in_scope() {
        let config = Config::from_yaml_str(
            "organization:\n  include_management_account: true\n  target_ou_ids: [ou-ab12-cdef3456]\n  stackset: {call_as: delegated_admin}\n",
            None,
        )
        .expect("valid");
        let steps = place_stacks(&config, &stacks(&config), &[]).expect("plan");
        assert_eq!(
            titles(&steps),
            [
                "rekey-inventory-role (management account)",
                "rekey-member-role (StackSet)",
                "rekey-member-role (management account)",
                "rekey-main (deployment account)"
            ]
        );
        let Placement::StackSet { targets, call_as } = &steps[1].placement else { panic!("not a StackSet") };
        assert_eq!(targets.ou_ids, ["ou-ab12-cdef3456"]);
        assert_eq!(*call_as, CallAs::DelegatedAdmin);
    }

    #[test]
    fn single_account_mode_deploys_plain_stacks_in_the_deployment_account() {
        let config = Config::from_yaml_str("deployment: {name_prefix: kr}\n", None).expect("valid");
        let mut file = config.file().clone();
        file.organization = None;
        let config = Config::validate(file).expect("valid");
        let steps = place_stacks(&config, &stacks(&config), &[]).expect("plan");
        assert_eq!(
            titles(&steps),
            [
                "kr-inventory-role (deployment account)",
                "kr-member-role (deployment account)",
                "kr-main (deployment account)"
            ]
        );
    }

    #[test]
    fn stacks_can_be_picked_by_name_or_suffix_and_unknown_names_are_errors() {
        let config = Config::builtin_default();
        let steps =
            place_stacks(&config, &stacks(&config), &["main".into(), "rekey-inventory-role".into()]).expect("plan");
        assert_eq!(titles(&steps), ["rekey-inventory-role (management account)", "rekey-main (deployment account)"]);
        let err = place_stacks(&config, &stacks(&config), &["nope".into()]).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "no stack named `nope`; the stacks are rekey-main, rekey-member-role, rekey-inventory-role"
        );
    }
}
