//! The CLI's logs: a `tracing` subscriber on stderr (stdout is for results), its level from `-v`/`-vv`/`-vvv`,
//! else `RUST_LOG`, else warnings only; human-readable (colored on a terminal) or one JSON object per line.

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colored when stderr is a terminal and `NO_COLOR` is unset).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// rekey's own crates (tracing targets), whose warnings are shown by default.
const OWN: [&str; 6] = ["rekey", "rekey_config", "rekey_synth", "rekey_stacks", "rekey_runtime", "rekey_deploy"];

fn own_at(level: &str, others: &str) -> String {
    std::iter::once(others.to_string()).chain(OWN.iter().map(|c| format!("{c}={level}"))).collect::<Vec<_>>().join(",")
}

/// The filter directive: `-v` flags when given, else `RUST_LOG`, else rekey's warnings (so a runtime warning during
/// `plan`/`rotate`, such as an account that failed, is seen without asking) and only errors of the AWS SDK and
/// the other libraries (their warnings, e.g. a retried connection, are `-v` material). `-v`: rekey at info, the rest
/// at warn; `-vv`: debug; `-vvv`: trace.
pub fn directive(verbose: u8, rust_log: Option<String>) -> String {
    match verbose {
        0 => rust_log.filter(|v| !v.is_empty()).unwrap_or_else(|| own_at("warn", "error")),
        1 => own_at("info", "warn"),
        2 => "debug".to_string(),
        _ => "trace".to_string(),
    }
}

/// Installs the subscriber for this process (once, in `main`).
pub fn init(verbose: u8, format: LogFormat) {
    let directive = directive(verbose, std::env::var("RUST_LOG").ok());
    let filter = tracing_subscriber::EnvFilter::try_new(&directive)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(own_at("warn", "error")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(crate::color::enabled_for_stderr()).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_flags_win_over_rust_log() {
        assert_eq!(
            directive(0, None),
            "error,rekey=warn,rekey_config=warn,rekey_synth=warn,rekey_stacks=warn,rekey_runtime=warn,rekey_deploy=warn"
        );
        assert_eq!(directive(0, Some("rekey_runtime=debug".into())), "rekey_runtime=debug");
        assert!(directive(1, Some("error".into())).starts_with("warn,rekey=info,"));
        assert_eq!(directive(2, None), "debug");
        assert_eq!(directive(5, None), "trace");
    }
}
