//! The endpoint runtime: batches through the store transaction, then the dispatcher.
//!
//! Protocol per batch (one store transaction): look the ids up in the inbox; run the
//! handler for the new ones; write state, inbox ids, outbox entries and source positions;
//! commit. After the commit the dispatcher publishes the outbox at-least-once and marks
//! it. A crash before the commit loses nothing (the source redelivers); between commit and
//! publish the outbox still holds the messages (published at the next start); between
//! publish and mark they are published twice and the receiving inbox drops the copy.

use crate::handler::Handler;
use crate::message::{Delivery, OutboxEntry};
use crate::meters::EndpointMeters;
use crate::plan::{plan_batch, BatchReport, PlanError};
use crate::store::{Store, StoreError};
use exactly_core::Clock;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Publishing the outbox failed; the entries stay in the outbox and are retried.
#[derive(Debug, thiserror::Error)]
#[error("publishing to {topic} failed: {reason}")]
pub struct PublishError {
    /// Destination topic.
    pub topic: String,
    /// Transport message.
    pub reason: String,
    /// Whether a new session may cure it (the transport's server or network failed).
    pub transient: bool,
}

/// Where the dispatcher publishes outbox entries (the embedded log, NATS JetStream).
pub trait Publisher {
    /// Publishes `entries` in order, durably, before returning `Ok`. At-least-once: may be
    /// called again with entries already published.
    fn publish(&mut self, entries: &[OutboxEntry]) -> Result<(), PublishError>;
}

/// An endpoint operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The store failed: the batch did not commit (or its outcome is unknown); reopen the
    /// store and redeliver.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The handler failed or a stored value is bad: the batch did not commit.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The dispatcher could not publish; the outbox keeps the entries.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Settings of an endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Topic that receives rejected messages.
    pub dead_letter_topic: String,
    /// Most outbox entries per publish call.
    pub dispatch_batch_max: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            dead_letter_topic: "dead-letters".to_string(),
            dispatch_batch_max: 4096,
        }
    }
}

/// A consistent endpoint: a handler over a store.
pub struct Endpoint<H, S> {
    handler: H,
    store: S,
    config: EndpointConfig,
    clock: Arc<dyn Clock>,
    meters: EndpointMeters,
}

impl<H: Handler, S: Store> Endpoint<H, S> {
    /// An endpoint running `handler` over `store`.
    pub fn new(handler: H, store: S, config: EndpointConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            handler,
            store,
            config,
            clock,
            meters: EndpointMeters::new(),
        }
    }

    /// The store (positions, audits).
    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back (closing the endpoint).
    pub fn into_store(self) -> S {
        self.store
    }

    /// Takes the endpoint apart: handler and store (to reopen a store whose connection
    /// was lost, then build the endpoint again with [`Endpoint::new`]).
    pub fn into_parts(self) -> (H, S) {
        (self.handler, self.store)
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Processes `deliveries` in order, in transactions of at most
    /// [`Handler::batch_max`] messages. On error, the batches before the failing one are
    /// committed and the rest are not.
    pub fn process(&mut self, deliveries: &[Delivery]) -> Result<BatchReport, EndpointError> {
        self.run_batches(deliveries, true)
    }

    /// Runs the handler over `deliveries` inside store transactions that are rolled back:
    /// what the batch would do, without doing it (also what a crash right before the
    /// commit leaves behind). Each transaction of at most [`Handler::batch_max`] messages
    /// sees the committed state only, not the rolled-back effects of the previous ones.
    pub fn dry_run(&mut self, deliveries: &[Delivery]) -> Result<BatchReport, EndpointError> {
        self.run_batches(deliveries, false)
    }

    fn run_batches(
        &mut self,
        deliveries: &[Delivery],
        commit: bool,
    ) -> Result<BatchReport, EndpointError> {
        let mut total = BatchReport::default();
        for chunk in deliveries.chunks(self.handler.batch_max().max(1)) {
            total.add(&self.process_batch(chunk, commit)?);
        }
        Ok(total)
    }

    fn process_batch(
        &mut self,
        batch: &[Delivery],
        commit: bool,
    ) -> Result<BatchReport, EndpointError> {
        let ids: Vec<_> = batch
            .iter()
            .map(|d| d.message.id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let keys = self.declared_keys(batch);
        let now_ms = self.clock.now_ms();
        let (handler, topic) = (&mut self.handler, self.config.dead_letter_topic.as_str());
        let mut result = Ok(BatchReport::default());
        let mut plan =
            |prefetched| match plan_batch(handler, batch, &keys, prefetched, topic, now_ms) {
                Ok((planned, report)) => {
                    result = Ok(report);
                    commit.then_some(planned)
                }
                Err(error) => {
                    result = Err(error);
                    None
                }
            };
        self.store.transact(&ids, &keys, &mut plan)?;
        let report = result?;
        if commit {
            self.meters.committed(&report);
        }
        Ok(report)
    }

    fn declared_keys(&self, batch: &[Delivery]) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        for delivery in batch.iter().filter(|d| d.malformed.is_none()) {
            self.handler.keys(&delivery.message, &mut keys);
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Publishes up to one dispatch batch of the outbox; returns the last published `seq`
    /// (`None`: the outbox was empty). The entries are not marked yet.
    pub fn publish_pending(
        &mut self,
        publisher: &mut dyn Publisher,
    ) -> Result<Option<u64>, EndpointError> {
        let entries = self.store.pending_outbox(self.config.dispatch_batch_max)?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(None);
        };
        publisher.publish(&entries)?;
        self.meters.published(entries.len() as u64);
        Ok(Some(last))
    }

    /// Marks the outbox dispatched up to `upto_seq`.
    pub fn mark_dispatched(&mut self, upto_seq: u64) -> Result<(), EndpointError> {
        Ok(self.store.mark_dispatched(upto_seq)?)
    }

    /// Publishes and marks the whole outbox; returns how many entries were published.
    pub fn dispatch(&mut self, publisher: &mut dyn Publisher) -> Result<u64, EndpointError> {
        let mut published = 0u64;
        loop {
            let entries = self.store.pending_outbox(self.config.dispatch_batch_max)?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                return Ok(published);
            };
            publisher.publish(&entries)?;
            self.meters.published(entries.len() as u64);
            self.store.mark_dispatched(last)?;
            published += entries.len() as u64;
        }
    }
}
