//! Architecture invariants from ARCHITECTURE.md, checked as ordinary tests
//! (in the spirit of rust-analyzer's `tidy`): dependency direction, module
//! docs, and no unordered maps where output must be deterministic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Normal (non-dev, non-build) dependency closure of a workspace package on
/// this host, by crate name (`cargo tree` resolves only this platform, so it
/// works offline).
fn normal_dependency_closure(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn synthesis_crates_never_depend_on_aws_sdk_tokio_or_network() {
    for package in ["rekey-config", "rekey-synth", "rekey-stacks"] {
        let closure = normal_dependency_closure(package);
        let forbidden: Vec<_> = closure
            .iter()
            .filter(|name| {
                name.starts_with("aws-")
                    || name.starts_with("aws_")
                    || *name == "tokio"
                    || *name == "hyper"
                    || *name == "reqwest"
            })
            .collect();
        assert!(forbidden.is_empty(), "{package} must stay pure, but depends on {forbidden:?}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !["target", ".tools", "cdk.out", ".git", "node_modules"].contains(&name.as_str()) {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_opens_with_a_doc_line() {
    let mut files = Vec::new();
    for dir in ["config", "synth", "stacks", "runtime", "cli", "tests", "deploy"] {
        let dir = workspace_root().join(dir);
        if dir.exists() {
            rust_files(&dir, &mut files);
        }
    }
    let undocumented: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.strip_prefix(workspace_root()).unwrap().display().to_string())
        .collect();
    assert!(undocumented.is_empty(), "modules without a `//!` opening line: {undocumented:?}");
}

/// The runtime's core (the pure planner, the rotation protocol, the
/// inventory, the digests, the run ledger) talks to AWS only through its
/// ports; building real clients and adapters is wiring, done in `handlers/`
/// and `run.rs`, and adapters live in `aws/`.
#[test]
fn the_runtime_core_never_names_the_aws_adapters() {
    let mut files = Vec::new();
    for dir in ["lifecycle", "rotation", "inventory", "notify", "ledger", "integrations"] {
        rust_files(&workspace_root().join("runtime/src").join(dir), &mut files);
    }
    for file in ["lifecycle.rs", "rotation.rs", "inventory.rs", "notify.rs", "ledger.rs", "integrations.rs"] {
        let path = workspace_root().join("runtime/src").join(file);
        if path.exists() {
            files.push(path);
        }
    }
    assert!(files.len() > 10, "the core's files were found: {files:?}");
    let offenders = lines_naming(&files, "crate::aws");
    assert!(offenders.is_empty(), "the core names `crate::aws`: {offenders:#?}");
}

/// The non-comment lines of `files` that contain `needle`, as `path:line: text`.
fn lines_naming(files: &[PathBuf], needle: &str) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let name = f.strip_prefix(workspace_root()).unwrap().display().to_string();
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with("//") && l.contains(needle))
                .map(|(i, l)| format!("{name}:{}: {}", i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The Lambda handlers and the in-process run (`rekey plan` / `rotate`) are two
/// transports of one flow: both get their real dependencies from `wiring.rs`
/// and neither imports the other, nor does the run name an adapter.
#[test]
fn handlers_and_the_in_process_run_share_the_wiring_and_never_import_each_other() {
    let src = workspace_root().join("runtime/src");
    let mut handlers = Vec::new();
    rust_files(&src.join("handlers"), &mut handlers);
    let mut run = vec![src.join("run.rs")];
    rust_files(&src.join("run"), &mut run);
    assert!(handlers.len() >= 4, "the handlers were found: {handlers:?}");
    let handlers_naming_run = lines_naming(&handlers, "crate::run");
    assert!(handlers_naming_run.is_empty(), "handlers import the run: {handlers_naming_run:#?}");
    let run_naming_handlers = lines_naming(&run, "crate::handlers");
    assert!(run_naming_handlers.is_empty(), "the run imports the handlers: {run_naming_handlers:#?}");
    let run_naming_aws = lines_naming(&run, "crate::aws");
    assert!(run_naming_aws.is_empty(), "the run builds adapters itself instead of `wiring`: {run_naming_aws:#?}");
    let wiring = std::fs::read_to_string(src.join("wiring.rs")).unwrap();
    assert!(wiring.contains("pub struct CoreRotator") && wiring.contains("pub async fn organization_directory"));
}

#[test]
fn serialized_output_never_uses_hash_maps() {
    let mut files = Vec::new();
    for dir in ["config/src", "synth/src", "stacks/src"] {
        rust_files(&workspace_root().join(dir), &mut files);
    }
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("HashMap"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "HashMap in deterministic-output code: {offenders:?}");
}

/// The SDK operations an adapter file calls (`.client.some_operation()`), as
/// IAM actions (`prefix:SomeOperation`).
fn actions_called_by(adapter: &str, prefix: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace_root().join(adapter)).expect("adapter exists");
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(".client") {
        rest = &rest[at + ".client".len()..];
        let call = rest.trim_start();
        if let Some(call) = call.strip_prefix('.') {
            let name: String = call.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if call[name.len()..].starts_with("()") {
                let pascal: String = name.split('_').map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect();
                out.insert(format!("{prefix}:{pascal}"));
            }
        }
    }
    out
}

/// Every action a stack's roles allow for `prefix`.
fn actions_granted(template: &serde_json::Value, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for resource in template["Resources"].as_object().unwrap().values() {
        for policy in resource["Properties"]["Policies"].as_array().into_iter().flatten() {
            for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                for action in statement["Action"].as_array().unwrap() {
                    let action = action.as_str().unwrap();
                    if action.starts_with(&format!("{prefix}:")) {
                        out.insert(action.to_string());
                    }
                }
            }
        }
    }
    out
}

/// "Its policy allows only what the runtime calls": the member and inventory
/// roles grant exactly the IAM, Secrets Manager and Organizations operations
/// the runtime's adapters call, no more and no fewer.
#[test]
fn cross_account_roles_allow_exactly_what_the_adapters_call() {
    let config = rekey_config::Config::builtin_default();
    let asset = rekey_synth::asset::LambdaAsset { sha256: "0".repeat(64) };
    let stacks = rekey_stacks::synthesize(&config, &asset).expect("default config synthesizes");
    let template = |id: rekey_config::StackId| -> serde_json::Value {
        let stack = stacks.iter().find(|s| s.id == id).expect("stack present");
        serde_json::from_str(&stack.template.to_json()).expect("template is JSON")
    };
    let member = template(rekey_config::StackId::MemberRole);
    let inventory = template(rekey_config::StackId::InventoryRole);
    for (granted, adapter, prefix) in [
        (&member, "runtime/src/aws/iam.rs", "iam"),
        (&member, "runtime/src/aws/secrets.rs", "secretsmanager"),
        (&inventory, "runtime/src/aws/orgs.rs", "organizations"),
    ] {
        let called = actions_called_by(adapter, prefix);
        assert!(!called.is_empty(), "no `{prefix}` calls found in {adapter}");
        assert_eq!(actions_granted(granted, prefix), called, "`{prefix}` actions granted vs called by {adapter}");
    }
}

/// The functions' execution roles grant exactly the DynamoDB operations the
/// run ledger adapter calls, on the ledger table only. `TransactWriteItems`
/// has no IAM action of its own: it is authorized as the `PutItem` and
/// `UpdateItem` it carries.
#[test]
fn execution_roles_allow_exactly_the_ledger_calls_on_the_ledger_table() {
    let config = rekey_config::Config::builtin_default();
    let asset = rekey_synth::asset::LambdaAsset { sha256: "0".repeat(64) };
    let stacks = rekey_stacks::synthesize(&config, &asset).expect("default config synthesizes");
    let main = stacks.iter().find(|s| s.id == rekey_config::StackId::Main).expect("main stack");
    let main: serde_json::Value = serde_json::from_str(&main.template.to_json()).unwrap();
    let mut called = actions_called_by("runtime/src/aws/dynamodb.rs", "dynamodb");
    assert!(called.remove("dynamodb:TransactWriteItems"), "the ledger records reports in a transaction");
    called.extend(["dynamodb:PutItem".to_string(), "dynamodb:UpdateItem".to_string()]);
    assert_eq!(actions_granted(&main, "dynamodb"), called);
    for resource in main["Resources"].as_object().unwrap().values() {
        for policy in resource["Properties"]["Policies"].as_array().into_iter().flatten() {
            for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                let dynamo = statement["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a.as_str().unwrap().starts_with("dynamodb:"));
                if dynamo {
                    assert_eq!(statement["Resource"], serde_json::json!([{"Fn::GetAtt": ["RunLedgerTable", "Arn"]}]));
                }
            }
        }
    }
}
