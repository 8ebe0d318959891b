//! The four rekey stacks as pure functions from config to template.
