//! Integration tests of the `rekey` binary: every test runs the real
//! executable in a temporary directory and checks its exit code, its output
//! and the files it leaves behind.

mod common;

mod cdk;
mod conveniences;
mod deploy_app;
mod discovery;
mod invalid_configs;
mod lambda_build;
mod region;
mod streams;
mod synth;
mod synth_only;
mod verbs;
