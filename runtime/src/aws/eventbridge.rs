//! EventBridge adapter: the [`EventSink`] port over `PutEvents` on the
//! configured bus (name or ARN).

use super::port_error;
use crate::integrations::events::SOURCE;
use crate::integrations::{EntryError, Event, EventSink};
use crate::ports::PortResult;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

/// One event bus.
#[derive(Clone, Debug)]
pub struct EventBus {
    client: Client,
    bus: String,
}

impl EventBus {
    /// The bus `bus` (name or ARN) through `client`.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBus { client, bus: bus.into() }
    }
}

impl EventSink for EventBus {
    async fn put(&self, events: &[Event]) -> PortResult<Vec<Option<EntryError>>> {
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .source(SOURCE)
                    .detail_type(e.detail_type.as_str())
                    .detail(e.detail.to_string())
                    .event_bus_name(&self.bus)
                    .time(aws_smithy_types::DateTime::from_secs(e.time.timestamp()))
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| port_error("events:PutEvents", &self.bus, e))?;
        // One result entry per request entry, in order; a failed one has an error code.
        let mut answers: Vec<Option<EntryError>> = out
            .entries()
            .iter()
            .map(|r| {
                r.error_code().map(|code| EntryError {
                    id: String::new(),
                    code: code.to_string(),
                    message: r.error_message().unwrap_or_default().to_string(),
                })
            })
            .collect();
        answers.resize_with(events.len(), || {
            Some(EntryError { id: String::new(), code: "Missing".into(), message: "no result entry".into() })
        });
        Ok(answers)
    }
}
