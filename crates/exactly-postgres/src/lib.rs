//! `exactly-postgres`: PostgreSQL backends for `exactly`. Today: [`PgStore`], the endpoint
//! store — inbox, state, outbox and source positions of one endpoint in one schema, each
//! batch in one database transaction.
//!
//! Built on the synchronous `postgres` crate (a blocking wrapper over `tokio-postgres` by
//! the same author): the endpoint runtime and the rest of `exactly` are synchronous and
//! run one transaction at a time per endpoint, so an async API would add a runtime and
//! nothing to overlap.
//!
//! # Layout
//! - [`store`]: [`PgStore`], its schema, the single-writer advisory lock, batched SQL.
//! - [`error`]: [`ConnectError`] and the mapping of driver errors to `StoreError`.
//! - [`reconnect`]: [`PgOpener`] for the endpoint serve loop, and which errors a new
//!   connection may cure.
//! - [`orphans`]: run locks and the clean-up of schemas a killed run left behind.

pub mod error;
pub mod orphans;
pub mod reconnect;
pub mod store;

pub use error::ConnectError;
pub use reconnect::{is_connection_lost, PgOpener};
pub use store::{drop_schema, PgOptions, PgStore, APPLICATION_NAME_PREFIX};
