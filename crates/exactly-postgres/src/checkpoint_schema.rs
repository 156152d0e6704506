//! The tables of the PostgreSQL checkpoint store, created idempotently, and the job's
//! epoch row (claimed at connect, checked by every commit).
//!
//! ```text
//! checkpoint_jobs        (job PK, epoch)                         one row per job: the fence
//! checkpoints            (job, id) PK, epoch, clock_ms, format,  one row per checkpoint: the
//!                        body, body_sha256, written_at           commit point
//! checkpoint_blob_refs   (job, id, digest) PK → checkpoints      blobs a checkpoint points to
//! checkpoint_blobs       (job, digest) PK, bytes_len, chunks     one row per blob …
//! checkpoint_blob_chunks (job, digest, seq) PK → blobs, data     … and its chunks, written
//!                                                                in one transaction with it
//! ```
//!
//! Blob references carry no foreign key to the blob tables: blobs sit behind their own
//! trait (`checkpoint_blobs.rs`) and may live elsewhere.

use exactly_state::CheckpointError;
use postgres::Client;

/// Advisory lock key serializing table creation (concurrent `CREATE … IF NOT EXISTS` of
/// the same table can fail on the catalog's unique index). The lease tables
/// (`lease_schema.rs`) take the same key: both may create one schema at once.
pub(crate) const CREATE_LOCK_KEY: i64 = 0x6578_6163_746c_7931;

/// The body format of checkpoint rows this build writes and reads.
pub(crate) const FORMAT: i16 = 1;

/// Whether `schema` is `[a-z_][a-z0-9_]{0,62}` (it is spliced into SQL).
pub(crate) fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first_ok
        && schema.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn ddl(schema: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.checkpoint_jobs (
             job text PRIMARY KEY,
             epoch bigint NOT NULL CHECK (epoch >= 0),
             updated_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS {schema}.checkpoints (
             job text NOT NULL REFERENCES {schema}.checkpoint_jobs (job),
             id bigint NOT NULL CHECK (id >= 0),
             epoch bigint NOT NULL,
             clock_ms bigint NOT NULL,
             format smallint NOT NULL,
             body bytea NOT NULL,
             body_sha256 bytea NOT NULL,
             written_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (job, id));
         CREATE TABLE IF NOT EXISTS {schema}.checkpoint_blob_refs (
             job text NOT NULL,
             id bigint NOT NULL,
             digest bytea NOT NULL,
             PRIMARY KEY (job, id, digest),
             FOREIGN KEY (job, id) REFERENCES {schema}.checkpoints (job, id) ON DELETE CASCADE);
         CREATE TABLE IF NOT EXISTS {schema}.checkpoint_blobs (
             job text NOT NULL,
             digest bytea NOT NULL,
             bytes_len bigint NOT NULL CHECK (bytes_len >= 0),
             chunks integer NOT NULL CHECK (chunks >= 0),
             PRIMARY KEY (job, digest));
         CREATE TABLE IF NOT EXISTS {schema}.checkpoint_blob_chunks (
             job text NOT NULL,
             digest bytea NOT NULL,
             seq integer NOT NULL,
             data bytea NOT NULL,
             PRIMARY KEY (job, digest, seq),
             FOREIGN KEY (job, digest) REFERENCES {schema}.checkpoint_blobs (job, digest)
                 ON DELETE CASCADE);"
    )
}

/// Creates the schema and tables unless they exist.
pub(crate) fn create_tables(client: &mut Client, schema: &str) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREATE_LOCK_KEY])?;
    tx.batch_execute(&ddl(schema))?;
    tx.commit()
}

/// How a writer gets its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochClaim {
    /// One above the stored epoch (1 for a new job): this writer fences every earlier one.
    /// A claim whose reply was lost is retried and may skip an epoch, which fences no one
    /// wrongly.
    Next,
    /// An epoch handed out elsewhere (a lease): refused as
    /// [`CheckpointError::Fenced`] if the stored one is higher, stored if it is higher.
    Given(u64),
}

/// Claims an epoch for `job`; returns it.
pub(crate) fn claim_epoch(
    client: &mut Client,
    schema: &str,
    job: &str,
    claim: EpochClaim,
    location: &str,
) -> Result<u64, crate::checkpoint_session::Attempt> {
    let mut tx = client.transaction()?;
    let epoch = match claim {
        EpochClaim::Next => {
            let row = tx.query_one(
                &format!(
                    "INSERT INTO {schema}.checkpoint_jobs AS j (job, epoch) VALUES ($1, 1)
                     ON CONFLICT (job) DO UPDATE SET epoch = j.epoch + 1, updated_at = now()
                     RETURNING epoch"
                ),
                &[&job],
            )?;
            row.try_get::<_, i64>(0)?
        }
        EpochClaim::Given(epoch) => {
            let mine = to_i64(epoch, location)?;
            tx.execute(
                &format!(
                    "INSERT INTO {schema}.checkpoint_jobs (job, epoch) VALUES ($1, $2)
                     ON CONFLICT (job) DO NOTHING"
                ),
                &[&job, &mine],
            )?;
            let stored = lock_epoch(&mut tx, schema, job, location)?;
            check_epoch(location, job, epoch, stored)?;
            tx.execute(
                &format!(
                    "UPDATE {schema}.checkpoint_jobs SET epoch = $2, updated_at = now()
                     WHERE job = $1"
                ),
                &[&job, &mine],
            )?;
            mine
        }
    };
    tx.commit()?;
    Ok(epoch.unsigned_abs())
}

/// Locks the job's row until the transaction ends and returns its epoch. Every commit and
/// every clean-up takes this lock first, so they are serialized with a takeover — and a
/// lost transaction that held it has ended once we hold it.
pub(crate) fn lock_epoch(
    tx: &mut postgres::Transaction<'_>,
    schema: &str,
    job: &str,
    location: &str,
) -> Result<u64, crate::checkpoint_session::Attempt> {
    let row = tx.query_opt(
        &format!("SELECT epoch FROM {schema}.checkpoint_jobs WHERE job = $1 FOR UPDATE"),
        &[&job],
    )?;
    let Some(row) = row else {
        return Err(CheckpointError::Backend {
            location: location.to_string(),
            reason: format!("job {job:?} has no epoch row (its writer never connected)"),
        }
        .into());
    };
    let stored: i64 = row.try_get(0)?;
    Ok(stored.unsigned_abs())
}

/// Refuses a writer whose epoch is below the stored one.
pub(crate) fn check_epoch(
    location: &str,
    job: &str,
    epoch: u64,
    stored_epoch: u64,
) -> Result<(), CheckpointError> {
    if stored_epoch > epoch {
        return Err(CheckpointError::Fenced {
            location: location.to_string(),
            job: job.to_string(),
            epoch,
            stored_epoch,
        });
    }
    Ok(())
}

/// A `u64` as a `bigint`, refused above `i64::MAX`.
pub(crate) fn to_i64(value: u64, location: &str) -> Result<i64, CheckpointError> {
    i64::try_from(value).map_err(|_| CheckpointError::Backend {
        location: location.to_string(),
        reason: format!("{value} does not fit a bigint"),
    })
}
