//! The member-role StackSet: created with its instances, or updated (template and parameters on the instances
//! that stay) and retargeted (instances created for OUs newly configured, deleted for OUs no longer configured).
//! StackSets have no change sets, so `--no-execute` leaves them alone. [`deployed_ous`] is shared with `destroy`.

use crate::api::Cfn;
use crate::deploy::{approve, parse, Approver, Options, Outcome, StackOutcome};
use crate::error::DeployError;
use crate::model::{StackInstance, StackSet, StackSetRequest, StackSetTargets};
use crate::placement::Step;
use crate::progress::Progress;
use crate::wait;
use std::collections::BTreeSet;

/// One StackSet to deploy: what it is, where it goes and how to wait.
struct Job<'a, C> {
    cfn: &'a C,
    step: &'a Step,
    request: &'a StackSetRequest,
    targets: &'a StackSetTargets,
    options: &'a Options,
    title: String,
}

impl<C: Cfn> Job<'_, C> {
    fn name(&self) -> &str {
        &self.request.name
    }

    /// Runs one StackSet operation (its id returned by `start`) to its end.
    async fn wait(&self, operation_id: String, progress: &mut Progress<'_>) -> Result<(), DeployError> {
        let call_as = self.request.call_as;
        wait::operation(self.cfn, self.name(), &operation_id, call_as, self.options, progress).await.map(drop)
    }

    async fn create_instances(
        &self,
        targets: &StackSetTargets,
        progress: &mut Progress<'_>,
    ) -> Result<(), DeployError> {
        let op = self.cfn.create_stack_instances(self.name(), targets, self.request.call_as).await?;
        self.wait(op, progress).await
    }
}

/// Creates or updates the StackSet of `step` and its instances on `targets`.
pub(crate) async fn deploy_stack_set<C: Cfn>(
    cfn: &C,
    step: &Step,
    request: &StackSetRequest,
    targets: &StackSetTargets,
    options: &Options,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<StackOutcome, DeployError> {
    let job = Job { cfn, step, request, targets, options, title: step.title() };
    let title = &job.title;
    if !options.execute {
        progress.note(&format!("{title}: not changed (--no-execute; a StackSet has no change set to prepare)"))?;
        return Ok(StackOutcome::new(job.name(), title, Outcome::NotExecuted));
    }
    match cfn.describe_stack_set(job.name(), request.call_as).await? {
        None => {
            approve(options.approval, title, job.name(), None, &step.stack.template, approver, progress)?;
            progress.note(&format!(
                "{title}: creating the StackSet (service-managed, auto-deployment) for {} in {}",
                targets.ou_ids.join(", "),
                targets.region
            ))?;
            cfn.create_stack_set(request).await?;
            job.create_instances(targets, progress).await?;
            Ok(StackOutcome::new(job.name(), title, Outcome::Created))
        }
        Some(set) => update(&job, &set, approver, progress).await,
    }
}

/// Updates an existing StackSet: its template and parameters when they changed, its instances when it has none,
/// its OU targets when the config's changed.
async fn update<C: Cfn>(
    job: &Job<'_, C>,
    set: &StackSet,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<StackOutcome, DeployError> {
    let (name, title, targets) = (job.name(), &job.title, job.targets);
    let old = parse(name, &set.template)?;
    let mut old_params = set.parameters.clone();
    let mut new_params = job.request.parameters.clone();
    old_params.sort();
    new_params.sort();
    let instances = job.cfn.list_stack_instances(name, job.request.call_as).await?;
    let ous = OuChange::new(set, &instances, &targets.ou_ids);
    let template_changed = old != job.step.stack.template || old_params != new_params;
    if template_changed {
        approve(job.options.approval, title, name, Some(&old), &job.step.stack.template, approver, progress)?;
        // Update the instances that stay; the new OUs get the new template when their instances are created.
        let update_on = match &ous {
            OuChange::Known { kept, .. } if !kept.is_empty() => kept.clone(),
            OuChange::Known { current, .. } if !current.is_empty() => current.clone(),
            _ => targets.ou_ids.clone(),
        };
        progress.note(&format!("{title}: updating the StackSet and its instances in {}", update_on.join(", ")))?;
        let op = job.cfn.update_stack_set(job.request, &with_ous(targets, &update_on)).await?;
        job.wait(op, progress).await?;
    }
    let mut outcome = StackOutcome::new(name, title, Outcome::Updated);
    if instances.is_empty() {
        // The instances are what changed (with the template, if it did too).
        progress.note(&format!("{title}: no instances; adding them for {}", targets.ou_ids.join(", ")))?;
        job.create_instances(targets, progress).await?;
        return Ok(outcome);
    }
    if let OuChange::Known { added, removed, .. } = &ous {
        (outcome.ous_added, outcome.ous_removed) = retarget(job, added, removed, progress).await?;
    } else {
        progress.note(&format!(
            "{title}: CloudFormation reports no OU targets for the existing instances; the instances are left as \
             they are (a change of `organization.target_ou_ids` is not applied)"
        ))?;
    }
    if !template_changed && outcome.ous_added.is_empty() && outcome.ous_removed.is_empty() {
        progress.note(&format!("{title}: no changes"))?;
        outcome.outcome = Outcome::Unchanged;
    }
    Ok(outcome)
}

/// Creates the instances of the `added` OUs and deletes those of the `removed` ones; returns the OUs changed.
async fn retarget<C: Cfn>(
    job: &Job<'_, C>,
    added: &[String],
    removed: &[String],
    progress: &mut Progress<'_>,
) -> Result<(Vec<String>, Vec<String>), DeployError> {
    let (name, title, call_as) = (job.name(), &job.title, job.request.call_as);
    if !added.is_empty() {
        progress.note(&format!("{title}: {} newly targeted; creating their instances", plural_ous(added)))?;
        job.create_instances(&with_ous(job.targets, added), progress).await?;
    }
    if !removed.is_empty() {
        progress.note(&format!(
            "{title}: {} no longer targeted; deleting their instances and stacks (RetainStacks=false)",
            plural_ous(removed)
        ))?;
        let op = job.cfn.delete_stack_instances(name, &with_ous(job.targets, removed), call_as).await?;
        job.wait(op, progress).await?;
    }
    Ok((added.to_vec(), removed.to_vec()))
}

/// The OUs the StackSet's instances were deployed to, as far as CloudFormation says (the StackSet's
/// `OrganizationalUnitIds` and the instances' `OrganizationalUnitId`); empty when it says nothing (moto).
pub(crate) fn deployed_ous(set: &StackSet, instances: &[StackInstance]) -> BTreeSet<String> {
    set.ou_ids.iter().cloned().chain(instances.iter().filter_map(|i| i.ou_id.clone())).collect()
}

/// How the configured OU targets differ from the ones the StackSet's instances were deployed to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OuChange {
    /// CloudFormation says which OUs are targeted ([`deployed_ous`]).
    Known {
        /// Targeted now.
        current: Vec<String>,
        /// Targeted before and after.
        kept: Vec<String>,
        /// Configured, not targeted yet.
        added: Vec<String>,
        /// Targeted, no longer configured.
        removed: Vec<String>,
    },
    /// CloudFormation reports no OU for the StackSet or any instance (moto 5.2.5 never does): nothing to compare.
    Unknown,
}

impl OuChange {
    fn new(set: &StackSet, instances: &[StackInstance], desired: &[String]) -> Self {
        let current = deployed_ous(set, instances);
        if current.is_empty() {
            return OuChange::Unknown;
        }
        let desired: BTreeSet<String> = desired.iter().cloned().collect();
        OuChange::Known {
            kept: current.intersection(&desired).cloned().collect(),
            added: desired.difference(&current).cloned().collect(),
            removed: current.difference(&desired).cloned().collect(),
            current: current.into_iter().collect(),
        }
    }
}

/// `targets` narrowed (or widened) to `ous`.
pub(crate) fn with_ous(targets: &StackSetTargets, ous: &[String]) -> StackSetTargets {
    StackSetTargets { ou_ids: ous.to_vec(), ..targets.clone() }
}

fn plural_ous(ous: &[String]) -> String {
    match ous {
        [one] => format!("OU {one} is"),
        many => format!("OUs {} are", many.join(", ")),
    }
}
