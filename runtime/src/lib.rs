//! The key lifecycle engine, the AWS adapters and the Lambda handlers.

pub mod aws;
pub mod handlers;
pub mod integrations;
pub mod inventory;
pub mod ledger;
pub mod lifecycle;
pub mod messages;
pub mod metrics;
pub mod notify;
pub mod plan_file;
pub mod ports;
pub mod report;
pub mod rotation;
pub mod run;
pub mod wiring;
