//! The `rekey` command line: parses arguments, dispatches to one function per
//! verb (`commands/`), and turns the result into a documented exit code.

mod color;
mod commands;
mod exit;
mod logs;
mod output;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// Keeps IAM user access keys rotated across an AWS Organization.
#[derive(Debug, Parser)]
#[command(name = "rekey", version, about, long_about = None, propagate_version = true, after_help = exit::help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log detail on stderr: `-v` info, `-vv` debug, `-vvv` trace (default: warnings, or `RUST_LOG`).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Format of the log lines on stderr.
    #[arg(long, value_enum, default_value_t, global = true)]
    log_format: logs::LogFormat,
    /// No color, even on a terminal (so does a non-empty `NO_COLOR`).
    #[arg(long, global = true)]
    no_color: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    Synth(commands::synth::Args),
    Ls(commands::ls::Args),
    Validate(commands::validate::Args),
    Init(commands::init::Args),
    Schema(commands::schema::Args),
    #[cfg(feature = "aws")]
    Plan(commands::plan::Args),
    #[cfg(feature = "aws")]
    Rotate(commands::rotate::Args),
    #[cfg(feature = "aws")]
    Deploy(commands::deploy::Args),
    #[cfg(feature = "aws")]
    Diff(commands::diff::Args),
    #[cfg(feature = "aws")]
    Destroy(commands::destroy::Args),
    Completions(commands::completions::CompletionsArgs),
    Man(commands::completions::ManArgs),
    /// Any other verb, in a build without the `aws` feature: one of the
    /// AWS verbs gets a message saying how to build it.
    #[cfg(not(feature = "aws"))]
    #[command(external_subcommand)]
    NotBuilt(Vec<String>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.no_color {
        color::disable();
    }
    logs::init(cli.verbose, cli.log_format);
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Synth(args) => commands::synth::run(args, &mut stdout),
        Command::Ls(args) => commands::ls::run(args, &mut stdout),
        Command::Validate(args) => commands::validate::run(args, &mut stdout),
        Command::Init(args) => commands::init::run(args, &mut stdout),
        Command::Schema(args) => commands::schema::run(args, &mut stdout),
        #[cfg(feature = "aws")]
        Command::Plan(args) => commands::plan::run(args, &mut stdout),
        #[cfg(feature = "aws")]
        Command::Rotate(args) => commands::rotate::run(args, &mut stdout),
        #[cfg(feature = "aws")]
        Command::Deploy(args) => commands::deploy::run(args, &mut stdout),
        #[cfg(feature = "aws")]
        Command::Diff(args) => commands::diff::run(args, &mut stdout),
        #[cfg(feature = "aws")]
        Command::Destroy(args) => commands::destroy::run(args, &mut stdout),
        Command::Completions(args) => commands::completions::completions(args, Cli::command(), &mut stdout),
        Command::Man(args) => commands::completions::man(args, Cli::command(), &mut stdout),
        #[cfg(not(feature = "aws"))]
        Command::NotBuilt(words) => Err(exit::not_built(&words[0])),
    };
    exit::report(result)
}
