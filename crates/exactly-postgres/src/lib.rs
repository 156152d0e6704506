//! `exactly-postgres`: PostgreSQL backends for `exactly`: [`PgStore`], the endpoint
//! store — inbox, state, outbox and source positions of one endpoint in one schema, each
//! batch in one database transaction —, [`PostgresCheckpointStore`], a stream job's
//! checkpoints (one transaction per checkpoint is the commit point, fenced by an epoch;
//! large state in content-addressed blobs), and [`PgLeaseStore`], a distributed job's
//! membership and task leases (the authority of `exactly-cluster`).
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
//! - [`store_choice`]: [`StoreChoice`], an endpoint's store named by one string
//!   (`embedded` or a PostgreSQL URL), and [`ChoiceOpener`] for the serve loop.
//! - [`checkpoint_store`]: [`PostgresCheckpointStore`], the engine's
//!   [`exactly_state::CheckpointStorage`] in PostgreSQL; [`checkpoint_schema`]: its tables
//!   and the epoch row ([`EpochClaim`]); [`checkpoint_blobs`]: the [`BlobStore`] trait for
//!   large state and its PostgreSQL implementation. (`checkpoint_session.rs`: the store's
//!   reconnecting connection; `checkpoint_body.rs`: a row's body and checksum.)
//!   [`checkpoint_report`]: what a job's checkpoints are, as `exactly run status` shows.
//! - [`lease_store`]: [`PgLeaseStore`], a distributed job's membership, coordinator
//!   lease, assignment and task leases — `exactly_cluster::LeaseTable` as SQL, one
//!   transaction per request — and [`check_commit_in`], the checkpoint commit's fence in
//!   the commit's own transaction; [`lease_schema`]: its tables, how values are stored,
//!   [`StoreClock`]; [`lease_error`]: [`LeaseStoreError`] and [`CommitRefused`].
//!   (`lease_ops.rs`: each request's SQL, its locks and how refusals are explained;
//!   `lease_task_ops.rs`: the task-lease requests' SQL; `lease_scope.rs`: what both share.)
//!
//! # Example
//! ```no_run
//! use exactly_postgres::{PgCheckpointConfig, PostgresCheckpointStore};
//! use exactly_state::{Checkpoint, CheckpointStorage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PgCheckpointConfig::new("host=127.0.0.1 user=postgres dbname=test", "jobs", "balances");
//! // Claims the next epoch: any earlier writer of job `balances` is fenced from now on.
//! let store = PostgresCheckpointStore::connect(&config)?;
//! store.write(&Checkpoint { id: 1, ..Checkpoint::default() })?; // the commit point
//! assert_eq!(store.latest()?.checkpoint.map(|c| c.id), Some(1));
//! # Ok(())
//! # }
//! ```

pub mod checkpoint_blobs;
mod checkpoint_body;
pub mod checkpoint_report;
pub mod checkpoint_schema;
mod checkpoint_session;
pub mod checkpoint_store;
pub mod error;
pub mod lease_error;
mod lease_ops;
pub mod lease_schema;
mod lease_scope;
pub mod lease_store;
mod lease_task_ops;
pub mod orphans;
pub mod reconnect;
pub mod store;
pub mod store_choice;

pub use checkpoint_blobs::{BlobStore, Digest, PgBlobStore};
pub use checkpoint_schema::EpochClaim;
pub use checkpoint_store::{
    CommitFault, CommitHook, LeaseFence, PgCheckpointConfig, PostgresCheckpointStore,
    StoredCheckpoint,
};
pub use error::ConnectError;
pub use lease_error::{CommitRefused, LeaseStoreError};
pub use lease_schema::StoreClock;
pub use lease_store::{check_commit_in, BeforeCommit, PgLeaseConfig, PgLeaseStore};
pub use reconnect::{is_connection_lost, PgOpener};
pub use store::{drop_schema, PgOptions, PgStore, APPLICATION_NAME_PREFIX};
pub use store_choice::{BadStoreChoice, ChoiceOpener, OpenFailure, OpenStoreError, StoreChoice};
