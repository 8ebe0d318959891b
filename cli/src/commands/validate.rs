//! `rekey validate`: checks a configuration file and lists every broken
//! rule as `path: message`, without writing anything.

use crate::exit::{VerbResult, INVALID_CONFIG, OK};
use crate::output::{emit, Format};
use rekey_config::{Config, ConfigIssue};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `config` says when no file was read.
const BUILT_IN: &str = "<built-in default>";

/// Check a configuration file; list every problem with its YAML path.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help(
    "validate",
    "",
    "Example:\n  rekey validate\n  rekey validate --config rekey.yaml\n  rekey validate --config rekey.yaml --output json"
))]
pub struct Args {
    /// Configuration file; without it: `REKEY_CONFIG_FILE`, else `./rekey.yaml` when it exists, else the built-in
    /// default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// One problem, as printed.
#[derive(Debug, Serialize)]
pub struct Issue {
    /// Dotted YAML path.
    pub path: String,
    /// The rule broken.
    pub message: String,
}

/// The verdict on one file.
#[derive(Debug, Serialize)]
pub struct Validation {
    /// The file checked (`<built-in default>` when there was none).
    pub config: PathBuf,
    /// Whether it is valid.
    pub valid: bool,
    /// Every problem, in document order.
    pub issues: Vec<Issue>,
    /// Stacks the config synthesizes to (when valid).
    pub stacks: Vec<String>,
    /// `organization` or `account` (when valid).
    pub scope: Option<rekey_config::Scope>,
    /// The scope in words (when valid).
    #[serde(skip)]
    pub scope_text: String,
}

impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = self.config.display();
        if self.valid {
            return write!(f, "{config}: valid ({})\n{}", self.stacks.join(", "), self.scope_text);
        }
        write!(f, "{config}: invalid configuration, {} problem(s):", self.issues.len())?;
        for issue in &self.issues {
            write!(f, "\n  {}: {}", issue.path, issue.message)?;
        }
        Ok(())
    }
}

/// Validates the config the discovery rule names; exit 0 when valid, 3 with every issue listed when not.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let source = super::resolve_config(args.config.as_deref());
    let loaded = match source.path() {
        Some(path) => Config::load(path),
        None => Ok(Config::builtin_default()),
    };
    let (valid, issues, stacks, scope, scope_text) = match loaded {
        Ok(config) => {
            super::note_inferred_scope(&config);
            let stacks = crate::commands::ls::stack_names(&config);
            (true, Vec::new(), stacks, Some(config.scope()), super::scope_text(&config))
        }
        Err(err) => (false, err.issues(), Vec::new(), None, String::new()),
    };
    let config = source.path().map_or_else(|| PathBuf::from(BUILT_IN), Path::to_path_buf);
    let issues = issues.into_iter().map(|ConfigIssue { path, message }| Issue { path, message }).collect();
    emit(out, args.output, &Validation { config, valid, issues, stacks, scope, scope_text })?;
    Ok(if valid { OK } else { INVALID_CONFIG })
}
