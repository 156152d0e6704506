//! `exactly-endpoint`: consistent endpoints — exactly-once *processing* at a service
//! endpoint. For each incoming message, in one store transaction, the runtime
//! looks its id up in the **inbox** (a duplicate skips the handler), runs the handler
//! against the **state**, records the id, and stores the outgoing messages in the
//! **outbox** with ids derived from the incoming id and their index. After the commit a
//! dispatcher publishes the outbox at-least-once; downstream inboxes drop the copies. State
//! and outgoing messages follow the same logical order (the outbox `seq`).
//!
//! # Layout
//! - [`id`]: [`MessageId`] and the derivation of outgoing ids.
//! - [`message`]: [`Message`], [`Delivery`], [`OutboxEntry`], the transport envelope.
//! - [`handler`]: the [`Handler`] trait, the [`State`] view with its undo list, [`Outbox`].
//! - [`store`]: the [`Store`] trait, [`Commit`], [`RetentionPolicy`], [`StoreError`].
//! - [`meters`]: the endpoint's metrics (deliveries, inbox de-duplication hits, dead
//!   letters, outbox) through the `metrics` facade.
//! - [`plan`]: the sans-IO core of a batch (prefetched rows + deliveries → commit).
//! - [`runtime`]: [`Endpoint`] (batches, dispatcher) and the [`Publisher`] trait.
//! - [`serve`]: the serve loop of one endpoint process over any [`Store`] and any input
//!   ([`SourceOpener`]: the embedded log here, NATS JetStream in `exactly-nats`), with
//!   new sessions after a lost store connection or a transient transport failure.
//! - [`embedded`]: [`EmbeddedStore`], journal + snapshot on `exactly_core::Storage`.
//! - [`transport`]: the [`Source`] trait (acknowledging after the commit), [`LogSource`]
//!   and [`LogPublisher`] on the embedded log.
//! - [`bank`]: the two-endpoint bank example (debit at `accounts-a`, credit at `accounts-b`).
//! - [`bank_audit`]: the bank's audit after a run ([`bank_audit::audit`]: both stores and
//!   what accounts-a published against the workload's model).
//! - [`bank_layout`]: where one run of the bank keeps its things (roles, directories, schemas).
//! - [`testkit`]: the seeded bank workload, the crash-point driver and the model checker
//!   shared by the tests of every store and by the CLI.
//!
//! The protocol, the file layout and the retention figures are in `docs/design.md`; the
//! hazards and their tests in `docs/SAFETY.md`.
//!
//! # Example
//! A counter endpoint on the embedded store: the same message delivered twice (a producer
//! retry, a redelivery after a crash) changes the state once and sends one message.
//! ```
//! use exactly_core::clock::SystemClock;
//! use exactly_endpoint::{
//!     Delivery, EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, Handler,
//!     HandlerError, Message, MessageId, Outbox, Position, State,
//! };
//! use std::sync::Arc;
//!
//! struct Counter;
//! impl Handler for Counter {
//!     type Value = i64;
//!     fn keys(&self, msg: &Message, keys: &mut Vec<Vec<u8>>) {
//!         keys.push(msg.key.clone());
//!     }
//!     fn handle(&mut self, msg: &Message, state: &mut State<'_, i64>, out: &mut Outbox)
//!         -> Result<(), HandlerError> {
//!         let count = state.get(&msg.key)?.copied().unwrap_or(0) + 1; // absent: never counted
//!         state.put(&msg.key, count)?;
//!         out.send("counted", msg.key.clone(), count.to_le_bytes().to_vec())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())?;
//! let mut endpoint = Endpoint::new(Counter, store, EndpointConfig::default(), Arc::new(SystemClock));
//! let delivery = |offset: u64| Delivery {
//!     message: Message { id: MessageId::from_name("click-1"), key: b"page".to_vec(),
//!                        payload: Vec::new(), timestamp_ms: 0 },
//!     malformed: None,
//!     position: Position { topic: "clicks".into(), partition: 0, next_offset: offset + 1 },
//! };
//! let first = endpoint.process(&[delivery(0)])?;
//! let again = endpoint.process(&[delivery(1)])?; // the same id, delivered again
//! assert_eq!((first.processed, again.processed, again.duplicates), (1, 0, 1));
//! # Ok(()) }
//! ```

pub mod bank;
pub mod bank_audit;
pub mod bank_layout;
pub mod embedded;
pub mod handler;
pub mod id;
pub mod message;
pub mod meters;
pub mod plan;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod testkit;
pub mod transport;

pub use embedded::{EmbeddedOptions, EmbeddedStore};
pub use handler::{Handler, HandlerError, Outbox, Outgoing, State, StateValue};
pub use id::MessageId;
pub use message::{Delivery, Message, OutboxEntry, Position};
pub use plan::{BatchReport, PlanError};
pub use runtime::{Endpoint, EndpointConfig, EndpointError, PublishError, Publisher};
pub use serve::{LogInput, SourceOpener, SourceServer};
pub use store::{
    Commit, InboxStats, NewOutgoing, Outcome, Prefetched, RetentionPolicy, StateEntry, Store,
    StoreError,
};
pub use transport::{LogPublisher, LogSource, LostTail, Source, SourceError};
