//! [`Catalog`]: the distributed jobs of a cluster, in PostgreSQL — what `exactly job
//! submit|list|cancel` change and what workers poll.
//!
//! ```sql
//! CREATE TABLE <schema>.cluster_job_specs (
//!     job          text PRIMARY KEY,
//!     spec         text NOT NULL,            -- the JobSpec as JSON
//!     state        text NOT NULL CHECK (state IN ('running', 'cancelled')),
//!     submitted_at timestamptz NOT NULL DEFAULT now(),
//!     updated_at   timestamptz NOT NULL DEFAULT now()
//! );
//! ```
//!
//! Submitting is idempotent: the same specification again changes nothing; a different
//! one under a taken name is refused (a job's shape is fixed for its life: its key groups
//! are its state's partitioning). A cancelled job's name stays taken.

use crate::spec::JobSpec;
use postgres::{Client, NoTls};

/// A job in the catalog and its state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CatalogEntry {
    /// The job.
    pub spec: JobSpec,
    /// `running` or `cancelled`.
    pub state: JobState,
    /// When it was submitted (the server's clock, ISO 8601).
    pub submitted_at: String,
}

/// Whether workers run a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Workers run its tasks.
    Running,
    /// Workers stop its tasks (with a final checkpoint) and leave it.
    Cancelled,
}

/// What [`Catalog::submit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// The job is new.
    Created,
    /// The same job was already there.
    AlreadyThere,
}

/// Why the catalog could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The schema name is not `[a-z_][a-z0-9_]{0,62}`.
    #[error("invalid schema name {0:?}: lower-case letters, digits and _ only")]
    BadSchema(String),
    /// PostgreSQL failed or could not be reached.
    #[error("job catalog in {location}: {source}")]
    Db {
        /// Where (URL without credentials, schema).
        location: String,
        /// Why.
        source: postgres::Error,
    },
    /// A different job of that name exists.
    #[error("job {name} exists with another specification (stored: {stored}); a job's shape is fixed: submit it under a new name")]
    Conflict {
        /// The name.
        name: String,
        /// The stored specification, as JSON.
        stored: String,
    },
    /// No job of that name.
    #[error("no job {0} in the catalog")]
    NoSuchJob(String),
    /// A stored row does not decode.
    #[error("job {name}: stored row does not decode: {reason}")]
    BadRow {
        /// The job.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// The job catalog of one cluster (one schema).
pub struct Catalog {
    client: Client,
    schema: String,
    location: String,
}

/// Serializes table creation with the other cluster tables' (any fixed key would do; this
/// one is the catalog's own).
const CREATE_LOCK_KEY: i64 = 0x6578_6163_746c_7963; // "exactlyc"

impl Catalog {
    /// Connects to `url` and creates the table in `schema` if needed.
    pub fn connect(url: &str, schema: &str) -> Result<Self, CatalogError> {
        if !valid_schema(schema) {
            return Err(CatalogError::BadSchema(schema.to_string()));
        }
        let location = location(url, schema);
        let db = |source| CatalogError::Db {
            location: location.clone(),
            source,
        };
        let mut client = Client::connect(url, NoTls).map_err(db)?;
        let mut tx = client.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREATE_LOCK_KEY])
            .map_err(db)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.cluster_job_specs (
                 job          text PRIMARY KEY,
                 spec         text NOT NULL,
                 state        text NOT NULL CHECK (state IN ('running', 'cancelled')),
                 submitted_at timestamptz NOT NULL DEFAULT now(),
                 updated_at   timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Self {
            client,
            schema: schema.to_string(),
            location,
        })
    }

    fn db(&self) -> impl Fn(postgres::Error) -> CatalogError + '_ {
        |source| CatalogError::Db {
            location: self.location.clone(),
            source,
        }
    }

    /// Stores `spec` (validated by the caller) as a running job.
    pub fn submit(&mut self, spec: &JobSpec) -> Result<Submitted, CatalogError> {
        let text = serde_json::to_string(spec).map_err(|e| CatalogError::BadRow {
            name: spec.name.clone(),
            reason: e.to_string(),
        })?;
        let schema = self.schema.clone();
        let inserted = (self.client)
            .execute(
                &format!(
                    "INSERT INTO {schema}.cluster_job_specs (job, spec, state)
                     VALUES ($1, $2, 'running') ON CONFLICT (job) DO NOTHING"
                ),
                &[&spec.name, &text],
            )
            .map_err(|source| CatalogError::Db {
                location: self.location.clone(),
                source,
            })?;
        if inserted == 1 {
            return Ok(Submitted::Created);
        }
        let stored = self.get(&spec.name)?;
        if stored.spec == *spec {
            Ok(Submitted::AlreadyThere)
        } else {
            Err(CatalogError::Conflict {
                name: spec.name.clone(),
                stored: serde_json::to_string(&stored.spec).unwrap_or_default(),
            })
        }
    }

    /// Every job, by name.
    pub fn list(&mut self) -> Result<Vec<CatalogEntry>, CatalogError> {
        let schema = &self.schema;
        let sql = format!(
            "SELECT job, spec, state, to_char(submitted_at AT TIME ZONE 'UTC',
                    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
               FROM {schema}.cluster_job_specs ORDER BY job"
        );
        let rows = self.client.query(&sql, &[]).map_err(self.db())?;
        rows.iter().map(decode_row).collect()
    }

    /// The job `name`.
    pub fn get(&mut self, name: &str) -> Result<CatalogEntry, CatalogError> {
        let found = self.list()?.into_iter().find(|e| e.spec.name == name);
        found.ok_or_else(|| CatalogError::NoSuchJob(name.to_string()))
    }

    /// Marks `name` cancelled: workers stop its tasks.
    pub fn cancel(&mut self, name: &str) -> Result<(), CatalogError> {
        let schema = &self.schema;
        let sql = format!(
            "UPDATE {schema}.cluster_job_specs SET state = 'cancelled', updated_at = now()
              WHERE job = $1"
        );
        let updated = self.client.execute(&sql, &[&name]).map_err(self.db())?;
        match updated {
            0 => Err(CatalogError::NoSuchJob(name.to_string())),
            _ => Ok(()),
        }
    }
}

fn decode_row(row: &postgres::Row) -> Result<CatalogEntry, CatalogError> {
    let name: String = row.get(0);
    let bad = |reason: String| CatalogError::BadRow {
        name: name.clone(),
        reason,
    };
    let text: String = row.get(1);
    let spec: JobSpec = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let state = match row.get::<_, String>(2).as_str() {
        "running" => JobState::Running,
        "cancelled" => JobState::Cancelled,
        other => return Err(bad(format!("state {other:?}"))),
    };
    if spec.name != name {
        return Err(bad(format!("specification names job {}", spec.name)));
    }
    Ok(CatalogEntry {
        spec,
        state,
        submitted_at: row.get(3),
    })
}

/// Where the catalog is, for messages: database and schema, never the URL (it may hold
/// a password).
pub fn location(url: &str, schema: &str) -> String {
    let database = (url.parse::<postgres::Config>().ok())
        .and_then(|c| c.get_dbname().map(str::to_string))
        .unwrap_or_else(|| "(the server's default)".to_string());
    format!("postgresql database {database} schema {schema}")
}

/// `[a-z_][a-z0-9_]{0,62}`: a schema name safe to splice into SQL.
pub fn valid_schema(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && schema.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
