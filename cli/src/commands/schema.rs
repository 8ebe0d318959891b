//! `rekey schema`: the JSON Schema of the configuration file, for editor
//! completion (e.g. the YAML language server's `# yaml-language-server: $schema=`).

use crate::exit::{VerbResult, OK};
use std::io::Write;

/// Print the JSON Schema of the configuration file.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  rekey schema > rekey.schema.json")]
pub struct Args {}

/// Writes the schema as pretty JSON.
pub fn run(_args: Args, out: &mut dyn Write) -> VerbResult {
    serde_json::to_writer_pretty(&mut *out, &rekey_config::json_schema())?;
    writeln!(out)?;
    Ok(OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_config_schema_with_every_section() {
        let mut out = Vec::new();
        assert_eq!(run(Args {}, &mut out).unwrap(), OK);
        let schema: serde_json::Value = serde_json::from_slice(&out).unwrap();
        for section in ["deployment", "organization", "lifecycle", "mode", "secrets", "notifications", "lambda"] {
            assert!(schema["properties"].get(section).is_some(), "missing {section}");
        }
    }
}
