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
//! - a service-managed StackSet targeting the root also gets an instance in the management account (AWS never
//!   deploys there);
//! - `AWS::CloudFormation::StackSet` inside a template is only partly modelled (rekey does not use it: the
//!   StackSet goes through the API).

use rekey_config::Config;
use rekey_deploy::api::Cfn;
use rekey_deploy::deploy::Outcome;
use rekey_deploy::sdk::Session;
use rekey_deploy::{
    AssetUpload, DeployReport, DestroyOptions, DestroyReport, Env, NoTerminal, Options, Progress, ProgressMode,
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
    let orgs = aws_sdk_organizations::Client::new(&moto.account_config(&management).await);
    orgs.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("create organization");
    let mut members = Vec::new();
    for i in 0..2 {
        let out = orgs
            .create_account()
            .account_name(format!("{name}-{i}"))
            .email(format!("{name}-{i}@example.com"))
            .send()
            .await
            .expect("create account");
        members.push(out.create_account_status().and_then(|s| s.account_id()).expect("account id").to_string());
    }
    members.sort();
    Org { management, members }
}

/// A small Lambda asset: a `bootstrap` script, no build needed (moto never runs it).
fn fake_asset() -> PackagedAsset {
    asset::pack(&[AssetFile { name: "bootstrap".into(), mode: 0o755, data: b"#!/bin/sh\necho rekey\n".to_vec() }])
        .expect("zip")
}

fn stacks(config: &Config, packaged: &PackagedAsset) -> Vec<Step> {
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
    rekey_deploy::plan(config, &templates, &[]).expect("plan")
}

fn options(approval: RequireApproval) -> Options {
    Options { approval, poll: Duration::from_millis(10), timeout: Duration::from_secs(60), ..Options::default() }
}

fn env<'a>(
    session: &'a Session,
    account: &str,
) -> Env<'a, rekey_deploy::sdk::SdkCfn, rekey_deploy::sdk::SdkS3, rekey_deploy::sdk::SdkOrg> {
    Env {
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
            &env(session, account),
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
    let flags = DestroyOptions { force: true, delete_secrets };
    rekey_deploy::destroy(
        &env(session, account),
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
    let diffs = rekey_deploy::diff_all(&env(&session, &account), &stacks(&config, &fake_asset())).await.expect("diff");
    assert!(diffs.iter().all(|d| d.is_empty()), "{diffs:?}");

    // A threshold change: the diff names it, and only the rotation function's environment changes.
    let changed =
        Config::from_yaml_str("organization: {}\nlifecycle:\n  rotate_after_days: 60\n", None).expect("valid");
    let diffs = rekey_deploy::diff_all(&env(&session, &account), &stacks(&changed, &fake_asset())).await.expect("diff");
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
