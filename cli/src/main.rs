//! The `rekey` command line.
fn main() {}
