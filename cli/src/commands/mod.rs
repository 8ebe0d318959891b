//! One module per verb; each has `Args` (clap) and `run(args, out) -> VerbResult`,
//! writing its result into the injected writer so tests can read it.

pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod init;
pub mod ls;
pub mod plan;
pub mod rotate;
pub mod schema;
pub mod synth;
pub mod validate;

use crate::exit::Failure;
use rekey_config::Config;
use std::path::Path;

/// Loads `--config FILE`, or the built-in default when there is none. An
/// invalid file becomes a [`Failure`] with exit code 3 (see `exit.rs`).
pub fn load_config(path: Option<&Path>) -> Result<Config, Failure> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None => Ok(Config::builtin_default()),
    }
}
