//! The key lifecycle engine, the AWS adapters and the Lambda handlers.

pub mod lifecycle;
pub mod messages;
pub mod report;
