//! `rekey init`: writes the built-in default configuration, with its
//! comments, as a starting point.

use crate::exit::{Failure, VerbResult, FAILED, OK};
use crate::output::{emit, Format};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Write the default configuration (with comments) to a file.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help(
    "init",
    "",
    "Example:\n  rekey init --path rekey.yaml && rekey validate --config rekey.yaml"
))]
pub struct Args {
    /// File to write.
    #[arg(long, value_name = "FILE", default_value = "rekey.yaml")]
    pub path: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(short, long)]
    pub force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// What `init` did.
#[derive(Debug, Serialize)]
pub struct Initialized {
    /// The file written.
    pub path: PathBuf,
    /// Whether an existing file was replaced.
    pub overwritten: bool,
}

impl std::fmt::Display for Initialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        write!(
            f,
            "wrote {path}{}\nnext: edit it, then `rekey validate --config {path}` and `rekey synth --config {path}`",
            if self.overwritten { " (replaced the existing file)" } else { "" }
        )
    }
}

/// Writes [`rekey_config::DEFAULT_CONFIG_YAML`] to `--path`; refuses to
/// replace an existing file without `--force` (exit 1).
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    let exists = args.path.exists();
    if exists && !args.force {
        return Err(Failure::new(
            FAILED,
            anyhow::anyhow!("`{}` already exists; pass `--force` to overwrite it", args.path.display()),
        ));
    }
    if let Some(parent) = args.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create directory `{}`: {e}", parent.display()))?;
    }
    std::fs::write(&args.path, rekey_config::DEFAULT_CONFIG_YAML)
        .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", args.path.display()))?;
    emit(out, args.output, &Initialized { path: args.path, overwritten: exists })?;
    Ok(OK)
}
