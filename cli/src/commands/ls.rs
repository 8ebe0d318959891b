//! `rekey ls`.

use crate::exit::{Failure, VerbResult, BUILD};
use std::io::Write;

/// `rekey ls` (not built yet).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _out: &mut dyn Write) -> VerbResult {
    Err(Failure::new(BUILD, anyhow::anyhow!("`rekey ls` is not available in this build yet")))
}
