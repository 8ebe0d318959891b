//! Synthesis figures: the templates alone (in process), a warm `rekey synth`
//! of the default config (the real binary, after one run that builds or
//! reuses the Lambda asset), the asset's size zipped and unzipped, and
//! `cdk synth` of a one-function CDK app in JavaScript measured in the same
//! run (aws-cdk-lib is installed into `.tools/cdk-app` on first use).

use crate::measure::median;
use rekey_e2e::tools::workspace_root;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Timed runs of each command (the median is reported).
const RUNS: usize = 5;

/// What the synthesis part measured.
#[derive(Clone, Debug, Default)]
pub struct SynthFigures {
    /// `rekey_stacks::synthesize` of the default config, median, ms.
    pub templates_ms: f64,
    /// Warm `rekey synth`, median, ms.
    pub warm_ms: Option<f64>,
    /// Its peak RSS, MiB (GNU time's maximum resident set size).
    pub warm_rss_mib: Option<f64>,
    /// Whether two warm runs wrote byte-identical assemblies.
    pub warm_identical: Option<bool>,
    /// The asset zip, bytes.
    pub asset_zipped: Option<u64>,
    /// The files inside it, bytes.
    pub asset_unzipped: Option<u64>,
    /// `cdk synth` of the one-function app, median, ms.
    pub cdk_ms: Option<f64>,
    /// Its peak RSS, MiB.
    pub cdk_rss_mib: Option<f64>,
    /// Why a figure is missing.
    pub notes: Vec<String>,
}

/// Median time of `synthesize` for the built-in default config.
pub fn templates_only() -> f64 {
    let config = rekey_config::Config::builtin_default();
    let asset = rekey_synth::asset::LambdaAsset { sha256: "0".repeat(64) };
    let mut samples: Vec<Duration> = (0..50)
        .map(|_| {
            let started = Instant::now();
            let stacks = rekey_stacks::synthesize(&config, &asset).expect("the default config synthesizes");
            std::hint::black_box(stacks);
            started.elapsed()
        })
        .collect();
    median(&mut samples).as_secs_f64() * 1000.0
}

/// Runs `command` under GNU time; returns wall time and peak RSS (MiB).
fn timed(command: Command) -> Result<(Duration, Option<f64>), String> {
    let rss_file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let program = command.get_program().to_os_string();
    let args: Vec<_> = command.get_args().map(|a| a.to_os_string()).collect();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-f").arg("%M").arg("-o").arg(rss_file.path()).arg(program).args(args);
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    let started = Instant::now();
    let output = wrapped.output().map_err(|e| format!("cannot run /usr/bin/time: {e}"))?;
    let wall = started.elapsed();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).chars().take(2000).collect());
    }
    let rss = std::fs::read_to_string(rss_file.path()).ok().and_then(|t| t.trim().lines().last()?.parse::<f64>().ok());
    Ok((wall, rss.map(|kib| kib / 1024.0)))
}

/// Median wall time and largest RSS of [`RUNS`] runs of what `make` builds.
fn repeated(make: impl Fn() -> Command) -> Result<(f64, Option<f64>), String> {
    let mut walls = Vec::new();
    let mut rss: Option<f64> = None;
    for _ in 0..RUNS {
        let (wall, peak) = timed(make())?;
        walls.push(wall);
        rss = match (rss, peak) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    Ok((median(&mut walls).as_secs_f64() * 1000.0, rss))
}

/// The `rekey` binary of the bench's own profile, built if needed.
fn rekey_binary() -> Result<PathBuf, String> {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "rekey", "--bin", "rekey"]).current_dir(workspace_root());
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the rekey binary failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(workspace_root().join("target"));
    Ok(target.join(profile).join("rekey"))
}

/// Warm `rekey synth` of the default config, and the asset it stages.
pub fn rekey_synth(figures: &mut SynthFigures) -> Result<(), String> {
    let rekey = rekey_binary()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let synth = |out: &str| {
        let mut command = Command::new(&rekey);
        command.args(["synth", "--out", out, "--output", "json"]).current_dir(dir.path());
        command.env_remove("REKEY_LAMBDA_PROFILE").env_remove("REKEY_CONFIG_FILE");
        command
    };
    eprintln!("bench: first `rekey synth` (builds the Lambda asset unless its cache is warm)");
    let first = synth("first").output().map_err(|e| e.to_string())?;
    if !first.status.success() {
        return Err(String::from_utf8_lossy(&first.stderr).chars().take(2000).collect());
    }
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).map_err(|e| e.to_string())?;
    let (ms, rss) = repeated(|| synth("warm"))?;
    figures.warm_ms = Some(ms);
    figures.warm_rss_mib = rss;
    figures.warm_identical = Some(tree(&dir.path().join("first")) == tree(&dir.path().join("warm")));
    let zip = dir.path().join("first").join(report["asset"]["file"].as_str().unwrap_or_default());
    let bytes = std::fs::read(&zip).map_err(|e| format!("{}: {e}", zip.display()))?;
    figures.asset_zipped = Some(bytes.len() as u64);
    let files = rekey_synth::asset::read_files(&bytes).map_err(|e| e.to_string())?;
    figures.asset_unzipped = Some(files.iter().map(|f| f.data.len() as u64).sum());
    Ok(())
}

/// Every file of `dir` with its bytes, sorted by path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(tree(&path));
        } else {
            files.push((
                path.strip_prefix(dir).unwrap_or(&path).to_path_buf(),
                std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    files.sort();
    files
}

/// The one-function CDK app: a `provided.al2023` function from a folder asset.
const CDK_APP: &str = r#"const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const app = new cdk.App();
const stack = new cdk.Stack(app, 'OneFunction');
new lambda.Function(stack, 'Fn', {
  runtime: lambda.Runtime.PROVIDED_AL2023,
  handler: 'bootstrap',
  code: lambda.Code.fromAsset(__dirname + '/asset'),
});
app.synth();
"#;

/// `.tools/cdk-app/node_modules`, with aws-cdk-lib installed on first use.
fn cdk_lib() -> Result<PathBuf, String> {
    let prefix = workspace_root().join(".tools").join("cdk-app");
    let modules = prefix.join("node_modules");
    if !modules.join("aws-cdk-lib").is_dir() {
        eprintln!("bench: installing aws-cdk-lib into {} (once)", prefix.display());
        std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .args(["aws-cdk-lib@2", "constructs@10"])
            .status()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !status.success() {
            return Err("npm install aws-cdk-lib failed".into());
        }
    }
    Ok(modules)
}

/// Warm `cdk synth` (after one untimed run) of [`CDK_APP`].
pub fn cdk_synth(figures: &mut SynthFigures) -> Result<(), String> {
    let cdk = workspace_root().join(".tools/cdk/node_modules/.bin/cdk");
    if !cdk.exists() {
        return Err(format!("`{}` is missing: run `scripts/install-tools cdk`", cdk.display()));
    }
    let modules = cdk_lib()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir.path().join("asset")).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("asset/bootstrap"), b"#!/bin/sh\n").map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("app.js"), CDK_APP).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("cdk.json"), r#"{"app": "node app.js"}"#).map_err(|e| e.to_string())?;
    let synth = || {
        let mut command = Command::new(&cdk);
        command.args(["synth", "--quiet", "--no-notices", "--no-version-reporting", "-o", "cdk.out"]);
        command.current_dir(dir.path()).env("NODE_PATH", &modules).env("CDK_DISABLE_CLI_TELEMETRY", "true");
        command
    };
    timed(synth())?;
    let (ms, rss) = repeated(synth)?;
    figures.cdk_ms = Some(ms);
    figures.cdk_rss_mib = rss;
    Ok(())
}
