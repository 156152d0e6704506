//! [`EmbeddedStore`]: the endpoint store without a server — an in-memory image of inbox,
//! state, outbox and positions, made durable by a journal of CRC-framed commits and a
//! periodic snapshot, all through [`Storage`] so every crash point can be simulated.
//!
//! Files in the store directory:
//! - `LOCK`: exclusive flock held by the writer (real file system only).
//! - `snapshot`: one core frame holding the whole image, replaced atomically; names the
//!   journal generation that continues it (see `embedded/snapshot.rs`).
//! - `journal-<generation:020>`: core frames of postcard(`Frame`) (see `embedded/journal.rs`). A
//!   commit frame is written and fdatasynced before the commit is acknowledged; dispatch
//!   marks are written without a sync (a lost mark only republishes).
//! - `durable-end`: the evidence of how much of the journal was durable (see
//!   `embedded/durable_end.rs`); recovery refuses to cut a journal below it.

mod durable_end;
mod journal;
mod snapshot;

use durable_end::{Claim, DurableEnd};
pub use journal::FRAME_BODY_BYTES_MAX;
use journal::{encode_frame, replay_journal, Frame};
use snapshot::{SnapshotBody, SNAPSHOT_FILE, SNAPSHOT_VERSION};

use crate::id::MessageId;
use crate::message::{OutboxEntry, Position};
use crate::store::{Commit, InboxStats, Outcome, Prefetched, RetentionPolicy, Store, StoreError};
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::{OpenMode, StdStorage, Storage, StorageFile};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Settings of an [`EmbeddedStore`].
#[derive(Clone, Copy, Debug)]
pub struct EmbeddedOptions {
    /// How long processed ids are remembered.
    pub retention: RetentionPolicy,
    /// Journal size that triggers a snapshot and a fresh journal.
    pub journal_bytes_max: u64,
    /// Most undispatched outbox entries held (in memory); a batch that would exceed it is
    /// refused with [`StoreError::OutboxFull`] until the dispatcher catches up.
    pub outbox_entries_max: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            retention: RetentionPolicy::Count { ids_max: 1_000_000 },
            journal_bytes_max: 64 << 20,
            outbox_entries_max: 1_000_000,
        }
    }
}

/// The in-memory image; `apply` is deterministic so that replay rebuilds it exactly.
#[derive(Default)]
struct Memory {
    inbox: HashMap<MessageId, Outcome>,
    order: VecDeque<(i64, MessageId)>,
    state: HashMap<Vec<u8>, Vec<u8>>,
    outbox: BTreeMap<u64, OutboxEntry>,
    positions: BTreeMap<(String, u32), u64>,
    next_outbox_seq: u64,
}

impl Memory {
    fn apply(&mut self, frame: Frame, retention: RetentionPolicy) {
        match frame {
            Frame::Commit(commit) => self.apply_commit(commit, retention),
            Frame::Dispatched(upto) => {
                let rest = self.outbox.split_off(&upto.saturating_add(1));
                self.outbox = rest;
            }
        }
    }

    fn apply_commit(&mut self, commit: Commit, retention: RetentionPolicy) {
        for (id, outcome) in commit.inbox {
            if self.inbox.insert(id, outcome).is_none() {
                self.order.push_back((commit.now_ms, id));
            }
        }
        for (key, value) in commit.state {
            match value {
                Some(value) => self.state.insert(key, value),
                None => self.state.remove(&key),
            };
        }
        for out in commit.outbox {
            self.next_outbox_seq += 1;
            let seq = self.next_outbox_seq;
            let entry = OutboxEntry {
                seq,
                id: out.id,
                topic: out.topic,
                key: out.key,
                payload: out.payload,
            };
            self.outbox.insert(seq, entry);
        }
        for p in commit.positions {
            self.positions.insert((p.topic, p.partition), p.next_offset);
        }
        self.retain(retention, commit.now_ms);
    }

    fn retain(&mut self, retention: RetentionPolicy, now_ms: i64) {
        let expired = |len: usize, at_ms: i64| match retention {
            RetentionPolicy::KeepAll => false,
            RetentionPolicy::Count { ids_max } => len as u64 > ids_max,
            RetentionPolicy::Age { age_ms } => at_ms < now_ms.saturating_sub(age_ms),
        };
        while let Some(&(at_ms, id)) = self.order.front() {
            if !expired(self.order.len(), at_ms) {
                break;
            }
            self.order.pop_front();
            self.inbox.remove(&id);
        }
    }

    fn to_snapshot(&self, generation: u64) -> SnapshotBody {
        let inbox = self
            .order
            .iter()
            .map(|&(at, id)| {
                (
                    at,
                    id,
                    *self
                        .inbox
                        .get(&id)
                        .expect("`order` and `inbox` hold the same ids: both change together"),
                )
            })
            .collect();
        let mut state: Vec<_> = self
            .state
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        state.sort();
        SnapshotBody {
            version: SNAPSHOT_VERSION,
            generation,
            inbox,
            state,
            outbox: self.outbox.values().cloned().collect(),
            positions: self.positions(),
            next_outbox_seq: self.next_outbox_seq,
        }
    }

    fn from_snapshot(body: SnapshotBody) -> Self {
        let mut memory = Self {
            next_outbox_seq: body.next_outbox_seq,
            ..Self::default()
        };
        for (at_ms, id, outcome) in body.inbox {
            memory.inbox.insert(id, outcome);
            memory.order.push_back((at_ms, id));
        }
        memory.state = body.state.into_iter().collect();
        memory.outbox = body.outbox.into_iter().map(|e| (e.seq, e)).collect();
        memory.positions = body
            .positions
            .into_iter()
            .map(|p| ((p.topic, p.partition), p.next_offset))
            .collect();
        memory
    }

    fn positions(&self) -> Vec<Position> {
        self.positions
            .iter()
            .map(|((topic, partition), next)| Position {
                topic: topic.clone(),
                partition: *partition,
                next_offset: *next,
            })
            .collect()
    }
}

/// The embedded endpoint store. One writer per directory (a flock on the real file system).
pub struct EmbeddedStore {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    options: EmbeddedOptions,
    generation: u64,
    journal: Arc<dyn StorageFile>,
    journal_path: PathBuf,
    journal_len_bytes: u64,
    memory: Memory,
    evidence: DurableEnd,
    failed: Option<String>,
    _lock: Option<std::fs::File>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.dir)
            .finish()
    }
}

fn journal_name(generation: u64) -> String {
    format!("journal-{generation:020}")
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| {
        tracing::warn!(path = %path.display(), error = %source, "embedded store I/O failed");
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir` on the real file system, holding an
    /// exclusive lock on `dir/LOCK` so that a zombie writer cannot interleave.
    pub fn open(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let lock = lock_dir(dir)?;
        let mut store = Self::open_with(Arc::new(StdStorage), dir, options)?;
        store._lock = Some(lock);
        Ok(store)
    }

    /// Opens the store on any storage (simulation). No lock is taken.
    pub fn open_with(
        storage: Arc<dyn Storage>,
        dir: impl AsRef<Path>,
        options: EmbeddedOptions,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        storage.create_dir_all(&dir).map_err(io_error(&dir))?;
        let (generation, mut memory) = load_snapshot(storage.as_ref(), &dir)?;
        let journal_path = dir.join(journal_name(generation));
        let claim = DurableEnd::read(storage.as_ref(), &dir)?;
        check_claim_generation(claim, generation, &dir)?;
        let existed = storage
            .exists(&journal_path)
            .map_err(io_error(&journal_path))?;
        let journal = storage
            .open(&journal_path, OpenMode::CreateOrOpen)
            .map_err(io_error(&journal_path))?;
        if !existed {
            storage.sync_dir(&dir).map_err(io_error(&dir))?;
        }
        let acknowledged_bytes = claim
            .filter(|c| c.generation == generation)
            .map_or(0, |c| c.length_bytes);
        let journal_len_bytes = replay_journal(
            storage.as_ref(),
            &journal_path,
            journal.as_ref(),
            acknowledged_bytes,
            &mut |frame| memory.apply(frame, options.retention),
        )?;
        let claim_now = Claim {
            generation,
            length_bytes: journal_len_bytes,
        };
        let evidence = DurableEnd::open(storage.as_ref(), &dir, claim_now)?;
        let store = Self {
            storage,
            dir,
            options,
            generation,
            journal,
            journal_path,
            journal_len_bytes,
            memory,
            evidence,
            failed: None,
            _lock: None,
        };
        store.remove_stray_files()?;
        Ok(store)
    }

    fn remove_stray_files(&self) -> Result<(), StoreError> {
        let current = journal_name(self.generation);
        let names = self
            .storage
            .list_dir(&self.dir)
            .map_err(io_error(&self.dir))?;
        let mut removed = false;
        for name in names {
            let stray = (name.starts_with("journal-") && name != current) || name.ends_with(".tmp");
            // Never a journal the evidence could still vouch for: a newer one than the
            // snapshot names was refused before this point (check_claim_generation).
            if stray {
                let path = self.dir.join(&name);
                self.storage.remove_file(&path).map_err(io_error(&path))?;
                removed = true;
            }
        }
        if removed {
            self.storage
                .sync_dir(&self.dir)
                .map_err(io_error(&self.dir))?;
        }
        Ok(())
    }

    fn check_up(&self) -> Result<(), StoreError> {
        match &self.failed {
            Some(reason) => Err(StoreError::FailStopped {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records the first failure: from then on the handle refuses all work.
    fn fail(&mut self, error: StoreError) -> StoreError {
        if self.failed.is_none() {
            self.failed = Some(error.to_string());
        }
        error
    }

    fn append_frame(&mut self, frame: &Frame, sync: bool) -> Result<(), StoreError> {
        let bytes = encode_frame(frame)?;
        let path = &self.journal_path;
        self.journal
            .write_at(self.journal_len_bytes, &bytes)
            .map_err(io_error(path))?;
        if sync {
            self.journal.sync_data().map_err(io_error(path))?;
        }
        self.journal_len_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Writes a snapshot and starts a fresh journal. Order: new empty journal (entry
    /// synced), then the snapshot naming it (atomic), then the old journal is removed.
    fn compact(&mut self) -> Result<(), StoreError> {
        let generation = self.generation + 1;
        let journal_path = self.dir.join(journal_name(generation));
        let journal = self
            .storage
            .open(&journal_path, OpenMode::CreateOrOpen)
            .map_err(io_error(&journal_path))?;
        journal.set_len(0).map_err(io_error(&journal_path))?;
        journal.sync_data().map_err(io_error(&journal_path))?;
        self.storage
            .sync_dir(&self.dir)
            .map_err(io_error(&self.dir))?;
        let bytes = snapshot::encode(&self.memory.to_snapshot(generation))?;
        let snapshot_path = self.dir.join(SNAPSHOT_FILE);
        write_file_atomically(self.storage.as_ref(), &snapshot_path, &bytes)
            .map_err(io_error(&snapshot_path))?;
        let old = std::mem::replace(&mut self.journal_path, journal_path);
        self.journal = journal;
        self.generation = generation;
        self.journal_len_bytes = 0;
        let fresh = Claim {
            generation,
            length_bytes: 0,
        };
        self.evidence.record(fresh, true)?;
        self.storage.remove_file(&old).map_err(io_error(&old))?;
        Ok(())
    }

    /// Size of the current journal in bytes.
    pub fn journal_len_bytes(&self) -> u64 {
        self.journal_len_bytes
    }

    /// Forces a snapshot now (tests, measurements).
    pub fn snapshot_now(&mut self) -> Result<(), StoreError> {
        self.check_up()?;
        self.compact().map_err(|e| self.fail(e))
    }
}

impl Store for EmbeddedStore {
    fn transact(
        &mut self,
        ids: &[MessageId],
        keys: &[Vec<u8>],
        plan: &mut dyn FnMut(Prefetched) -> Option<Commit>,
    ) -> Result<bool, StoreError> {
        self.check_up()?;
        let prefetched = Prefetched {
            inbox: self.lookup(ids),
            state: keys
                .iter()
                .filter_map(|k| self.memory.state.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
        };
        let Some(commit) = plan(prefetched) else {
            return Ok(false);
        };
        // Backpressure, not fail-stop: nothing was written, the batch can be retried once
        // the dispatcher has published (a transport that is down must not grow memory).
        let entries = self.memory.outbox.len() + commit.outbox.len();
        if entries > self.options.outbox_entries_max {
            return Err(StoreError::OutboxFull {
                entries: entries as u64,
                max: self.options.outbox_entries_max as u64,
            });
        }
        let frame = Frame::Commit(commit);
        self.append_frame(&frame, true).map_err(|e| self.fail(e))?;
        let durable = Claim {
            generation: self.generation,
            length_bytes: self.journal_len_bytes,
        };
        self.evidence
            .record(durable, false)
            .map_err(|e| self.fail(e))?;
        self.memory.apply(frame, self.options.retention);
        if self.journal_len_bytes > self.options.journal_bytes_max {
            self.compact().map_err(|e| self.fail(e))?;
        }
        Ok(true)
    }

    fn pending_outbox(&mut self, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.check_up()?;
        Ok(self.memory.outbox.values().take(max).cloned().collect())
    }

    fn mark_dispatched(&mut self, upto_seq: u64) -> Result<(), StoreError> {
        self.check_up()?;
        let frame = Frame::Dispatched(upto_seq);
        self.append_frame(&frame, false).map_err(|e| self.fail(e))?;
        self.memory.apply(frame, self.options.retention);
        Ok(())
    }

    fn positions(&mut self) -> Result<Vec<Position>, StoreError> {
        self.check_up()?;
        Ok(self.memory.positions())
    }

    fn state_entries(&mut self) -> Result<Vec<crate::store::StateEntry>, StoreError> {
        self.check_up()?;
        let mut entries: Vec<_> = self
            .memory
            .state
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        entries.sort();
        Ok(entries)
    }

    fn inbox_lookup(
        &mut self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, Outcome>, StoreError> {
        self.check_up()?;
        Ok(self.lookup(ids))
    }

    fn inbox_stats(&mut self) -> Result<InboxStats, StoreError> {
        let entry_bytes = std::mem::size_of::<(MessageId, Outcome)>() + 1;
        let order_bytes = std::mem::size_of::<(i64, MessageId)>();
        let memory_bytes =
            self.memory.inbox.capacity() * entry_bytes + self.memory.order.capacity() * order_bytes;
        // Snapshot share: id, outcome tag and the varint of the commit time per id.
        let disk_bytes: u64 = self
            .memory
            .order
            .iter()
            .map(|&(at_ms, _)| 17 + varint_len(zigzag(at_ms)))
            .sum();
        Ok(InboxStats {
            ids: self.memory.inbox.len() as u64,
            memory_bytes: memory_bytes as u64,
            disk_bytes,
        })
    }
}

impl EmbeddedStore {
    fn lookup(&self, ids: &[MessageId]) -> HashMap<MessageId, Outcome> {
        ids.iter()
            .filter_map(|id| self.memory.inbox.get(id).map(|o| (*id, *o)))
            .collect()
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn varint_len(value: u64) -> u64 {
    u64::from((64 - value.leading_zeros()).max(1).div_ceil(7))
}

fn load_snapshot(storage: &dyn Storage, dir: &Path) -> Result<(u64, Memory), StoreError> {
    let path = dir.join(SNAPSHOT_FILE);
    if !storage.exists(&path).map_err(io_error(&path))? {
        return Ok((0, Memory::default()));
    }
    let bytes = read_file(storage, &path).map_err(io_error(&path))?;
    let body = snapshot::decode(&path, &bytes)?;
    Ok((body.generation, Memory::from_snapshot(body)))
}

/// Refuses evidence of a newer journal generation than the snapshot names: the snapshot
/// was replaced by an older one or removed, and opening would forget acknowledged commits.
fn check_claim_generation(
    claim: Option<Claim>,
    generation: u64,
    dir: &Path,
) -> Result<(), StoreError> {
    match claim {
        Some(claim) if claim.generation > generation => Err(StoreError::Corrupt {
            path: dir.join(SNAPSHOT_FILE),
            position: 0,
            reason: format!(
                "the store acknowledged commits in journal generation {} but the snapshot \
                 (missing or older) continues with generation {generation}",
                claim.generation
            ),
        }),
        _ => Ok(()),
    }
}

fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    match exactly_core::storage::lock_directory(dir) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(StoreError::Locked {
            what: dir
                .join(exactly_core::storage::LOCK_FILE)
                .display()
                .to_string(),
        }),
        Err(source) => Err(io_error(dir)(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(u64::MAX), 10);
    }
}
