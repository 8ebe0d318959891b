//! The decision rules: which key to rotate, deactivate or delete, and when.

use super::model::*;
use chrono::{DateTime, Utc};

/// Plans every user of `facts` under `policy` at `now`.
pub fn plan(facts: &AccountFacts, _policy: &Policy, now: DateTime<Utc>) -> Plan {
    Plan { account_id: facts.account_id.clone(), now, users: Vec::new() }
}
