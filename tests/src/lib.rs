//! Test harness: moto server, the fault-injecting proxy in front of it, the
//! rotation invariants checked over moto's state, tool paths, fixtures.

pub mod fault_proxy;
pub mod invariants;
pub mod moto;
pub mod tools;
