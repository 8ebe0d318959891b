//! Snapshots of every synthesized stack (pretty JSON, exactly the template
//! files) for the built-in default config and the all-options fixture.
//! Review a changed `.snap` like code: it is the deployed infrastructure.

use rekey_config::{Config, StackId};
use rekey_stacks::{synthesize, DeployTarget};
use rekey_synth::asset::LambdaAsset;
use std::path::PathBuf;

fn asset() -> LambdaAsset {
    LambdaAsset { sha256: "0".repeat(64) }
}

fn all_options() -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/all-options.yaml");
    Config::load(&path).expect("the all-options fixture is valid")
}

fn snapshot_all(label: &str, config: &Config) -> Vec<StackId> {
    let stacks = synthesize(config, &asset()).expect("config synthesizes");
    for stack in &stacks {
        insta::assert_snapshot!(format!("{label}__{}", stack.id.suffix()), stack.template.to_json());
    }
    stacks.iter().map(|s| s.id).collect()
}

#[test]
fn default_config_stacks() {
    let ids = snapshot_all("default", &Config::builtin_default());
    assert_eq!(ids, [StackId::InventoryRole, StackId::MemberRole, StackId::Main], "no VPC stack by default");
}

#[test]
fn all_options_stacks() {
    let ids = snapshot_all("all-options", &all_options());
    assert_eq!(ids, StackId::ALL, "every stack, in deployment order");
}

#[test]
fn stack_names_and_targets_follow_the_config() {
    let stacks = synthesize(&all_options(), &asset()).unwrap();
    let summary: Vec<_> = stacks.iter().map(|s| (s.name.as_str(), s.target)).collect();
    assert_eq!(
        summary,
        [
            ("keyrot-vpc-endpoints", DeployTarget::DeploymentAccount),
            ("keyrot-inventory-role", DeployTarget::ManagementAccount),
            ("keyrot-member-role", DeployTarget::MemberAccountsStackSet),
            ("keyrot-main", DeployTarget::DeploymentAccount),
        ]
    );
    assert!(stacks.iter().all(|s| s.description == s.template.description));

    // Single-account mode: no inventory role, the member role goes to the deployment account.
    let single = Config::from_yaml_str("", None).unwrap();
    let stacks = synthesize(&single, &asset()).unwrap();
    let summary: Vec<_> = stacks.iter().map(|s| (s.id, s.target)).collect();
    assert_eq!(
        summary,
        [(StackId::MemberRole, DeployTarget::DeploymentAccount), (StackId::Main, DeployTarget::DeploymentAccount)]
    );
    insta::assert_snapshot!("single-account__main", stacks[1].template.to_json());
}

#[test]
fn synthesis_is_deterministic() {
    for config in [Config::builtin_default(), all_options()] {
        let a: Vec<_> = synthesize(&config, &asset()).unwrap().iter().map(|s| s.template.to_json()).collect();
        let b: Vec<_> = synthesize(&config, &asset()).unwrap().iter().map(|s| s.template.to_json()).collect();
        assert_eq!(a, b);
    }
}
