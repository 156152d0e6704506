//! Markers that trail the decision: a commit (or abort) returns once its decision is
//! durable in `__transactions` and its markers are written; making the markers durable —
//! which is also what makes them visible to readers — is left to this background syncer.
//!
//! # Why
//! A commit used to pay three fsyncs in a row: the data, the decision, the markers. The
//! decision is the commit point (recovery writes a lost marker again from it), so the
//! marker's fsync need not delay the producer. Deferred for a short linger, it is usually
//! paid by the next sync of the partition anyway — most often the producer's own next
//! append — and costs nothing of its own. This is how Kafka's coordinator treats markers.
//!
//! # What stays true
//! - A transaction's completion is recorded only after all its markers are durable (a
//!   completion with a lost marker would hide the decision from recovery).
//! - A snapshot of `__transactions` forgets the decisions of transactions no longer open
//!   in a partition; a marker written but not durable closes its transaction in memory, so
//!   the snapshot first makes every trailing marker durable ([`Trailing::sync_all`], under
//!   the same lock that [`Trailing::push`] takes).
//! - Records of a transactional id are appended under that id's lock: a completion is
//!   recorded by the id's own next operation ([`Trailing::take_durable`]) or at close,
//!   never by the syncer thread. The table itself moves to the completed state as soon as
//!   the markers are written (so the id's next operation — a takeover's fencing epoch,
//!   say — sees the transaction ended, as before); only the record waits.
//!
//! # Visibility
//! `read_committed` readers see a committed transaction once its markers are durable: at
//! most the linger plus one fsync after the commit returned.

use super::state::TxnMetadata;
use crate::error::AppendError;
use crate::partition::{lock, MarkerSync};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// One transaction's trailing markers.
#[derive(Debug)]
struct Entry {
    id: u64,
    transactional_id: String,
    /// The completion to record once every marker is durable (`None`: nothing to record,
    /// e.g. a marker left to another owner).
    completion: Option<TxnMetadata>,
    syncs: Vec<MarkerSync>,
    durable: bool,
    /// The syncer could not sync it (the log fail-stopped); only `sync_all` tries again.
    failed: bool,
    /// Its transactional id has moved on: no completion will be recorded for it.
    superseded: bool,
}

#[derive(Debug, Default)]
struct Queue {
    entries: Vec<Entry>,
    next_id: u64,
    stop: bool,
}

impl Queue {
    fn has_work(&self) -> bool {
        self.entries.iter().any(|e| !e.durable && !e.failed)
    }

    /// Forgets entries nobody will record a completion for once they are durable.
    fn prune(&mut self) {
        self.entries.retain(|e| !(e.durable && e.superseded));
    }
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
}

/// The trailing markers of one coordinator and the thread that syncs them.
#[derive(Debug, Default)]
pub(crate) struct Trailing {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The lock under which markers are written and queued (see the module's second rule).
pub(crate) struct PushGuard<'a> {
    queue: MutexGuard<'a, Queue>,
    shared: &'a Shared,
}

impl PushGuard<'_> {
    /// Queues a transaction's markers for syncing, with the completion to record once
    /// they are durable.
    pub fn push(
        mut self,
        transactional_id: &str,
        completion: Option<TxnMetadata>,
        syncs: Vec<MarkerSync>,
    ) {
        let id = self.queue.next_id;
        self.queue.next_id += 1;
        self.queue.entries.push(Entry {
            id,
            transactional_id: transactional_id.to_string(),
            completion,
            syncs,
            durable: false,
            failed: false,
            superseded: false,
        });
        drop(self.queue);
        self.shared.work.notify_one();
    }
}

impl Trailing {
    /// Locks the queue: write the markers, then [`PushGuard::push`] them. With a
    /// `linger` (`None`: no syncer, markers wait for the partition's next sync), starts
    /// the syncer thread on first use.
    pub fn lock(&self, linger: Option<Duration>) -> Result<PushGuard<'_>, std::io::Error> {
        if let Some(linger) = linger {
            self.start(linger)?;
        }
        Ok(PushGuard {
            queue: lock(&self.shared.queue),
            shared: &self.shared,
        })
    }

    fn start(&self, linger: Duration) -> Result<(), std::io::Error> {
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            let shared = Arc::clone(&self.shared);
            *thread = Some(
                std::thread::Builder::new()
                    .name("exactly-txn-markers".into())
                    .spawn(move || run(&shared, linger))?,
            );
        }
        Ok(())
    }

    /// Makes every queued marker durable now (before a snapshot), then runs `then` still
    /// holding the queue, so no marker is written in between.
    pub fn sync_all<T>(&self, then: impl FnOnce() -> T) -> Result<T, AppendError> {
        let mut queue = lock(&self.shared.queue);
        for entry in queue.entries.iter_mut().filter(|e| !e.durable) {
            for sync in &entry.syncs {
                sync.complete()?;
            }
            entry.durable = true;
        }
        queue.prune();
        Ok(then())
    }

    /// `transactional_id`'s next operation is starting (under its lock): returns its
    /// transactions whose markers are durable, for their completion to be recorded now;
    /// one not yet durable stays queued for the syncer but will record nothing (a
    /// completion recorded later could land after the id's newer records).
    pub fn take_durable(&self, transactional_id: &str) -> Vec<TxnMetadata> {
        let mut queue = lock(&self.shared.queue);
        let mut completed = Vec::new();
        let mut kept = Vec::with_capacity(queue.entries.len());
        for mut entry in queue.entries.drain(..) {
            // Covered by a sync the partition did for another reason?
            entry.durable |= entry.syncs.iter().all(MarkerSync::is_durable);
            if entry.superseded || entry.transactional_id != transactional_id {
                kept.push(entry);
            } else if entry.durable {
                completed.extend(entry.completion);
            } else {
                entry.superseded = true;
                kept.push(entry);
            }
        }
        queue.entries = kept;
        completed
    }

    /// At close: every queued marker made durable, and the transactions whose completion
    /// may still be recorded.
    pub fn drain(&self) -> Result<Vec<TxnMetadata>, AppendError> {
        self.sync_all(|| ())?;
        let mut queue = lock(&self.shared.queue);
        Ok(queue
            .entries
            .drain(..)
            .filter(|e| !e.superseded)
            .filter_map(|e| e.completion)
            .collect())
    }
}

impl Drop for Trailing {
    fn drop(&mut self) {
        lock(&self.shared.queue).stop = true;
        self.shared.work.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            // The thread only syncs and logs its failures; nothing is left to report.
            let _ = thread.join();
        }
    }
}

/// The syncer: waits for markers, lingers, makes them durable.
fn run(shared: &Shared, linger: Duration) {
    loop {
        {
            let mut queue = lock(&shared.queue);
            while !queue.stop && !queue.has_work() {
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
            if queue.stop {
                return;
            }
        }
        std::thread::sleep(linger);
        sync_queued(shared);
    }
}

/// Syncs every queued marker not yet durable. The queue is not locked across the syncs
/// (commits keep writing markers meanwhile): what to sync is copied out first.
fn sync_queued(shared: &Shared) {
    let todo: Vec<(u64, Vec<MarkerSync>)> = {
        let queue = lock(&shared.queue);
        queue
            .entries
            .iter()
            .filter(|e| !e.durable && !e.failed)
            .map(|e| (e.id, e.syncs.clone()))
            .collect()
    };
    let mut outcomes = Vec::with_capacity(todo.len());
    for (id, syncs) in todo {
        let synced = syncs.iter().try_for_each(MarkerSync::complete);
        if let Err(e) = &synced {
            // The partition has fail-stopped: its readers and writers see the error.
            tracing::error!(error = %e, "making a transaction marker durable failed");
        }
        outcomes.push((id, synced.is_ok()));
    }
    let mut queue = lock(&shared.queue);
    for (id, ok) in outcomes {
        if let Some(entry) = queue.entries.iter_mut().find(|e| e.id == id) {
            entry.durable |= ok;
            entry.failed |= !ok;
        }
    }
    queue.prune();
}
