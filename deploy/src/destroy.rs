//! `rekey destroy`: deletes the planned stacks in reverse order (the member-role StackSet's instances, then the
//! StackSet), after confirmation. Secrets the runtime created (tag `rekey:managed=true`) are kept unless asked.

use crate::api::{Cfn, ManagedSecrets, Org};
use crate::deploy::{wait_operation, wait_stack, Approver, Env, Options};
use crate::error::DeployError;
use crate::plan::{Placement, Step};
use crate::progress::Progress;
use serde::Serialize;
use std::collections::BTreeSet;

/// What a destroy did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DestroyReport {
    /// Stacks and StackSets deleted.
    pub deleted: Vec<String>,
    /// Stacks and StackSets that did not exist.
    pub absent: Vec<String>,
    /// Secrets deleted (`--delete-secrets`).
    pub secrets_deleted: Vec<String>,
    /// Secrets kept.
    pub secrets_kept: Vec<String>,
    /// Member accounts (StackSet instances) whose secrets `destroy` cannot reach (`secrets.storage: member`): kept,
    /// even with `--delete-secrets`; the progress output says how to delete them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_unreached_accounts: Vec<String>,
}

/// How to delete the managed secrets of one member account by hand, printed by `destroy`.
pub const MEMBER_SECRETS_HOWTO: &str = "with credentials of each of these accounts (e.g. its \
OrganizationAccountAccessRole), in every region the secrets are in: `aws secretsmanager list-secrets --filters \
Key=tag-key,Values=rekey:managed --query 'SecretList[].ARN' --output text`, then for each ARN (after removing \
its replicas with `aws secretsmanager remove-regions-from-replication` when `secrets.replica_regions` is set) \
`aws secretsmanager delete-secret --force-delete-without-recovery --secret-id <ARN>`";

/// Flags of `rekey destroy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestroyOptions {
    /// Skip the confirmation.
    pub force: bool,
    /// Delete the secrets the runtime created, too.
    pub delete_secrets: bool,
    /// Secrets live in the member accounts (`secrets.storage: member`): the StackSet's accounts hold secrets that
    /// `destroy` cannot reach (the runtime's member role is not widened for it, and deploy credentials are not in
    /// those accounts); they are listed before anything is deleted.
    pub member_secrets: bool,
}

/// Deletes `steps` in reverse order, then keeps or deletes the managed secrets reachable through `secrets`
/// (account id and adapter: the deployment account and, for central storage, the management account).
pub async fn destroy<C: Cfn, A, O: Org, S: ManagedSecrets>(
    env: &Env<'_, C, A, O>,
    steps: &[Step],
    secrets: &[(String, &S)],
    flags: DestroyOptions,
    options: &Options,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<DestroyReport, DeployError> {
    progress.note("rekey destroy deletes, in this order:")?;
    for step in steps.iter().rev() {
        progress.note(&format!("  {}", step.title()))?;
    }
    let unreached = if flags.member_secrets { unreached_accounts(env, steps, secrets).await? } else { Vec::new() };
    if !unreached.is_empty() {
        // Said before asking, so the user knows what `--delete-secrets` will not do.
        progress.note(&format!(
            "secrets created by rekey in member accounts are NOT deleted{} (secrets.storage: member; destroy cannot \
             reach them): {}",
            if flags.delete_secrets { ", even with --delete-secrets" } else { "" },
            unreached.join(", ")
        ))?;
        progress.note(&format!("  to delete them: {MEMBER_SECRETS_HOWTO}"))?;
    }
    if !flags.force {
        match approver.confirm("all", "Delete these stacks?") {
            Ok(true) => {}
            Ok(false) => return Err(DeployError::NotConfirmed { interactive: true }),
            Err(DeployError::NotApproved { interactive, .. }) => return Err(DeployError::NotConfirmed { interactive }),
            Err(e) => return Err(e),
        }
    }
    let mut report = DestroyReport { secrets_unreached_accounts: unreached, ..DestroyReport::default() };
    for step in steps.iter().rev() {
        let name = &step.stack.name;
        let title = step.title();
        match &step.placement {
            Placement::Stack(role) => {
                let cfn = match role {
                    crate::plan::AccountRole::Deployment => env.deployment,
                    crate::plan::AccountRole::Management => env.management,
                };
                if cfn.describe_stack(name).await?.is_none() {
                    progress.note(&format!("{title}: not deployed"))?;
                    report.absent.push(title);
                    continue;
                }
                let seen: BTreeSet<String> = cfn.stack_events(name).await?.into_iter().map(|e| e.id).collect();
                progress.note(&format!("{title}: deleting"))?;
                cfn.delete_stack(name).await?;
                if let Some(left) = wait_stack(cfn, name, seen, options, progress).await? {
                    return Err(DeployError::StackFailed {
                        stack: name.clone(),
                        status: left.status.clone(),
                        rolled_back: false,
                        reason: left.reason.unwrap_or_else(|| "the stack was not deleted".into()),
                    });
                }
                progress.note(&format!("{title}: deleted"))?;
                report.deleted.push(title);
            }
            Placement::StackSet { targets, call_as } => {
                let cfn = env.management;
                let Some(set) = cfn.describe_stack_set(name, *call_as).await? else {
                    progress.note(&format!("{title}: not deployed"))?;
                    report.absent.push(title);
                    continue;
                };
                let instances = cfn.list_stack_instances(name, *call_as).await?;
                if !instances.is_empty() {
                    let mut targets = targets.clone();
                    if targets.ou_ids.is_empty() {
                        targets.ou_ids = vec![env.org.root_id().await?];
                    }
                    // The OUs deployed to may differ from the config's (an earlier config): delete them all.
                    let ous: BTreeSet<String> = targets
                        .ou_ids
                        .iter()
                        .cloned()
                        .chain(set.ou_ids.iter().cloned())
                        .chain(instances.iter().filter_map(|i| i.ou_id.clone()))
                        .collect();
                    targets.ou_ids = ous.into_iter().collect();
                    progress.note(&format!("{title}: deleting the instances in {}", targets.ou_ids.join(", ")))?;
                    let op = cfn.delete_stack_instances(name, &targets, *call_as).await?;
                    wait_operation(cfn, name, &op, *call_as, options, progress).await?;
                }
                cfn.delete_stack_set(name, *call_as).await?;
                progress.note(&format!("{title}: deleted"))?;
                report.deleted.push(title);
            }
        }
    }
    for (account, store) in secrets {
        let arns = store.list_managed().await?;
        if arns.is_empty() {
            continue;
        }
        if flags.delete_secrets {
            progress.note(&format!(
                "deleting {} secret(s) created by rekey (tag rekey:managed=true) in account {account}, without recovery window",
                arns.len()
            ))?;
            for arn in arns {
                store.delete(&arn).await?;
                report.secrets_deleted.push(arn);
            }
        } else {
            progress.note(&format!(
                "kept {} secret(s) created by rekey (tag rekey:managed=true) in account {account}; pass --delete-secrets to delete them",
                arns.len()
            ))?;
            report.secrets_kept.extend(arns);
        }
    }
    Ok(report)
}

/// The accounts of the StackSet instances whose secrets are not reachable through `secrets`.
async fn unreached_accounts<C: Cfn, A, O, S>(
    env: &Env<'_, C, A, O>,
    steps: &[Step],
    secrets: &[(String, &S)],
) -> Result<Vec<String>, DeployError> {
    let mut accounts = BTreeSet::new();
    for step in steps {
        if let Placement::StackSet { call_as, .. } = &step.placement {
            if env.management.describe_stack_set(&step.stack.name, *call_as).await?.is_some() {
                for instance in env.management.list_stack_instances(&step.stack.name, *call_as).await? {
                    accounts.insert(instance.account);
                }
            }
        }
    }
    for (reachable, _) in secrets {
        accounts.remove(reachable);
    }
    Ok(accounts.into_iter().collect())
}
