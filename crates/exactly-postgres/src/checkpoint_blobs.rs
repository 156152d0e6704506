//! Large checkpoint state, content-addressed: the [`BlobStore`] trait and its PostgreSQL
//! implementation [`PgBlobStore`] (a row per blob and its chunks, written in one
//! transaction).
//!
//! A blob is named by the SHA-256 of its bytes ([`Digest`]). It is uploaded — durably —
//! before the checkpoint row that points to it commits, so a committed checkpoint never
//! points to a blob that was never written; on restore its bytes are hashed again and
//! compared with the digest, so a damaged blob is refused
//! ([`CheckpointError::BlobDamaged`]), never restored. Blobs are per job: one job's
//! clean-up never touches another's.

use crate::checkpoint_schema::{check_epoch, lock_epoch, to_i64};
use crate::checkpoint_session::{Attempt, PgSession};
use exactly_state::CheckpointError;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The SHA-256 of a blob's bytes: its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The digest from its 32 stored bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Where large checkpoint state lives.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `digest` (their SHA-256) for `job`, durably when it returns.
    /// Idempotent: a blob already stored is not written again.
    fn put(&self, job: &str, digest: &Digest, bytes: &[u8]) -> Result<(), CheckpointError>;

    /// The bytes of blob `digest`, checked: their length is `bytes_len` and they hash to
    /// `digest`, else [`CheckpointError::BlobDamaged`].
    fn get(&self, job: &str, digest: &Digest, bytes_len: u64) -> Result<Vec<u8>, CheckpointError>;

    /// Deletes `job`'s blobs not in `referenced`, unless a writer with an epoch above
    /// `epoch` took the job over ([`CheckpointError::Fenced`]: a fenced writer must not
    /// delete blobs its successor may have uploaded). Returns how many it deleted.
    fn remove_unreferenced(
        &self,
        job: &str,
        epoch: u64,
        referenced: &BTreeSet<Digest>,
    ) -> Result<u64, CheckpointError>;
}

/// Blobs in the checkpoint store's own schema, in chunks of at most `chunk_bytes`.
#[derive(Debug)]
pub struct PgBlobStore {
    session: Arc<PgSession>,
    schema: String,
    chunk_bytes: usize,
}

impl PgBlobStore {
    pub(crate) fn new(session: Arc<PgSession>, schema: &str, chunk_bytes: usize) -> Self {
        Self {
            session,
            schema: schema.to_string(),
            chunk_bytes: chunk_bytes.max(1),
        }
    }

    fn damaged(&self, digest: &Digest, reason: String) -> CheckpointError {
        CheckpointError::BlobDamaged {
            location: self.session.location.clone(),
            digest: digest.to_string(),
            reason,
        }
    }

    fn put_once(
        &self,
        client: &mut postgres::Client,
        job: &str,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<(), Attempt> {
        let schema = &self.schema;
        let location = &self.session.location;
        let chunks: Vec<&[u8]> = bytes.chunks(self.chunk_bytes).collect();
        let mut tx = client.transaction()?;
        let inserted = tx.execute(
            &format!(
                "INSERT INTO {schema}.checkpoint_blobs (job, digest, bytes_len, chunks)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (job, digest) DO NOTHING"
            ),
            &[
                &job,
                &&digest.0[..],
                &to_i64(bytes.len() as u64, location)?,
                &i32::try_from(chunks.len()).map_err(|_| {
                    self.session
                        .backend(format!("blob {digest} has too many chunks"))
                })?,
            ],
        )?;
        // The row and its chunks commit together: a blob row that exists is complete.
        if inserted == 1 {
            let statement = tx.prepare(&format!(
                "INSERT INTO {schema}.checkpoint_blob_chunks (job, digest, seq, data)
                 VALUES ($1, $2, $3, $4)"
            ))?;
            for (seq, chunk) in (0i32..).zip(chunks) {
                tx.execute(&statement, &[&job, &&digest.0[..], &seq, &chunk])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn get_once(
        &self,
        client: &mut postgres::Client,
        job: &str,
        digest: &Digest,
        bytes_len: u64,
    ) -> Result<Vec<u8>, Attempt> {
        let schema = &self.schema;
        let row = client.query_opt(
            &format!(
                "SELECT bytes_len, chunks FROM {schema}.checkpoint_blobs
                 WHERE job = $1 AND digest = $2"
            ),
            &[&job, &&digest.0[..]],
        )?;
        let Some(row) = row else {
            return Err(self.damaged(digest, "it is missing".into()).into());
        };
        let (stored_len, chunks): (i64, i32) = (row.try_get(0)?, row.try_get(1)?);
        if u64::try_from(stored_len).ok() != Some(bytes_len) {
            let reason = format!("its row says {stored_len} bytes, the checkpoint {bytes_len}");
            return Err(self.damaged(digest, reason).into());
        }
        let rows = client.query(
            &format!(
                "SELECT seq, data FROM {schema}.checkpoint_blob_chunks
                 WHERE job = $1 AND digest = $2 ORDER BY seq"
            ),
            &[&job, &&digest.0[..]],
        )?;
        let mut bytes = Vec::new();
        let mut expected_seq = 0i32;
        for row in rows {
            let (seq, data): (i32, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
            if seq != expected_seq {
                let reason = format!("chunk {expected_seq} is missing (found {seq})");
                return Err(self.damaged(digest, reason).into());
            }
            expected_seq += 1;
            bytes.extend_from_slice(&data);
        }
        if expected_seq != chunks || bytes.len() as u64 != bytes_len {
            let reason = format!(
                "{expected_seq} chunks of {} bytes, its row says {chunks} chunks of {bytes_len}",
                bytes.len()
            );
            return Err(self.damaged(digest, reason).into());
        }
        let found = Digest::of(&bytes);
        if found != *digest {
            let reason = format!("its bytes hash to {found}");
            return Err(self.damaged(digest, reason).into());
        }
        Ok(bytes)
    }

    fn remove_once(
        &self,
        client: &mut postgres::Client,
        job: &str,
        epoch: u64,
        referenced: &[&[u8]],
    ) -> Result<u64, Attempt> {
        let schema = &self.schema;
        let location = &self.session.location;
        let mut tx = client.transaction()?;
        let stored = lock_epoch(&mut tx, schema, job, location)?;
        check_epoch(location, job, epoch, stored)?;
        let deleted = tx.execute(
            &format!(
                "DELETE FROM {schema}.checkpoint_blobs
                 WHERE job = $1 AND NOT (digest = ANY ($2))"
            ),
            &[&job, &referenced],
        )?;
        tx.commit()?;
        Ok(deleted)
    }
}

impl BlobStore for PgBlobStore {
    fn put(&self, job: &str, digest: &Digest, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.session.run("uploading a blob", |client| {
            self.put_once(client, job, digest, bytes)
        })
    }

    fn get(&self, job: &str, digest: &Digest, bytes_len: u64) -> Result<Vec<u8>, CheckpointError> {
        self.session.run("reading a blob", |client| {
            self.get_once(client, job, digest, bytes_len)
        })
    }

    fn remove_unreferenced(
        &self,
        job: &str,
        epoch: u64,
        referenced: &BTreeSet<Digest>,
    ) -> Result<u64, CheckpointError> {
        let referenced: Vec<&[u8]> = referenced.iter().map(|d| &d.0[..]).collect();
        self.session.run("deleting unreferenced blobs", |client| {
            self.remove_once(client, job, epoch, &referenced)
        })
    }
}
