//! `rekey deploy` and the fetching half of `rekey diff`: publishes the Lambda asset, then creates or updates each
//! planned stack through a change set (or the member-role StackSet through StackSet operations, `stack_set.rs`),
//! waits with progress (`wait.rs`), asks for approval when IAM widens, and reports outcomes and outputs.

use crate::api::{AssetStore, Cfn, Org};
use crate::diff::{self, TemplateDiff};
use crate::error::DeployError;
use crate::iam;
use crate::model::*;
use crate::placement::{AccountRole, Placement, Step};
use crate::progress::Progress;
use crate::stack_set::deploy_stack_set;
use crate::wait;
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use rekey_config::Config;
use serde::Serialize;
use serde_json::Value;
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
pub struct Clients<'a, C, A, O> {
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

impl<C, A, O> Clients<'_, C, A, O> {
    /// CloudFormation in the account `role` names.
    pub(crate) fn cfn(&self, role: AccountRole) -> &C {
        match role {
            AccountRole::Deployment => self.deployment,
            AccountRole::Management => self.management,
        }
    }
}

impl<C, A, O: Org> Clients<'_, C, A, O> {
    /// `targets`, where no OU means the whole organization: its root.
    pub(crate) async fn resolve_targets(&self, targets: &StackSetTargets) -> Result<StackSetTargets, DeployError> {
        let mut targets = targets.clone();
        if targets.ou_ids.is_empty() {
            targets.ou_ids = vec![self.org.root_id().await?];
        }
        Ok(targets)
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

impl StackOutcome {
    /// `outcome` for `stack`, with nothing else to report.
    pub(crate) fn new(stack: &str, title: &str, outcome: Outcome) -> Self {
        Self {
            stack: stack.to_string(),
            title: title.to_string(),
            outcome,
            outputs: IndexMap::new(),
            ous_added: Vec::new(),
            ous_removed: Vec::new(),
            change_set: None,
            changes: Vec::new(),
        }
    }
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

pub(crate) fn parse(stack: &str, text: &str) -> Result<Value, DeployError> {
    serde_json::from_str(text).map_err(|e| DeployError::Template { stack: stack.to_string(), message: e.to_string() })
}

/// Deploys `steps` in order. Stops at the first failure, which names the first failed resource.
pub async fn deploy<C: Cfn, A: AssetStore, O: Org>(
    clients: &Clients<'_, C, A, O>,
    config: &Config,
    steps: &[Step],
    asset: Option<&AssetUpload>,
    options: &Options,
    approver: &mut dyn Approver,
    progress: &mut Progress<'_>,
) -> Result<DeployReport, DeployError> {
    let mut report = DeployReport::default();
    if let Some(asset) = asset {
        report.asset = Some(publish(clients.assets, asset, progress).await?);
    }
    for step in steps {
        let params = parameters(&step.stack.template, &clients.deployment_account_id, &clients.management_account_id);
        let outcome = match &step.placement {
            Placement::Stack(role) => {
                deploy_stack(clients.cfn(*role), step, params, tags(config), options, approver, progress).await?
            }
            Placement::StackSet { targets, call_as } => {
                let targets = clients.resolve_targets(targets).await?;
                let request = StackSetRequest {
                    name: step.stack.name.clone(),
                    template: body(step)?,
                    parameters: params,
                    tags: tags(config),
                    description: step.stack.description.clone(),
                    call_as: *call_as,
                };
                deploy_stack_set(clients.management, step, &request, &targets, options, approver, progress).await?
            }
        };
        report.stacks.push(outcome);
    }
    Ok(report)
}

/// Uploads the asset unless it is there already; returns its `s3://` URL and whether it was uploaded.
async fn publish<A: AssetStore>(
    assets: &A,
    asset: &AssetUpload,
    progress: &mut Progress<'_>,
) -> Result<(String, bool), DeployError> {
    let url = format!("s3://{}/{}", asset.bucket, asset.key);
    if assets.exists(&asset.bucket, &asset.key).await? {
        progress.note(&format!("asset {url}: already published"))?;
        return Ok((url, false));
    }
    progress.note(&format!("asset {url}: uploading {} bytes", asset.body.len()))?;
    assets.put(&asset.bucket, &asset.key, asset.body.clone()).await.map_err(|e| match e {
        DeployError::Aws { operation, target, message } if message.contains("NoSuchBucket") => DeployError::Aws {
            operation,
            target,
            message: format!(
                "{message}; create the bucket, set `deployment.asset_bucket`, or run `cdk bootstrap` for the CDK bootstrap bucket"
            ),
        },
        other => other,
    })?;
    Ok((url, true))
}

/// Deploys one plain stack through a change set: computed, then (unless `--no-execute`) approved, executed and
/// waited for.
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
    let kind = change_set_kind(cfn, &title, name, existing.as_ref(), options, progress).await?;
    let old = match kind {
        ChangeSetKind::Update => cfn.get_template(name).await?.map(|t| parse(name, &t)).transpose()?,
        ChangeSetKind::Create => None,
    };
    let request = ChangeSetRequest {
        stack: name.clone(),
        name: format!("rekey-{}", (options.clock)().format("%Y%m%d%H%M%S")),
        kind,
        template,
        parameters,
        tags,
        description: step.stack.description.clone(),
    };
    let Some((id, computed)) = compute_change_set(cfn, &request, options).await? else {
        progress.note(&format!("{title}: no changes"))?;
        let outputs = existing.map(|s| s.outputs).unwrap_or_default();
        return Ok(StackOutcome { outputs, ..StackOutcome::new(name, &title, Outcome::Unchanged) });
    };
    if !options.execute {
        return prepared(&title, &request, &computed, progress);
    }
    if let Err(e) = approve(options.approval, &title, name, old.as_ref(), &step.stack.template, approver, progress) {
        cfn.delete_change_set(name, &id).await?;
        return Err(e);
    }
    let stack = execute_change_set(cfn, &title, &request, &id, &computed, options, progress).await?;
    let outcome = match kind {
        ChangeSetKind::Create => Outcome::Created,
        ChangeSetKind::Update => Outcome::Updated,
    };
    Ok(StackOutcome { outputs: stack.outputs, ..StackOutcome::new(name, &title, outcome) })
}

/// Whether the change set creates or updates the stack. A busy stack is an error; a stack left
/// `ROLLBACK_COMPLETE` by a failed first create can only be deleted, so it is, and created again.
async fn change_set_kind<C: Cfn>(
    cfn: &C,
    title: &str,
    name: &str,
    existing: Option<&Stack>,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<ChangeSetKind, DeployError> {
    match existing.map(|s| &s.status) {
        None | Some(StackStatus::ReviewInProgress) => Ok(ChangeSetKind::Create),
        Some(status) if status.is_in_progress() => {
            Err(DeployError::Busy { stack: name.to_string(), status: status.clone() })
        }
        Some(StackStatus::RollbackComplete) => {
            progress
                .note(&format!("{title}: deleting the stack left `ROLLBACK_COMPLETE` by an earlier failed create"))?;
            wait::delete_stack(cfn, name, options, progress).await?;
            Ok(ChangeSetKind::Create)
        }
        Some(_) => Ok(ChangeSetKind::Update),
    }
}

/// Creates the change set and waits until it is computed: its id and changes, or `None` when there is nothing
/// to change. A change set that failed for another reason is an error.
async fn compute_change_set<C: Cfn>(
    cfn: &C,
    request: &ChangeSetRequest,
    options: &Options,
) -> Result<Option<(String, ChangeSet)>, DeployError> {
    let stack = &request.stack;
    let Some(id) = cfn.create_change_set(request).await? else { return Ok(None) };
    let computed = wait::change_set(cfn, stack, &id, options).await?;
    if computed.is_empty_failure() {
        // An empty change set cannot be executed; leaving it would clutter the console.
        cfn.delete_change_set(stack, &id).await?;
        return Ok(None);
    }
    if computed.status != ChangeSetStatus::CreateComplete {
        return Err(DeployError::ChangeSetFailed {
            stack: stack.clone(),
            change_set: request.name.clone(),
            reason: computed.reason.unwrap_or_else(|| format!("status `{}`", computed.status)),
        });
    }
    Ok(Some((id, computed)))
}

/// `--no-execute`: nothing is executed, so nothing needs approval; the change set stays for review (console, or
/// `aws cloudformation execute-change-set`), as with `cdk deploy --no-execute`.
fn prepared(
    title: &str,
    request: &ChangeSetRequest,
    computed: &ChangeSet,
    progress: &mut Progress<'_>,
) -> Result<StackOutcome, DeployError> {
    let changes: Vec<String> =
        computed.changes.iter().map(|c| format!("{} {} {}", c.action, c.resource_type, c.logical_id)).collect();
    let change_set = &request.name;
    progress.note(&format!("{title}: change set {change_set} prepared, not executed ({} changes)", changes.len()))?;
    Ok(StackOutcome {
        change_set: Some(change_set.clone()),
        changes,
        ..StackOutcome::new(&request.stack, title, Outcome::Prepared)
    })
}

/// Executes the computed change set and waits for the stack, printing its events; returns the deployed stack.
async fn execute_change_set<C: Cfn>(
    cfn: &C,
    title: &str,
    request: &ChangeSetRequest,
    id: &str,
    computed: &ChangeSet,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<Stack, DeployError> {
    let name = &request.stack;
    let count = computed.changes.len();
    progress.note(&format!("{title}: executing change set {} ({count} resource changes)", request.name))?;
    for c in &computed.changes {
        progress.note(&format!("  {} {} {}", c.action, c.resource_type, c.logical_id))?;
    }
    let seen = wait::event_ids(cfn, name).await?;
    cfn.execute_change_set(name, id).await?;
    let Some(stack) = wait::stack(cfn, name, seen, options, progress).await? else {
        return Err(DeployError::StackFailed {
            stack: name.clone(),
            status: StackStatus::DeleteComplete,
            rolled_back: true,
            reason: "the stack disappeared while deploying".into(),
        });
    };
    progress.note(&format!("{title}: {}", stack.status))?;
    Ok(stack)
}

/// Asks `approver` when `policy` says so (IAM widening is listed first); a refusal is [`DeployError::NotApproved`].
pub(crate) fn approve(
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

/// The deployed template of each step (or `None`), compared with the synthesized one.
pub async fn diff_all<C: Cfn, A, O>(
    clients: &Clients<'_, C, A, O>,
    steps: &[Step],
) -> Result<Vec<TemplateDiff>, DeployError> {
    let mut diffs = Vec::new();
    for step in steps {
        let name = &step.stack.name;
        let deployed = match &step.placement {
            Placement::Stack(role) => clients.cfn(*role).get_template(name).await?,
            Placement::StackSet { call_as, .. } => {
                clients.management.describe_stack_set(name, *call_as).await?.map(|s| s.template)
            }
        };
        let old = deployed.map(|t| parse(name, &t)).transpose()?;
        diffs.push(diff::diff(&step.title(), old.as_ref(), &step.stack.template));
    }
    Ok(diffs)
}
