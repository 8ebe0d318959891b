//! Deploy, diff and destroy against the in-memory fakes: ordering, change sets, "no changes", failures,
//! approval, StackSet targets, outputs and the events-mode progress output (snapshot).

use crate::deploy::{deploy, diff_all, Approver, AssetUpload, Clients, NoTerminal, Options, Outcome, RequireApproval};
use crate::destroy::{destroy, DestroyOptions};
use crate::error::DeployError;
use crate::fake::*;
use crate::placement::{place_stacks, StackTemplate, Step};
use crate::progress::{Progress, ProgressMode};
use chrono::{DateTime, TimeZone, Utc};
use pretty_assertions::assert_eq;
use rekey_config::{Config, StackId};
use serde_json::{json, Value};
use std::time::Duration;

const DEPLOYMENT: &str = "111111111111";
const MANAGEMENT: &str = "222222222222";

fn clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 22, 30, 0).single().expect("valid time")
}

fn options(approval: RequireApproval) -> Options {
    Options { approval, poll: Duration::ZERO, timeout: Duration::from_secs(5), clock, execute: true }
}

fn config() -> Config {
    Config::from_yaml_str("deployment:\n  tags: {team: platform}\norganization: {}\n", None).expect("valid")
}

fn role_policy(action: &str) -> Value {
    json!({"PolicyName": "p", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}})
}

fn templates(rotate_after_days: u32) -> Vec<StackTemplate> {
    let env = json!({"lifecycle": {"rotate_after_days": rotate_after_days}}).to_string();
    vec![
        StackTemplate {
            id: StackId::Main,
            name: "rekey-main".into(),
            description: Some("rekey main".into()),
            template: json!({
                "Parameters": {"DeploymentAccountId": {"Type": "String"}},
                "Resources": {
                    "RotationRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [role_policy("sts:AssumeRole")]}},
                    "RotationFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"REKEY_CONFIG": env}}}},
                    "AccountsQueue": {"Type": "AWS::SQS::Queue", "Properties": {}}},
                "Outputs": {"AccountsQueueUrl": {"Value": {"Ref": "AccountsQueue"}}}}),
        },
        StackTemplate {
            id: StackId::MemberRole,
            name: "rekey-member-role".into(),
            description: None,
            template: json!({"Resources": {"MemberRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [role_policy("iam:ListUsers")]}}}}),
        },
        StackTemplate {
            id: StackId::InventoryRole,
            name: "rekey-inventory-role".into(),
            description: None,
            template: json!({"Resources": {"InventoryRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [role_policy("organizations:ListAccounts")]}}}}),
        },
    ]
}

struct World {
    deployment: FakeCfn,
    management: FakeCfn,
    s3: FakeS3,
    org: FakeOrg,
}

impl World {
    fn new() -> Self {
        Self {
            deployment: FakeCfn::default(),
            management: FakeCfn::with_members(&["333333333333", "444444444444"]),
            s3: FakeS3::default(),
            org: FakeOrg,
        }
    }

    fn clients(&self) -> Clients<'_, FakeCfn, FakeS3, FakeOrg> {
        Clients {
            deployment: &self.deployment,
            management: &self.management,
            assets: &self.s3,
            org: &self.org,
            deployment_account_id: DEPLOYMENT.into(),
            management_account_id: MANAGEMENT.into(),
        }
    }
}

fn steps(rotate_after_days: u32) -> Vec<Step> {
    place_stacks(&config(), &templates(rotate_after_days), &[]).expect("plan")
}

fn asset() -> AssetUpload {
    AssetUpload {
        bucket: "cdk-hnb659fds-assets-111111111111-us-east-1".into(),
        key: "abc.zip".into(),
        body: b"zip".to_vec(),
    }
}

/// Runs a deploy and returns its result and the events-mode output.
fn run(
    world: &World,
    steps: &[Step],
    approval: RequireApproval,
    approver: &mut dyn Approver,
) -> (Result<crate::deploy::DeployReport, DeployError>, String) {
    let mut out = Vec::new();
    let result = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        rt.block_on(deploy(
            &world.clients(),
            &config(),
            steps,
            Some(&asset()),
            &options(approval),
            approver,
            &mut progress,
        ))
    };
    (result, String::from_utf8(out).expect("utf-8"))
}

struct Answer(bool, Vec<String>);

impl Approver for Answer {
    fn confirm(&mut self, _stack: &str, question: &str) -> Result<bool, DeployError> {
        self.1.push(question.to_string());
        Ok(self.0)
    }
}

#[test]
fn first_deploy_creates_everything_in_order_and_prints_events() {
    let world = World::new();
    let (result, output) = run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal);
    let report = result.expect("deploy");
    let outcomes: Vec<(String, Outcome)> = report.stacks.iter().map(|s| (s.title.clone(), s.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("rekey-inventory-role (management account)".to_string(), Outcome::Created),
            ("rekey-member-role (StackSet)".to_string(), Outcome::Created),
            ("rekey-main (deployment account)".to_string(), Outcome::Created),
        ]
    );
    assert_eq!(report.asset, Some(("s3://cdk-hnb659fds-assets-111111111111-us-east-1/abc.zip".into(), true)));
    assert_eq!(
        world.management.calls(),
        [
            "CreateChangeSet rekey-inventory-role Create params=[] tags=[(\"team\", \"platform\")]",
            "ExecuteChangeSet rekey-inventory-role",
            "CreateStackSet rekey-member-role SelfAccount",
            "CreateStackInstances rekey-member-role [\"r-root\"] us-east-1",
        ]
    );
    assert_eq!(
        world.deployment.calls(),
        [
            "CreateChangeSet rekey-main Create params=[(\"DeploymentAccountId\", \"111111111111\")] tags=[(\"team\", \"platform\")]",
            "ExecuteChangeSet rekey-main",
        ]
    );
    assert_eq!(world.management.instances("rekey-member-role").len(), 2);
    assert_eq!(report.outputs_json(), json!({"rekey-main": {"AccountsQueueUrl": "rekey-main/AccountsQueueUrl"}}));
    insta::assert_snapshot!("first_deploy_events", output);
}

#[test]
fn deploying_again_executes_nothing_and_skips_the_upload() {
    let world = World::new();
    run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal).0.expect("first deploy");
    world.deployment.clear_calls();
    world.management.clear_calls();
    let (result, output) = run(&world, &steps(90), RequireApproval::Broadening, &mut NoTerminal);
    let report = result.expect("second deploy");
    assert!(!report.changed());
    assert_eq!(report.asset, Some(("s3://cdk-hnb659fds-assets-111111111111-us-east-1/abc.zip".into(), false)));
    assert_eq!(*world.s3.puts.borrow(), 1);
    assert!(
        world.deployment.calls().iter().all(|c| !c.starts_with("ExecuteChangeSet")),
        "{:?}",
        world.deployment.calls()
    );
    assert!(world.deployment.calls().contains(&"DeleteChangeSet rekey-main".to_string()));
    assert!(world.management.calls().iter().all(|c| !c.starts_with("UpdateStackSet")));
    insta::assert_snapshot!("second_deploy_events", output);
}

/// `deploy --no-execute`: each stack's change set is created and described, none executed, nothing asked;
/// the StackSet (no change sets) is left alone.
#[test]
fn no_execute_prepares_change_sets_and_executes_nothing() {
    let world = World::new();
    run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal).0.expect("first deploy");
    world.deployment.clear_calls();
    world.management.clear_calls();
    let mut out = Vec::new();
    let options = Options { execute: false, ..options(RequireApproval::AnyChange) };
    let mut asked = Answer(false, Vec::new());
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        rt.block_on(deploy(&world.clients(), &config(), &steps(60), None, &options, &mut asked, &mut progress))
    }
    .expect("no-execute");
    let outcomes: Vec<(&str, Outcome)> = report.stacks.iter().map(|s| (s.stack.as_str(), s.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("rekey-inventory-role", Outcome::Unchanged),
            ("rekey-member-role", Outcome::NotExecuted),
            ("rekey-main", Outcome::Prepared),
        ]
    );
    let main = &report.stacks[2];
    assert_eq!(main.change_set.as_deref(), Some("rekey-20261129223000"));
    assert!(main.changes.contains(&"Modify AWS::Lambda::Function RotationFunction".to_string()), "{:?}", main.changes);
    assert!(asked.1.is_empty(), "nothing executed, nothing asked: {:?}", asked.1);
    let calls = [world.deployment.calls(), world.management.calls()].concat();
    assert!(calls.iter().all(|c| !c.starts_with("ExecuteChangeSet") && !c.contains("StackSet ")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("CreateChangeSet rekey-main Update")), "{calls:?}");
    assert!(!calls.contains(&"DeleteChangeSet rekey-main".to_string()), "the change set stays for review");
    // The deployed template is still the old one.
    let deployed = world.deployment.template("rekey-main").expect("deployed");
    assert_eq!(
        deployed["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"]["REKEY_CONFIG"],
        json!({"lifecycle": {"rotate_after_days": 90}}).to_string()
    );
}

#[test]
fn a_threshold_change_updates_only_the_main_stack() {
    let world = World::new();
    run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal).0.expect("first deploy");
    let (result, output) = run(&world, &steps(60), RequireApproval::Broadening, &mut NoTerminal);
    let report = result.expect("update");
    let changed: Vec<&str> =
        report.stacks.iter().filter(|s| s.outcome != Outcome::Unchanged).map(|s| s.stack.as_str()).collect();
    assert_eq!(changed, ["rekey-main"]);
    assert!(output.contains("  Modify AWS::Lambda::Function RotationFunction\n"), "{output}");
    let deployed = world.deployment.template("rekey-main").expect("deployed");
    assert_eq!(
        deployed["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"]["REKEY_CONFIG"],
        json!({"lifecycle": {"rotate_after_days": 60}}).to_string()
    );
}

#[test]
fn a_failed_resource_is_reported_with_its_reason_and_the_rollback() {
    let world = World::new();
    run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal).0.expect("first deploy");
    world.deployment.fail_next("RotationFunction", "Resource handler returned message: \"Invalid architecture\"");
    let (result, output) = run(&world, &steps(60), RequireApproval::Never, &mut NoTerminal);
    let err = result.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "stack `rekey-main` was rolled back: UPDATE_ROLLBACK_COMPLETE; first failure: RotationFunction (AWS::Lambda::Function) UPDATE_FAILED: Resource handler returned message: \"Invalid architecture\""
    );
    assert!(
        output.contains("RotationFunction AWS::Lambda::Function UPDATE_FAILED Resource handler returned"),
        "{output}"
    );
    // The rolled-back stack keeps the old template.
    let deployed = world.deployment.template("rekey-main").expect("deployed");
    assert!(deployed.to_string().contains("rotate_after_days\\\":90"), "{deployed}");
}

#[test]
fn widening_iam_needs_approval_and_fails_without_a_terminal() {
    let world = World::new();
    let (result, output) = run(&world, &steps(90), RequireApproval::Broadening, &mut NoTerminal);
    let err = result.expect_err("must ask");
    assert_eq!(
        err.to_string(),
        "stack `rekey-inventory-role`: the change widens IAM permissions or resource policies and was not approved (not a terminal: run interactively or pass `--require-approval never`)"
    );
    assert!(output.contains("  + [InventoryRole] Allow organizations:ListAccounts on *"), "{output}");
    // The unapproved change set is cleaned up and nothing was executed.
    assert_eq!(
        world.management.calls(),
        [
            "CreateChangeSet rekey-inventory-role Create params=[] tags=[(\"team\", \"platform\")]",
            "DeleteChangeSet rekey-inventory-role"
        ]
    );
}

#[test]
fn the_user_is_asked_and_a_no_stops_the_deploy() {
    let world = World::new();
    let mut yes = Answer(true, Vec::new());
    run(&world, &steps(90), RequireApproval::Broadening, &mut yes).0.expect("approved");
    assert_eq!(
        yes.1,
        [
            "Deploy the changes to rekey-inventory-role (management account)?",
            "Deploy the changes to rekey-member-role (StackSet)?",
            "Deploy the changes to rekey-main (deployment account)?"
        ]
    );
    let mut no = Answer(false, Vec::new());
    let err = run(&world, &steps(60), RequireApproval::AnyChange, &mut no).0.expect_err("declined");
    assert_eq!(
        err.to_string(),
        "stack `rekey-main`: the change widens IAM permissions or resource policies and was not approved"
    );
    assert_eq!(no.1, ["Deploy the changes to rekey-main (deployment account)?"]);
}

#[test]
fn diff_shows_nothing_after_deploy_and_the_change_after_an_edit() {
    let world = World::new();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let before = rt.block_on(diff_all(&world.clients(), &steps(90))).expect("diff");
    assert!(before.iter().all(|d| !d.is_empty()));
    run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal).0.expect("deploy");
    let same = rt.block_on(diff_all(&world.clients(), &steps(90))).expect("diff");
    assert!(same.iter().all(|d| d.is_empty()), "{same:?}");
    let changed = rt.block_on(diff_all(&world.clients(), &steps(60))).expect("diff");
    let text: String = changed.iter().filter(|d| !d.is_empty()).map(ToString::to_string).collect();
    assert_eq!(
        text,
        "Stack rekey-main (deployment account)\nResources\n[~] AWS::Lambda::Function RotationFunction\n    ~ Properties.Environment.Variables.REKEY_CONFIG{lifecycle.rotate_after_days}: 90 -> 60\n"
    );
}

#[test]
fn destroy_deletes_in_reverse_order_and_keeps_secrets_unless_asked() {
    let world = World::new();
    run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal).0.expect("deploy");
    world.deployment.clear_calls();
    world.management.clear_calls();
    let secrets = FakeSecrets::default();
    secrets.arns.borrow_mut().push("arn:aws:secretsmanager:us-east-1:111111111111:secret:Account_1_User_bob".into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let mut out = Vec::new();
    let flags = DestroyOptions { force: false, delete_secrets: false, member_secrets: false };
    let mut yes = Answer(true, Vec::new());
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let store = [(DEPLOYMENT.to_string(), &secrets)];
        rt.block_on(destroy(
            &world.clients(),
            &steps(90),
            &store,
            flags,
            &options(RequireApproval::Never),
            &mut yes,
            &mut progress,
        ))
        .expect("destroy")
    };
    assert_eq!(yes.1, ["Delete these stacks?"]);
    assert_eq!(
        report.deleted,
        [
            "rekey-main (deployment account)",
            "rekey-member-role (StackSet)",
            "rekey-inventory-role (management account)"
        ]
    );
    assert_eq!(world.deployment.calls(), ["DeleteStack rekey-main"]);
    assert_eq!(
        world.management.calls(),
        [
            "DeleteStackInstances rekey-member-role [\"r-root\"]",
            "DeleteStackSet rekey-member-role",
            "DeleteStack rekey-inventory-role"
        ]
    );
    assert_eq!(report.secrets_kept.len(), 1);
    let output = String::from_utf8(out).expect("utf-8");
    assert!(output.contains("kept 1 secret(s) created by rekey (tag rekey:managed=true) in account 111111111111; pass --delete-secrets to delete them"), "{output}");

    // Without a terminal and without --force nothing is deleted.
    let mut out = Vec::new();
    let err = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let store = [(DEPLOYMENT.to_string(), &secrets)];
        rt.block_on(destroy(
            &world.clients(),
            &steps(90),
            &store,
            DestroyOptions::default(),
            &options(RequireApproval::Never),
            &mut NoTerminal,
            &mut progress,
        ))
        .expect_err("needs confirmation")
    };
    assert_eq!(err.to_string(), "destroy was not confirmed (not a terminal: pass `--force` to delete without asking)");

    // Again, forced and deleting secrets: the stacks are gone, the secret goes.
    let mut out = Vec::new();
    let flags = DestroyOptions { force: true, delete_secrets: true, member_secrets: false };
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let store = [(DEPLOYMENT.to_string(), &secrets)];
        rt.block_on(destroy(
            &world.clients(),
            &steps(90),
            &store,
            flags,
            &options(RequireApproval::Never),
            &mut NoTerminal,
            &mut progress,
        ))
        .expect("destroy")
    };
    assert_eq!(report.deleted, Vec::<String>::new());
    assert_eq!(report.absent.len(), 3);
    assert_eq!(report.secrets_deleted.len(), 1);
    assert!(secrets.arns.borrow().is_empty());
}

const OU_A: &str = "ou-ab12-aaaaaaaa";
const OU_B: &str = "ou-ab12-bbbbbbbb";
const OU_C: &str = "ou-ab12-cccccccc";

/// A world whose management account sees three OUs of one account each.
fn ou_world() -> World {
    World {
        management: FakeCfn::with_ous(&[
            (OU_A, &["333333333333"][..]),
            (OU_B, &["444444444444"][..]),
            (OU_C, &["555555555555"][..]),
        ]),
        ..World::new()
    }
}

/// The member-role step only, for a config targeting `ous`; `action` varies the template.
fn member_role_steps(ous: &[&str], action: &str) -> Vec<Step> {
    let yaml = format!("organization:\n  target_ou_ids: [{}]\n", ous.join(", "));
    let config = Config::from_yaml_str(&yaml, None).expect("valid");
    let mut steps = place_stacks(&config, &templates(90), &["member-role".into()]).expect("plan");
    steps[0].stack.template["Resources"]["MemberRole"]["Properties"]["Policies"] = json!([role_policy(action)]);
    steps
}

fn instance_accounts(world: &World) -> Vec<(String, Option<String>)> {
    world.management.instances("rekey-member-role").into_iter().map(|i| (i.account, i.ou_id)).collect()
}

#[test]
fn stackset_instances_follow_the_configured_ous() {
    let world = ou_world();
    run(&world, &member_role_steps(&[OU_A, OU_B], "iam:ListUsers"), RequireApproval::Never, &mut NoTerminal)
        .0
        .expect("first deploy");
    assert_eq!(
        instance_accounts(&world),
        [("333333333333".into(), Some(OU_A.into())), ("444444444444".into(), Some(OU_B.into()))]
    );
    world.management.clear_calls();

    // A is dropped, C is added; the template is the same, so the StackSet itself is not updated.
    let (result, output) =
        run(&world, &member_role_steps(&[OU_B, OU_C], "iam:ListUsers"), RequireApproval::Never, &mut NoTerminal);
    let report = result.expect("second deploy");
    let set = &report.stacks[0];
    assert_eq!(
        (set.outcome, set.ous_added.clone(), set.ous_removed.clone()),
        (Outcome::Updated, vec![OU_C.to_string()], vec![OU_A.to_string()])
    );
    assert_eq!(
        world.management.calls(),
        [
            format!("CreateStackInstances rekey-member-role [\"{OU_C}\"] us-east-1"),
            format!("DeleteStackInstances rekey-member-role [\"{OU_A}\"]"),
        ]
    );
    assert_eq!(
        instance_accounts(&world),
        [("444444444444".into(), Some(OU_B.into())), ("555555555555".into(), Some(OU_C.into()))]
    );
    assert!(
        output.contains(&format!(
            "rekey-member-role (StackSet): OU {OU_C} is newly targeted; creating their instances\n"
        )),
        "{output}"
    );
    assert!(
        output.contains(&format!(
            "rekey-member-role (StackSet): OU {OU_A} is no longer targeted; deleting their instances and stacks (RetainStacks=false)\n"
        )),
        "{output}"
    );
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["stacks"][0]["ous_added"], json!([OU_C]));
    assert_eq!(json["stacks"][0]["ous_removed"], json!([OU_A]));

    // The same config again: nothing to do, and the report says nothing about OUs.
    world.management.clear_calls();
    let report =
        run(&world, &member_role_steps(&[OU_B, OU_C], "iam:ListUsers"), RequireApproval::Never, &mut NoTerminal)
            .0
            .expect("third deploy");
    assert_eq!(report.stacks[0].outcome, Outcome::Unchanged);
    assert!(serde_json::to_value(&report).expect("serializes")["stacks"][0].get("ous_added").is_none());
    assert_eq!(world.management.calls(), Vec::<String>::new());
}

#[test]
fn a_template_change_with_new_ous_updates_the_kept_ous_first_then_adds_and_removes() {
    let world = ou_world();
    run(&world, &member_role_steps(&[OU_A, OU_B], "iam:ListUsers"), RequireApproval::Never, &mut NoTerminal)
        .0
        .expect("first deploy");
    world.management.clear_calls();
    let (result, output) =
        run(&world, &member_role_steps(&[OU_B, OU_C], "iam:ListGroups"), RequireApproval::Never, &mut NoTerminal);
    let report = result.expect("second deploy");
    assert_eq!(report.stacks[0].outcome, Outcome::Updated);
    assert_eq!(
        world.management.calls(),
        [
            format!("UpdateStackSet rekey-member-role [\"{OU_B}\"]"),
            format!("CreateStackInstances rekey-member-role [\"{OU_C}\"] us-east-1"),
            format!("DeleteStackInstances rekey-member-role [\"{OU_A}\"]"),
        ]
    );
    assert!(output.contains(&format!("updating the StackSet and its instances in {OU_B}\n")), "{output}");

    // Every OU replaced: the update goes to the instances that exist, which are then deleted.
    world.management.clear_calls();
    run(&world, &member_role_steps(&[OU_A], "iam:ListRoles"), RequireApproval::Never, &mut NoTerminal)
        .0
        .expect("third deploy");
    assert_eq!(
        world.management.calls(),
        [
            format!("UpdateStackSet rekey-member-role [\"{OU_B}\", \"{OU_C}\"]"),
            format!("CreateStackInstances rekey-member-role [\"{OU_A}\"] us-east-1"),
            format!("DeleteStackInstances rekey-member-role [\"{OU_B}\", \"{OU_C}\"]"),
        ]
    );
    assert_eq!(instance_accounts(&world), [("333333333333".into(), Some(OU_A.into()))]);
}

#[test]
fn without_ou_ids_from_cloudformation_the_instances_are_left_alone_and_it_says_so() {
    // moto 5.2.5 reports no OrganizationalUnitIds on the StackSet or its instances.
    let mut world = ou_world();
    world.management.hide_ous = true;
    run(&world, &member_role_steps(&[OU_A], "iam:ListUsers"), RequireApproval::Never, &mut NoTerminal)
        .0
        .expect("first deploy");
    world.management.clear_calls();
    let (result, output) =
        run(&world, &member_role_steps(&[OU_C], "iam:ListUsers"), RequireApproval::Never, &mut NoTerminal);
    assert_eq!(result.expect("second deploy").stacks[0].outcome, Outcome::Unchanged);
    assert_eq!(world.management.calls(), Vec::<String>::new());
    assert!(output.contains("CloudFormation reports no OU targets for the existing instances"), "{output}");
}

#[test]
fn destroy_deletes_the_instances_of_ous_an_earlier_config_targeted() {
    let world = ou_world();
    run(&world, &member_role_steps(&[OU_A, OU_B], "iam:ListUsers"), RequireApproval::Never, &mut NoTerminal)
        .0
        .expect("deploy");
    world.management.clear_calls();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let mut out = Vec::new();
    let secrets = FakeSecrets::default();
    {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let store = [(DEPLOYMENT.to_string(), &secrets)];
        rt.block_on(destroy(
            &world.clients(),
            &member_role_steps(&[OU_C], "iam:ListUsers"),
            &store,
            DestroyOptions { force: true, delete_secrets: false, member_secrets: false },
            &options(RequireApproval::Never),
            &mut NoTerminal,
            &mut progress,
        ))
        .expect("destroy");
    }
    assert_eq!(
        world.management.calls()[0],
        format!("DeleteStackInstances rekey-member-role [\"{OU_A}\", \"{OU_B}\", \"{OU_C}\"]")
    );
    assert!(world.management.instances("rekey-member-role").is_empty());
}

#[test]
fn destroy_names_the_member_accounts_whose_secrets_it_cannot_delete_before_deleting() {
    let world = World::new();
    run(&world, &steps(90), RequireApproval::Never, &mut NoTerminal).0.expect("deploy");
    world.management.clear_calls();
    let secrets = FakeSecrets::default();
    secrets.arns.borrow_mut().push("arn:aws:secretsmanager:us-east-1:111111111111:secret:Account_1_User_bob".into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let mut out = Vec::new();
    let flags = DestroyOptions { force: false, delete_secrets: true, member_secrets: true };
    let mut no = Answer(false, Vec::new());
    let err = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let store = [(DEPLOYMENT.to_string(), &secrets), ("333333333333".to_string(), &secrets)];
        rt.block_on(destroy(
            &world.clients(),
            &steps(90),
            &store,
            flags,
            &options(RequireApproval::Never),
            &mut no,
            &mut progress,
        ))
        .expect_err("declined")
    };
    assert_eq!(err.to_string(), "destroy was not confirmed");
    let output = String::from_utf8(out).expect("utf-8");
    // Said before the question; 333333333333 is reachable here, so only 444444444444 is named.
    assert!(
        output.contains(
            "secrets created by rekey in member accounts are NOT deleted, even with --delete-secrets (secrets.storage: member; destroy cannot reach them): 444444444444\n"
        ),
        "{output}"
    );
    assert!(output.contains("  to delete them: with credentials of each of these accounts"), "{output}");
    assert!(output.contains("delete-secret --force-delete-without-recovery --secret-id <ARN>"), "{output}");
    assert_eq!(secrets.arns.borrow().len(), 1, "nothing deleted when not confirmed");
    assert!(world.management.calls().iter().all(|c| !c.starts_with("Delete")), "{:?}", world.management.calls());

    let mut out = Vec::new();
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        let store = [(DEPLOYMENT.to_string(), &secrets)];
        let flags = DestroyOptions { force: true, delete_secrets: false, member_secrets: true };
        rt.block_on(destroy(
            &world.clients(),
            &steps(90),
            &store,
            flags,
            &options(RequireApproval::Never),
            &mut NoTerminal,
            &mut progress,
        ))
        .expect("destroy")
    };
    assert_eq!(report.secrets_unreached_accounts, ["333333333333", "444444444444"]);
    let output = String::from_utf8(out).expect("utf-8");
    assert!(output.contains("are NOT deleted (secrets.storage: member"), "{output}");
}
