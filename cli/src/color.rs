//! When to color: on a terminal, unless `--no-color` or `NO_COLOR` (any non-empty value, see no-color.org).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static DISABLED: AtomicBool = AtomicBool::new(false);

/// `--no-color`: no color anywhere in this process.
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// The rule, over its inputs.
pub fn decide(flag_disabled: bool, no_color: Option<&str>, terminal: bool) -> bool {
    !flag_disabled && no_color.is_none_or(str::is_empty) && terminal
}

fn enabled(terminal: bool) -> bool {
    decide(DISABLED.load(Ordering::Relaxed), std::env::var("NO_COLOR").ok().as_deref(), terminal)
}

/// Whether to color what goes to stdout (only `diff` colors its result).
#[cfg(feature = "aws")]
pub fn enabled_for_stdout() -> bool {
    enabled(std::io::stdout().is_terminal())
}

/// Whether to color what goes to stderr.
pub fn enabled_for_stderr() -> bool {
    enabled(std::io::stderr().is_terminal())
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn color_only_on_a_terminal_without_no_color() {
        assert!(decide(false, None, true));
        assert!(!decide(false, None, false));
        assert!(!decide(true, None, true));
        assert!(!decide(false, Some("1"), true));
        assert!(decide(false, Some(""), true), "an empty NO_COLOR does not count");
    }
}
