//! DynamoDB adapter: the [`RunLedger`] port on one table keyed by
//! (`run_id`, `entry`). A run is one partition: the `run` entry (accounts
//! queued, start time, count of accounts recorded, who closed it, who holds
//! the sending lease and until when), one
//! `account#<id>` entry per account report, `part#<id>#<n>` entries for
//! the parts of an account processed across invocations, and one
//! `sent#<recipient>` entry per digest sent. Every entry expires (TTL attribute `expires_at`)
//! [`RETENTION_DAYS`] after it is written.

use super::port_error;
use crate::ledger::{Closer, Recorded, RunLedger, RunRecord, RunState, RETENTION_DAYS};
use crate::ports::{ErrorKind, PortError};
use crate::report::AccountReport;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Partition key: the run id.
const RUN_ID: &str = "run_id";
/// Sort key: `run`, `account#<id>` or `sent#<recipient>`.
const ENTRY: &str = "entry";
/// The TTL attribute (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
const RUN_ENTRY: &str = "run";
const ACCOUNT_PREFIX: &str = "account#";
const SENT_PREFIX: &str = "sent#";
/// `part#<account id>#<part>`: a part of an account's report, kept apart
/// from `account#` entries so the run's account reports never include it.
const PART_PREFIX: &str = "part#";

/// The run ledger on a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    /// The ledger in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn key(run_id: &str, entry: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (RUN_ID.to_string(), AttributeValue::S(run_id.to_string())),
            (ENTRY.to_string(), AttributeValue::S(entry.to_string())),
        ])
    }

    fn item(run_id: &str, entry: &str, from: DateTime<Utc>) -> HashMap<String, AttributeValue> {
        let mut item = Self::key(run_id, entry);
        let expires = (from + chrono::Duration::days(RETENTION_DAYS)).timestamp();
        item.insert(EXPIRES_AT.to_string(), AttributeValue::N(expires.to_string()));
        item
    }

    fn target(&self, run_id: &str) -> String {
        format!("{}/{run_id}", self.table)
    }

    /// Whether `entry` of `run_id` exists (a consistent read).
    async fn exists(&self, run_id: &str, entry: &str) -> Result<bool, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(run_id, entry)))
            .consistent_read(true)
            .projection_expression("#r")
            .expression_attribute_names("#r", RUN_ID)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem", &self.target(run_id), e))?;
        Ok(out.item().is_some())
    }
}

fn s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn malformed(operation: &'static str, target: &str, what: &str) -> PortError {
    PortError::new(ErrorKind::Other, operation, target, format!("malformed ledger entry: {what}"))
}

fn is_conditional_failure<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl RunLedger for DynamoLedger {
    async fn open_run(&self, run: &RunRecord) -> Result<(), PortError> {
        let mut item = Self::item(&run.run_id, RUN_ENTRY, run.started_at);
        let ids = serde_json::to_string(&run.account_ids).expect("strings serialize");
        item.insert("account_ids".into(), AttributeValue::S(ids));
        item.insert("started_at".into(), AttributeValue::S(run.started_at.to_rfc3339()));
        item.insert("done".into(), AttributeValue::N("0".into()));
        // An inventory retry: the first record stands.
        self.put_first(&run.run_id, item).await
    }

    async fn record_account(&self, report: &AccountReport) -> Result<Recorded, PortError> {
        let run_id = &report.run_id;
        let target = self.target(run_id);
        let op = "dynamodb:TransactWriteItems";
        let build =
            |e: aws_sdk_dynamodb::error::BuildError| PortError::new(ErrorKind::Other, op, &target, e.to_string());
        let mut item = Self::item(run_id, &format!("{ACCOUNT_PREFIX}{}", report.account_id), Utc::now());
        item.insert("report".into(), AttributeValue::S(serde_json::to_string(report).expect("reports serialize")));
        // The report and the count in one transaction: a report is counted
        // exactly once, and never into a closed run.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#r)")
            .expression_attribute_names("#r", RUN_ID)
            .build()
            .map_err(build)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(run_id, RUN_ENTRY)))
            .update_expression("SET #d = #d + :one")
            .condition_expression("attribute_exists(#r) AND attribute_not_exists(#c)")
            .expression_attribute_names("#d", "done")
            .expression_attribute_names("#r", RUN_ID)
            .expression_attribute_names("#c", "closed_by")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) => {
                let Some(TransactWriteItemsError::TransactionCanceledException(_)) = e.as_service_error() else {
                    return Err(port_error(op, &target, e));
                };
                // Which condition failed: the account already recorded, or the
                // run unknown or closed. Read it back rather than trusting the
                // cancellation reasons, which not every endpoint returns.
                let account = format!("{ACCOUNT_PREFIX}{}", report.account_id);
                return Ok(if self.exists(run_id, &account).await? {
                    Recorded::AlreadyRecorded
                } else {
                    Recorded::RunNotOpen
                });
            }
        }
        let state = self.run_state(run_id).await?.ok_or_else(|| malformed(op, &target, "the run entry vanished"))?;
        Ok(Recorded::Counted { done: state.done, expected: state.expected() })
    }

    async fn run_state(&self, run_id: &str) -> Result<Option<RunState>, PortError> {
        let op = "dynamodb:GetItem";
        let target = self.target(run_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(run_id, RUN_ENTRY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error(op, &target, e))?;
        let Some(item) = out.item() else { return Ok(None) };
        let account_ids: Vec<String> = s(item, "account_ids")
            .and_then(|j| serde_json::from_str(&j).ok())
            .ok_or_else(|| malformed(op, &target, "account_ids"))?;
        let started_at = s(item, "started_at")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .ok_or_else(|| malformed(op, &target, "started_at"))?
            .to_utc();
        let done = item
            .get("done")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| malformed(op, &target, "done"))?;
        let closed_by = s(item, "closed_by").and_then(|c| Closer::parse(&c));
        Ok(Some(RunState { run_id: run_id.to_string(), account_ids, started_at, done, closed_by }))
    }

    async fn close_run(&self, run_id: &str, closer: Closer) -> Result<bool, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(run_id, RUN_ENTRY)))
            .update_expression("SET #c = :c, #at = :at")
            .condition_expression("attribute_exists(#r) AND (attribute_not_exists(#c) OR #c = :c)")
            .expression_attribute_names("#c", "closed_by")
            .expression_attribute_names("#at", "closed_at")
            .expression_attribute_names("#r", RUN_ID)
            .expression_attribute_values(":c", AttributeValue::S(closer.stored_name()))
            .expression_attribute_values(":at", AttributeValue::S(Utc::now().to_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(false),
            Err(e) => Err(port_error("dynamodb:UpdateItem", &self.target(run_id), e)),
        }
    }

    async fn account_reports(&self, run_id: &str) -> Result<Vec<AccountReport>, PortError> {
        let mut out = self.reports_under(run_id, ACCOUNT_PREFIX).await?;
        out.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        Ok(out)
    }

    async fn record_part(&self, report: &AccountReport, part: u32) -> Result<(), PortError> {
        let run_id = &report.run_id;
        let mut item = Self::item(run_id, &part_entry(&report.account_id, part), Utc::now());
        item.insert("report".into(), AttributeValue::S(serde_json::to_string(report).expect("reports serialize")));
        // A redelivered part: the first report stands.
        self.put_first(run_id, item).await
    }

    async fn account_parts(&self, run_id: &str, account_id: &str) -> Result<Vec<AccountReport>, PortError> {
        // Entries sort by their zero-padded part number.
        self.reports_under(run_id, &format!("{PART_PREFIX}{account_id}#")).await
    }

    async fn digest_sent(&self, run_id: &str, recipient: &str) -> Result<bool, PortError> {
        self.exists(run_id, &format!("{SENT_PREFIX}{}", recipient.to_lowercase())).await
    }

    async fn mark_digest_sent(&self, run_id: &str, recipient: &str) -> Result<(), PortError> {
        let item = Self::item(run_id, &format!("{SENT_PREFIX}{}", recipient.to_lowercase()), Utc::now());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| port_error("dynamodb:PutItem", &self.target(run_id), e))?;
        Ok(())
    }

    async fn claim_sending(
        &self,
        run_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        // Epoch seconds, so the condition compares numbers.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(run_id, RUN_ENTRY)))
            .update_expression("SET #h = :h, #u = :until")
            .condition_expression("attribute_exists(#r) AND (attribute_not_exists(#h) OR #h = :h OR #u < :now)")
            .expression_attribute_names("#h", "sending_holder")
            .expression_attribute_names("#u", "sending_until")
            .expression_attribute_names("#r", RUN_ID)
            .expression_attribute_values(":h", AttributeValue::S(holder.to_string()))
            .expression_attribute_values(":until", AttributeValue::N(until.timestamp().to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(false),
            Err(e) => Err(port_error("dynamodb:UpdateItem", &self.target(run_id), e)),
        }
    }

    async fn release_sending(&self, run_id: &str, holder: &str) -> Result<(), PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(run_id, RUN_ENTRY)))
            .update_expression("REMOVE #h, #u")
            .condition_expression("#h = :h")
            .expression_attribute_names("#h", "sending_holder")
            .expression_attribute_names("#u", "sending_until")
            .expression_attribute_values(":h", AttributeValue::S(holder.to_string()))
            .send()
            .await;
        match result {
            // Not (or no longer) the holder: nothing to give up.
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(()),
            Err(e) => Err(port_error("dynamodb:UpdateItem", &self.target(run_id), e)),
        }
    }
}

/// The entry of part `part` of an account's report.
fn part_entry(account_id: &str, part: u32) -> String {
    format!("{PART_PREFIX}{account_id}#{part:05}")
}

impl DynamoLedger {
    /// Puts `item` unless its entry exists: the first write of an entry
    /// stands, and a later one (a retry, a redelivery) is a success.
    async fn put_first(&self, run_id: &str, item: HashMap<String, AttributeValue>) -> Result<(), PortError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#r)")
            .expression_attribute_names("#r", RUN_ID)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(()),
            Err(e) => Err(port_error("dynamodb:PutItem", &self.target(run_id), e)),
        }
    }

    /// The reports of every entry of `run_id` whose key starts with `prefix`, in key order.
    async fn reports_under(&self, run_id: &str, prefix: &str) -> Result<Vec<AccountReport>, PortError> {
        let op = "dynamodb:Query";
        let target = self.target(run_id);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#r = :r AND begins_with(#e, :p)")
            .expression_attribute_names("#r", RUN_ID)
            .expression_attribute_names("#e", ENTRY)
            .expression_attribute_values(":r", AttributeValue::S(run_id.to_string()))
            .expression_attribute_values(":p", AttributeValue::S(prefix.to_string()))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error(op, &target, e))?;
            for item in page.items() {
                let report = s(item, "report")
                    .and_then(|j| serde_json::from_str::<AccountReport>(&j).ok())
                    .ok_or_else(|| malformed(op, &target, "report"))?;
                out.push(report);
            }
        }
        Ok(out)
    }
}
