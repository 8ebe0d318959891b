//! Test harness: moto server, tool paths, fixtures.

pub mod moto;
pub mod tools;
