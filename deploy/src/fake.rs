//! In-memory CloudFormation, S3, Organizations and Secrets Manager for the deploy logic's tests: synchronous like
//! moto, with deterministic event ids and timestamps, a call log, and a switch to make a resource fail.

use crate::api::{AssetStore, Cfn, ManagedSecrets, Org};
use crate::error::DeployError;
use crate::model::*;
use chrono::{DateTime, TimeZone, Utc};
use indexmap::IndexMap;
use rekey_config::CallAs;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
struct FakeStack {
    status: StackStatus,
    template: String,
    parameters: Vec<(String, String)>,
    events: Vec<StackEvent>,
}

#[derive(Debug, Default)]
struct State {
    stacks: BTreeMap<String, FakeStack>,
    change_sets: BTreeMap<String, (ChangeSetRequest, ChangeSet)>,
    /// Request, instances, targeted OU ids.
    stack_sets: BTreeMap<String, (StackSetRequest, Vec<StackInstance>, Vec<String>)>,
    operations: BTreeMap<String, Operation>,
    calls: Vec<String>,
    fail: Option<(String, String)>,
    seq: u32,
}

/// Fake CloudFormation for one account.
#[derive(Debug, Default)]
pub struct FakeCfn {
    state: RefCell<State>,
    /// Accounts the StackSet instances land in, for an OU not in `ous` (e.g. the root).
    pub member_accounts: Vec<String>,
    /// Accounts of each OU.
    pub ous: BTreeMap<String, Vec<String>>,
    /// Behave like moto: report no OU ids on the StackSet or its instances.
    pub hide_ous: bool,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 22, 0, 0).single().expect("valid time")
}

impl FakeCfn {
    /// A fake whose StackSets deploy to `members`.
    pub fn with_members(members: &[&str]) -> Self {
        Self { member_accounts: members.iter().map(|m| m.to_string()).collect(), ..Self::default() }
    }

    /// A fake whose StackSets deploy to the accounts of `ous` (OU id, accounts).
    pub fn with_ous(ous: &[(&str, &[&str])]) -> Self {
        let ous = ous.iter().map(|(ou, accounts)| (ou.to_string(), accounts.iter().map(|a| a.to_string()).collect()));
        Self { ous: ous.collect(), ..Self::default() }
    }

    /// Every call so far, as `Operation target`.
    pub fn calls(&self) -> Vec<String> {
        self.state.borrow().calls.clone()
    }

    /// Clears the call log.
    pub fn clear_calls(&self) {
        self.state.borrow_mut().calls.clear();
    }

    /// Makes the next executed change set fail on `logical_id` with `reason`.
    pub fn fail_next(&self, logical_id: &str, reason: &str) {
        self.state.borrow_mut().fail = Some((logical_id.to_string(), reason.to_string()));
    }

    /// The deployed template of a stack.
    pub fn template(&self, stack: &str) -> Option<Value> {
        self.state.borrow().stacks.get(stack).map(|s| serde_json::from_str(&s.template).expect("json"))
    }

    /// The instances of a StackSet.
    pub fn instances(&self, name: &str) -> Vec<StackInstance> {
        let mut instances = self.state.borrow().stack_sets.get(name).map(|s| s.1.clone()).unwrap_or_default();
        if self.hide_ous {
            instances.iter_mut().for_each(|i| i.ou_id = None);
        }
        instances
    }

    fn log(&self, call: String) {
        self.state.borrow_mut().calls.push(call);
    }
}

fn resources(template: &str) -> IndexMap<String, String> {
    let v: Value = serde_json::from_str(template).unwrap_or(Value::Null);
    v.get("Resources")
        .and_then(Value::as_object)
        .map(|r| {
            r.iter()
                .map(|(k, v)| (k.clone(), v.get("Type").and_then(Value::as_str).unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn push_event(
    state: &mut State,
    stack: &str,
    logical_id: &str,
    resource_type: &str,
    status: &str,
    reason: Option<&str>,
) {
    state.seq += 1;
    let event = StackEvent {
        id: format!("ev-{:04}", state.seq),
        timestamp: t0() + chrono::Duration::seconds(i64::from(state.seq)),
        stack: stack.to_string(),
        logical_id: logical_id.to_string(),
        resource_type: resource_type.to_string(),
        status: status.into(),
        reason: reason.map(str::to_string),
    };
    state.stacks.get_mut(stack).expect("stack exists").events.push(event);
}

impl Cfn for FakeCfn {
    async fn describe_stack(&self, name: &str) -> Result<Option<Stack>, DeployError> {
        let state = self.state.borrow();
        Ok(state.stacks.get(name).map(|s| {
            let outputs: Value = serde_json::from_str(&s.template).unwrap_or(Value::Null);
            Stack {
                name: name.to_string(),
                status: s.status.clone(),
                reason: None,
                outputs: outputs
                    .get("Outputs")
                    .and_then(Value::as_object)
                    .map(|o| o.keys().map(|k| (k.clone(), format!("{name}/{k}"))).collect())
                    .unwrap_or_default(),
            }
        }))
    }

    async fn get_template(&self, name: &str) -> Result<Option<String>, DeployError> {
        self.log(format!("GetTemplate {name}"));
        Ok(self.state.borrow().stacks.get(name).map(|s| s.template.clone()))
    }

    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<Option<String>, DeployError> {
        self.log(format!(
            "CreateChangeSet {} {:?} params={:?} tags={:?}",
            request.stack, request.kind, request.parameters, request.tags
        ));
        let mut state = self.state.borrow_mut();
        let existing = state.stacks.get(&request.stack).cloned();
        let old = existing.as_ref().map(|s| resources(&s.template)).unwrap_or_default();
        let new = resources(&request.template);
        let old_v: Value =
            existing.as_ref().map(|s| serde_json::from_str(&s.template).expect("json")).unwrap_or(Value::Null);
        let new_v: Value = serde_json::from_str(&request.template).expect("json");
        let mut changes = Vec::new();
        for (id, ty) in &new {
            let action = match old.get(id) {
                None => "Add",
                Some(_) if old_v["Resources"][id] != new_v["Resources"][id] => "Modify",
                Some(_) => continue,
            };
            changes.push(ResourceChange { action: action.into(), logical_id: id.clone(), resource_type: ty.clone() });
        }
        for (id, ty) in &old {
            if !new.contains_key(id) {
                changes.push(ResourceChange {
                    action: "Remove".into(),
                    logical_id: id.clone(),
                    resource_type: ty.clone(),
                });
            }
        }
        let same =
            existing.as_ref().is_some_and(|s| s.template == request.template && s.parameters == request.parameters);
        let change_set = if same {
            ChangeSet {
                status: ChangeSetStatus::Failed,
                reason: Some("The submitted information didn't contain changes. Submit different information to create a change set.".into()),
                changes: Vec::new(),
            }
        } else {
            ChangeSet { status: ChangeSetStatus::CreateComplete, reason: None, changes }
        };
        let id = format!("cs-{}-{}", request.stack, request.name);
        state.change_sets.insert(id.clone(), (request.clone(), change_set));
        Ok(Some(id))
    }

    async fn describe_change_set(&self, _stack: &str, id: &str) -> Result<ChangeSet, DeployError> {
        Ok(self.state.borrow().change_sets[id].1.clone())
    }

    async fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), DeployError> {
        self.log(format!("ExecuteChangeSet {stack}"));
        let mut state = self.state.borrow_mut();
        let (request, _) = state.change_sets.remove(id).expect("change set exists");
        let verb = match request.kind {
            ChangeSetKind::Create => "CREATE",
            ChangeSetKind::Update => "UPDATE",
        };
        let previous = state.stacks.get(stack).cloned();
        let entry = state.stacks.entry(stack.to_string()).or_insert_with(|| FakeStack {
            status: StackStatus::Other(String::new()),
            template: String::new(),
            parameters: Vec::new(),
            events: Vec::new(),
        });
        entry.status = format!("{verb}_IN_PROGRESS").into();
        push_event(
            &mut state,
            stack,
            stack,
            "AWS::CloudFormation::Stack",
            &format!("{verb}_IN_PROGRESS"),
            Some("User Initiated"),
        );
        let fail = state.fail.take();
        let mut failed = false;
        for (logical, ty) in resources(&request.template) {
            if failed {
                continue;
            }
            push_event(&mut state, stack, &logical, &ty, &format!("{verb}_IN_PROGRESS"), None);
            if fail.as_ref().is_some_and(|(l, _)| l == &logical) {
                let reason = fail.as_ref().map(|f| f.1.clone());
                push_event(&mut state, stack, &logical, &ty, &format!("{verb}_FAILED"), reason.as_deref());
                failed = true;
            } else {
                push_event(&mut state, stack, &logical, &ty, &format!("{verb}_COMPLETE"), None);
            }
        }
        let s = state.stacks.get_mut(stack).expect("stack exists");
        if failed {
            let final_status =
                if request.kind == ChangeSetKind::Create { "ROLLBACK_COMPLETE" } else { "UPDATE_ROLLBACK_COMPLETE" };
            if let Some(previous) = previous {
                s.template = previous.template;
                s.parameters = previous.parameters;
            }
            s.status = final_status.into();
            push_event(&mut state, stack, stack, "AWS::CloudFormation::Stack", final_status, None);
        } else {
            s.template = request.template.clone();
            s.parameters = request.parameters.clone();
            s.status = format!("{verb}_COMPLETE").into();
            push_event(&mut state, stack, stack, "AWS::CloudFormation::Stack", &format!("{verb}_COMPLETE"), None);
        }
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), DeployError> {
        self.log(format!("DeleteChangeSet {stack}"));
        self.state.borrow_mut().change_sets.remove(id);
        Ok(())
    }

    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, DeployError> {
        let state = self.state.borrow();
        Ok(state.stacks.get(stack).map(|s| s.events.iter().rev().cloned().collect()).unwrap_or_default())
    }

    async fn delete_stack(&self, name: &str) -> Result<(), DeployError> {
        self.log(format!("DeleteStack {name}"));
        self.state.borrow_mut().stacks.remove(name);
        Ok(())
    }

    async fn describe_stack_set(&self, name: &str, _call_as: CallAs) -> Result<Option<StackSet>, DeployError> {
        Ok(self.state.borrow().stack_sets.get(name).map(|(r, _, ous)| StackSet {
            name: name.to_string(),
            status: StackSetStatus::Active,
            template: r.template.clone(),
            parameters: r.parameters.clone(),
            ou_ids: if self.hide_ous { Vec::new() } else { ous.clone() },
        }))
    }

    async fn create_stack_set(&self, request: &StackSetRequest) -> Result<(), DeployError> {
        self.log(format!("CreateStackSet {} {:?}", request.name, request.call_as));
        self.state.borrow_mut().stack_sets.insert(request.name.clone(), (request.clone(), Vec::new(), Vec::new()));
        Ok(())
    }

    async fn update_stack_set(
        &self,
        request: &StackSetRequest,
        targets: &StackSetTargets,
    ) -> Result<String, DeployError> {
        self.log(format!("UpdateStackSet {} {:?}", request.name, targets.ou_ids));
        let mut state = self.state.borrow_mut();
        state.stack_sets.get_mut(&request.name).expect("exists").0 = request.clone();
        state.operations.insert("op-update".into(), Operation { status: OperationStatus::Succeeded, reason: None });
        Ok("op-update".into())
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        targets: &StackSetTargets,
        _call_as: CallAs,
    ) -> Result<String, DeployError> {
        self.log(format!("CreateStackInstances {name} {:?} {}", targets.ou_ids, targets.region));
        let mut state = self.state.borrow_mut();
        let set = state.stack_sets.get_mut(name).expect("exists");
        for ou in &targets.ou_ids {
            let accounts = self.ous.get(ou).unwrap_or(&self.member_accounts);
            for account in accounts {
                if set.1.iter().any(|i| &i.account == account && i.region == targets.region) {
                    continue;
                }
                set.1.push(StackInstance {
                    account: account.clone(),
                    region: targets.region.clone(),
                    ou_id: Some(ou.clone()),
                    status: InstanceStatus::Current,
                    detailed_status: Some(DetailedStatus::Succeeded),
                    reason: None,
                });
            }
            if !set.2.contains(ou) {
                set.2.push(ou.clone());
            }
        }
        set.1.sort_by(|a, b| a.account.cmp(&b.account));
        state.operations.insert("op-create".into(), Operation { status: OperationStatus::Succeeded, reason: None });
        Ok("op-create".into())
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        targets: &StackSetTargets,
        _call_as: CallAs,
    ) -> Result<String, DeployError> {
        self.log(format!("DeleteStackInstances {name} {:?}", targets.ou_ids));
        let mut state = self.state.borrow_mut();
        let set = state.stack_sets.get_mut(name).expect("exists");
        set.1.retain(|i| !i.ou_id.as_ref().is_some_and(|ou| targets.ou_ids.contains(ou)));
        set.2.retain(|ou| !targets.ou_ids.contains(ou));
        state.operations.insert("op-delete".into(), Operation { status: OperationStatus::Succeeded, reason: None });
        Ok("op-delete".into())
    }

    async fn describe_operation(&self, _name: &str, id: &str, _call_as: CallAs) -> Result<Operation, DeployError> {
        Ok(self.state.borrow().operations[id].clone())
    }

    async fn list_stack_instances(&self, name: &str, _call_as: CallAs) -> Result<Vec<StackInstance>, DeployError> {
        Ok(self.instances(name))
    }

    async fn delete_stack_set(&self, name: &str, _call_as: CallAs) -> Result<(), DeployError> {
        self.log(format!("DeleteStackSet {name}"));
        self.state.borrow_mut().stack_sets.remove(name);
        Ok(())
    }
}

/// Fake bucket store.
#[derive(Debug, Default)]
pub struct FakeS3 {
    /// `bucket/key` of every object.
    pub objects: RefCell<Vec<String>>,
    /// Number of uploads.
    pub puts: RefCell<u32>,
}

impl AssetStore for FakeS3 {
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, DeployError> {
        Ok(self.objects.borrow().contains(&format!("{bucket}/{key}")))
    }

    async fn put(&self, bucket: &str, key: &str, _body: Vec<u8>) -> Result<(), DeployError> {
        self.objects.borrow_mut().push(format!("{bucket}/{key}"));
        *self.puts.borrow_mut() += 1;
        Ok(())
    }
}

/// Fake organization with root `r-root`.
#[derive(Debug, Default)]
pub struct FakeOrg;

impl Org for FakeOrg {
    async fn root_id(&self) -> Result<String, DeployError> {
        Ok("r-root".into())
    }
}

/// Fake secrets store.
#[derive(Debug, Default)]
pub struct FakeSecrets {
    /// ARNs of managed secrets.
    pub arns: RefCell<Vec<String>>,
}

impl ManagedSecrets for FakeSecrets {
    async fn list_managed(&self) -> Result<Vec<String>, DeployError> {
        Ok(self.arns.borrow().clone())
    }

    async fn delete(&self, arn: &str) -> Result<(), DeployError> {
        self.arns.borrow_mut().retain(|a| a != arn);
        Ok(())
    }
}
