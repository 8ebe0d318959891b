//! What the user sees while rekey waits on CloudFormation: plain event lines (`--progress events`, the default
//! when not on a terminal) or a live spinner with the latest event (`--progress bar`), both written through
//! one type so the deploy logic does not care which.

use crate::model::{StackEvent, StackInstance};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::Duration;

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live spinner on stderr with the latest event; notes and failures scroll above it.
    Bar,
    /// One line per event: `<time> <stack> <logical id> <status> <reason>`.
    #[default]
    Events,
}

/// Writes progress into an injected writer (stdout in the CLI, a buffer in tests).
pub struct Progress<'w> {
    mode: ProgressMode,
    out: &'w mut dyn Write,
    bar: Option<ProgressBar>,
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl<'w> Progress<'w> {
    /// Progress in `mode`, written to `out`.
    pub fn new(mode: ProgressMode, out: &'w mut dyn Write) -> Self {
        Self { mode, out, bar: None }
    }

    /// The mode.
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// A line of narration (`rekey-main: no changes`).
    pub fn note(&mut self, text: &str) -> std::io::Result<()> {
        match &self.bar {
            Some(bar) => {
                let out = &mut *self.out;
                bar.suspend(|| writeln!(out, "{text}"))
            }
            None => writeln!(self.out, "{text}"),
        }
    }

    /// Starts waiting on `what` (a spinner in bar mode).
    pub fn start(&mut self, what: &str) {
        if self.mode == ProgressMode::Bar {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {elapsed} {wide_msg}").expect("valid template"),
            );
            bar.set_prefix(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        }
    }

    /// Stops waiting.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// One stack event.
    pub fn event(&mut self, event: &StackEvent) -> std::io::Result<()> {
        let line = event_line(event);
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{} {} {}", event.logical_id, event.resource_type, event.status));
                // Failures stay on screen; the rest only flashes by in the spinner.
                if event.status.is_failed() {
                    let out = &mut *self.out;
                    bar.suspend(|| writeln!(out, "{line}"))?;
                }
                Ok(())
            }
            None => writeln!(self.out, "{line}"),
        }
    }

    /// A StackSet operation status change.
    pub fn operation(
        &mut self,
        at: DateTime<Utc>,
        stack_set: &str,
        operation_id: &str,
        status: &str,
    ) -> std::io::Result<()> {
        let line = format!("{} {stack_set} operation:{operation_id} {status}", at.format("%H:%M:%S"));
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("operation {operation_id} {status}"));
                Ok(())
            }
            None => writeln!(self.out, "{line}"),
        }
    }

    /// One StackSet instance, once its operation has ended.
    pub fn instance(&mut self, stack_set: &str, instance: &StackInstance) -> std::io::Result<()> {
        let mut line = format!("  {stack_set} instance {} {} {}", instance.account, instance.region, instance.status);
        if let Some(detailed) = &instance.detailed_status {
            line.push_str(&format!(" ({detailed})"));
        }
        if let Some(reason) = &instance.reason {
            line.push(' ');
            line.push_str(reason);
        }
        self.note(&line)
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `<time> <stack> <logical id> <resource type> <status> <reason>`.
pub fn event_line(event: &StackEvent) -> String {
    let mut line = format!(
        "{} {} {} {} {}",
        event.timestamp.format("%H:%M:%S"),
        event.stack,
        event.logical_id,
        event.resource_type,
        event.status
    );
    if let Some(reason) = &event.reason {
        line.push(' ');
        line.push_str(reason);
    }
    line
}
