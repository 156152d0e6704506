//! An endpoint's metrics, through the `metrics` facade (recorded once the program has
//! installed a recorder, e.g. `exactly --metrics ADDR endpoint serve …`). Counted per
//! committed batch (never per message, never in a dry run):
//!
//! | metric | kind |
//! |---|---|
//! | `exactly_endpoint_deliveries_total` (deliveries in committed batches) | counter |
//! | `exactly_endpoint_processed_total` (messages the handler processed) | counter |
//! | `exactly_endpoint_inbox_duplicates_total` (deliveries the inbox knew: dedup hits) | counter |
//! | `exactly_endpoint_dead_letters_total` | counter |
//! | `exactly_endpoint_outbox_stored_total` (outgoing messages stored) | counter |
//! | `exactly_endpoint_outbox_published_total` (outbox entries published) | counter |
//! | `exactly_endpoint_batches_committed_total` | counter |

use crate::plan::BatchReport;
use metrics::{counter, Counter};

/// Describes the endpoint's metrics to the installed recorder (the `# HELP` lines).
pub fn describe() {
    use metrics::{describe_counter, Unit};
    for (name, help) in [
        (
            "exactly_endpoint_deliveries_total",
            "Deliveries in committed batches.",
        ),
        (
            "exactly_endpoint_processed_total",
            "Messages the handler processed.",
        ),
        (
            "exactly_endpoint_inbox_duplicates_total",
            "Deliveries the inbox already knew (dropped).",
        ),
        (
            "exactly_endpoint_dead_letters_total",
            "Messages sent to the dead-letter topic.",
        ),
        (
            "exactly_endpoint_outbox_stored_total",
            "Outgoing messages stored in the outbox.",
        ),
        (
            "exactly_endpoint_outbox_published_total",
            "Outbox entries published.",
        ),
        (
            "exactly_endpoint_batches_committed_total",
            "Batches committed.",
        ),
    ] {
        describe_counter!(name, Unit::Count, help);
    }
}

/// One endpoint's metric handles.
pub(crate) struct EndpointMeters {
    deliveries: Counter,
    processed: Counter,
    duplicates: Counter,
    dead_letters: Counter,
    outbox_stored: Counter,
    outbox_published: Counter,
    batches: Counter,
}

impl EndpointMeters {
    /// Registers the handles with the installed recorder.
    pub fn new() -> Self {
        Self {
            deliveries: counter!("exactly_endpoint_deliveries_total"),
            processed: counter!("exactly_endpoint_processed_total"),
            duplicates: counter!("exactly_endpoint_inbox_duplicates_total"),
            dead_letters: counter!("exactly_endpoint_dead_letters_total"),
            outbox_stored: counter!("exactly_endpoint_outbox_stored_total"),
            outbox_published: counter!("exactly_endpoint_outbox_published_total"),
            batches: counter!("exactly_endpoint_batches_committed_total"),
        }
    }

    /// A batch committed with these counts.
    pub fn committed(&self, report: &BatchReport) {
        self.batches.increment(1);
        self.deliveries.increment(report.deliveries);
        self.processed.increment(report.processed);
        self.duplicates.increment(report.duplicates);
        self.dead_letters.increment(report.dead_lettered);
        self.outbox_stored.increment(report.outgoing);
    }

    /// `entries` outbox entries were published.
    pub fn published(&self, entries: u64) {
        self.outbox_published.increment(entries);
    }
}
