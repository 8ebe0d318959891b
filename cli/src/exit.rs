//! Exit codes of every verb and what each means, in one place: the constants the verbs return, the table
//! [`CODES`] and the per-verb lists [`VERBS`] from which `rekey --help`, each verb's `--help` and the table of
//! `docs/cli.md` are generated (a test keeps the file equal to [`markdown`]); and the one place an error becomes a
//! message on stderr.

use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// The verb ran and found what it reports as a failure: an account that
/// failed in `rotate`, a difference with `diff --fail`.
pub const FAILED: u8 = 1;
/// Bad command-line usage (clap's own code, and rekey's for arguments clap cannot check).
pub const USAGE: u8 = 2;
/// The configuration is invalid; nothing was written.
pub const INVALID_CONFIG: u8 = 3;
/// Building, packaging or writing output failed (missing tool, I/O).
pub const BUILD: u8 = 4;
/// An AWS call failed (credentials, permissions, service error).
pub const AWS: u8 = 5;
/// `rotate --plan`: the plan file was refused as a whole (checksum, config
/// changed since the plan, older than `plan.max_age_hours`); nothing ran.
pub const PLAN_REFUSED: u8 = 6;

/// One exit code and what it means, whatever the verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// The process exit code.
    pub code: u8,
    /// What it means (Markdown: backticks for flags and files).
    pub meaning: &'static str,
}

/// Every exit code rekey returns. A new code is one line here and its lines in [`VERBS`].
pub const CODES: &[Code] = &[
    Code { code: OK, meaning: "success" },
    Code {
        code: FAILED,
        meaning: "the verb ran and reports a failure: an account, user, action or email failed in `rotate`, or a \
                  reviewed action was refused; an account or user could not be audited in `plan`; a difference \
                  with `diff --fail`; `init` on an existing file; a change not approved by `deploy`, a `destroy` \
                  not confirmed",
    },
    Code {
        code: USAGE,
        meaning: "command-line usage error (unknown flag, missing argument); `--account` names an account the config \
                  does not cover; `rotate --force-user NAME` without `--account`; a stack name that is not one of \
                  the stacks",
    },
    Code {
        code: INVALID_CONFIG,
        meaning: "the configuration (or an email template) is invalid; every problem is listed as `path: message` \
                  and nothing is written",
    },
    Code {
        code: BUILD,
        meaning: "building, packaging or writing failed (missing tool, bad `--lambda-zip`, I/O); the previous \
                  assembly is left as it was; with `--app`, the assembly cannot be read or was modified after \
                  `rekey synth`",
    },
    Code {
        code: AWS,
        meaning: "an AWS call or AWS set-up failed (credentials, STS, Organizations, CloudFormation); a stack or \
                  StackSet operation failed (the first failed resource is named)",
    },
    Code {
        code: PLAN_REFUSED,
        meaning: "`rotate --plan`: the plan file was refused as a whole (checksum, config changed since the plan, \
                  older than `plan.max_age_hours`); nothing ran",
    },
];

/// The codes each verb returns and what each means for it, in code order.
pub const VERBS: &[(&str, &[(u8, &str)])] = &[
    (
        "synth",
        &[
            (OK, "the assembly is written"),
            (INVALID_CONFIG, "invalid config (nothing is written)"),
            (BUILD, "the build, packaging or write failed (the previous assembly is left as it was)"),
        ],
    ),
    (
        "ls",
        &[
            (OK, "listed"),
            (INVALID_CONFIG, "invalid config (with `--app`: the recorded one)"),
            (BUILD, "the `--app` assembly cannot be read or was modified"),
        ],
    ),
    ("validate", &[(OK, "valid"), (INVALID_CONFIG, "invalid (every problem is listed)")]),
    (
        "init",
        &[
            (OK, "written"),
            (FAILED, "the file exists (pass `--force` to replace it)"),
            (BUILD, "the file cannot be written"),
        ],
    ),
    ("schema", &[(OK, "printed")]),
    (
        "plan",
        &[
            (OK, "every account audited"),
            (FAILED, "an account or user could not be audited"),
            (USAGE, "`--account` not covered by the config"),
            (INVALID_CONFIG, "invalid config or email template"),
            (BUILD, "the plan file (`--out`) cannot be written"),
            (AWS, "AWS set-up failed (credentials, Organizations)"),
        ],
    ),
    (
        "rotate",
        &[
            (OK, "every account succeeded (or is not enrolled) and every email was sent"),
            (FAILED, "an account, user, action or email failed, or a reviewed action was refused (see the report)"),
            (USAGE, "`--account` not covered by the config, or `--force-user NAME` without `--account`"),
            (INVALID_CONFIG, "invalid config or email template"),
            (AWS, "AWS set-up failed (credentials, Organizations)"),
            (PLAN_REFUSED, "the plan file was refused (checksum, config changed, too old)"),
        ],
    ),
    (
        "deploy",
        &[
            (OK, "deployed (or nothing to change; with `--no-execute`: change sets prepared)"),
            (FAILED, "a change was not approved"),
            (USAGE, "a stack name that is not one of the stacks"),
            (INVALID_CONFIG, "invalid config (with `--app`: the recorded one)"),
            (BUILD, "build or packaging failed, or the `--app` assembly cannot be read or was modified"),
            (AWS, "an AWS call or a stack failed (the first failed resource's reason is printed)"),
        ],
    ),
    (
        "diff",
        &[
            (OK, "compared (with `--fail`: no difference)"),
            (FAILED, "with `--fail`, anything differs"),
            (USAGE, "a stack name that is not one of the stacks"),
            (INVALID_CONFIG, "invalid config (with `--app`: the recorded one)"),
            (BUILD, "build failed, or the `--app` assembly cannot be read or was modified"),
            (AWS, "an AWS call failed"),
        ],
    ),
    (
        "destroy",
        &[
            (OK, "deleted"),
            (FAILED, "not confirmed"),
            (USAGE, "a stack name that is not one of the stacks"),
            (INVALID_CONFIG, "invalid config (with `--app`: the recorded one)"),
            (BUILD, "the `--app` assembly cannot be read or was modified"),
            (AWS, "an AWS call or a deletion failed"),
        ],
    ),
    ("completions", &[(OK, "printed")]),
    ("man", &[(OK, "printed")]),
];

/// The verbs that call AWS: a build without the `aws` feature leaves them
/// out (cli/Cargo.toml).
pub const AWS_VERBS: &[&str] = &["plan", "rotate", "deploy", "diff", "destroy"];

/// A usage failure for a verb this build does not have: one of
/// [`AWS_VERBS`] in a build without the `aws` feature, or no verb at all.
#[cfg(not(feature = "aws"))]
pub fn not_built(verb: &str) -> Failure {
    let error = if AWS_VERBS.contains(&verb) {
        anyhow::anyhow!(
            "`rekey {verb}` is not in this build: it was built without the `aws` feature \
             (`--no-default-features`: the synthesizer's verbs only). Build every verb with \
             `cargo build -p rekey`, or run `cargo run -p rekey -- {verb} ...`"
        )
    } else {
        anyhow::anyhow!("unrecognized subcommand `{verb}`; `rekey --help` lists the verbs")
    };
    Failure::new(USAGE, error)
}

/// The codes of `verb` ([`VERBS`]); empty for a verb not listed.
fn verb_codes(verb: &str) -> &'static [(u8, &'static str)] {
    VERBS.iter().find(|(name, _)| *name == verb).map(|(_, codes)| *codes).unwrap_or_default()
}

/// `Exit codes: 0 valid; 3 invalid (every problem is listed).`: the line of `verb`'s `--help`.
pub fn verb_help(verb: &str) -> String {
    let codes: Vec<String> = verb_codes(verb).iter().map(|(code, meaning)| format!("{code} {meaning}")).collect();
    format!("Exit codes: {}.", codes.join("; "))
}

/// `verb`'s `after_help`: `before`, the exit codes line, then `after` (examples), separated by blank lines.
pub fn after_help(verb: &str, before: &str, after: &str) -> String {
    [before, &verb_help(verb), after].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("\n\n")
}

/// The list under `rekey --help`; in a build without the `aws` feature,
/// first a line saying which verbs it leaves out and how to build them.
pub fn help() -> String {
    let lines: Vec<String> = CODES.iter().map(|c| format!("  {}  {}", c.code, c.meaning)).collect();
    let codes = format!("Exit codes (each verb's --help says what they mean for it):\n{}", lines.join("\n"));
    if cfg!(feature = "aws") {
        codes
    } else {
        format!(
            "This build has the synthesizer's verbs only (built without the `aws` feature); `cargo build -p rekey` \
             builds {} too.\n\n{codes}",
            AWS_VERBS.join(", ")
        )
    }
}

/// Opens the generated part of `docs/cli.md`.
#[cfg(test)]
pub const BEGIN_MARKER: &str = "<!-- BEGIN exit codes: generated from cli/src/exit.rs -->";
/// Closes it.
#[cfg(test)]
pub const END_MARKER: &str = "<!-- END exit codes -->";

/// The exit code tables of `docs/cli.md`: every code, then the codes of each verb.
#[cfg(test)]
pub fn markdown() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for c in CODES {
        out.push_str(&format!("| {} | {} |\n", c.code, c.meaning));
    }
    out.push_str("\nBy verb:\n\n| verb | codes |\n|---|---|\n");
    for (verb, codes) in VERBS {
        let codes: Vec<String> = codes.iter().map(|(code, meaning)| format!("{code} {meaning}")).collect();
        out.push_str(&format!("| `{verb}` | {} |\n", codes.join("; ")));
    }
    out
}

/// An error tagged with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self { code, error: error.into() }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        let error = error.into();
        let code = if error.downcast_ref::<rekey_config::ConfigError>().is_some() { INVALID_CONFIG } else { BUILD };
        Failure { code, error }
    }
}

/// What a verb returns: the exit code on success paths (0 or 1), or a failure.
pub type VerbResult = Result<u8, Failure>;

/// Prints the error chain (if any) and returns the process exit code.
pub fn report(result: VerbResult) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", message(&failure.error));
            ExitCode::from(failure.code)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the
/// message already holds (many errors print their source themselves).
fn message(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented_once_and_every_verb_uses_only_documented_codes() {
        let codes: Vec<u8> = CODES.iter().map(|c| c.code).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted, "CODES in order, each once");
        for (verb, used) in VERBS {
            let numbers: Vec<u8> = used.iter().map(|(code, _)| *code).collect();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{verb}: codes in order, each once");
            assert!(numbers.iter().all(|n| codes.contains(n)), "{verb} uses an undocumented code: {numbers:?}");
            assert_eq!(numbers.first(), Some(&OK), "{verb} documents success");
        }
    }

    #[test]
    fn every_verb_has_its_codes_and_its_help_shows_them() {
        let command = <crate::Cli as clap::CommandFactory>::command();
        let verbs: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
        let listed: Vec<&str> = VERBS.iter().map(|(verb, _)| *verb).collect();
        assert_eq!(verbs, listed, "VERBS lists every verb, in the order of `rekey --help`");
        for sub in command.get_subcommands() {
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                help.contains(&verb_help(sub.get_name())),
                "`rekey {} --help` lacks its exit codes",
                sub.get_name()
            );
            assert_eq!(
                help.matches("Exit codes").count(),
                1,
                "`rekey {} --help` lists exit codes once",
                sub.get_name()
            );
        }
        let top = command.get_after_help().map(|h| h.to_string()).unwrap_or_default();
        assert!(top.contains(&help()), "`rekey --help` lists every code");
    }

    /// `docs/cli.md` holds exactly what [`markdown`] generates. Run with `REKEY_BLESS=1` to rewrite it after
    /// changing a code or its meaning.
    #[test]
    fn the_documented_exit_codes_are_the_generated_ones() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md");
        if let Err(e) = rekey_config::reference::check_generated_section(&path, BEGIN_MARKER, END_MARKER, &markdown()) {
            panic!("{e}");
        }
    }

    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(io).context("cannot read `x.zip`");
        assert_eq!(message(&error), "cannot read `x.zip`: no such file");
        let repeated = anyhow::anyhow!("cannot read `x.zip`: no such file").context("synth failed");
        assert_eq!(message(&repeated), "synth failed: cannot read `x.zip`: no such file");
    }
}
