//! `rekey destroy`: deletes the planned stacks in reverse order (the member-role StackSet's instances, then the
//! StackSet), after confirmation. Secrets the runtime created (tag `rekey:managed=true`) are kept unless asked.

use crate::api::{Cfn, ManagedSecrets, Org};
use crate::deploy::{Approver, Clients, Options};
use crate::error::DeployError;
use crate::model::StackSetTargets;
use crate::placement::{Placement, Step};
use crate::progress::Progress;
use crate::stack_set::{deployed_ous, with_ous};
use crate::wait;
use rekey_config::CallAs;
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
    clients: &Clients<'_, C, A, O>,
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
    let unreached = if flags.member_secrets { unreached_accounts(clients, steps, secrets).await? } else { Vec::new() };
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
        confirm(approver)?;
    }
    let mut report = DestroyReport { secrets_unreached_accounts: unreached, ..DestroyReport::default() };
    for step in steps.iter().rev() {
        let deleted = match &step.placement {
            Placement::Stack(role) => delete_stack(clients.cfn(*role), step, options, progress).await?,
            Placement::StackSet { targets, call_as } => {
                delete_stack_set(clients, step, targets, *call_as, options, progress).await?
            }
        };
        let title = step.title();
        if deleted {
            progress.note(&format!("{title}: deleted"))?;
            report.deleted.push(title);
        } else {
            progress.note(&format!("{title}: not deployed"))?;
            report.absent.push(title);
        }
    }
    for (account, store) in secrets {
        managed_secrets(account, *store, flags.delete_secrets, &mut report, progress).await?;
    }
    Ok(report)
}

/// Asks before deleting anything; a refusal (or nobody to ask) is [`DeployError::NotConfirmed`].
fn confirm(approver: &mut dyn Approver) -> Result<(), DeployError> {
    match approver.confirm("all", "Delete these stacks?") {
        Ok(true) => Ok(()),
        Ok(false) => Err(DeployError::NotConfirmed { interactive: true }),
        Err(DeployError::NotApproved { interactive, .. }) => Err(DeployError::NotConfirmed { interactive }),
        Err(e) => Err(e),
    }
}

/// Deletes a plain stack and waits for it to go; `false` when it was not deployed.
async fn delete_stack<C: Cfn>(
    cfn: &C,
    step: &Step,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<bool, DeployError> {
    let name = &step.stack.name;
    if cfn.describe_stack(name).await?.is_none() {
        return Ok(false);
    }
    progress.note(&format!("{}: deleting", step.title()))?;
    match wait::delete_stack(cfn, name, options, progress).await? {
        None => Ok(true),
        Some(left) => Err(DeployError::StackFailed {
            stack: name.clone(),
            status: left.status,
            rolled_back: false,
            reason: left.reason.unwrap_or_else(|| "the stack was not deleted".into()),
        }),
    }
}

/// Deletes the StackSet's instances (in every OU they were deployed to, which may be an earlier config's, and
/// the configured ones), then the StackSet; `false` when it was not deployed.
async fn delete_stack_set<C: Cfn, A, O: Org>(
    clients: &Clients<'_, C, A, O>,
    step: &Step,
    targets: &StackSetTargets,
    call_as: CallAs,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<bool, DeployError> {
    let (cfn, name) = (clients.management, &step.stack.name);
    let Some(set) = cfn.describe_stack_set(name, call_as).await? else { return Ok(false) };
    let instances = cfn.list_stack_instances(name, call_as).await?;
    if !instances.is_empty() {
        let targets = clients.resolve_targets(targets).await?;
        let mut ous = deployed_ous(&set, &instances);
        ous.extend(targets.ou_ids.iter().cloned());
        let targets = with_ous(&targets, &ous.into_iter().collect::<Vec<_>>());
        progress.note(&format!("{}: deleting the instances in {}", step.title(), targets.ou_ids.join(", ")))?;
        let op = cfn.delete_stack_instances(name, &targets, call_as).await?;
        wait::operation(cfn, name, &op, call_as, options, progress).await?;
    }
    cfn.delete_stack_set(name, call_as).await?;
    Ok(true)
}

/// Deletes (`delete`) or keeps the secrets tagged `rekey:managed=true` in one account, saying which.
async fn managed_secrets<S: ManagedSecrets>(
    account: &str,
    store: &S,
    delete: bool,
    report: &mut DestroyReport,
    progress: &mut Progress<'_>,
) -> Result<(), DeployError> {
    let arns = store.list_managed().await?;
    if arns.is_empty() {
        return Ok(());
    }
    if delete {
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
    Ok(())
}

/// The accounts of the StackSet instances whose secrets are not reachable through `secrets`.
async fn unreached_accounts<C: Cfn, A, O, S>(
    clients: &Clients<'_, C, A, O>,
    steps: &[Step],
    secrets: &[(String, &S)],
) -> Result<Vec<String>, DeployError> {
    let mut accounts = BTreeSet::new();
    for step in steps {
        if let Placement::StackSet { call_as, .. } = &step.placement {
            if clients.management.describe_stack_set(&step.stack.name, *call_as).await?.is_some() {
                for instance in clients.management.list_stack_instances(&step.stack.name, *call_as).await? {
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
