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
