//! `rekey validate`.

use crate::exit::{Failure, VerbResult, BUILD};
use std::io::Write;

/// `rekey validate` (not built yet).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _out: &mut dyn Write) -> VerbResult {
    Err(Failure::new(BUILD, anyhow::anyhow!("`rekey validate` is not available in this build yet")))
}
