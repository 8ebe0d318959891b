//! The AWS CDK CLI (npm `aws-cdk`, installed by `scripts/install-tools`)
//! reads the assembly: `cdk ls` lists the stacks and `cdk synth` prints a
//! template from it, offline.

use crate::common::{fixture_path, fixture_zip, rekey, tool};
use pretty_assertions::assert_eq;
use std::path::Path;
use std::process::Command;

fn cdk(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(tool("cdk/node_modules/.bin/cdk"))
        .args(args)
        .args(["--no-notices", "--ci"])
        .current_dir(dir)
        // Offline and quiet: no version check, no telemetry, no notices.
        .env("CDK_DISABLE_VERSION_CHECK", "1")
        .env("CDK_DISABLE_CLI_TELEMETRY", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("cdk runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn cdk_ls_lists_every_stack_and_cdk_synth_reads_a_template() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), true);
    let config = fixture_path("all-options.yaml");
    let run = rekey(
        dir.path(),
        &["synth", "--config", config.to_str().unwrap(), "--lambda-zip", zip.to_str().unwrap(), "--out", "assembly"],
    );
    assert_eq!(run.code, 0, "{run:?}");

    let (code, stdout, stderr) = cdk(dir.path(), &["ls", "--app", "assembly"]);
    assert_eq!(code, 0, "cdk ls failed:\n{stdout}\n{stderr}");
    let listed: Vec<&str> = stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(
        listed,
        ["keyrot-vpc-endpoints", "keyrot-inventory-role", "keyrot-member-role", "keyrot-main"],
        "{stderr}"
    );

    let (code, stdout, stderr) = cdk(dir.path(), &["synth", "--app", "assembly", "keyrot-main"]);
    assert_eq!(code, 0, "cdk synth failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("AWS::Lambda::Function"), "cdk synth printed no template:\n{stdout}\n{stderr}");
}

#[test]
fn cdk_ls_reads_the_default_assembly() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), false);
    assert_eq!(rekey(dir.path(), &["synth", "--lambda-zip", zip.to_str().unwrap()]).code, 0);
    let (code, stdout, stderr) = cdk(dir.path(), &["ls", "--app", "cdk.out"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let listed: Vec<&str> = stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(listed, ["rekey-inventory-role", "rekey-member-role", "rekey-main"]);
}
