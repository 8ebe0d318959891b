//! `rekey completions SHELL` and `rekey man`: shell completions and the man page, generated from the clap
//! definitions so they never drift from `--help`.

use crate::exit::{VerbResult, OK};
use std::io::Write;

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help("completions", "", "Examples:\n  rekey completions bash > ~/.local/share/bash-completion/completions/rekey\n  \
rekey completions zsh > \"${fpath[1]}/_rekey\"\n  rekey completions fish > ~/.config/fish/completions/rekey.fish"))]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the man page (roff).
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit::after_help("man", "", "Example:\n  rekey man > rekey.1 && man ./rekey.1"))]
pub struct ManArgs {}

/// Writes the completion script of `command` for `args.shell`.
pub fn completions(args: CompletionsArgs, mut command: clap::Command, out: &mut dyn Write) -> VerbResult {
    clap_complete::generate(args.shell, &mut command, "rekey", out);
    Ok(OK)
}

/// Writes the man page of `command`, its verbs listed.
pub fn man(_args: ManArgs, command: clap::Command, out: &mut dyn Write) -> VerbResult {
    clap_mangen::Man::new(command).render(out)?;
    Ok(OK)
}
