//! `rekey deploy` and the fetching half of `rekey diff`: publishes the Lambda asset, then creates or updates each
//! planned stack through a change set (or the member-role StackSet through StackSet operations), waits with
//! progress, asks for approval when IAM widens, and reports outcomes and outputs.

use crate::api::{AssetStore, Cfn, Org};
use crate::diff::{self, TemplateDiff};
use crate::error::DeployError;
use crate::iam;
use crate::model::*;
use crate::plan::{AccountRole, Placement, Step};
use crate::progress::Progress;
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use rekey_config::{CallAs, Config};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// CloudFormation's limit on an inline `TemplateBody`, in bytes.
pub const MAX_TEMPLATE_BODY: usize = 51_200;

/// When to ask before executing a change (`--require-approval`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequireApproval {
    /// Never ask.
    Never,
    /// Ask when IAM permissions or resource policies widen (the default, as in the CDK).
    #[default]
    Broadening,
    /// Ask before any change.
    AnyChange,
}

/// Asks the user to confirm. The CLI prompts on a terminal; elsewhere it refuses, so CI never hangs.
pub trait Approver {
    /// `Ok(true)` to go ahead, `Ok(false)` when the user declines, an error when nobody can be asked.
    fn confirm(&mut self, stack: &str, question: &str) -> Result<bool, DeployError>;
}

/// An [`Approver`] for non-interactive runs: it cannot ask, so it refuses.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTerminal;

impl Approver for NoTerminal {
    fn confirm(&mut self, stack: &str, _question: &str) -> Result<bool, DeployError> {
        Err(DeployError::NotApproved { stack: stack.to_string(), interactive: false })
    }
}

/// How a deploy waits and decides.
#[derive(Clone, Debug)]
pub struct Options {
    /// When to ask before executing.
    pub approval: RequireApproval,
    /// Pause between polls of a stack or operation.
    pub poll: Duration,
    /// Give up waiting after this long.
    pub timeout: Duration,
    /// The clock (change set names, operation progress lines); fixed in tests.
    pub clock: fn() -> DateTime<Utc>,
    /// Execute the change sets (`false`: `rekey deploy --no-execute`, as `cdk deploy --no-execute`: each stack's
    /// change set is created and left for review, StackSets, which have no change sets, are not touched).
    pub execute: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            approval: RequireApproval::default(),
            poll: Duration::from_secs(5),
            timeout: Duration::from_secs(3600),
            clock: Utc::now,
            execute: true,
        }
    }
}

/// The AWS side of a deploy: one CloudFormation per account role, the asset bucket and the organization.
#[derive(Debug)]
pub struct Env<'a, C, A, O> {
    /// CloudFormation in the deployment account.
    pub deployment: &'a C,
    /// CloudFormation in the management (or delegated-admin) account; may be the same as `deployment`.
    pub management: &'a C,
    /// The asset bucket (deployment account).
    pub assets: &'a A,
    /// The organization (seen from the management account).
    pub org: &'a O,
    /// The deployment account id (STS).
    pub deployment_account_id: String,
    /// The management account id.
    pub management_account_id: String,
}

impl<C, A, O> Env<'_, C, A, O> {
    fn cfn(&self, role: AccountRole) -> &C {
        match role {
            AccountRole::Deployment => self.deployment,
            AccountRole::Management => self.management,
        }
    }
}

/// The Lambda asset to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetUpload {
    /// Bucket name (placeholders already resolved, see [`resolve_bucket`]).
    pub bucket: String,
    /// Object key (`<sha256>.zip`).
    pub key: String,
    /// The zip's bytes.
    pub body: Vec<u8>,
}

/// Resolves `${AWS::AccountId}` and `${AWS::Region}` in a bucket name (the CDK bootstrap bucket pattern).
pub fn resolve_bucket(pattern: &str, account_id: &str, region: &str) -> String {
    pattern.replace("${AWS::AccountId}", account_id).replace("${AWS::Region}", region)
}

/// What happened to one stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Created.
    Created,
    /// Updated.
    Updated,
    /// Nothing to change (no change set executed).
    Unchanged,
    /// `--no-execute`: the change set is created and left for review.
    Prepared,
    /// `--no-execute` on a StackSet: not touched (StackSets have no change sets).
    NotExecuted,
}

/// One stack's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackOutcome {
    /// Stack or StackSet name.
    pub stack: String,
    /// Where (`rekey-main (deployment account)`).
    pub title: String,
    /// What happened.
    pub outcome: Outcome,
    /// Stack outputs (plain stacks only).
    pub outputs: IndexMap<String, String>,
    /// StackSet only: OUs newly targeted, whose instances this deploy created.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ous_added: Vec<String>,
    /// StackSet only: OUs no longer targeted, whose instances (and stacks) this deploy deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ous_removed: Vec<String>,
    /// [`Outcome::Prepared`]: the change set left for review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_set: Option<String>,
    /// [`Outcome::Prepared`]: its changes, `<action> <type> <logical id>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

/// What a deploy did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeployReport {
    /// `s3://bucket/key` and whether it was uploaded (false: it was already there).
    pub asset: Option<(String, bool)>,
    /// Every stack, in deploy order.
    pub stacks: Vec<StackOutcome>,
}

impl DeployReport {
    /// The `--outputs-file` JSON: `{ "<stack>": { "<OutputKey>": "<value>" } }`, as `cdk deploy` writes it.
    pub fn outputs_json(&self) -> Value {
        let mut all = serde_json::Map::new();
        for s in self.stacks.iter().filter(|s| !s.outputs.is_empty()) {
            all.insert(s.stack.clone(), serde_json::to_value(&s.outputs).expect("outputs serialize"));
        }
        Value::Object(all)
    }

    /// Whether any stack changed.
    pub fn changed(&self) -> bool {
        self.stacks.iter().any(|s| matches!(s.outcome, Outcome::Created | Outcome::Updated))
    }
}

/// Stack parameters rekey fills in, passed only when a template declares them.
fn parameters(template: &Value, env_deployment: &str, env_management: &str) -> Vec<(String, String)> {
    let declared = template.get("Parameters").and_then(Value::as_object);
    [("DeploymentAccountId", env_deployment), ("ManagementAccountId", env_management)]
        .into_iter()
        .filter(|(k, _)| declared.is_some_and(|d| d.contains_key(*k)))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tags(config: &Config) -> Vec<(String, String)> {
    config.deployment.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn body(step: &Step) -> Result<String, DeployError> {
    let body = serde_json::to_string(&step.stack.template).expect("json serializes");
    if body.len() > MAX_TEMPLATE_BODY {
        return Err(DeployError::Template {
            stack: step.stack.name.clone(),
            message: format!("{} bytes is over CloudFormation's inline limit of {MAX_TEMPLATE_BODY}", body.len()),
        });
    }
    Ok(body)
}

fn parse(stack: &str, text: &str) -> Result<Value, DeployError> {
    serde_json::from_str(text).map_err(|e| DeployError::Template { stack: stack.to_string(), message: e.to_string() })
}

/// Deploys `steps` in order. Stops at the first failure, which names the first failed resource.
pub async fn deploy<C: Cfn, A: AssetStore, O: Org>(
    env: &Env<'_, C, A, O>,
    config: &Config,
    steps: &[Step],
    asset: Option<&AssetUpload>,
    options: &Options,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<DeployReport, DeployError> {
    let mut report = DeployReport::default();
    if let Some(asset) = asset {
        let url = format!("s3://{}/{}", asset.bucket, asset.key);
        let uploaded = if env.assets.exists(&asset.bucket, &asset.key).await? {
            progress.note(&format!("asset {url}: already published"))?;
            false
        } else {
            progress.note(&format!("asset {url}: uploading {} bytes", asset.body.len()))?;
            env.assets.put(&asset.bucket, &asset.key, asset.body.clone()).await.map_err(|e| match e {
                DeployError::Aws { operation, target, message } if message.contains("NoSuchBucket") => DeployError::Aws {
                    operation,
                    target,
                    message: format!(
                        "{message}; create the bucket, set `deployment.asset_bucket`, or run `cdk bootstrap` for the CDK bootstrap bucket"
                    ),
                },
                other => other,
            })?;
            true
        };
        report.asset = Some((url, uploaded));
    }
    for step in steps {
        let params = parameters(&step.stack.template, &env.deployment_account_id, &env.management_account_id);
        let outcome = match &step.placement {
            Placement::Stack(role) => {
                deploy_stack(env.cfn(*role), step, params, tags(config), options, approver, progress).await?
            }
            Placement::StackSet { targets, call_as } => {
                let targets = resolve_targets(env.org, targets).await?;
                let request = StackSetRequest {
                    name: step.stack.name.clone(),
                    template: body(step)?,
                    parameters: params,
                    tags: tags(config),
                    description: step.stack.description.clone(),
                    call_as: *call_as,
                };
                deploy_stack_set(env.management, step, &request, &targets, options, approver, progress).await?
            }
        };
        report.stacks.push(outcome);
    }
    Ok(report)
}

/// Empty OU targets mean the whole organization: its root.
async fn resolve_targets<O: Org>(org: &O, targets: &StackSetTargets) -> Result<StackSetTargets, DeployError> {
    let mut targets = targets.clone();
    if targets.ou_ids.is_empty() {
        targets.ou_ids = vec![org.root_id().await?];
    }
    Ok(targets)
}

async fn deploy_stack<C: Cfn>(
    cfn: &C,
    step: &Step,
    parameters: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    options: &Options,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<StackOutcome, DeployError> {
    let name = &step.stack.name;
    let title = step.title();
    let template = body(step)?;
    let existing = cfn.describe_stack(name).await?;
    let kind = match &existing {
        None => ChangeSetKind::Create,
        Some(s) if s.status == "REVIEW_IN_PROGRESS" => ChangeSetKind::Create,
        Some(s) if is_in_progress(&s.status) => {
            return Err(DeployError::Busy { stack: name.clone(), status: s.status.clone() })
        }
        Some(s) if s.status == "ROLLBACK_COMPLETE" => {
            // A failed first create leaves a stack that can only be deleted.
            progress
                .note(&format!("{title}: deleting the stack left `ROLLBACK_COMPLETE` by an earlier failed create"))?;
            cfn.delete_stack(name).await?;
            let seen = event_ids(cfn, name).await?;
            wait_stack(cfn, name, seen, options, progress).await?;
            ChangeSetKind::Create
        }
        Some(_) => ChangeSetKind::Update,
    };
    let old = match kind {
        ChangeSetKind::Update => cfn.get_template(name).await?.map(|t| parse(name, &t)).transpose()?,
        ChangeSetKind::Create => None,
    };
    let change_set = format!("rekey-{}", (options.clock)().format("%Y%m%d%H%M%S"));
    let request = ChangeSetRequest {
        stack: name.clone(),
        name: change_set.clone(),
        kind,
        template,
        parameters,
        tags,
        description: step.stack.description.clone(),
    };
    let unchanged = |progress: &mut Progress<'_>, existing: Option<Stack>| -> Result<StackOutcome, DeployError> {
        progress.note(&format!("{title}: no changes"))?;
        let outputs = existing.map(|s| s.outputs).unwrap_or_default();
        Ok(StackOutcome {
            stack: name.clone(),
            title: title.clone(),
            outcome: Outcome::Unchanged,
            outputs,
            ous_added: Vec::new(),
            ous_removed: Vec::new(),
            change_set: None,
            changes: Vec::new(),
        })
    };
    let Some(id) = cfn.create_change_set(&request).await? else { return unchanged(progress, existing) };
    let computed = wait_change_set(cfn, name, &id, options).await?;
    if computed.is_empty_failure() {
        // An empty change set cannot be executed; leaving it would clutter the console.
        cfn.delete_change_set(name, &id).await?;
        return unchanged(progress, existing);
    }
    if computed.status != "CREATE_COMPLETE" {
        return Err(DeployError::ChangeSetFailed {
            stack: name.clone(),
            change_set,
            reason: computed.reason.unwrap_or_else(|| format!("status `{}`", computed.status)),
        });
    }
    let changes: Vec<String> =
        computed.changes.iter().map(|c| format!("{} {} {}", c.action, c.resource_type, c.logical_id)).collect();
    if !options.execute {
        // Nothing is executed, so nothing needs approval; the change set stays for review (console, or
        // `aws cloudformation execute-change-set`), as with `cdk deploy --no-execute`.
        progress
            .note(&format!("{title}: change set {change_set} prepared, not executed ({} changes)", changes.len()))?;
        return Ok(StackOutcome {
            stack: name.clone(),
            title,
            outcome: Outcome::Prepared,
            outputs: IndexMap::new(),
            ous_added: Vec::new(),
            ous_removed: Vec::new(),
            change_set: Some(change_set),
            changes,
        });
    }
    if let Err(e) = approve(options.approval, &title, name, old.as_ref(), &step.stack.template, approver, progress) {
        cfn.delete_change_set(name, &id).await?;
        return Err(e);
    }
    progress
        .note(&format!("{title}: executing change set {change_set} ({} resource changes)", computed.changes.len()))?;
    for c in &computed.changes {
        progress.note(&format!("  {} {} {}", c.action, c.resource_type, c.logical_id))?;
    }
    let seen = event_ids(cfn, name).await?;
    cfn.execute_change_set(name, &id).await?;
    let stack = wait_stack(cfn, name, seen, options, progress).await?;
    let Some(stack) = stack else {
        return Err(DeployError::StackFailed {
            stack: name.clone(),
            status: "DELETE_COMPLETE".into(),
            rolled_back: true,
            reason: "the stack disappeared while deploying".into(),
        });
    };
    progress.note(&format!("{title}: {}", stack.status))?;
    let outcome = match kind {
        ChangeSetKind::Create => Outcome::Created,
        ChangeSetKind::Update => Outcome::Updated,
    };
    Ok(StackOutcome {
        stack: name.clone(),
        title,
        outcome,
        outputs: stack.outputs,
        ous_added: Vec::new(),
        ous_removed: Vec::new(),
        change_set: None,
        changes: Vec::new(),
    })
}

fn approve(
    policy: RequireApproval,
    title: &str,
    stack: &str,
    old: Option<&Value>,
    new: &Value,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<(), DeployError> {
    let widening = iam::changes(old, new).widening();
    let ask = match policy {
        RequireApproval::Never => false,
        RequireApproval::Broadening => !widening.is_empty(),
        RequireApproval::AnyChange => true,
    };
    if !ask {
        return Ok(());
    }
    if !widening.is_empty() {
        progress.note(&format!("{title}: this change widens IAM permissions or resource policies:"))?;
        for line in &widening {
            progress.note(&format!("  {line}"))?;
        }
    }
    if approver.confirm(stack, &format!("Deploy the changes to {title}?"))? {
        Ok(())
    } else {
        Err(DeployError::NotApproved { stack: stack.to_string(), interactive: true })
    }
}

async fn event_ids<C: Cfn>(cfn: &C, stack: &str) -> Result<BTreeSet<String>, DeployError> {
    Ok(cfn.stack_events(stack).await?.into_iter().map(|e| e.id).collect())
}

async fn wait_change_set<C: Cfn>(cfn: &C, stack: &str, id: &str, options: &Options) -> Result<ChangeSet, DeployError> {
    let start = tokio::time::Instant::now();
    loop {
        let cs = cfn.describe_change_set(stack, id).await?;
        if !cs.is_pending() {
            return Ok(cs);
        }
        if start.elapsed() > options.timeout {
            return Err(DeployError::Timeout {
                target: format!("change set of `{stack}`"),
                seconds: options.timeout.as_secs(),
            });
        }
        tokio::time::sleep(options.poll).await;
    }
}

/// Polls until the stack is no longer in progress, printing each new event once. `None`: the stack is gone.
/// A failed or rolled-back final status is an error naming the first failed resource.
pub(crate) async fn wait_stack<C: Cfn>(
    cfn: &C,
    stack: &str,
    mut seen: BTreeSet<String>,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<Option<Stack>, DeployError> {
    let start = tokio::time::Instant::now();
    let mut new_events = Vec::new();
    progress.start(stack);
    let last = loop {
        let current = cfn.describe_stack(stack).await?;
        // Events are listed newest first; print them oldest first.
        for event in cfn.stack_events(stack).await?.into_iter().rev() {
            if seen.insert(event.id.clone()) {
                progress.event(&event)?;
                new_events.push(event);
            }
        }
        match current {
            Some(s) if is_in_progress(&s.status) => {}
            other => break other,
        }
        if start.elapsed() > options.timeout {
            progress.finish();
            return Err(DeployError::Timeout {
                target: format!("stack `{stack}`"),
                seconds: options.timeout.as_secs(),
            });
        }
        tokio::time::sleep(options.poll).await;
    };
    progress.finish();
    if let Some(s) = &last {
        if is_failure(&s.status) {
            let reason = first_failure(&new_events)
                .or_else(|| s.reason.clone())
                .unwrap_or_else(|| "CloudFormation gave no reason".to_string());
            return Err(DeployError::StackFailed {
                stack: stack.to_string(),
                status: s.status.clone(),
                rolled_back: s.status.contains("ROLLBACK"),
                reason,
            });
        }
    }
    Ok(last)
}

/// `<logical id> (<type>) <status>: <reason>` of the first failed resource; cancellations caused by it are skipped.
fn first_failure(events: &[StackEvent]) -> Option<String> {
    events
        .iter()
        .filter(|e| e.status.ends_with("_FAILED"))
        .find(|e| e.reason.as_deref().is_some_and(|r| !r.contains("cancelled")))
        .map(|e| {
            format!("{} ({}) {}: {}", e.logical_id, e.resource_type, e.status, e.reason.as_deref().unwrap_or_default())
        })
}

async fn deploy_stack_set<C: Cfn>(
    cfn: &C,
    step: &Step,
    request: &StackSetRequest,
    targets: &StackSetTargets,
    options: &Options,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<StackOutcome, DeployError> {
    let name = &request.name;
    let title = step.title();
    if !options.execute {
        progress.note(&format!("{title}: not changed (--no-execute; a StackSet has no change set to prepare)"))?;
        return Ok(StackOutcome {
            stack: name.clone(),
            title,
            outcome: Outcome::NotExecuted,
            outputs: IndexMap::new(),
            ous_added: Vec::new(),
            ous_removed: Vec::new(),
            change_set: None,
            changes: Vec::new(),
        });
    }
    let mut ous_added = Vec::new();
    let mut ous_removed = Vec::new();
    let outcome = match cfn.describe_stack_set(name, request.call_as).await? {
        None => {
            approve(options.approval, &title, name, None, &step.stack.template, approver, progress)?;
            progress.note(&format!(
                "{title}: creating the StackSet (service-managed, auto-deployment) for {} in {}",
                targets.ou_ids.join(", "),
                targets.region
            ))?;
            cfn.create_stack_set(request).await?;
            let op = cfn.create_stack_instances(name, targets, request.call_as).await?;
            wait_operation(cfn, name, &op, request.call_as, options, progress).await?;
            Outcome::Created
        }
        Some(set) => {
            let old = parse(name, &set.template)?;
            let mut old_params = set.parameters.clone();
            let mut new_params = request.parameters.clone();
            old_params.sort();
            new_params.sort();
            let instances = cfn.list_stack_instances(name, request.call_as).await?;
            let ous = OuChange::new(&set, &instances, &targets.ou_ids);
            let template_changed = old != step.stack.template || old_params != new_params;
            if template_changed {
                approve(options.approval, &title, name, Some(&old), &step.stack.template, approver, progress)?;
                // Update the instances that stay; the new OUs get the new template when their instances are created.
                let update_on = match &ous {
                    OuChange::Known { kept, .. } if !kept.is_empty() => kept.clone(),
                    OuChange::Known { current, .. } if !current.is_empty() => current.clone(),
                    _ => targets.ou_ids.clone(),
                };
                progress
                    .note(&format!("{title}: updating the StackSet and its instances in {}", update_on.join(", ")))?;
                let op = cfn.update_stack_set(request, &with_ous(targets, &update_on)).await?;
                wait_operation(cfn, name, &op, request.call_as, options, progress).await?;
            }
            if instances.is_empty() {
                progress.note(&format!("{title}: no instances; adding them for {}", targets.ou_ids.join(", ")))?;
                let op = cfn.create_stack_instances(name, targets, request.call_as).await?;
                wait_operation(cfn, name, &op, request.call_as, options, progress).await?;
                if !template_changed {
                    // Nothing else to do; the instances are what changed.
                    return Ok(StackOutcome {
                        stack: name.clone(),
                        title,
                        outcome: Outcome::Updated,
                        outputs: IndexMap::new(),
                        ous_added,
                        ous_removed,
                        change_set: None,
                        changes: Vec::new(),
                    });
                }
            } else if let OuChange::Known { added, removed, .. } = &ous {
                if !added.is_empty() {
                    progress
                        .note(&format!("{title}: {} newly targeted; creating their instances", plural_ous(added)))?;
                    let op = cfn.create_stack_instances(name, &with_ous(targets, added), request.call_as).await?;
                    wait_operation(cfn, name, &op, request.call_as, options, progress).await?;
                    ous_added = added.clone();
                }
                if !removed.is_empty() {
                    progress.note(&format!(
                        "{title}: {} no longer targeted; deleting their instances and stacks (RetainStacks=false)",
                        plural_ous(removed)
                    ))?;
                    let op = cfn.delete_stack_instances(name, &with_ous(targets, removed), request.call_as).await?;
                    wait_operation(cfn, name, &op, request.call_as, options, progress).await?;
                    ous_removed = removed.clone();
                }
            } else {
                progress.note(&format!(
                    "{title}: CloudFormation reports no OU targets for the existing instances; the instances are left \
                     as they are (a change of `organization.target_ou_ids` is not applied)"
                ))?;
            }
            if template_changed || !ous_added.is_empty() || !ous_removed.is_empty() {
                Outcome::Updated
            } else {
                progress.note(&format!("{title}: no changes"))?;
                Outcome::Unchanged
            }
        }
    };
    Ok(StackOutcome {
        stack: name.clone(),
        title,
        outcome,
        outputs: IndexMap::new(),
        ous_added,
        ous_removed,
        change_set: None,
        changes: Vec::new(),
    })
}

/// How the configured OU targets differ from the ones the StackSet's instances were deployed to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OuChange {
    /// CloudFormation says which OUs are targeted (`DescribeStackSet.OrganizationalUnitIds`, or the instances'
    /// `OrganizationalUnitId`).
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
        let current: BTreeSet<String> =
            set.ou_ids.iter().cloned().chain(instances.iter().filter_map(|i| i.ou_id.clone())).collect();
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

fn with_ous(targets: &StackSetTargets, ous: &[String]) -> StackSetTargets {
    StackSetTargets { ou_ids: ous.to_vec(), ..targets.clone() }
}

fn plural_ous(ous: &[String]) -> String {
    match ous {
        [one] => format!("OU {one} is"),
        many => format!("OUs {} are", many.join(", ")),
    }
}

/// Polls a StackSet operation to its end, then lists the instances; anything but `SUCCEEDED` is an error naming
/// the first failed instance.
pub(crate) async fn wait_operation<C: Cfn>(
    cfn: &C,
    name: &str,
    operation_id: &str,
    call_as: CallAs,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<Vec<StackInstance>, DeployError> {
    let start = tokio::time::Instant::now();
    let mut last_status = String::new();
    progress.start(name);
    let op = loop {
        let op = cfn.describe_operation(name, operation_id, call_as).await?;
        if op.status != last_status {
            progress.operation((options.clock)(), name, operation_id, &op.status)?;
            last_status = op.status.clone();
        }
        if op.is_done() {
            break op;
        }
        if start.elapsed() > options.timeout {
            progress.finish();
            return Err(DeployError::Timeout {
                target: format!("StackSet `{name}` operation `{operation_id}`"),
                seconds: options.timeout.as_secs(),
            });
        }
        tokio::time::sleep(options.poll).await;
    };
    progress.finish();
    let instances = cfn.list_stack_instances(name, call_as).await?;
    for instance in &instances {
        progress.instance(name, instance)?;
    }
    if op.status != "SUCCEEDED" {
        let reason = instances
            .iter()
            .find_map(|i| i.reason.as_ref().map(|r| format!("account {} {}: {r}", i.account, i.region)))
            .or(op.reason)
            .unwrap_or_else(|| "CloudFormation gave no reason".to_string());
        return Err(DeployError::StackSetFailed {
            stack_set: name.to_string(),
            operation_id: operation_id.to_string(),
            status: op.status,
            reason,
        });
    }
    Ok(instances)
}

/// The deployed template of each step (or `None`), compared with the synthesized one.
pub async fn diff_all<C: Cfn, A, O>(env: &Env<'_, C, A, O>, steps: &[Step]) -> Result<Vec<TemplateDiff>, DeployError> {
    let mut diffs = Vec::new();
    for step in steps {
        let name = &step.stack.name;
        let deployed = match &step.placement {
            Placement::Stack(role) => env.cfn(*role).get_template(name).await?,
            Placement::StackSet { call_as, .. } => {
                env.management.describe_stack_set(name, *call_as).await?.map(|s| s.template)
            }
        };
        let old = deployed.map(|t| parse(name, &t)).transpose()?;
        diffs.push(diff::diff(&step.title(), old.as_ref(), &step.stack.template));
    }
    Ok(diffs)
}
