//! One module per verb; each has `Args` (clap) and `run(args, out) -> VerbResult`.

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
