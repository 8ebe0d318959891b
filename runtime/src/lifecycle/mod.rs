//! The lifecycle engine: a pure function from (account facts, policy, now)
//! to a plan. No I/O, no clock: `now` is a parameter.

pub mod model;
mod planner;

pub use model::*;
pub use planner::plan;

#[cfg(test)]
mod tests;
