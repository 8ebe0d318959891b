//! The synthesizer-only build of `rekey` (`--no-default-features`, the
//! README's first command `cargo run -p rekey --no-default-features --
//! synth`): it writes the same assembly as the full binary, keeps every verb
//! that needs no AWS SDK, and for a verb it leaves out says how to build it.
//!
//! The binary is built once per test run into `<target>/synth-only`, a
//! target directory of its own: building it into the shared one would
//! replace the full `rekey` the other tests run. Cold, it compiles only the
//! synthesizer's crates (no AWS SDK), about a minute on 2 cores.

use crate::common::{command_of, fixture_path, fixture_zip, rekey, tree, workspace, Run};
use pretty_assertions::assert_eq;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The verbs the synthesizer-only build leaves out: those that call AWS.
const AWS_VERBS: [&str; 5] = ["plan", "rotate", "deploy", "diff", "destroy"];

/// Builds `rekey --no-default-features` (once) and returns its path.
fn synth_only_rekey() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"))
            .join("synth-only");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .args(["build", "--quiet", "-p", "rekey", "--no-default-features", "--target-dir"])
            .arg(&target)
            .current_dir(workspace())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{cargo}`: {e}"));
        assert!(
            out.status.success(),
            "building the synth-only rekey failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug").join("rekey")
    })
}

fn synth_only(dir: &Path, args: &[&str]) -> Run {
    command_of(synth_only_rekey(), dir, args).output().expect("the synth-only rekey runs").into()
}

/// The verbs listed under `Commands:` in `rekey --help`.
fn verbs(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A verb's line is indented by two; a wrapped description by more.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|v| v != "help")
        .collect()
}

#[test]
fn the_synth_only_build_writes_the_same_assembly_as_the_full_one() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), false);
    let arm = fixture_zip(dir.path(), true);
    let all_options = fixture_path("all-options.yaml");
    let cases = [
        ("default", vec!["synth", "--lambda-zip", zip.to_str().unwrap()]),
        (
            "all-options",
            vec!["synth", "--config", all_options.to_str().unwrap(), "--lambda-zip", arm.to_str().unwrap()],
        ),
    ];
    for (name, args) in cases {
        let full_out = format!("{name}-full");
        let lean_out = format!("{name}-synth-only");
        let full = rekey(dir.path(), &[args.as_slice(), &["--out", &full_out]].concat());
        assert_eq!(full.code, 0, "{full:?}");
        let lean = synth_only(dir.path(), &[args.as_slice(), &["--out", &lean_out]].concat());
        assert_eq!(lean.code, 0, "{lean:?}");
        // Its hint names a command that has `deploy`.
        assert!(lean.stdout.contains("next: cargo run -p rekey -- deploy --app"), "{}", lean.stdout);
        assert!(full.stdout.contains("next: rekey deploy --app"), "{}", full.stdout);
        let full_tree = tree(&dir.path().join(&full_out));
        assert!(full_tree.keys().any(|k| k.ends_with(".template.json")), "{name}: {:?}", full_tree.keys());
        assert_eq!(full_tree, tree(&dir.path().join(&lean_out)), "{name}: the two builds' assemblies differ");
    }
}

#[test]
fn the_synth_only_build_keeps_every_other_verb_and_names_the_build_for_each_aws_verb() {
    let dir = tempfile::tempdir().unwrap();
    let full = rekey(dir.path(), &["--help"]);
    let lean = synth_only(dir.path(), &["--help"]);
    assert_eq!((full.code, lean.code), (0, 0), "{full:?}\n{lean:?}");
    let full_verbs = verbs(&full.stdout);
    let lean_verbs = verbs(&lean.stdout);
    let left_out: Vec<&str> =
        full_verbs.iter().map(String::as_str).filter(|v| !lean_verbs.iter().any(|l| l == v)).collect();
    assert_eq!(left_out, AWS_VERBS.to_vec(), "only the verbs that call AWS are left out");
    assert!(lean.stdout.contains("synthesizer's verbs only") && !full.stdout.contains("synthesizer's verbs only"));
    for verb in &lean_verbs {
        let help = synth_only(dir.path(), &[verb, "--help"]);
        assert_eq!(help.code, 0, "`{verb} --help`: {help:?}");
        assert!(help.stdout.contains("Exit codes"), "`{verb} --help`: {}", help.stdout);
    }
    for verb in AWS_VERBS {
        let run = synth_only(dir.path(), &[verb, "--config", "c.yaml"]);
        assert_eq!(run.code, 2, "`{verb}`: {run:?}");
        assert!(
            run.stderr.contains(&format!("`rekey {verb}` is not in this build"))
                && run.stderr.contains("cargo build -p rekey"),
            "`{verb}`: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "`{verb}` printed a result: {}", run.stdout);
    }
    let unknown = synth_only(dir.path(), &["frobnicate"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("unrecognized subcommand `frobnicate`"), "{}", unknown.stderr);
}
