//! `--output text|json`: every verb's result is one value that is both
//! `Display` (text) and `Serialize` (json), written to an injected writer.

use serde::Serialize;
use std::fmt::Display;
use std::io::Write;

/// The output format chosen with `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Writes `value` in `format`, followed by a newline.
pub fn emit<T: Display + Serialize>(out: &mut dyn Write, format: Format, value: &T) -> std::io::Result<()> {
    match format {
        Format::Text => writeln!(out, "{value}"),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)
        }
    }
}
