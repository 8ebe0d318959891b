//! The real linters on every synthesized template: cfn-lint with no error and
//! no warning, and checkov with no failed check (suppressions live only in
//! the templates' resource metadata, each with its reason), for the built-in
//! default config, the all-options fixture and single-account mode.

use rekey_config::Config;
use rekey_e2e::tools::{fixture, tool};
use rekey_synth::asset::LambdaAsset;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes every stack of `config` as JSON and YAML into `dir`; returns (json files, yaml files).
fn write_templates(config: &Config, dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let asset = LambdaAsset { sha256: "0".repeat(64) };
    let stacks = rekey_stacks::synthesize(config, &asset).expect("config synthesizes");
    let (mut json, mut yaml) = (Vec::new(), Vec::new());
    for stack in stacks {
        let base = dir.join(&stack.name);
        let (j, y) = (base.with_extension("template.json"), base.with_extension("template.yaml"));
        std::fs::write(&j, stack.template.to_json()).unwrap();
        std::fs::write(&y, stack.template.to_yaml()).unwrap();
        json.push(j);
        yaml.push(y);
    }
    (json, yaml)
}

fn configs() -> Vec<(&'static str, Config)> {
    let all = Config::load(&fixture("all-options.yaml")).expect("the all-options fixture is valid");
    let single = Config::from_yaml_str("", None).expect("an empty config is valid");
    // Security Hub and EventBridge on, so the linters see their permissions
    // (a bus by name in organization scope, by ARN in single-account scope).
    let integrations =
        "integrations:\n  security_hub: { enabled: true, region: eu-west-1 }\n  event_bus: rekey-events\n";
    let org_integrations = Config::from_yaml_str(&format!("scope: organization\n{integrations}"), None).unwrap();
    let bus_arn = "integrations:\n  security_hub: { enabled: true }\n  \
                   event_bus: arn:aws:events:us-east-1:123456789012:event-bus/security\n";
    let single_integrations = Config::from_yaml_str(&format!("scope: account\n{bus_arn}"), None).unwrap();
    vec![
        ("default", Config::builtin_default()),
        ("all-options", all),
        ("single-account", single),
        ("integrations", org_integrations),
        ("single-account-integrations", single_integrations),
    ]
}

fn run(command: &mut Command) -> (bool, String) {
    let out = command.output().unwrap_or_else(|e| panic!("cannot run `{command:?}`: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn cfn_lint_reports_no_error_and_no_warning() {
    let cfn_lint = tool("lint/bin/cfn-lint");
    for (label, config) in configs() {
        let dir = tempfile::tempdir().unwrap();
        let (json, yaml) = write_templates(&config, dir.path());
        let (ok, output) = run(Command::new(&cfn_lint)
            .args(["--format", "parseable", "--regions", config.deployment.region.as_str(), "--"])
            .args(json.iter().chain(&yaml)));
        assert!(ok && output.trim().is_empty(), "cfn-lint findings for the {label} config:\n{output}");
    }
}

#[test]
fn checkov_reports_no_failed_check() {
    let checkov = tool("lint/bin/checkov");
    for (label, config) in configs() {
        let dir = tempfile::tempdir().unwrap();
        let (json, _) = write_templates(&config, dir.path());
        let mut command = Command::new(&checkov);
        for file in &json {
            command.arg("-f").arg(file);
        }
        command.args(["--framework", "cloudformation", "--compact", "--skip-download", "--quiet"]);
        let (ok, output) = run(&mut command);
        assert!(ok && output.contains("Failed checks: 0,"), "checkov failed checks for the {label} config:\n{output}");
        // The checks really ran (a wrong framework or path passes vacuously).
        assert!(!output.contains("Passed checks: 0,"), "checkov checked nothing for the {label} config:\n{output}");
    }
}
