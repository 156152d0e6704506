//! Schemas that outlive a SIGKILLed run, and their clean-up.
//!
//! A run that owns a pair of endpoint schemas (`<prefix>_a`, `<prefix>_b`) cannot clean up
//! when it is killed. Every run therefore holds a session advisory lock named after its
//! schema prefix for its whole duration, on a connection of its own ([`lock_run`]): the
//! server releases it when the process dies, however it dies. The run creates its two
//! schemas itself, marked with a comment ([`RunLock::create_schemas`]). A later
//! [`drop_orphans`] drops every marked schema pair whose run lock and endpoint locks are
//! all free — the leftovers of a killed run — and never a schema of a run that is still
//! going (nor an unmarked one: a run of an older version takes no run lock).
//!
//! # Example
//! ```no_run
//! use exactly_postgres::orphans::{drop_orphans, lock_run};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "host=127.0.0.1 user=postgres dbname=test";
//! let dropped = drop_orphans(url, "exactly_bank_")?;
//! println!("dropped the leftovers of {dropped:?}");
//! let mut run = lock_run(url, "exactly_bank_42")?;
//! run.create_schemas("exactly_bank_42")?;
//! // … run the endpoints; dropping `run` (or dying) releases the lock.
//! # Ok(())
//! # }
//! ```

use postgres::{Client, NoTls};

/// Why taking a run lock or cleaning up failed.
#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    /// A statement or connection failed.
    #[error("{what}")]
    Sql {
        /// What was being done.
        what: String,
        /// Cause.
        source: postgres::Error,
    },
    /// Another run holds the run lock of the prefix.
    #[error("another bank run is using the schema prefix {prefix}")]
    Busy {
        /// The schema prefix.
        prefix: String,
    },
}

/// Wraps a driver error with what was being done, logging it.
fn sql(what: impl Into<String>) -> impl FnOnce(postgres::Error) -> OrphanError {
    let what = what.into();
    move |source| {
        tracing::warn!(what = %what, error = %source, "PostgreSQL run-lock operation failed");
        OrphanError::Sql { what, source }
    }
}

/// The lock a run holds for its whole duration.
fn run_lock_name(prefix: &str) -> String {
    format!("exactly-bank/{prefix}")
}

/// The lock an endpoint holds on its schema ([`crate::PgStore`]'s).
fn endpoint_lock_name(schema: &str) -> String {
    format!("exactly-endpoint/{schema}")
}

/// The comment that marks a schema as created by a run holding a run lock.
const SCHEMA_MARK: &str = "exactly-bank-run";

/// Held for the run's duration: dropping it (or the process dying) releases the run lock.
pub struct RunLock {
    client: Client,
}

impl RunLock {
    /// Creates the run's two schemas, marked as belonging to a locked run (the endpoints
    /// create their tables in them).
    pub fn create_schemas(&mut self, prefix: &str) -> Result<(), OrphanError> {
        for schema in [format!("{prefix}_a"), format!("{prefix}_b")] {
            self.client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; COMMENT ON SCHEMA {schema} IS '{SCHEMA_MARK}'"
                ))
                .map_err(sql(format!("creating schema {schema}")))?;
        }
        Ok(())
    }
}

/// Takes the run lock of `prefix` on a connection of its own.
pub fn lock_run(url: &str, prefix: &str) -> Result<RunLock, OrphanError> {
    let mut client = Client::connect(url, NoTls).map_err(sql("connecting to take the run lock"))?;
    let locked: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext($1))",
            &[&run_lock_name(prefix)],
        )
        .map_err(sql("taking the run lock"))?
        .try_get(0)
        .map_err(sql("reading the run lock's answer"))?;
    if !locked {
        return Err(OrphanError::Busy {
            prefix: prefix.to_string(),
        });
    }
    Ok(RunLock { client })
}

/// Drops the schemas of killed runs whose prefix starts with `prefix_start`; returns the
/// prefixes dropped.
pub fn drop_orphans(url: &str, prefix_start: &str) -> Result<Vec<String>, OrphanError> {
    let mut client =
        Client::connect(url, NoTls).map_err(sql("connecting to look for leftovers"))?;
    let pattern = format!("{}%", prefix_start.replace('_', "\\_"));
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace
             WHERE nspname LIKE $1 AND obj_description(oid, 'pg_namespace') = $2 ORDER BY 1",
            &[&pattern, &SCHEMA_MARK],
        )
        .map_err(sql("listing bank schemas"))?;
    let mut prefixes: Vec<String> = Vec::new();
    for row in rows {
        let schema: String = row.try_get(0).map_err(sql("reading a schema name"))?;
        let prefix = schema
            .strip_suffix("_a")
            .or_else(|| schema.strip_suffix("_b"));
        let plain = |p: &&str| {
            p.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        };
        if let Some(prefix) = prefix
            .filter(plain)
            .filter(|p| !prefixes.iter().any(|q| q == p))
        {
            prefixes.push(prefix.to_string());
        }
    }
    let mut dropped = Vec::new();
    for prefix in prefixes {
        if drop_if_orphan(&mut client, &prefix)? {
            dropped.push(prefix);
        }
    }
    Ok(dropped)
}

/// Drops the schema pair of `prefix` if no run and no endpoint holds its locks.
fn drop_if_orphan(client: &mut Client, prefix: &str) -> Result<bool, OrphanError> {
    let (a, b) = (format!("{prefix}_a"), format!("{prefix}_b"));
    let names = [
        run_lock_name(prefix),
        endpoint_lock_name(&a),
        endpoint_lock_name(&b),
    ];
    let mut held = Vec::new();
    let mut free = true;
    for name in &names {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[name])
            .map_err(sql(format!("probing lock {name}")))?
            .try_get(0)
            .map_err(sql(format!("reading lock {name}")))?;
        if !locked {
            free = false;
            break;
        }
        held.push(name);
    }
    if free {
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {a} CASCADE; DROP SCHEMA IF EXISTS {b} CASCADE"
            ))
            .map_err(sql(format!("dropping the leftover schemas {a}, {b}")))?;
    }
    for name in held {
        client
            .execute("SELECT pg_advisory_unlock(hashtext($1))", &[name])
            .map_err(sql(format!("releasing lock {name}")))?;
    }
    Ok(free)
}
