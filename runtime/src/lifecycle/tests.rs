//! Tests of the lifecycle planner: a fixed clock (2026-01-01T00:00:00Z),
//! fixed key ids, every state in tables, a day-by-day simulation, and one
//! regression test per defect of the reference solution (REF), and property
//! tests over random users and policies.

mod exemptions;
mod properties;
mod recovery;
mod regressions;
mod snapshot;
mod support;
mod table;
mod timeline;
