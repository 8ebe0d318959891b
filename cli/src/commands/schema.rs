//! `rekey schema`: the JSON Schema of the configuration file, for editor
//! completion (e.g. the YAML language server's `# yaml-language-server: $schema=`).

use crate::exit::{VerbResult, OK};
use std::io::Write;

/// Print the JSON Schema of the configuration file, or the config reference generated from it.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help(
    "schema",
    "",
    "Examples:\n  rekey schema > rekey.schema.json\n  rekey schema --format markdown   # the table of docs/config.md"
))]
pub struct Args {
    /// `json`: the JSON Schema; `markdown`: the config reference table (every field, its default and meaning).
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// What `rekey schema` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The JSON Schema.
    Json,
    /// The config reference as a Markdown table.
    Markdown,
}

/// Writes the schema as pretty JSON, or the reference table.
pub fn run(args: Args, out: &mut dyn Write) -> VerbResult {
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &rekey_config::json_schema())?;
            writeln!(out)?;
        }
        Format::Markdown => write!(out, "{}", rekey_config::reference::markdown())?,
    }
    Ok(OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_config_schema_with_every_section() {
        let mut out = Vec::new();
        assert_eq!(run(Args { format: Format::Json }, &mut out).unwrap(), OK);
        let schema: serde_json::Value = serde_json::from_slice(&out).unwrap();
        for section in ["deployment", "organization", "lifecycle", "mode", "secrets", "notifications", "lambda"] {
            assert!(schema["properties"].get(section).is_some(), "missing {section}");
        }
    }

    #[test]
    fn the_markdown_reference_is_the_generated_table() {
        let mut out = Vec::new();
        assert_eq!(run(Args { format: Format::Markdown }, &mut out).unwrap(), OK);
        assert_eq!(String::from_utf8(out).unwrap(), rekey_config::reference::markdown());
    }
}
