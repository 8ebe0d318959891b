//! `rekey deploy`, `rekey diff` and `rekey destroy`: CloudFormation stacks, the member-role StackSet and the
//! Lambda asset, behind small traits so the logic is tested without AWS.
