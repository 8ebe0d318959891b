//! The times rekey recorded in user tags: when it deactivated a key, and
//! when it first saw an inactive key it did not deactivate. IAM keeps
//! neither, and both start a deletion grace.

use super::Ctx;
use crate::lifecycle::model::*;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Recorded times, by access key id.
#[derive(Debug, Default)]
pub(super) struct Records {
    /// From `rekey:deactivated:<AccessKeyId>`.
    pub deactivated: BTreeMap<String, DateTime<Utc>>,
    /// From `rekey:seen-inactive:<AccessKeyId>`.
    pub seen_inactive: BTreeMap<String, DateTime<Utc>>,
}

/// Reads the record tags of the user. A value that is not an RFC 3339 time
/// is ignored with a critical warning: guessing a time could delete a key
/// early, ignoring it only delays deletion.
pub(super) fn read(ctx: &mut Ctx<'_>) -> Records {
    let mut records = Records::default();
    for (name, value) in &ctx.user.tags {
        let (map, key) = if let Some(key) = name.strip_prefix(DEACTIVATED_TAG_PREFIX) {
            (&mut records.deactivated, key)
        } else if let Some(key) = name.strip_prefix(SEEN_INACTIVE_TAG_PREFIX) {
            (&mut records.seen_inactive, key)
        } else {
            continue;
        };
        match DateTime::parse_from_rfc3339(value.trim()) {
            Ok(at) => {
                map.insert(key.to_string(), at.with_timezone(&Utc));
            }
            Err(_) => {
                let message = format!(
                    "tag `{name}` has value `{value}`, which is not an RFC 3339 time: ignored, so the key's \
                     deletion waits; fix or remove the tag"
                );
                ctx.warn(key, None, Reason::MalformedTag, None, Severity::Critical, message);
            }
        }
    }
    records
}
