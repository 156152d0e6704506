//! [`PostgresCheckpointStore`]: a job's checkpoints in PostgreSQL, so that a job can be
//! restarted on another machine. Implements [`CheckpointStorage`].
//!
//! **Commit point.** One transaction per checkpoint: lock the job's epoch row
//! (`SELECT … FOR UPDATE`), refuse a writer whose epoch is below the stored one
//! ([`CheckpointError::Fenced`]), refuse an id not above the newest, insert the row (body,
//! SHA-256 of the body, epoch, clock) and its blob references, `COMMIT`. Blobs (states
//! above `inline_bytes_max`) were uploaded before, in their own transactions.
//!
//! **A connection lost during the commit** leaves the outcome unknown to us. It is never
//! guessed: the store reconnects ([`ReconnectPolicy`]) and runs the transaction again,
//! which first takes the job's row lock — held by the lost transaction until the server
//! ended it, so once we hold it that transaction has committed or rolled back — and then
//! reads back whether checkpoint `id` is stored: with our checksum, the lost attempt
//! committed and the write succeeded; absent, it did not, and this attempt writes it.
//!
//! **Restore** checks the body's checksum ([`CheckpointError::DamagedRecord`], skipped and
//! reported by [`CheckpointStorage::latest`]) and every blob's digest
//! ([`CheckpointError::BlobDamaged`], an error).

use crate::checkpoint_blobs::{BlobStore, Digest, PgBlobStore};
use crate::checkpoint_body::{checksum, split, StoredBody};
use crate::checkpoint_schema::{
    check_epoch, claim_epoch, create_tables, lock_epoch, to_i64, valid_schema, EpochClaim, FORMAT,
};
use crate::checkpoint_session::{Attempt, PgSession};
use crate::error::store_location;
use crate::lease_error::CommitRefused;
use crate::lease_store::check_commit_in;
use exactly_cluster::{Epoch, TaskId, WorkerId};
use exactly_core::Timestamp;
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_state::{Checkpoint, CheckpointError, CheckpointStorage, Restored};
use postgres::Client;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How to open a [`PostgresCheckpointStore`].
#[derive(Clone, Debug)]
pub struct PgCheckpointConfig {
    /// Connection string (`postgres://…` or `host=… user=…`).
    pub url: String,
    /// Schema of the checkpoint tables (`[a-z_][a-z0-9_]{0,62}`), created if missing.
    pub schema: String,
    /// The job whose checkpoints these are.
    pub job: String,
    /// Checkpoints kept (≥ 1).
    pub keep: usize,
    /// How this writer gets its epoch.
    pub epoch: EpochClaim,
    /// States longer than this are stored as blobs.
    pub inline_bytes_max: usize,
    /// Size of a blob's chunks.
    pub chunk_bytes: usize,
    /// Reconnecting after a lost connection.
    pub reconnect: ReconnectPolicy,
    /// A distributed job's task lease every commit must hold (checked in the commit's own
    /// transaction); `None` for a job that is not a task of a distributed job.
    pub lease: Option<LeaseFence>,
}

/// The task lease a checkpoint writer holds (see `docs/cluster.md`, "Commit check"): its
/// commits are accepted only while it owns the task at `epoch` and the lease is live by
/// the server's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseFence {
    /// Schema of the lease tables (`PgLeaseConfig::schema`).
    pub schema: String,
    /// The distributed job the task belongs to (the lease tables' job).
    pub job: String,
    /// The worker incarnation holding the lease.
    pub worker: WorkerId,
    /// The task.
    pub task: TaskId,
    /// The lease epoch.
    pub epoch: Epoch,
}

impl PgCheckpointConfig {
    /// Defaults: keep 3, claim the next epoch, states over 64 KiB as blobs in 1 MiB
    /// chunks, the endpoint's reconnect policy (10 attempts, 100 ms to 5 s).
    pub fn new(url: &str, schema: &str, job: &str) -> Self {
        Self {
            url: url.to_string(),
            schema: schema.to_string(),
            job: job.to_string(),
            keep: 3,
            epoch: EpochClaim::Next,
            inline_bytes_max: 64 * 1024,
            chunk_bytes: 1024 * 1024,
            reconnect: ReconnectPolicy::default(),
            lease: None,
        }
    }
}

/// What fault injection does at a commit (see [`PostgresCheckpointStore::set_commit_hook`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitFault {
    /// Nothing: commit normally.
    None,
    /// Commit, then drop the connection as if the reply had been lost.
    LoseReply,
}

/// Called right before `COMMIT` of a checkpoint with the backend's process id (tests cut
/// the connection there with `pg_terminate_backend`).
pub type CommitHook = Box<dyn FnMut(i32) -> CommitFault + Send>;

/// One stored checkpoint as listed (without its body).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredCheckpoint {
    /// Checkpoint id.
    pub id: u64,
    /// Epoch of the writer that committed it.
    pub epoch: u64,
    /// Its checkpoint clock (ms).
    pub clock_ms: i64,
    /// Bytes of the row body.
    pub body_bytes: u64,
    /// Blobs it points to.
    pub blobs: u64,
    /// Commit time (the server's clock, ISO 8601).
    pub written_at: String,
}

/// A job's checkpoints in PostgreSQL (see the module documentation).
pub struct PostgresCheckpointStore {
    session: Arc<PgSession>,
    blobs: Arc<dyn BlobStore>,
    schema: String,
    job: String,
    keep: usize,
    epoch: u64,
    inline_bytes_max: usize,
    lease: Option<LeaseFence>,
    commit_hook: Mutex<Option<CommitHook>>,
}

impl std::fmt::Debug for PostgresCheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCheckpointStore")
            .field("location", &self.session.location)
            .field("epoch", &self.epoch)
            .finish()
    }
}

fn location_of(config: &PgCheckpointConfig) -> String {
    store_location(&config.url, &config.schema, &config.job)
}

impl PostgresCheckpointStore {
    /// Connects, creates the tables if needed and claims the writer's epoch.
    pub fn connect(config: &PgCheckpointConfig) -> Result<Self, CheckpointError> {
        let location = location_of(config);
        if !valid_schema(&config.schema) {
            return Err(CheckpointError::Backend {
                location,
                reason: format!(
                    "invalid schema name {:?}: lower-case letters, digits and _ only",
                    config.schema
                ),
            });
        }
        let application_name = format!("exactly-checkpoints/{}", config.job);
        let session = Arc::new(PgSession::new(
            &config.url,
            &application_name,
            config.reconnect,
            location.clone(),
        ));
        let (schema, job) = (config.schema.as_str(), config.job.as_str());
        let epoch = session.run("creating the tables and claiming an epoch", |client| {
            create_tables(client, schema)?;
            claim_epoch(client, schema, job, config.epoch, &location)
        })?;
        tracing::info!(%location, epoch, "checkpoint store connected");
        let blobs = Arc::new(PgBlobStore::new(
            session.clone(),
            schema,
            config.chunk_bytes,
        ));
        Ok(Self {
            session,
            blobs,
            schema: config.schema.clone(),
            job: config.job.clone(),
            keep: config.keep.max(1),
            epoch,
            inline_bytes_max: config.inline_bytes_max,
            lease: config.lease.clone(),
            commit_hook: Mutex::new(None),
        })
    }

    /// Opens the job's checkpoints for reading only (`exactly run status`): no table is
    /// created and no epoch claimed — the reader's epoch is 0, so any write or prune
    /// through it is [`CheckpointError::Fenced`] once a writer has connected.
    pub fn open_reader(config: &PgCheckpointConfig) -> Result<Self, CheckpointError> {
        let location = location_of(config);
        if !valid_schema(&config.schema) {
            return Err(CheckpointError::Backend {
                location,
                reason: format!("invalid schema name {:?}", config.schema),
            });
        }
        let session = Arc::new(PgSession::new(
            &config.url,
            &format!("exactly-checkpoints/{}/read", config.job),
            config.reconnect,
            location,
        ));
        let blobs = Arc::new(PgBlobStore::new(
            session.clone(),
            &config.schema,
            config.chunk_bytes,
        ));
        Ok(Self {
            session,
            blobs,
            schema: config.schema.clone(),
            job: config.job.clone(),
            keep: config.keep.max(1),
            epoch: 0,
            inline_bytes_max: config.inline_bytes_max,
            lease: config.lease.clone(),
            commit_hook: Mutex::new(None),
        })
    }

    /// Keeps blobs in `blobs` instead of this store's tables.
    pub fn with_blob_store(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    /// This writer's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Installs a hook run right before each checkpoint's `COMMIT` (fault injection).
    pub fn set_commit_hook(&self, hook: Option<CommitHook>) -> Result<(), CheckpointError> {
        let mut slot = self.commit_hook.lock().map_err(|_| {
            self.session
                .backend("the commit hook's lock is poisoned".into())
        })?;
        *slot = hook;
        Ok(())
    }

    /// Every stored checkpoint of the job, oldest first.
    pub fn list(&self) -> Result<Vec<StoredCheckpoint>, CheckpointError> {
        let schema = &self.schema;
        self.session.run("listing checkpoints", |client| {
            let rows = client.query(
                &format!(
                    "SELECT c.id, c.epoch, c.clock_ms, octet_length(c.body)::bigint,
                            (SELECT count(*) FROM {schema}.checkpoint_blob_refs r
                             WHERE r.job = c.job AND r.id = c.id),
                            to_char(c.written_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
                     FROM {schema}.checkpoints c WHERE c.job = $1 ORDER BY c.id"
                ),
                &[&self.job],
            )?;
            let mut listed = Vec::new();
            for row in rows {
                let (id, epoch, body): (i64, i64, i64) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(3)?);
                let blobs: i64 = row.try_get(4)?;
                listed.push(StoredCheckpoint {
                    id: id.unsigned_abs(),
                    epoch: epoch.unsigned_abs(),
                    clock_ms: row.try_get(2)?,
                    body_bytes: body.unsigned_abs(),
                    blobs: blobs.unsigned_abs(),
                    written_at: row.try_get(5)?,
                });
            }
            Ok(listed)
        })
    }

    fn run_hook(&self, client: &mut postgres::Transaction<'_>) -> Result<CommitFault, Attempt> {
        let mut slot = self.commit_hook.lock().map_err(|_| {
            self.session
                .backend("the commit hook's lock is poisoned".into())
        })?;
        let Some(hook) = slot.as_mut() else {
            return Ok(CommitFault::None);
        };
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])?
            .try_get(0)?;
        Ok(hook(pid))
    }

    /// The lease check of a distributed job's task, in the commit's transaction (the row
    /// lock it takes orders this commit before any takeover of the task).
    fn check_lease(&self, tx: &mut postgres::Transaction<'_>, id: i64) -> Result<(), Attempt> {
        let Some(fence) = &self.lease else {
            return Ok(());
        };
        let (worker, task, epoch) = (fence.worker, fence.task, fence.epoch);
        match check_commit_in(tx, &fence.schema, &fence.job, worker, task, epoch) {
            Ok(()) => Ok(()),
            Err(CommitRefused::Lease(refusal)) => Err(CheckpointError::NotLeased {
                location: self.session.location.clone(),
                job: self.job.clone(),
                id: id.unsigned_abs(),
                reason: refusal.to_string(),
            }
            .into()),
            // Lost connection or conflict: the session reconnects and runs the whole
            // commit again, lease check included.
            Err(CommitRefused::Store(error)) if error.is_transient() => {
                Err(Attempt::Lost(error.to_string()))
            }
            Err(CommitRefused::Store(error)) => Err(self.session.backend(error.to_string()).into()),
        }
    }

    /// One attempt of the commit transaction (see the module documentation).
    fn commit_once(
        &self,
        client: &mut Client,
        id: i64,
        clock_ms: i64,
        body: &[u8],
        sum: &[u8; 32],
        digests: &[&[u8]],
    ) -> Result<(), Attempt> {
        let (schema, job, location) = (&self.schema, &self.job, &self.session.location);
        let mut tx = client.transaction()?;
        let stored_epoch = lock_epoch(&mut tx, schema, job, location)?;
        check_epoch(location, job, self.epoch, stored_epoch)?;
        self.check_lease(&mut tx, id)?;
        // Read back: a lost attempt of this very write may have committed.
        let existing = tx.query_opt(
            &format!("SELECT body_sha256 FROM {schema}.checkpoints WHERE job = $1 AND id = $2"),
            &[job, &id],
        )?;
        let newest: Option<i64> = tx
            .query_one(
                &format!("SELECT max(id) FROM {schema}.checkpoints WHERE job = $1"),
                &[job],
            )?
            .try_get(0)?;
        if let Some(row) = existing {
            let stored: Vec<u8> = row.try_get(0)?;
            if stored == sum {
                tracing::info!(%location, id, "a lost commit of this checkpoint had committed");
                tx.commit()?;
                return Ok(());
            }
        }
        if let Some(latest) = newest.filter(|latest| *latest >= id) {
            return Err(CheckpointError::NotNewer {
                id: id.unsigned_abs(),
                latest: latest.unsigned_abs(),
            }
            .into());
        }
        let epoch = to_i64(self.epoch, location)?;
        tx.execute(
            &format!(
                "INSERT INTO {schema}.checkpoints
                     (job, id, epoch, clock_ms, format, body, body_sha256)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[job, &id, &epoch, &clock_ms, &FORMAT, &body, &&sum[..]],
        )?;
        if !digests.is_empty() {
            tx.execute(
                &format!(
                    "INSERT INTO {schema}.checkpoint_blob_refs (job, id, digest)
                     SELECT $1, $2, d FROM unnest($3::bytea[]) AS d ON CONFLICT DO NOTHING"
                ),
                &[job, &id, &digests],
            )?;
        }
        let fault = self.run_hook(&mut tx)?;
        tx.commit()?;
        if fault == CommitFault::LoseReply {
            return Err(Attempt::Lost(
                "fault injection: the commit's reply was lost".into(),
            ));
        }
        Ok(())
    }

    /// The row of checkpoint `id`: (format, body, checksum).
    fn load_row(&self, id: u64) -> Result<(i16, Vec<u8>, Vec<u8>), CheckpointError> {
        let schema = &self.schema;
        let key = to_i64(id, &self.session.location)?;
        let row = self.session.run("loading a checkpoint", |client| {
            let row = client.query_opt(
                &format!(
                    "SELECT format, body, body_sha256 FROM {schema}.checkpoints
                     WHERE job = $1 AND id = $2"
                ),
                &[&self.job, &key],
            )?;
            match row {
                Some(row) => Ok(Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))),
                None => Ok(None),
            }
        })?;
        row.ok_or_else(|| {
            self.session.backend(format!(
                "checkpoint {id} of job {:?} is not stored",
                self.job
            ))
        })
    }

    fn damaged(&self, id: u64, reason: String) -> CheckpointError {
        CheckpointError::DamagedRecord {
            location: self.session.location.clone(),
            id,
            reason,
        }
    }

    fn decode(
        &self,
        id: u64,
        format: i16,
        body: &[u8],
        sum: &[u8],
    ) -> Result<StoredBody, CheckpointError> {
        if format != FORMAT {
            return Err(CheckpointError::UnsupportedVersion {
                path: PathBuf::from(&self.session.location),
                found: u32::from(format.unsigned_abs()),
                supported: u32::from(FORMAT.unsigned_abs()),
            });
        }
        if checksum(body)[..] != *sum {
            return Err(self.damaged(id, "its body does not match its SHA-256".into()));
        }
        let stored: StoredBody = postcard::from_bytes(body)
            .map_err(|e| self.damaged(id, format!("its body does not decode: {e}")))?;
        if stored.id != id {
            return Err(self.damaged(id, format!("its body names checkpoint {}", stored.id)));
        }
        Ok(stored)
    }
}

impl CheckpointStorage for PostgresCheckpointStore {
    fn write(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let parts = split(checkpoint, self.inline_bytes_max);
        let body = postcard::to_allocvec(&parts.body).map_err(|e| CheckpointError::Encode {
            id: checkpoint.id,
            reason: e.to_string(),
        })?;
        let sum = checksum(&body);
        for (digest, bytes) in &parts.blobs {
            self.blobs.put(&self.job, digest, bytes)?;
        }
        let digests: Vec<&[u8]> = parts.blobs.iter().map(|(d, _)| &d.0[..]).collect();
        let id = to_i64(checkpoint.id, &self.session.location)?;
        self.session.run("committing a checkpoint", |client| {
            self.commit_once(client, id, checkpoint.clock.0, &body, &sum, &digests)
        })?;
        if let Err(error) = self.prune(self.keep) {
            tracing::warn!(location = %self.session.location, %error, "pruning checkpoints failed");
        }
        Ok(())
    }

    fn load(&self, id: u64) -> Result<Checkpoint, CheckpointError> {
        let (format, body, sum) = self.load_row(id)?;
        let stored = self.decode(id, format, &body, &sum)?;
        let mut states = stored.inline;
        for (name, blob) in stored.blobs {
            let digest = Digest(blob.digest);
            let bytes = self.blobs.get(&self.job, &digest, blob.bytes_len)?;
            states.insert(name, bytes);
        }
        Ok(Checkpoint {
            id,
            clock: Timestamp(stored.clock_ms),
            positions: stored.positions,
            states,
            metadata: stored.metadata,
        })
    }

    fn latest(&self) -> Result<Restored, CheckpointError> {
        let mut skipped = Vec::new();
        for id in self.ids()?.into_iter().rev() {
            match self.load(id) {
                Ok(checkpoint) => {
                    return Ok(Restored {
                        checkpoint: Some(checkpoint),
                        skipped,
                    })
                }
                Err(error @ CheckpointError::DamagedRecord { .. }) => skipped.push(error),
                Err(other) => return Err(other),
            }
        }
        Ok(Restored {
            checkpoint: None,
            skipped,
        })
    }

    fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        let schema = &self.schema;
        self.session.run("listing checkpoint ids", |client| {
            let rows = client.query(
                &format!("SELECT id FROM {schema}.checkpoints WHERE job = $1 ORDER BY id"),
                &[&self.job],
            )?;
            let mut ids = Vec::with_capacity(rows.len());
            for row in rows {
                ids.push(row.try_get::<_, i64>(0)?.unsigned_abs());
            }
            Ok(ids)
        })
    }

    fn prune(&self, keep: usize) -> Result<usize, CheckpointError> {
        let (schema, job, location) = (&self.schema, &self.job, &self.session.location);
        let keep = i64::try_from(keep.max(1))
            .map_err(|_| self.session.backend("keep is too large".into()))?;
        let (deleted, referenced) = self.session.run("pruning checkpoints", |client| {
            let mut tx = client.transaction()?;
            let stored = lock_epoch(&mut tx, schema, job, location)?;
            check_epoch(location, job, self.epoch, stored)?;
            let deleted = tx.execute(
                &format!(
                    "DELETE FROM {schema}.checkpoints WHERE job = $1 AND id NOT IN
                     (SELECT id FROM {schema}.checkpoints WHERE job = $1 ORDER BY id DESC LIMIT $2)"
                ),
                &[job, &keep],
            )?;
            let rows = tx.query(
                &format!(
                    "SELECT DISTINCT digest FROM {schema}.checkpoint_blob_refs WHERE job = $1"
                ),
                &[job],
            )?;
            let mut referenced = BTreeSet::new();
            for row in rows {
                let bytes: Vec<u8> = row.try_get(0)?;
                let digest = Digest::from_slice(&bytes).ok_or_else(|| {
                    self.session
                        .backend(format!("a blob reference of {job:?} is not 32 bytes"))
                })?;
                referenced.insert(digest);
            }
            tx.commit()?;
            Ok((deleted, referenced))
        })?;
        self.blobs
            .remove_unreferenced(job, self.epoch, &referenced)?;
        usize::try_from(deleted).map_err(|_| self.session.backend("deleted count overflows".into()))
    }

    fn location(&self) -> String {
        self.session.location.clone()
    }
}
