//! The Lambda entry point.
fn main() {}
