//! Waiting on CloudFormation, shared by `deploy` and `destroy`: a change set until it is computed, a stack until
//! it is no longer in progress (printing each new event once), a StackSet operation until it ends, and deleting a
//! stack (delete, then wait). A failed end is an error naming the first failed resource or instance.

use crate::api::Cfn;
use crate::deploy::Options;
use crate::error::DeployError;
use crate::model::{ChangeSet, OperationStatus, Stack, StackEvent, StackInstance};
use crate::progress::Progress;
use rekey_config::CallAs;
use std::collections::BTreeSet;

/// The ids of the events the stack has now, so a wait prints only the ones that follow.
pub(crate) async fn event_ids<C: Cfn>(cfn: &C, stack: &str) -> Result<BTreeSet<String>, DeployError> {
    Ok(cfn.stack_events(stack).await?.into_iter().map(|e| e.id).collect())
}

/// Polls the change set until CloudFormation has computed it (or failed to).
pub(crate) async fn change_set<C: Cfn>(
    cfn: &C,
    stack: &str,
    id: &str,
    options: &Options,
) -> Result<ChangeSet, DeployError> {
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
pub(crate) async fn stack<C: Cfn>(
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
            Some(s) if s.status.is_in_progress() => {}
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
    match last {
        Some(s) if s.status.is_failure() => Err(DeployError::StackFailed {
            stack: stack.to_string(),
            rolled_back: s.status.is_rollback(),
            reason: first_failure(&new_events)
                .or(s.reason)
                .unwrap_or_else(|| "CloudFormation gave no reason".to_string()),
            status: s.status,
        }),
        last => Ok(last),
    }
}

/// Deletes the stack and waits for it to go, printing its events. `Some`: what is left of it, when the wait ended
/// with the stack still there (a failed deletion is already an error).
pub(crate) async fn delete_stack<C: Cfn>(
    cfn: &C,
    name: &str,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<Option<Stack>, DeployError> {
    // Taken before the call, so the deletion's own events are printed.
    let seen = event_ids(cfn, name).await?;
    cfn.delete_stack(name).await?;
    stack(cfn, name, seen, options, progress).await
}

/// `<logical id> (<type>) <status>: <reason>` of the first failed resource; cancellations caused by it are skipped.
fn first_failure(events: &[StackEvent]) -> Option<String> {
    events
        .iter()
        .filter(|e| e.status.is_failed())
        .find(|e| e.reason.as_deref().is_some_and(|r| !r.contains("cancelled")))
        .map(|e| {
            format!("{} ({}) {}: {}", e.logical_id, e.resource_type, e.status, e.reason.as_deref().unwrap_or_default())
        })
}

/// Polls a StackSet operation to its end, then lists the instances; anything but `SUCCEEDED` is an error naming
/// the first failed instance.
pub(crate) async fn operation<C: Cfn>(
    cfn: &C,
    name: &str,
    operation_id: &str,
    call_as: CallAs,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<Vec<StackInstance>, DeployError> {
    let start = tokio::time::Instant::now();
    // An empty status (none reported) is not printed.
    let mut last_status = OperationStatus::Other(String::new());
    progress.start(name);
    let op = loop {
        let op = cfn.describe_operation(name, operation_id, call_as).await?;
        if op.status != last_status {
            progress.operation((options.clock)(), name, operation_id, op.status.as_str())?;
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
    if op.status != OperationStatus::Succeeded {
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
