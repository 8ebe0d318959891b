//! The CloudFormation adapter on the real SDK client with aws-smithy-mocks, for what moto 5.2.5 does not model
//! (see `tests/tests/deploy.rs`): the StackSet requests rekey sends (service-managed, auto-deployment, managed
//! execution, `CallAs`, OU targets in one region, operation preferences), AWS's empty change set (`FAILED`,
//! "didn't contain changes"), and per-resource stack events naming the first failed resource.

use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::create_stack_instances::CreateStackInstancesOutput;
use aws_sdk_cloudformation::operation::create_stack_set::CreateStackSetOutput;
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_stack_instances::DeleteStackInstancesOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::types as cf;
use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use rekey_config::{CallAs, Config, StackId};
use rekey_deploy::api::{AssetStore, Cfn, Org};
use rekey_deploy::deploy::Outcome;
use rekey_deploy::model::{StackSetRequest, StackSetTargets};
use rekey_deploy::sdk::SdkCfn;
use rekey_deploy::{Clients, DeployError, NoTerminal, Options, Progress, ProgressMode, RequireApproval, StackTemplate};
use serde_json::json;
use std::time::Duration;

struct NoAssets;

impl AssetStore for NoAssets {
    async fn exists(&self, _bucket: &str, _key: &str) -> Result<bool, DeployError> {
        Ok(true)
    }
    async fn put(&self, _bucket: &str, _key: &str, _body: Vec<u8>) -> Result<(), DeployError> {
        Ok(())
    }
}

struct NoOrg;

impl Org for NoOrg {
    async fn root_id(&self) -> Result<String, DeployError> {
        Ok("r-root".into())
    }
}

fn targets() -> StackSetTargets {
    StackSetTargets {
        ou_ids: vec!["ou-ab12-cd34ef56".into()],
        region: "eu-west-1".into(),
        max_concurrent_percentage: 50,
        failure_tolerance_percentage: 10,
    }
}

fn time(secs: i64) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(1_795_000_000 + secs)
}

#[tokio::test]
async fn the_stackset_is_service_managed_with_auto_deployment_and_managed_execution() {
    let create = mock!(Client::create_stack_set)
        .match_requests(|r| {
            r.stack_set_name() == Some("keyrot-member-role")
                && r.permission_model() == Some(&cf::PermissionModels::ServiceManaged)
                && r.auto_deployment().and_then(|a| a.enabled()) == Some(true)
                && r.auto_deployment().and_then(|a| a.retain_stacks_on_account_removal()) == Some(false)
                && r.managed_execution().and_then(|m| m.active()) == Some(true)
                && r.call_as() == Some(&cf::CallAs::DelegatedAdmin)
                && r.capabilities() == [cf::Capability::CapabilityNamedIam]
                && r.parameters().len() == 1
                && r.tags().iter().any(|t| t.key() == Some("team") && t.value() == Some("security"))
        })
        .then_output(|| CreateStackSetOutput::builder().build());
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&create]);
    let request = StackSetRequest {
        name: "keyrot-member-role".into(),
        template: "{}".into(),
        parameters: vec![("DeploymentAccountId".into(), "111111111111".into())],
        tags: vec![("team".into(), "security".into())],
        description: None,
        call_as: CallAs::DelegatedAdmin,
    };
    SdkCfn::new(client).create_stack_set(&request).await.expect("create");
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn instances_target_the_ous_in_one_region_with_the_operation_preferences() {
    let matches_targets =
        |ous: Option<&cf::DeploymentTargets>, regions: &[String], prefs: Option<&cf::StackSetOperationPreferences>| {
            ous.map(|d| d.organizational_unit_ids()) == Some(&["ou-ab12-cd34ef56".to_string()][..])
                && regions == ["eu-west-1"]
                && prefs.and_then(|p| p.max_concurrent_percentage()) == Some(50)
                && prefs.and_then(|p| p.failure_tolerance_percentage()) == Some(10)
        };
    let create = mock!(Client::create_stack_instances)
        .match_requests(move |r| {
            matches_targets(r.deployment_targets(), r.regions(), r.operation_preferences())
                && r.call_as() == Some(&cf::CallAs::SelfValue)
        })
        .then_output(|| CreateStackInstancesOutput::builder().operation_id("op-1").build());
    let delete = mock!(Client::delete_stack_instances)
        .match_requests(move |r| {
            matches_targets(r.deployment_targets(), r.regions(), r.operation_preferences())
                && r.retain_stacks() == Some(false)
        })
        .then_output(|| DeleteStackInstancesOutput::builder().operation_id("op-2").build());
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&create, &delete]);
    let cfn = SdkCfn::new(client);
    assert_eq!(cfn.create_stack_instances("s", &targets(), CallAs::SelfAccount).await.expect("create"), "op-1");
    assert_eq!(cfn.delete_stack_instances("s", &targets(), CallAs::SelfAccount).await.expect("delete"), "op-2");
    assert_eq!((create.num_calls(), delete.num_calls()), (1, 1));
}

fn clock() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("valid time")
}

fn main_step() -> Vec<rekey_deploy::Step> {
    let config = Config::builtin_default();
    let template = StackTemplate {
        id: StackId::Main,
        name: "rekey-main".into(),
        description: None,
        template: json!({"Resources": {"RotationFunction": {"Type": "AWS::Lambda::Function", "Properties": {}}}}),
    };
    rekey_deploy::place_stacks(&config, &[template], &[]).expect("plan")
}

fn stack(status: cf::StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(cf::Stack::builder().stack_name("rekey-main").stack_status(status).creation_time(time(0)).build())
        .build()
}

async fn deploy(client: Client) -> (Result<rekey_deploy::DeployReport, DeployError>, String) {
    let cfn = SdkCfn::new(client);
    let clients = Clients {
        deployment: &cfn,
        management: &cfn,
        assets: &NoAssets,
        org: &NoOrg,
        deployment_account_id: "111111111111".into(),
        management_account_id: "111111111111".into(),
    };
    let options = Options {
        approval: RequireApproval::Never,
        poll: Duration::ZERO,
        timeout: Duration::from_secs(5),
        clock,
        execute: true,
    };
    let mut out = Vec::new();
    let result = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        rekey_deploy::deploy(
            &clients,
            &Config::builtin_default(),
            &main_step(),
            None,
            &options,
            &mut NoTerminal,
            &mut progress,
        )
        .await
    };
    (result, String::from_utf8(out).expect("utf-8"))
}

#[tokio::test]
async fn an_empty_change_set_on_aws_is_no_change_and_is_deleted() {
    let describe = mock!(Client::describe_stacks).then_output(|| stack(cf::StackStatus::UpdateComplete));
    let template = mock!(Client::get_template).then_output(|| GetTemplateOutput::builder().template_body("{}").build());
    let create = mock!(Client::create_change_set)
        .match_requests(|r| r.change_set_type() == Some(&cf::ChangeSetType::Update))
        .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
    let computed = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(cf::ChangeSetStatus::Failed)
            .status_reason("The submitted information didn't contain changes. Submit different information to create a change set.")
            .build()
    });
    let delete = mock!(Client::delete_change_set)
        .match_requests(|r| r.change_set_name() == Some("cs-1"))
        .then_output(|| DeleteChangeSetOutput::builder().build());
    let execute = mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &template, &create, &computed, &delete, &execute]
    );
    let (result, out) = deploy(client).await;
    let report = result.expect("no change is not an error");
    assert_eq!(report.stacks[0].outcome, Outcome::Unchanged);
    assert_eq!(out, "rekey-main (deployment account): no changes\n");
    assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
}

fn event(
    id: &str,
    secs: i64,
    logical: &str,
    ty: &str,
    status: cf::ResourceStatus,
    reason: Option<&str>,
) -> cf::StackEvent {
    cf::StackEvent::builder()
        .stack_id("arn:aws:cloudformation:us-east-1:111111111111:stack/rekey-main/1")
        .stack_name("rekey-main")
        .event_id(id)
        .timestamp(time(secs))
        .logical_resource_id(logical)
        .resource_type(ty)
        .resource_status(status)
        .set_resource_status_reason(reason.map(str::to_string))
        .build()
}

#[tokio::test]
async fn a_rolled_back_update_names_the_first_failed_resource() {
    use cf::ResourceStatus as S;
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(cf::StackStatus::UpdateComplete))
        .output(|| stack(cf::StackStatus::UpdateRollbackInProgress))
        .output(|| stack(cf::StackStatus::UpdateRollbackComplete))
        .build();
    let template = mock!(Client::get_template).then_output(|| GetTemplateOutput::builder().template_body("{}").build());
    let create = mock!(Client::create_change_set).then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
    let computed = mock!(Client::describe_change_set)
        .then_output(|| DescribeChangeSetOutput::builder().status(cf::ChangeSetStatus::CreateComplete).build());
    let execute = mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let fn_ty = "AWS::Lambda::Function";
    let stack_ty = "AWS::CloudFormation::Stack";
    let events = mock!(Client::describe_stack_events)
        .sequence()
        // Before executing: one old event, not printed again.
        .output(|| {
            DescribeStackEventsOutput::builder()
                .stack_events(event("e0", 0, "rekey-main", stack_ty, S::UpdateComplete, None))
                .build()
        })
        .output(|| {
            DescribeStackEventsOutput::builder()
                .stack_events(event(
                    "e3",
                    13,
                    "rekey-main",
                    stack_ty,
                    S::UpdateRollbackInProgress,
                    Some("The following resource(s) failed to update: [RotationFunction]."),
                ))
                .stack_events(event(
                    "e2",
                    12,
                    "RotationFunction",
                    fn_ty,
                    S::UpdateFailed,
                    Some("Resource handler returned message: \"Invalid architecture\""),
                ))
                .stack_events(event("e1", 11, "RotationFunction", fn_ty, S::UpdateInProgress, None))
                .stack_events(event("e0", 0, "rekey-main", stack_ty, S::UpdateComplete, None))
                .build()
        })
        .output(|| {
            DescribeStackEventsOutput::builder()
                .stack_events(event("e4", 20, "rekey-main", stack_ty, S::UpdateRollbackComplete, None))
                .stack_events(event(
                    "e3",
                    13,
                    "rekey-main",
                    stack_ty,
                    S::UpdateRollbackInProgress,
                    Some("The following resource(s) failed to update: [RotationFunction]."),
                ))
                .stack_events(event(
                    "e2",
                    12,
                    "RotationFunction",
                    fn_ty,
                    S::UpdateFailed,
                    Some("Resource handler returned message: \"Invalid architecture\""),
                ))
                .stack_events(event("e1", 11, "RotationFunction", fn_ty, S::UpdateInProgress, None))
                .build()
        })
        .build();
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &template, &create, &computed, &execute, &events]
    );
    let (result, out) = deploy(client).await;
    let err = result.expect_err("rolled back");
    assert_eq!(
        err.to_string(),
        "stack `rekey-main` was rolled back: UPDATE_ROLLBACK_COMPLETE; first failure: RotationFunction (AWS::Lambda::Function) UPDATE_FAILED: Resource handler returned message: \"Invalid architecture\""
    );
    insta::assert_snapshot!("rolled_back_update_events", out);
}

/// Issue 4: the OUs targeted before (as `DescribeStackSet` reports them) are A and B, the config now says B and C:
/// the deploy creates instances for C and deletes A's, keeping no stacks; the unchanged template is not re-sent.
#[tokio::test]
async fn instances_follow_the_configured_ous_through_the_real_client() {
    use aws_sdk_cloudformation::operation::describe_stack_set::DescribeStackSetOutput;
    use aws_sdk_cloudformation::operation::describe_stack_set_operation::DescribeStackSetOperationOutput;
    use aws_sdk_cloudformation::operation::list_stack_instances::ListStackInstancesOutput;
    use aws_sdk_cloudformation::operation::update_stack_set::UpdateStackSetOutput;
    const A: &str = "ou-ab12-aaaaaaaa";
    const B: &str = "ou-ab12-bbbbbbbb";
    const C: &str = "ou-ab12-cccccccc";

    let config = Config::from_yaml_str(&format!("organization:\n  target_ou_ids: [{B}, {C}]\n"), None).expect("valid");
    let template = json!({"Resources": {"MemberRole": {"Type": "AWS::IAM::Role", "Properties": {}}}});
    let member = StackTemplate {
        id: StackId::MemberRole,
        name: "rekey-member-role".into(),
        description: None,
        template: template.clone(),
    };
    let steps = rekey_deploy::place_stacks(&config, &[member], &[]).expect("plan");

    let body = template.to_string();
    let describe = mock!(Client::describe_stack_set).then_output(move || {
        DescribeStackSetOutput::builder()
            .stack_set(
                cf::StackSet::builder()
                    .stack_set_name("rekey-member-role")
                    .status(cf::StackSetStatus::Active)
                    .template_body(body.clone())
                    .organizational_unit_ids(A)
                    .organizational_unit_ids(B)
                    .build(),
            )
            .build()
    });
    let summary = |account: &str, ou: &str| {
        cf::StackInstanceSummary::builder()
            .account(account)
            .region("us-east-1")
            .organizational_unit_id(ou)
            .status(cf::StackInstanceStatus::Current)
            .build()
    };
    let list = mock!(Client::list_stack_instances).then_output(move || {
        ListStackInstancesOutput::builder()
            .summaries(summary("333333333333", A))
            .summaries(summary("444444444444", B))
            .build()
    });
    let ous = |d: Option<&cf::DeploymentTargets>| d.map(|d| d.organizational_unit_ids().to_vec()).unwrap_or_default();
    let create = mock!(Client::create_stack_instances)
        .match_requests(move |r| ous(r.deployment_targets()) == [C] && r.regions() == ["us-east-1"])
        .then_output(|| CreateStackInstancesOutput::builder().operation_id("op-add").build());
    let delete = mock!(Client::delete_stack_instances)
        .match_requests(move |r| {
            ous(r.deployment_targets()) == [A] && r.regions() == ["us-east-1"] && r.retain_stacks() == Some(false)
        })
        .then_output(|| DeleteStackInstancesOutput::builder().operation_id("op-remove").build());
    let update = mock!(Client::update_stack_set).then_output(|| UpdateStackSetOutput::builder().build());
    let operation = mock!(Client::describe_stack_set_operation).then_output(|| {
        DescribeStackSetOperationOutput::builder()
            .stack_set_operation(
                cf::StackSetOperation::builder().status(cf::StackSetOperationStatus::Succeeded).build(),
            )
            .build()
    });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &list, &create, &delete, &update, &operation]
    );
    let cfn = SdkCfn::new(client);
    let clients = Clients {
        deployment: &cfn,
        management: &cfn,
        assets: &NoAssets,
        org: &NoOrg,
        deployment_account_id: "111111111111".into(),
        management_account_id: "111111111111".into(),
    };
    let options = Options {
        approval: RequireApproval::Never,
        poll: Duration::ZERO,
        timeout: Duration::from_secs(5),
        clock,
        execute: true,
    };
    let mut out = Vec::new();
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        rekey_deploy::deploy(&clients, &config, &steps, None, &options, &mut NoTerminal, &mut progress).await
    };
    let out = String::from_utf8(out).expect("utf-8");
    let report = report.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(report.stacks[0].outcome, Outcome::Updated);
    assert_eq!(
        (report.stacks[0].ous_added.clone(), report.stacks[0].ous_removed.clone()),
        (vec![C.to_string()], vec![A.to_string()])
    );
    assert_eq!((create.num_calls(), delete.num_calls(), update.num_calls()), (1, 1, 0));
    assert!(out.contains(&format!("OU {C} is newly targeted; creating their instances")), "{out}");
    assert!(
        out.contains(&format!(
            "OU {A} is no longer targeted; deleting their instances and stacks (RetainStacks=false)"
        )),
        "{out}"
    );
}
