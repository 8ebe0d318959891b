//! Helpers shared by the CLI tests: running `rekey`, fixture zips, reading trees.

use rekey_synth::asset::{asset_files, pack};
use rekey_synth::elf::fixture;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (for `.tools/` and fixtures).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A fixture file of this crate's tests.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name)
}

/// The result of one `rekey` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().expect("rekey exited normally"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// `rekey ARGS` in `dir`, with no inherited Lambda-build settings.
pub fn rekey(dir: &Path, args: &[&str]) -> Run {
    rekey_command(dir, args).output().expect("rekey runs").into()
}

/// The command, for tests that add environment variables.
pub fn rekey_command(dir: &Path, args: &[&str]) -> Command {
    command_of(Path::new(env!("CARGO_BIN_EXE_rekey")), dir, args)
}

/// `binary ARGS` in `dir` (a `rekey` built some other way), with no
/// inherited Lambda-build settings.
pub fn command_of(binary: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("REKEY_LAMBDA_PROFILE")
        .env_remove("RUST_LOG")
        .env_remove("REKEY_CONFIG_FILE");
    command
}

/// Writes a prebuilt Lambda zip holding a synthetic x86_64 (or aarch64)
/// `bootstrap` ELF, and returns its path.
pub fn fixture_zip(dir: &Path, arm64: bool) -> PathBuf {
    let elf = if arm64 { fixture::aarch64_bootstrap() } else { fixture::x86_64_bootstrap() };
    let path = dir.join(if arm64 { "lambda-arm64.zip" } else { "lambda-x86_64.zip" });
    std::fs::write(&path, pack(&asset_files(elf, &Default::default())).unwrap().zip).unwrap();
    path
}

/// Every file under `dir` (relative path -> bytes).
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Names directly inside `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Parses a JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// A tool installed by `scripts/install-tools`; fails with the fix when missing.
pub fn tool(relative: &str) -> PathBuf {
    let path = workspace().join(".tools").join(relative);
    assert!(path.exists(), "`{}` is missing: run `scripts/install-tools` first", path.display());
    path
}
