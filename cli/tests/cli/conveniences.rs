//! The CDK CLI habits: `ls --app`/`-a`, `-f` for `--force`, shell completions and the man page generated from the
//! clap definitions.

use crate::common::{fixture_zip, rekey};
use pretty_assertions::assert_eq;

#[test]
fn ls_lists_the_stacks_of_an_assembly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conf.yaml"), "deployment:\n  name_prefix: asm\norganization: {}\n").unwrap();
    let zip = fixture_zip(dir.path(), false);
    let synth = rekey(dir.path(), &["synth", "--config", "conf.yaml", "--lambda-zip", zip.to_str().unwrap()]);
    assert_eq!(synth.code, 0, "{synth:?}");
    let from_config = rekey(dir.path(), &["ls", "--config", "conf.yaml"]);
    for args in [&["ls", "--app", "cdk.out"][..], &["ls", "-a", "cdk.out"]] {
        let run = rekey(dir.path(), args);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout, from_config.stdout, "the assembly lists what its config lists");
        assert!(run.stdout.contains("asm-main"), "{run:?}");
    }
    let run = rekey(dir.path(), &["ls", "--app", "cdk.out", "--config", "conf.yaml"]);
    assert_eq!(run.code, 2, "--app and --config exclude each other: {run:?}");
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let run = rekey(dir.path(), &["ls", "--app", "empty"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("is not a cloud assembly"), "{run:?}");
}

#[test]
fn short_flags_as_in_the_cdk_cli() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(rekey(dir.path(), &["init"]).code, 0);
    let run = rekey(dir.path(), &["init", "-f"]);
    assert_eq!(run.code, 0, "-f is --force: {run:?}");
    for verb in ["deploy", "diff", "destroy"] {
        let run = rekey(dir.path(), &[verb, "--help"]);
        assert!(run.stdout.contains("-a, --app <DIR>"), "{verb}: {}", run.stdout);
    }
    assert!(rekey(dir.path(), &["destroy", "--help"]).stdout.contains("-f, --force"));
}

#[test]
fn completions_and_man_page_come_from_the_clap_definitions() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [("bash", "_rekey()"), ("zsh", "#compdef rekey"), ("fish", "complete -c rekey")] {
        let run = rekey(dir.path(), &["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        for word in ["deploy", "synth", "--lambda-zip", "--app"] {
            assert!(run.stdout.contains(word), "{shell} completion lacks `{word}`");
        }
    }
    assert_eq!(rekey(dir.path(), &["completions", "tcsh"]).code, 2);

    let run = rekey(dir.path(), &["man"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(".TH rekey"), "{}", run.stdout);
    for verb in ["synth", "deploy", "destroy", "completions"] {
        assert!(run.stdout.contains(&format!("rekey\\-{verb}")), "man page lacks `{verb}`:\n{}", run.stdout);
    }
    assert_eq!(dir.path().read_dir().unwrap().count(), 0, "nothing written");
}
