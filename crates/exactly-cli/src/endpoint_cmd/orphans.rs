//! The PostgreSQL schemas of a bank run outlive a SIGKILLed `bank` (it cannot clean up).
//! Every run therefore holds a session advisory lock named after its schema prefix for its
//! whole duration, on a connection of its own: the server releases it when the process
//! dies, however it dies. The run creates its two schemas itself, marked with a comment.
//! The next run drops every marked schema pair whose run lock and endpoint locks are all
//! free — the leftovers of a killed run — and never a schema of a run that is still going
//! (nor an unmarked one: a run of an older version takes no run lock).

use anyhow::Context;
use postgres::{Client, NoTls};

/// Every bank schema prefix starts with this (the clean-up looks for it).
pub(crate) const SCHEMA_PREFIX_START: &str = "exactly_bank_";

/// The lock a bank run holds for its whole duration.
fn run_lock_name(prefix: &str) -> String {
    format!("exactly-bank/{prefix}")
}

/// The lock an endpoint holds on its schema (`exactly_postgres::PgStore`'s).
fn endpoint_lock_name(schema: &str) -> String {
    format!("exactly-endpoint/{schema}")
}

/// The comment that marks a schema as created by a bank run holding a run lock.
const SCHEMA_MARK: &str = "exactly-bank-run";

/// Held for the run's duration: dropping it (or the process dying) releases the run lock.
pub(crate) struct RunLock {
    client: Client,
}

impl RunLock {
    /// Creates the run's two schemas, marked as belonging to a locked run (the endpoints
    /// create their tables in them).
    pub(crate) fn create_schemas(&mut self, prefix: &str) -> anyhow::Result<()> {
        for schema in [format!("{prefix}_a"), format!("{prefix}_b")] {
            self.client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; COMMENT ON SCHEMA {schema} IS '{SCHEMA_MARK}'"
                ))
                .with_context(|| format!("creating schema {schema}"))?;
        }
        Ok(())
    }
}

/// Takes the run lock of `prefix` on a connection of its own.
pub(crate) fn lock_run(url: &str, prefix: &str) -> anyhow::Result<RunLock> {
    let mut client = Client::connect(url, NoTls).context("connecting to take the run lock")?;
    let locked: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext($1))",
            &[&run_lock_name(prefix)],
        )
        .context("taking the run lock")?
        .try_get(0)
        .context("reading the run lock's answer")?;
    if !locked {
        anyhow::bail!("another bank run is using the schema prefix {prefix}");
    }
    Ok(RunLock { client })
}

/// Drops the schemas of killed runs; returns the prefixes dropped.
pub(crate) fn drop_orphans(url: &str) -> anyhow::Result<Vec<String>> {
    let mut client = Client::connect(url, NoTls).context("connecting to look for leftovers")?;
    let pattern = format!("{}%", SCHEMA_PREFIX_START.replace('_', "\\_"));
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace
             WHERE nspname LIKE $1 AND obj_description(oid, 'pg_namespace') = $2 ORDER BY 1",
            &[&pattern, &SCHEMA_MARK],
        )
        .context("listing bank schemas")?;
    let mut prefixes: Vec<String> = Vec::new();
    for row in rows {
        let schema: String = row.try_get(0).context("reading a schema name")?;
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
fn drop_if_orphan(client: &mut Client, prefix: &str) -> anyhow::Result<bool> {
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
            .with_context(|| format!("probing lock {name}"))?
            .try_get(0)
            .with_context(|| format!("reading lock {name}"))?;
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
            .with_context(|| format!("dropping the leftover schemas {a}, {b}"))?;
    }
    for name in held {
        client
            .execute("SELECT pg_advisory_unlock(hashtext($1))", &[name])
            .with_context(|| format!("releasing lock {name}"))?;
    }
    Ok(free)
}
