//! Exit codes of every verb, documented in the README, and the one place an
//! error becomes a message on stderr.

use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// The verb ran and found what it reports as a failure: an account that
/// failed in `rotate`, a difference with `diff --fail`.
pub const FAILED: u8 = 1;
/// Bad command-line usage (clap's own code).
#[allow(dead_code)] // clap exits with it itself; named here for the docs
pub const USAGE: u8 = 2;
/// The configuration is invalid; nothing was written.
pub const INVALID_CONFIG: u8 = 3;
/// Building, packaging or writing output failed (missing tool, I/O).
pub const BUILD: u8 = 4;
/// An AWS call failed (credentials, permissions, service error).
#[allow(dead_code)] // returned by the AWS-facing verbs (plan, rotate, deploy)
pub const AWS: u8 = 5;
/// `rotate --plan`: the plan file was refused as a whole (checksum, config
/// changed since the plan, older than `plan.max_age_hours`); nothing ran.
pub const PLAN_REFUSED: u8 = 6;

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
    fn causes_are_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(io).context("cannot read `x.zip`");
        assert_eq!(message(&error), "cannot read `x.zip`: no such file");
        let repeated = anyhow::anyhow!("cannot read `x.zip`: no such file").context("synth failed");
        assert_eq!(message(&repeated), "synth failed: cannot read `x.zip`: no such file");
    }
}
