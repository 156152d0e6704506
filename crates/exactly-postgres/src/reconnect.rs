//! Reconnecting a PostgreSQL endpoint store: [`PgOpener`] opens a [`PgStore`] for the
//! serve loop of `exactly_endpoint::serve` (which reconnects with backoff after a lost
//! connection), and [`is_connection_lost`] says which errors a new connection may cure.
//!
//! # Example
//! ```no_run
//! use exactly_endpoint::serve::{open_store, ReconnectPolicy};
//! use exactly_postgres::{PgOpener, PgOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut opener = PgOpener {
//!     url: "host=127.0.0.1 user=postgres dbname=test".to_string(),
//!     schema: "shop".to_string(),
//!     options: PgOptions::default(),
//! };
//! // Retries while the server is unreachable (10 attempts, 100 ms to 5 s apart).
//! let store = open_store(&ReconnectPolicy::default(), &mut opener, &mut ())?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```

use crate::error::ConnectError;
use crate::store::{PgOptions, PgStore};
use exactly_endpoint::serve::StoreOpener;
use exactly_endpoint::{EndpointError, StoreError};
use std::error::Error;

/// Opens the [`PgStore`] of one schema; transient failures are retried by the caller.
#[derive(Clone, Debug)]
pub struct PgOpener {
    /// Connection string (`postgres://…` or `host=… user=…`).
    pub url: String,
    /// The endpoint's schema.
    pub schema: String,
    /// Store options.
    pub options: PgOptions,
}

impl StoreOpener for PgOpener {
    type Store = PgStore;
    type Error = ConnectError;

    fn open(&mut self) -> Result<PgStore, ConnectError> {
        PgStore::connect(&self.url, &self.schema, self.options).inspect_err(|e| {
            tracing::warn!(schema = %self.schema, error = %e, "connecting the endpoint store failed");
        })
    }

    fn is_transient(&self, error: &ConnectError) -> bool {
        error.is_transient()
    }
}

/// Whether `error` (anywhere in its chain of sources) is a lost or refused store
/// connection, which a new connection may cure — not a refused statement, corruption or a
/// bad argument.
pub fn is_connection_lost(error: &(dyn Error + 'static)) -> bool {
    let mut link = Some(error);
    while let Some(cause) = link {
        // `EndpointError::Store` and `ConnectError::Store` are transparent: the store error
        // is the link itself, not its source.
        if matches!(
            cause.downcast_ref::<StoreError>(),
            Some(StoreError::Connection { .. })
        ) || matches!(
            cause.downcast_ref::<EndpointError>(),
            Some(EndpointError::Store(StoreError::Connection { .. }))
        ) || cause
            .downcast_ref::<ConnectError>()
            .is_some_and(ConnectError::is_transient)
        {
            return true;
        }
        link = cause.source();
    }
    false
}
