//! Benchmark of the templates-only synthesis: YAML config -> validated
//! config -> every stack -> JSON and YAML template text -> the assembly's
//! files in memory (no Lambda build, no disk). Prints milliseconds per synth
//! and the ratio to `cdk synth` of a one-function CDK app (about 5.5 s on a
//! 2-core machine), and exits 1 when below the 200x goal.
//!
//! Run: `cargo bench -p rekey-synth --bench synth`

use rekey_config::Config;
use rekey_synth::assembly::{self, Assembly, AssemblyStack, Environment, Publishing};
use rekey_synth::asset::{asset_files, pack};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// `cdk synth` of a one-function TypeScript app, measured on a 2-core machine.
const CDK_SYNTH_BASELINE_MS: f64 = 5500.0;
/// The goal: at least this many times faster than the baseline.
const GOAL_RATIO: f64 = 200.0;

const ALL_OPTIONS: &str = "
deployment: {name_prefix: keyrot, region: eu-west-1, account_id: '111111111111', tags: {team: security}}
organization:
  management_account_id: '222222222222'
  organization_id: o-a1b2c3d4e5
  target_ou_ids: [ou-ab12-cd34ef56]
  include_management_account: true
mode: enforce
secrets:
  storage: central
  kms_key_arn: arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab
  replica_regions: [eu-central-1]
notifications: {sender: rekey@example.com, admin_recipients: [security@example.com], owner_tag_key: owner}
vpc:
  enabled: true
  vpc_id: vpc-0a1b2c3d4e5f67890
  subnet_ids: [subnet-0a1b2c3d4e5f67890, subnet-1a1b2c3d4e5f67890]
  route_table_ids: [rtb-0a1b2c3d4e5f67890]
lambda: {architecture: arm64}
";

/// One full templates-only synthesis; returns the total bytes produced.
fn synth_once(yaml: &str, packaged: &rekey_synth::asset::PackagedAsset) -> usize {
    let config = Config::from_yaml_str(yaml, None).expect("bench config is valid");
    let stacks = rekey_stacks::synthesize(&config, &packaged.asset).expect("stacks synthesize");
    let assembly = Assembly {
        stacks: stacks
            .iter()
            .map(|s| AssemblyStack {
                name: s.name.clone(),
                environment: Environment { account: None, region: config.deployment.region.to_string() },
                template_json: s.template.to_json(),
                template_yaml: s.template.to_yaml(),
                dependencies: Vec::new(),
                uses_lambda_asset: s.id == rekey_config::StackId::Main,
            })
            .collect(),
        lambda_asset: Some(packaged.clone()),
        publishing: Publishing::Bootstrap { qualifier: config.deployment.bootstrap_qualifier.clone() },
        tags: config.deployment.tags.clone(),
        config_json: Some(assembly::config_json(&config)),
    };
    assembly::render(&assembly).expect("assembly renders").iter().map(|(_, bytes)| bytes.len()).sum()
}

fn measure(name: &str, yaml: &str, packaged: &rekey_synth::asset::PackagedAsset) -> f64 {
    for _ in 0..20 {
        black_box(synth_once(yaml, packaged));
    }
    let budget = Duration::from_secs(2);
    let start = Instant::now();
    let mut iterations = 0u32;
    let mut bytes = 0;
    while iterations < 200 || (start.elapsed() < budget && iterations < 20_000) {
        bytes = black_box(synth_once(yaml, packaged));
        iterations += 1;
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations);
    println!(
        "{name:12} {ms:8.3} ms per synth ({iterations} iterations, {bytes} bytes of assembly), {:.0}x faster than `cdk synth` ({CDK_SYNTH_BASELINE_MS:.0} ms)",
        CDK_SYNTH_BASELINE_MS / ms
    );
    ms
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let packaged = pack(&asset_files(b"bootstrap stand-in".to_vec(), &Default::default())).expect("zip packs");
    let default_ms = measure("default", rekey_config::DEFAULT_CONFIG_YAML, &packaged);
    let all_ms = measure("all-options", ALL_OPTIONS, &packaged);
    let ratio = CDK_SYNTH_BASELINE_MS / default_ms.max(all_ms);
    if ratio < GOAL_RATIO {
        eprintln!("below the goal: {ratio:.0}x < {GOAL_RATIO:.0}x");
        std::process::exit(1);
    }
    println!("goal met: {ratio:.0}x >= {GOAL_RATIO:.0}x (slowest config)");
}
