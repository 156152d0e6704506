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
//! - [`plan`]: the sans-IO core of a batch (prefetched rows + deliveries → commit).
//! - [`runtime`]: [`Endpoint`] (batches, dispatcher) and the [`Publisher`] trait.
//! - [`serve`]: the serve loop of one endpoint process over any [`Store`], with
//!   reconnection after a lost store connection.
//! - [`embedded`]: [`EmbeddedStore`], journal + snapshot on `exactly_core::Storage`.
//! - [`transport`]: the [`Source`] trait, [`LogSource`] and [`LogPublisher`] on the
//!   embedded log.
//! - [`bank`]: the two-endpoint bank example (debit at `accounts-a`, credit at `accounts-b`).
//! - [`testkit`]: the seeded bank workload, the crash-point driver and the model checker
//!   shared by the tests of every store and by the CLI.
//!
//! The protocol, the file layout and the retention figures are in `docs/design.md`; the
//! hazards and their tests in `docs/SAFETY.md`.

pub mod bank;
pub mod embedded;
pub mod handler;
pub mod id;
pub mod message;
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
pub use store::{
    Commit, InboxStats, NewOutgoing, Outcome, Prefetched, RetentionPolicy, StateEntry, Store,
    StoreError,
};
pub use transport::{LogPublisher, LogSource, LostTail, Source, SourceError};
