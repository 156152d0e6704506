//! An endpoint's store chosen by one string, as a command line takes it: `embedded` (an
//! [`EmbeddedStore`] in a directory) or a PostgreSQL URL (`postgres://…` or `host=… user=…`,
//! a [`PgStore`] in a schema). [`ChoiceOpener`] opens the chosen store for the serve loop
//! of `exactly_endpoint::serve`, which retries what [`is_connection_lost`] calls transient.
//!
//! # Example
//! ```no_run
//! use exactly_endpoint::RetentionPolicy;
//! use exactly_postgres::store_choice::StoreChoice;
//! use std::path::Path;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let choice = StoreChoice::parse("embedded")?;
//! let store = choice.open("shop", Path::new("/tmp/shop"), "shop", RetentionPolicy::KeepAll)?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```

use crate::error::ConnectError;
use crate::reconnect::is_connection_lost;
use crate::store::{PgOptions, PgStore};
use exactly_endpoint::bank_layout::{schema_of, Layout, Role};
use exactly_endpoint::serve::StoreOpener;
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, RetentionPolicy, Store, StoreError};
use std::path::{Path, PathBuf};

/// Which store an endpoint keeps its inbox, state and outbox in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreChoice {
    /// The embedded store, in a directory of the endpoint's.
    Embedded,
    /// PostgreSQL at this connection string, in a schema of the endpoint's.
    Postgres(String),
}

/// A store choice that is neither `embedded` nor a PostgreSQL URL.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be `embedded` or a PostgreSQL URL, not {0:?}")]
pub struct BadStoreChoice(pub String);

/// Why the chosen store could not be opened ([`OpenFailure`], boxed: the result of every
/// open stays small).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OpenStoreError(Box<OpenFailure>);

impl OpenStoreError {
    /// What failed.
    pub fn failure(&self) -> &OpenFailure {
        &self.0
    }
}

impl From<OpenFailure> for OpenStoreError {
    fn from(failure: OpenFailure) -> Self {
        Self(Box::new(failure))
    }
}

/// What failed when opening the chosen store.
#[derive(Debug, thiserror::Error)]
pub enum OpenFailure {
    /// The embedded store in `dir` failed to open.
    #[error("opening the store of {name} in {}", dir.display())]
    Embedded {
        /// The endpoint.
        name: String,
        /// The store's directory.
        dir: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// Connecting to PostgreSQL (or preparing the schema) failed.
    #[error("connecting the store of {name} (schema {schema})")]
    Postgres {
        /// The endpoint.
        name: String,
        /// The endpoint's schema.
        schema: String,
        /// Why.
        source: ConnectError,
    },
}

impl StoreChoice {
    /// `embedded`, or a PostgreSQL URL (`postgres…` or a string with `host=`).
    pub fn parse(text: &str) -> Result<Self, BadStoreChoice> {
        if text == "embedded" {
            return Ok(Self::Embedded);
        }
        match text.starts_with("postgres") || text.contains("host=") {
            true => Ok(Self::Postgres(text.to_string())),
            false => Err(BadStoreChoice(text.to_string())),
        }
    }

    /// The choice as [`StoreChoice::parse`] reads it back (`embedded` or the URL).
    pub fn as_arg(&self) -> &str {
        match self {
            Self::Embedded => "embedded",
            Self::Postgres(url) => url,
        }
    }

    /// Whether this is the embedded store.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Embedded)
    }

    /// Opens the store of endpoint `name`: the embedded one in `dir`, or PostgreSQL in
    /// `schema`, both keeping inbox ids by `retention`.
    pub fn open(
        &self,
        name: &str,
        dir: &Path,
        schema: &str,
        retention: RetentionPolicy,
    ) -> Result<Box<dyn Store>, OpenStoreError> {
        match self {
            Self::Embedded => {
                let options = EmbeddedOptions {
                    retention,
                    ..EmbeddedOptions::default()
                };
                let store =
                    EmbeddedStore::open(dir, options).map_err(|source| OpenFailure::Embedded {
                        name: name.to_string(),
                        dir: dir.to_path_buf(),
                        source,
                    })?;
                Ok(Box::new(store))
            }
            Self::Postgres(url) => {
                let options = PgOptions {
                    retention,
                    ..PgOptions::default()
                };
                let store = PgStore::connect(url, schema, options).map_err(|source| {
                    OpenFailure::Postgres {
                        name: name.to_string(),
                        schema: schema.to_string(),
                        source,
                    }
                })?;
                Ok(Box::new(store))
            }
        }
    }

    /// The opener of `role`'s store in the bank run laid out by `layout`, its schema
    /// prefixed by `schema_prefix`. Inbox retention keeps every id: the bank's audit reads
    /// the whole inbox.
    pub fn bank_opener(&self, layout: &Layout, role: Role, schema_prefix: &str) -> ChoiceOpener {
        ChoiceOpener {
            choice: self.clone(),
            name: role.name().to_string(),
            dir: layout.store_dir(role),
            schema: schema_of(schema_prefix, role),
            retention: RetentionPolicy::KeepAll,
        }
    }
}

/// Opens a chosen store, again and again, for the serve loop.
#[derive(Clone, Debug)]
pub struct ChoiceOpener {
    /// The store chosen.
    pub choice: StoreChoice,
    /// The endpoint (named in errors).
    pub name: String,
    /// The embedded store's directory.
    pub dir: PathBuf,
    /// The PostgreSQL schema.
    pub schema: String,
    /// Inbox retention.
    pub retention: RetentionPolicy,
}

impl StoreOpener for ChoiceOpener {
    type Store = Box<dyn Store>;
    type Error = OpenStoreError;

    fn open(&mut self) -> Result<Box<dyn Store>, OpenStoreError> {
        self.choice
            .open(&self.name, &self.dir, &self.schema, self.retention)
    }

    fn is_transient(&self, error: &OpenStoreError) -> bool {
        is_connection_lost(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_takes_embedded_and_postgres_urls_only() {
        assert_eq!(StoreChoice::parse("embedded"), Ok(StoreChoice::Embedded));
        assert!(matches!(
            StoreChoice::parse("host=127.0.0.1 user=postgres"),
            Ok(StoreChoice::Postgres(_))
        ));
        assert_eq!(
            StoreChoice::parse("sqlite"),
            Err(BadStoreChoice("sqlite".to_string()))
        );
    }
}
