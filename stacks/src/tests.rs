//! Security and wiring properties of the synthesized stacks, checked on the
//! JSON the templates serialize to (what CloudFormation sees).

use super::*;
use pretty_assertions::assert_eq;
use rekey_config::{Function, CONFIG_ENV};
use serde_json::Value;
use std::collections::BTreeSet;

fn asset() -> LambdaAsset {
    LambdaAsset { sha256: "0".repeat(64) }
}

fn all_options() -> Config {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/all-options.yaml");
    Config::load(&path).unwrap()
}

fn configs() -> Vec<Config> {
    vec![Config::builtin_default(), all_options(), Config::from_yaml_str("", None).unwrap()]
}

fn stack(config: &Config, id: StackId) -> Value {
    synthesize(config, &asset()).unwrap().into_iter().find(|s| s.id == id).unwrap().template.to_value()
}

/// Every resource of type `kind` in `template`, as (logical id, properties).
fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), &r["Properties"]))
        .collect()
}

/// Every action granted by a role's inline policies.
fn actions(role: &Value) -> Vec<String> {
    role["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn contains_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| contains_key(v, key)),
        Value::Array(items) => items.iter().any(|v| contains_key(v, key)),
        _ => false,
    }
}

#[test]
fn member_role_allows_no_forbidden_or_wildcard_action() {
    let forbidden = ["iam:PutUserPolicy", "iam:AttachUserPolicy", "iam:CreatePolicy", "iam:*", "iam:List*", "*"];
    for config in configs() {
        let template = stack(&config, StackId::MemberRole);
        let roles = resources(&template, "AWS::IAM::Role");
        assert_eq!(roles.len(), 1);
        for action in actions(roles[0].1) {
            assert!(!forbidden.contains(&action.as_str()), "forbidden action `{action}`");
            assert!(!action.contains('*'), "wildcard action `{action}`");
        }
    }
}

#[test]
fn member_role_grants_secrets_only_in_member_storage() {
    let default = stack(&Config::builtin_default(), StackId::MemberRole);
    assert!(actions(resources(&default, "AWS::IAM::Role")[0].1).contains(&"secretsmanager:CreateSecret".to_string()));
    let central = stack(&all_options(), StackId::MemberRole);
    assert!(actions(resources(&central, "AWS::IAM::Role")[0].1).iter().all(|a| !a.starts_with("secretsmanager:")));
    let inventory = stack(&all_options(), StackId::InventoryRole);
    let granted = actions(resources(&inventory, "AWS::IAM::Role")[0].1);
    assert!(granted.contains(&"secretsmanager:PutSecretValue".to_string()) && granted.contains(&"kms:Decrypt".into()));
}

#[test]
fn every_trust_policy_names_exactly_one_principal() {
    for config in configs() {
        for s in synthesize(&config, &asset()).unwrap() {
            let template = s.template.to_value();
            for (id, role) in resources(&template, "AWS::IAM::Role") {
                let statements = role["AssumeRolePolicyDocument"]["Statement"].as_array().unwrap();
                assert_eq!(statements.len(), 1, "{id}");
                let principal = statements[0]["Principal"].as_object().unwrap();
                assert_eq!(principal.len(), 1, "{id}");
                assert_eq!(principal.values().next().unwrap().as_array().unwrap().len(), 1, "{id}");
            }
        }
    }
}

#[test]
fn cross_account_trust_is_narrowed_to_the_execution_roles() {
    let template = stack(&Config::builtin_default(), StackId::MemberRole);
    let trust = &resources(&template, "AWS::IAM::Role")[0].1["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        serde_json::json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::${DeploymentAccountId}:role/rekey-rotation-fn"}])
    );
}

#[test]
fn no_managed_policy_is_attached_anywhere() {
    for config in configs() {
        for s in synthesize(&config, &asset()).unwrap() {
            assert!(!contains_key(&s.template.to_value(), "ManagedPolicyArns"), "{}", s.name);
        }
    }
}

#[test]
fn every_resource_name_comes_from_names() {
    for config in configs() {
        let names = config.names();
        let mut expected = BTreeSet::new();
        for f in Function::ALL {
            expected.insert(names.function(f));
            expected.insert(names.execution_role(f));
            expected.insert(format!("/aws/lambda/{}", names.function(f)));
        }
        for queue in [names.accounts_queue(), names.notifications_queue(), names.function(Function::Inventory)] {
            expected.insert(names.dead_letter_queue(&queue));
            expected.insert(queue);
        }
        expected.extend([names.member_role.clone(), names.inventory_role.clone(), names.exemption_group.clone()]);
        let mut seen = 0;
        for s in synthesize(&config, &asset()).unwrap() {
            assert_eq!(s.name, names.stack(s.id));
            let template = s.template.to_value();
            for resource in template["Resources"].as_object().unwrap().values() {
                for key in ["RoleName", "FunctionName", "QueueName", "GroupName", "LogGroupName"] {
                    if let Some(name) = resource["Properties"].get(key).filter(|_| {
                        resource["Type"] != "AWS::Lambda::EventSourceMapping"
                            && resource["Type"] != "AWS::Lambda::Permission"
                    }) {
                        let name = name.as_str().unwrap_or_else(|| panic!("{key} is not a literal: {name}"));
                        assert!(expected.contains(name), "`{name}` is not derived from Names");
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen >= 14, "only {seen} names checked");
    }
}

#[test]
fn every_checkov_suppression_gives_a_reason() {
    for config in configs() {
        for s in synthesize(&config, &asset()).unwrap() {
            for (id, resource) in &s.template.resources {
                for skip in resource.metadata.checkov.iter().flat_map(|c| &c.skip) {
                    assert!(skip.id.starts_with("CKV"), "{id}: {}", skip.id);
                    assert!(skip.comment.len() > 40, "{id}: {} needs a real reason", skip.id);
                }
            }
        }
    }
}

fn env(template: &Value, function: &str) -> serde_json::Map<String, Value> {
    template["Resources"][function]["Properties"]["Environment"]["Variables"].as_object().unwrap().clone()
}

#[test]
fn functions_read_their_config_view_with_the_runtime_loader() {
    let config = all_options();
    let template = stack(&config, StackId::Main);
    for f in Function::ALL {
        let vars = env(&template, &format!("{}Function", main_stack_prefix(f)));
        assert_eq!(vars[ENV_FUNCTION], f.name());
        let json = vars[CONFIG_ENV].as_str().unwrap();
        let loaded = Config::from_runtime_json(json, std::path::Path::new("/nonexistent")).unwrap();
        let (got, want) = (loaded.names(), config.names());
        assert_eq!(got.function(f), want.function(f));
        if f != Function::Notifier {
            // The notifier's view has no organization section: it assumes no role.
            assert_eq!((got.member_role, got.inventory_role), (want.member_role, want.inventory_role), "{f:?}");
        }
    }
    assert_eq!(
        env(&template, "InventoryFunction")[ENV_ACCOUNTS_QUEUE_URL],
        serde_json::json!({"Ref": "AccountsQueue"})
    );
    assert_eq!(
        env(&template, "RotationFunction")[ENV_NOTIFICATIONS_QUEUE_URL],
        serde_json::json!({"Ref": "NotificationsQueue"})
    );
}

fn main_stack_prefix(f: Function) -> &'static str {
    match f {
        Function::Inventory => "Inventory",
        Function::Rotation => "Rotation",
        Function::Notifier => "Notifier",
    }
}

#[test]
fn a_lifecycle_change_changes_only_the_rotation_function() {
    let default = Config::builtin_default();
    let mut file = default.file().clone();
    file.lifecycle.warn_before_days = 3;
    let changed = Config::validate(file).unwrap();
    let (a, b) = (stack(&default, StackId::Main), stack(&changed, StackId::Main));
    for f in Function::ALL {
        let id = format!("{}Function", main_stack_prefix(f));
        assert_eq!(a["Resources"][&id] == b["Resources"][&id], f != Function::Rotation, "{id}");
    }
}

#[test]
fn an_oversized_environment_is_an_error_naming_the_function() {
    let mut file = Config::builtin_default().file().clone();
    file.notifications.subject = "x".repeat(5000);
    let config = Config::validate(file).unwrap();
    let err = synthesize(&config, &asset()).unwrap_err();
    assert!(err.to_string().contains("function `rekey-rotation`"), "{err}");
    assert!(err.to_string().contains("4096"), "{err}");
}

#[test]
fn rotation_assumes_member_roles_only_inside_the_organization() {
    let template = stack(&all_options(), StackId::Main);
    let role =
        resources(&template, "AWS::IAM::Role").into_iter().find(|(id, _)| *id == "RotationExecutionRole").unwrap().1;
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"].as_array().unwrap();
    let assume = statements.iter().find(|s| s["Sid"] == "AssumeMemberRoles").unwrap();
    assert_eq!(assume["Resource"], serde_json::json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/KeyrotMember"}]));
    assert_eq!(assume["Condition"]["StringEquals"]["aws:ResourceOrgID"], "o-a1b2c3d4e5");
    // Central storage: the rotation function also assumes the inventory role.
    let central = statements.iter().find(|s| s["Sid"] == "AssumeCentralSecretStoreRole").unwrap();
    assert_eq!(
        central["Resource"],
        serde_json::json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::222222222222:role/KeyrotOrgReader"}])
    );
}

#[test]
fn vpc_functions_import_the_security_group_the_endpoints_stack_exports() {
    let config = all_options();
    let endpoints = stack(&config, StackId::VpcEndpoints);
    let export = &endpoints["Outputs"]["FunctionsSecurityGroupId"]["Export"]["Name"];
    let main = stack(&config, StackId::Main);
    for f in Function::ALL {
        let vpc = &main["Resources"][format!("{}Function", main_stack_prefix(f))]["Properties"]["VpcConfig"];
        assert_eq!(vpc["SecurityGroupIds"], serde_json::json!([{"Fn::ImportValue": export}]));
        assert_eq!(vpc["SubnetIds"].as_array().unwrap().len(), 2);
    }
    let interface = resources(&endpoints, "AWS::EC2::VPCEndpoint");
    assert_eq!(interface.len(), 6);
    let s3 = interface.iter().find(|(id, _)| *id == "S3Endpoint").unwrap().1;
    assert_eq!(s3["VpcEndpointType"], "Gateway");
    assert_eq!(s3["RouteTableIds"].as_array().unwrap().len(), 2);
    // The functions' group allows only HTTPS out.
    let groups = resources(&endpoints, "AWS::EC2::SecurityGroup");
    let functions = groups.iter().find(|(id, _)| *id == "FunctionsSecurityGroup").unwrap().1;
    assert_eq!(functions["SecurityGroupEgress"].as_array().unwrap().len(), 1);
    assert_eq!(functions["SecurityGroupEgress"][0]["FromPort"], 443);
    assert!(functions.get("SecurityGroupIngress").is_none());
}

#[test]
fn queues_have_dead_letter_queues_with_alarms_and_the_rotation_mapping_is_bounded() {
    let config = Config::builtin_default();
    let template = stack(&config, StackId::Main);
    let queues = resources(&template, "AWS::SQS::Queue");
    assert_eq!(queues.len(), 5);
    assert!(queues.iter().all(|(_, q)| q["SqsManagedSseEnabled"] == true));
    assert_eq!(resources(&template, "AWS::CloudWatch::Alarm").len(), 3);
    let accounts = queues.iter().find(|(id, _)| *id == "AccountsQueue").unwrap().1;
    assert!(accounts["VisibilityTimeout"].as_u64().unwrap() >= u64::from(config.lambda.timeout_seconds));
    assert_eq!(accounts["RedrivePolicy"]["maxReceiveCount"], 3);
    let mapping = &template["Resources"]["RotationEventSourceMapping"]["Properties"];
    assert_eq!(mapping["ScalingConfig"]["MaximumConcurrency"], config.lambda.rotation_max_concurrency);
    assert_eq!(mapping["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]));
    assert_eq!(mapping["BatchSize"], 1);
}

#[test]
fn yaml_copies_carry_the_same_template_without_tags() {
    for config in configs() {
        for s in synthesize(&config, &asset()).unwrap() {
            let yaml = s.template.to_yaml();
            let parsed: Value = rekey_config::yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(parsed, s.template.to_value(), "{}", s.name);
        }
    }
}

#[test]
fn inventory_role_only_reads_the_organization_unless_secrets_are_central() {
    let template = stack(&Config::builtin_default(), StackId::InventoryRole);
    let granted = actions(resources(&template, "AWS::IAM::Role")[0].1);
    assert_eq!(granted.len(), 3);
    assert!(granted.iter().all(|a| a.starts_with("organizations:List") || a.starts_with("organizations:Describe")));
}

#[test]
fn single_account_mode_assumes_only_the_local_member_role_and_no_vpc_permissions() {
    let template = stack(&Config::from_yaml_str("", None).unwrap(), StackId::Main);
    let roles = resources(&template, "AWS::IAM::Role");
    let rotation = roles.iter().find(|(id, _)| *id == "RotationExecutionRole").unwrap().1;
    let statements = rotation["Policies"][0]["PolicyDocument"]["Statement"].as_array().unwrap();
    let assume: Vec<_> = statements.iter().filter(|s| s["Action"][0] == "sts:AssumeRole").collect();
    assert_eq!(assume.len(), 1);
    assert_eq!(
        assume[0]["Resource"],
        serde_json::json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/rekey-member"}])
    );
    let inventory = roles.iter().find(|(id, _)| *id == "InventoryExecutionRole").unwrap().1;
    assert!(!actions(inventory).contains(&"sts:AssumeRole".to_string()), "no inventory role to assume");
    for (id, role) in roles {
        assert!(actions(role).iter().all(|a| !a.starts_with("ec2:")), "{id}: ENI actions only in VPC mode");
    }
}

/// Security Hub and EventBridge permissions exist only when their
/// integration is on, and reach only the account's own findings and the
/// configured bus.
#[test]
fn integration_permissions_only_when_on_and_only_on_their_resources() {
    let statements = |role: &Value| -> Vec<Value> {
        role["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
            .collect()
    };
    let granting = |template: &Value, prefix: &str| -> Vec<Value> {
        resources(template, "AWS::IAM::Role")
            .into_iter()
            .flat_map(|(_, role)| statements(role))
            .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with(prefix)))
            .collect()
    };
    for config in configs().into_iter().filter(|c| c.integrations.is_off()) {
        for id in [StackId::Main, StackId::MemberRole] {
            let t = stack(&config, id);
            assert!(granting(&t, "securityhub:").is_empty() && granting(&t, "events:").is_empty(), "{id:?}");
        }
    }
    // The all-options config turns both on, with a bus ARN in another account.
    let all = all_options();
    let bus = granting(&stack(&all, StackId::Main), "events:");
    assert_eq!(serde_json::to_string(&bus).unwrap().matches("event-bus/security").count(), 1, "{bus:?}");
    assert_eq!(granting(&stack(&all, StackId::MemberRole), "securityhub:").len(), 2);
    let on = Config::from_yaml_str(
        "integrations:\n  security_hub: { enabled: true, region: eu-west-1 }\n  event_bus: rekey-events\n",
        None,
    )
    .unwrap();
    let hub = granting(&stack(&on, StackId::MemberRole), "securityhub:");
    let hub_json = serde_json::to_string(&hub).unwrap();
    assert_eq!(hub.len(), 2, "{hub_json}");
    assert!(hub_json.contains("securityhub:eu-west-1:${AWS::AccountId}:product/${AWS::AccountId}/default"));
    assert!(hub_json.contains("securityhub:eu-west-1:${AWS::AccountId}:hub/default"));
    assert!(granting(&stack(&on, StackId::Main), "securityhub:").is_empty(), "findings are imported by members");
    let events = granting(&stack(&on, StackId::Main), "events:");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Action"], serde_json::json!(["events:PutEvents"]));
    assert!(serde_json::to_string(&events[0]["Resource"]).unwrap().contains(":event-bus/rekey-events"));
}
