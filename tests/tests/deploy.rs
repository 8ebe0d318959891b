//! End-to-end tests of `rekey deploy`, `diff` and `destroy` (the `rekey-deploy` crate on the real AWS SDK)
//! against the shared moto server: a seeded 3-account organization, the default config deployed, deployed again
//! with no change, a threshold changed, diffed and destroyed. The deployed function configuration is then read
//! back with the runtime's own loader.
//!
//! What moto 5.2.5 does not do, and where that part is tested instead (`deploy/tests/sdk_mocks.rs` uses
//! aws-smithy-mocks on the real client; `deploy/src/tests.rs` uses in-memory fakes):
//! - stacks are created synchronously and only stack-level events are recorded (no per-resource events), so
//!   resource-level progress and the "first failed resource" report are tested with the fakes;
//! - `CreateChangeSet` with nothing to change fails at once with `ValidationError: No updates are to be
//!   performed.` (AWS instead creates a `FAILED` change set whose reason says it "didn't contain changes"); both
//!   are handled, the AWS form is tested with aws-smithy-mocks;
//! - StackSets: `CallAs`, `OperationPreferences`, `ManagedExecution` and `AutoDeployment` are accepted and
//!   ignored; `UpdateStackSet` and `DeleteStackInstances` ignore `DeploymentTargets` (they read only the
//!   self-managed `Accounts` list), so an update does not touch the instances and a delete by OU deletes nothing.
//!   The requests rekey sends are checked with aws-smithy-mocks; here the test deletes the instances by account
//!   (as moto understands it) before `destroy`;
//! - neither `DescribeStackSet` (`OrganizationalUnitIds`) nor `ListStackInstances` (`OrganizationalUnitId`)
//!   reports the OUs a service-managed StackSet targets, so rekey cannot tell which OUs were added or removed
//!   since the last deploy (it leaves the instances alone and says so); instances following a change of
//!   `organization.target_ou_ids` are tested with the fakes and aws-smithy-mocks (issue 4);
//! - a service-managed StackSet targeting the root also gets an instance in the management account (AWS never
//!   deploys there);
//! - exports of a stack created through a change set are not registered (only `CreateStack` registers them), so
//!   the main stack's `Fn::ImportValue` of the VPC endpoints stack fails; the all-options test deploys main from
//!   the same config without the VPC;
//! - Lambda functions made by CloudFormation ignore `Architectures` (always x86_64); the test checks the deployed
//!   template instead;
//! - `AWS::CloudFormation::StackSet` inside a template is only partly modelled (rekey does not use it: the
//!   StackSet goes through the API).

use rekey_config::Config;
use rekey_deploy::api::Cfn;
use rekey_deploy::deploy::Outcome;
use rekey_deploy::sdk::Session;
use rekey_deploy::{
    AssetUpload, Clients, DeployReport, DestroyOptions, DestroyReport, NoTerminal, Options, Progress, ProgressMode,
    RequireApproval, StackTemplate, Step,
};
use rekey_e2e::moto::{test_account_id, Moto};
use rekey_synth::asset::{self, AssetFile, PackagedAsset};
use std::collections::BTreeSet;
use std::time::Duration;

/// A seeded organization: the management account (also the deployment account) and two members.
struct Org {
    management: String,
    members: Vec<String>,
}

async fn seed_org(name: &str) -> Org {
    let moto = Moto::get();
    let management = test_account_id(name);
    let members = moto.create_organization(&management, name, 2).await;
    Org { management, members }
}

/// A small Lambda asset: a `bootstrap` script, no build needed (moto never runs it).
fn fake_asset() -> PackagedAsset {
    asset::pack(&[AssetFile { name: "bootstrap".into(), mode: 0o755, data: b"#!/bin/sh\necho rekey\n".to_vec() }])
        .expect("zip")
}

fn stacks(config: &Config, packaged: &PackagedAsset) -> Vec<Step> {
    stacks_only(config, packaged, &[])
}

fn stacks_only(config: &Config, packaged: &PackagedAsset, only: &[&str]) -> Vec<Step> {
    let templates: Vec<StackTemplate> = rekey_stacks::synthesize(config, &packaged.asset)
        .expect("synthesize")
        .into_iter()
        .map(|s| StackTemplate {
            id: s.id,
            name: s.name,
            description: Some(s.description),
            template: serde_json::from_str(&s.template.to_json()).expect("json"),
        })
        .collect();
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    rekey_deploy::place_stacks(config, &templates, &only).expect("plan")
}

fn options(approval: RequireApproval) -> Options {
    Options { approval, poll: Duration::from_millis(10), timeout: Duration::from_secs(60), ..Options::default() }
}

fn clients<'a>(
    session: &'a Session,
    account: &str,
) -> Clients<'a, rekey_deploy::sdk::SdkCfn, rekey_deploy::sdk::SdkS3, rekey_deploy::sdk::SdkOrg> {
    Clients {
        deployment: &session.cfn,
        management: &session.cfn,
        assets: &session.s3,
        org: &session.org,
        deployment_account_id: account.to_string(),
        management_account_id: account.to_string(),
    }
}

async fn deploy(
    session: &Session,
    account: &str,
    config: &Config,
    approval: RequireApproval,
) -> (DeployReport, String) {
    let packaged = fake_asset();
    let steps = stacks(config, &packaged);
    let bucket = rekey_deploy::deploy::resolve_bucket(
        &asset::asset_bucket_name(config),
        account,
        &config.deployment.region.to_string(),
    );
    let upload = AssetUpload { bucket, key: packaged.asset.object_key(), body: packaged.zip.clone() };
    let mut out = Vec::new();
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        rekey_deploy::deploy(
            &clients(session, account),
            config,
            &steps,
            Some(&upload),
            &options(approval),
            &mut NoTerminal,
            &mut progress,
        )
        .await
    };
    let out = String::from_utf8(out).expect("utf-8");
    (report.unwrap_or_else(|e| panic!("deploy failed: {e}\n{out}")), out)
}

async fn destroy(session: &Session, account: &str, config: &Config, delete_secrets: bool) -> DestroyReport {
    let steps = stacks(config, &fake_asset());
    let mut out = Vec::new();
    let mut progress = Progress::new(ProgressMode::Events, &mut out);
    let flags = DestroyOptions { force: true, delete_secrets, member_secrets: false };
    rekey_deploy::destroy(
        &clients(session, account),
        &steps,
        &[(account.to_string(), &session.secrets)],
        flags,
        &options(RequireApproval::Never),
        &mut NoTerminal,
        &mut progress,
    )
    .await
    .expect("destroy")
}

fn outcomes(report: &DeployReport) -> Vec<(String, Outcome)> {
    report.stacks.iter().map(|s| (s.title.clone(), s.outcome)).collect()
}

async fn function_env(lambda: &aws_sdk_lambda::Client, name: &str) -> String {
    let out = lambda.get_function_configuration().function_name(name).send().await.expect("function exists");
    out.environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get(rekey_config::CONFIG_ENV))
        .cloned()
        .expect("REKEY_CONFIG is set")
}

async fn stack_resource_types(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> BTreeSet<String> {
    let out = cfn.describe_stack_resources().stack_name(stack).send().await.expect("stack resources");
    out.stack_resources().iter().filter_map(|r| r.resource_type()).map(str::to_string).collect()
}

#[tokio::test]
async fn default_config_deploys_redeploys_updates_diffs_and_destroys() {
    let moto = Moto::get();
    let org = seed_org("deploy-default").await;
    let account = org.management.clone();
    let sdk = moto.account_config(&account).await;
    let session = Session::new(&sdk);
    let config = Config::builtin_default();
    let bucket = format!("cdk-hnb659fds-assets-{account}-us-east-1");
    session.s3_client().create_bucket().bucket(&bucket).send().await.expect("bootstrap bucket");

    // First deploy: everything is created, in order.
    let (report, out) = deploy(&session, &account, &config, RequireApproval::Never).await;
    assert_eq!(
        outcomes(&report),
        [
            ("rekey-inventory-role (management account)".to_string(), Outcome::Created),
            ("rekey-member-role (StackSet)".to_string(), Outcome::Created),
            ("rekey-main (deployment account)".to_string(), Outcome::Created),
        ],
        "{out}"
    );
    let key = fake_asset().asset.object_key();
    assert_eq!(report.asset, Some((format!("s3://{bucket}/{key}"), true)));
    session.s3_client().head_object().bucket(&bucket).key(&key).send().await.expect("asset object in the bucket");

    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let main_types = stack_resource_types(&cfn, "rekey-main").await;
    for ty in [
        "AWS::IAM::Role",
        "AWS::Lambda::Function",
        "AWS::SQS::Queue",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Events::Rule",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
    ] {
        assert!(main_types.contains(ty), "rekey-main has no {ty}: {main_types:?}");
    }
    let iam = aws_sdk_iam::Client::new(&sdk);
    for role in ["rekey-inventory", "rekey-inventory-fn", "rekey-rotation-fn", "rekey-notifier-fn"] {
        iam.get_role().role_name(role).send().await.unwrap_or_else(|e| panic!("role `{role}`: {e:?}"));
    }
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    for function in ["rekey-inventory", "rekey-rotation", "rekey-notifier"] {
        lambda.get_function().function_name(function).send().await.unwrap_or_else(|e| panic!("{function}: {e:?}"));
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for queue in ["rekey-accounts", "rekey-accounts-dlq", "rekey-notifications", "rekey-notifications-dlq"] {
        sqs.get_queue_url().queue_name(queue).send().await.unwrap_or_else(|e| panic!("queue `{queue}`: {e:?}"));
    }

    // The StackSet reached both members, and the member role exists in each.
    let instances = cfn.list_stack_instances().stack_set_name("rekey-member-role").send().await.expect("instances");
    let accounts: BTreeSet<String> =
        instances.summaries().iter().filter_map(|s| s.account()).map(str::to_string).collect();
    for member in &org.members {
        assert!(accounts.contains(member), "no instance in {member}: {accounts:?}");
        let member_iam = aws_sdk_iam::Client::new(&moto.account_config(member).await);
        member_iam.get_role().role_name("rekey-member").send().await.expect("member role in the member account");
    }

    // The runtime's own loader reads the deployed function configuration.
    let rotation_env = function_env(&lambda, "rekey-rotation").await;
    let loaded = Config::from_runtime_json(&rotation_env, std::path::Path::new("/nonexistent")).expect("loads");
    assert_eq!(loaded.lifecycle.rotate_after_days, 90);
    let inventory_env = function_env(&lambda, "rekey-inventory").await;

    // Deploying again changes nothing and uploads nothing, even when approval of widening is required.
    let (report, out) = deploy(&session, &account, &config, RequireApproval::Broadening).await;
    assert!(!report.changed(), "{out}");
    assert_eq!(report.asset, Some((format!("s3://{bucket}/{key}"), false)));
    assert!(!out.contains("executing change set"), "{out}");
    let diffs =
        rekey_deploy::diff_all(&clients(&session, &account), &stacks(&config, &fake_asset())).await.expect("diff");
    assert!(diffs.iter().all(|d| d.is_empty()), "{diffs:?}");

    // A threshold change: the diff names it, and only the rotation function's environment changes.
    let changed =
        Config::from_yaml_str("organization: {}\nlifecycle:\n  rotate_after_days: 60\n", None).expect("valid");
    let diffs =
        rekey_deploy::diff_all(&clients(&session, &account), &stacks(&changed, &fake_asset())).await.expect("diff");
    let text: Vec<String> = diffs.iter().filter(|d| !d.is_empty()).map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["Stack rekey-main (deployment account)\nResources\n[~] AWS::Lambda::Function RotationFunction\n    ~ Properties.Environment.Variables.REKEY_CONFIG{lifecycle.rotate_after_days}: 90 -> 60\n"]
    );
    let (report, out) = deploy(&session, &account, &changed, RequireApproval::Broadening).await;
    assert_eq!(
        outcomes(&report),
        [
            ("rekey-inventory-role (management account)".to_string(), Outcome::Unchanged),
            ("rekey-member-role (StackSet)".to_string(), Outcome::Unchanged),
            ("rekey-main (deployment account)".to_string(), Outcome::Updated),
        ],
        "{out}"
    );
    assert!(out.contains("  Modify AWS::Lambda::Function RotationFunction\n"), "{out}");
    let rotation_env = function_env(&lambda, "rekey-rotation").await;
    let loaded = Config::from_runtime_json(&rotation_env, std::path::Path::new("/nonexistent")).expect("loads");
    assert_eq!(loaded.lifecycle.rotate_after_days, 60);
    assert_eq!(function_env(&lambda, "rekey-inventory").await, inventory_env, "the inventory function is untouched");

    // Destroy: nothing is left but the kept secret.
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = secrets
        .create_secret()
        .name("Account_1_User_bob_AccessKey")
        .secret_string("{}")
        .tags(aws_sdk_secretsmanager::types::Tag::builder().key("rekey:managed").value("true").build())
        .send()
        .await
        .expect("secret");
    let arn = secret.arn().expect("arn").to_string();
    // moto ignores `DeploymentTargets` in DeleteStackInstances (see the module docs): remove the instances by
    // account, the only form it understands, so the StackSet can be deleted.
    cfn.delete_stack_instances()
        .stack_set_name("rekey-member-role")
        .set_accounts(Some(accounts.iter().cloned().collect()))
        .regions("us-east-1")
        .retain_stacks(false)
        .send()
        .await
        .expect("delete instances by account");
    let report = destroy(&session, &account, &changed, false).await;
    assert_eq!(
        report.deleted,
        [
            "rekey-main (deployment account)",
            "rekey-member-role (StackSet)",
            "rekey-inventory-role (management account)"
        ]
    );
    assert_eq!(report.secrets_kept, vec![arn.clone()]);
    for stack in ["rekey-main", "rekey-inventory-role"] {
        assert!(cfn.describe_stacks().stack_name(stack).send().await.is_err(), "{stack} is gone");
    }
    let stack_set = session.cfn.describe_stack_set("rekey-member-role", rekey_config::CallAs::SelfAccount).await;
    assert_eq!(stack_set.expect("describe"), None, "the StackSet is gone");
    for role in ["rekey-inventory", "rekey-rotation-fn"] {
        assert!(iam.get_role().role_name(role).send().await.is_err(), "role `{role}` is gone");
    }
    assert!(lambda.get_function().function_name("rekey-rotation").send().await.is_err(), "function is gone");
    assert!(sqs.get_queue_url().queue_name("rekey-accounts").send().await.is_err(), "queue is gone");
    secrets.describe_secret().secret_id(&arn).send().await.expect("the secret is kept");

    // Again with --delete-secrets: the stacks are already gone, the secret goes.
    let report = destroy(&session, &account, &changed, true).await;
    assert!(report.deleted.is_empty());
    assert_eq!(report.secrets_deleted, vec![arn.clone()]);
    assert!(secrets.describe_secret().secret_id(&arn).send().await.is_err(), "the secret is deleted");
}

/// A VPC with two subnets and two route tables in `account`, made with boto3 from the moto venv (the tests crate
/// has no EC2 client, and moto checks that the VPC of an endpoint exists). Returns `[vpc, subnet, subnet, rtb, rtb]`.
fn seed_vpc(account: &str, region: &str) -> Vec<String> {
    let python = rekey_e2e::moto::repo_root().join(".tools/moto/bin/python");
    assert!(python.exists(), "moto is not installed at `{}`: run `scripts/install-tools moto`", python.display());
    let script = r#"
import boto3, json, sys
endpoint, account, region = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
c = boto3.client("sts", **kw).assume_role(RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed")["Credentials"]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region, aws_access_key_id=c["AccessKeyId"],
                   aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in range(2)]
tables = [ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(2)]
print(json.dumps([vpc] + subnets + tables))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &Moto::get().endpoint_url(), account, region])
        .output()
        .expect("run python");
    assert!(out.status.success(), "seeding the VPC failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("ids")
}

/// The all-options fixture, moved onto this test's accounts, OUs, organization and VPC.
fn all_options(deployment: &str, org: &Org, org_id: &str, ous: &[String], vpc: &[String]) -> Config {
    let fixture = rekey_e2e::moto::repo_root().join("tests/fixtures/all-options.yaml");
    let text = std::fs::read_to_string(&fixture).expect("fixture");
    let text = text
        .replace("111111111111", deployment)
        .replace("222222222222", &org.management)
        .replace("o-a1b2c3d4e5", org_id)
        .replace("ou-ab12-cd34ef56", &ous[0])
        .replace("ou-ab12-gh78ij90", &ous[1])
        .replace("\"444444444444\", \"555555555555\"", &format!("\"{}\", \"{}\"", org.members[0], org.members[1]))
        .replace("vpc-0a1b2c3d4e5f67890", &vpc[0])
        .replace("subnet-0a1b2c3d4e5f60001", &vpc[1])
        .replace("subnet-0a1b2c3d4e5f60002", &vpc[2])
        .replace("rtb-0a1b2c3d4e5f60001", &vpc[3])
        .replace("rtb-0a1b2c3d4e5f60002", &vpc[4])
        // Template overrides are files next to the fixture; the asset here is a stand-in anyway.
        .replace("html_template: all-options.email.html.tera", "html_template: null")
        .replace("text_template: all-options.email.txt.tera", "text_template: null");
    Config::from_yaml_str(&text, Some("all-options.yaml")).expect("valid all-options config")
}

#[tokio::test]
async fn all_options_config_deploys_across_deployment_and_management_accounts() {
    let moto = Moto::get();
    let org = seed_org("deploy-all-options").await;
    let deployment = test_account_id("deploy-all-options-deployment");
    let region = "eu-west-1";
    let mgmt_sdk = moto.account_config_in(&org.management, region).await;
    let orgs = aws_sdk_organizations::Client::new(&mgmt_sdk);
    let org_id = orgs
        .describe_organization()
        .send()
        .await
        .expect("org")
        .organization()
        .and_then(|o| o.id())
        .expect("id")
        .to_string();
    let root = orgs.list_roots().send().await.expect("roots").roots()[0].id().expect("root id").to_string();
    let mut ous = Vec::new();
    for (i, member) in org.members.iter().enumerate() {
        let ou = orgs.create_organizational_unit().parent_id(&root).name(format!("team-{i}")).send().await.expect("ou");
        let ou = ou.organizational_unit().and_then(|o| o.id()).expect("ou id").to_string();
        orgs.move_account()
            .account_id(member)
            .source_parent_id(&root)
            .destination_parent_id(&ou)
            .send()
            .await
            .expect("move");
        ous.push(ou);
    }
    let vpc = seed_vpc(&deployment, region);
    let config = all_options(&deployment, &org, &org_id, &ous, &vpc);
    let dep_sdk = moto.account_config_in(&deployment, region).await;
    let dep = Session::new(&dep_sdk);
    let mgmt = Session::new(&mgmt_sdk);
    let bucket = format!("keyrot-assets-{deployment}");
    dep.s3_client()
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("asset bucket");

    let packaged = fake_asset();
    // moto registers the exports of stacks made by `CreateStack` only, not by a change set, so the main stack's
    // `Fn::ImportValue` of the VPC endpoints stack's security group fails there. Deploy every stack of the
    // all-options config except main, then main from the same config without the VPC.
    let without_vpc =
        Config::from_yaml_str(&config.to_yaml().replace("vpc:\n  enabled: true", "vpc:\n  enabled: false"), None)
            .expect("valid");
    assert!(!without_vpc.vpc.enabled);
    let mut steps = stacks_only(&config, &packaged, &["vpc-endpoints", "inventory-role", "member-role"]);
    steps.extend(stacks_only(&without_vpc, &packaged, &["main"]));
    let upload = AssetUpload { bucket: bucket.clone(), key: packaged.asset.object_key(), body: packaged.zip.clone() };
    let clients = Clients {
        deployment: &dep.cfn,
        management: &mgmt.cfn,
        assets: &dep.s3,
        org: &mgmt.org,
        deployment_account_id: deployment.clone(),
        management_account_id: org.management.clone(),
    };
    let mut out = Vec::new();
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        rekey_deploy::deploy(
            &clients,
            &config,
            &steps,
            Some(&upload),
            &options(RequireApproval::Never),
            &mut NoTerminal,
            &mut progress,
        )
        .await
    };
    let out = String::from_utf8(out).expect("utf-8");
    let report = report.unwrap_or_else(|e| panic!("deploy failed: {e}\n{out}"));
    assert_eq!(
        outcomes(&report),
        [
            ("keyrot-vpc-endpoints (deployment account)".to_string(), Outcome::Created),
            ("keyrot-inventory-role (management account)".to_string(), Outcome::Created),
            ("keyrot-member-role (StackSet)".to_string(), Outcome::Created),
            ("keyrot-member-role (management account)".to_string(), Outcome::Created),
            ("keyrot-main (deployment account)".to_string(), Outcome::Created),
        ],
        "{out}"
    );
    assert!(out.contains(&format!("for {}, {} in eu-west-1", ous[0], ous[1])), "{out}");

    // Management account: the inventory role and, since it is in scope, the member role as a plain stack.
    let mgmt_iam = aws_sdk_iam::Client::new(&mgmt_sdk);
    for role in ["KeyrotOrgReader", "KeyrotMember"] {
        mgmt_iam.get_role().role_name(role).send().await.unwrap_or_else(|e| panic!("role `{role}`: {e:?}"));
    }
    // Members (in the target OUs): the member role, from the StackSet.
    for member in &org.members {
        let iam = aws_sdk_iam::Client::new(&moto.account_config_in(member, region).await);
        iam.get_role().role_name("KeyrotMember").send().await.expect("member role in the member account");
    }
    // Deployment account: arm64 functions from the asset bucket, stack tags.
    let lambda = aws_sdk_lambda::Client::new(&dep_sdk);
    lambda.get_function_configuration().function_name("keyrot-rotation").send().await.expect("rotation function");
    // moto's CloudFormation does not pass `Architectures` on to Lambda (functions come out x86_64): check the
    // deployed template instead.
    let deployed = dep.cfn.get_template("keyrot-main").await.expect("template").expect("deployed");
    let deployed: serde_json::Value = serde_json::from_str(&deployed).expect("json");
    assert_eq!(deployed["Resources"]["RotationFunction"]["Properties"]["Architectures"], serde_json::json!(["arm64"]));
    dep.s3_client().head_object().bucket(&bucket).key(packaged.asset.object_key()).send().await.expect("asset");
    let cfn = aws_sdk_cloudformation::Client::new(&dep_sdk);
    let main = cfn.describe_stacks().stack_name("keyrot-main").send().await.expect("main stack");
    let tags: Vec<(String, String)> = main.stacks()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect();
    assert!(tags.contains(&("team".into(), "security".into())), "{tags:?}");
    let loaded = Config::from_runtime_json(
        &function_env(&lambda, "keyrot-rotation").await,
        std::path::Path::new("/nonexistent"),
    )
    .expect("the runtime loads the deployed config");
    assert_eq!(loaded.lifecycle.rotate_after_days, 60);

    // Again: nothing to do.
    let mut out = Vec::new();
    let report = {
        let mut progress = Progress::new(ProgressMode::Events, &mut out);
        rekey_deploy::deploy(
            &clients,
            &config,
            &steps,
            Some(&upload),
            &options(RequireApproval::Broadening),
            &mut NoTerminal,
            &mut progress,
        )
        .await
    };
    let out = String::from_utf8(out).expect("utf-8");
    assert!(!report.unwrap_or_else(|e| panic!("redeploy failed: {e}\n{out}")).changed(), "{out}");
}
