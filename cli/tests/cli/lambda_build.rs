//! The real Lambda build (`cargo zigbuild`, glibc 2.17 target) for both
//! architectures, through `rekey synth` itself: the staged `bootstrap` has
//! the right ELF machine type, needs no glibc symbol newer than 2.34
//! (`provided.al2023`), and a rebuild with no change gives the same hash.
//!
//! Cost: these are the suite's slowest tests. Both use the `lambda-test`
//! profile: the same toolchain, target and glibc pin as the shipping `lambda`
//! profile without optimisation, since the ELF machine, glibc and
//! reproducibility checks do not depend on it. Measured cold on this 2-core
//! machine while other builds ran: `lambda` x86_64 about 27 min, `lambda-test`
//! arm64 about 10.5 min (idle, an optimised build of this SDK set was
//! measured at about 8 min and an unoptimised one at about 3.4 min), so the
//! optimised build alone would take a quarter of CI's 30-minute budget. Both
//! share `target/rekey-lambda` (cargo's lock runs them one after the other).
//! The `lambda` profile itself is exercised by `cargo run -p rekey -- synth`.

use crate::common::{entries, json, rekey_command, Run};
use pretty_assertions::assert_eq;
use rekey_synth::asset::read_files;
use rekey_synth::elf::{inspect, GlibcVersion, Machine, AL2023_GLIBC};
use std::path::Path;

/// Synthesizes with a real build into `dir/out` and returns the report and the bootstrap bytes.
fn synth_with_build(dir: &Path, out: &str, profile: Option<&str>) -> (serde_json::Value, Vec<u8>) {
    let mut command = rekey_command(dir, &["synth", "--config", "c.yaml", "--out", out, "--output", "json"]);
    if let Some(profile) = profile {
        command.args(["--lambda-profile", profile]);
    }
    let run: Run = command.output().expect("rekey runs").into();
    assert_eq!(run.code, 0, "synth with a real build failed:\n{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let asset = dir.join(out).join(report["asset"]["file"].as_str().unwrap());
    let files = read_files(&std::fs::read(asset).unwrap()).unwrap();
    assert_eq!(files[0].name, "bootstrap");
    assert_eq!(files[0].mode & 0o777, 0o755);
    (report, files[0].data.clone())
}

fn check_build(architecture: &str, profile: Option<&str>, machine: Machine) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), format!("lambda:\n  architecture: {architecture}\n")).unwrap();
    let (first, bootstrap) = synth_with_build(dir.path(), "first", profile);

    let info = inspect(&bootstrap).unwrap();
    assert_eq!(info.machine, machine);
    let newest = info.max_glibc().expect("a glibc-linked binary");
    assert!(newest <= AL2023_GLIBC, "needs {newest}, provided.al2023 has {AL2023_GLIBC}");
    // The `.2.17` target suffix pins the symbols, whatever the host's glibc.
    assert!(newest <= GlibcVersion { major: 2, minor: 17 }, "needs {newest}: the zig glibc pin did not apply");

    // No change: the same binary, the same zip, the same hash and assembly.
    let (second, _) = synth_with_build(dir.path(), "second", profile);
    assert_eq!(first["asset"]["sha256"], second["asset"]["sha256"]);
    assert_eq!(entries(&dir.path().join("first")), entries(&dir.path().join("second")));
    let manifest = json(&dir.path().join("first").join("manifest.json"));
    assert_eq!(manifest, json(&dir.path().join("second").join("manifest.json")));
}

#[test]
fn x86_64_build_runs_on_provided_al2023_and_is_reproducible() {
    check_build("x86_64", Some("lambda-test"), Machine::X86_64);
}

#[test]
fn arm64_build_runs_on_provided_al2023_and_is_reproducible() {
    check_build("arm64", Some("lambda-test"), Machine::Aarch64);
}
