//! Persistent pipe ends: a [`Sender`] whose unconfirmed messages and a [`Receiver`] whose
//! de-dup state survive restarts, each backed by a [`Journal`].
//!
//! Rules (why each end is safe across a crash, see `docs/pipes.md`):
//! - **Sender**: a message gets its seq when appended to the journal and is put on the wire
//!   only after [`DurableSender::commit`] made it durable, so a seq is never reused for a
//!   different message. Confirmations are journaled lazily: losing one only causes a
//!   resend, which the receiver de-duplicates.
//! - **Receiver** (cascade confirmation onto storage): a delivered message is journaled
//!   with its sender id and seq, and confirmed to the sender only after
//!   [`DurableReceiver::commit`] made it durable. The journal is both the delivered-messages
//!   store and the de-dup state: recovery replays it into the [`Receiver`].

use crate::config::{ReceiverConfig, SenderConfig};
use crate::fingerprint::{Fingerprint, ResumeMismatch};
use crate::journal::{Journal, JournalError};
use crate::receiver::{Delivery, Receiver};
use crate::sender::{SendError, Sender, SenderEvent};
use crate::state_dir::{StateDirError, StateDirLock};
use exactly_core::Storage;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

const MSG: u8 = 1;
const DONE: u8 = 2;
const META: u8 = 3;
const DELIVERED: u8 = 4;

/// Sender journal file name inside the state directory.
pub const SENDER_JOURNAL: &str = "sender.journal";
/// Receiver journal file name inside the state directory.
pub const RECEIVER_JOURNAL: &str = "receiver.journal";

/// Why a durable pipe end failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The journal failed (I/O or corruption before the tail).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The state directory could not be created.
    #[error("creating state directory {dir}")]
    Dir {
        /// The state directory.
        dir: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },
    /// The state directory is locked by another process, or was deleted while in use.
    #[error(transparent)]
    StateDir(#[from] StateDirError),
    /// The journal file disappeared from its directory while in use (the directory was
    /// deleted or the file moved): nothing more is confirmed.
    #[error(
        "journal {journal} is gone from its state directory: stopping before confirming \
         anything more"
    )]
    JournalGone {
        /// The journal's path.
        journal: PathBuf,
    },
    /// The receiver refused this sender; resending cannot succeed.
    #[error(
        "receiver refused sender {sender_id}: {unconfirmed} messages are unconfirmed (the \
         oldest is seq {first_unconfirmed}) and may or may not have been delivered"
    )]
    Refused {
        /// This sender's id.
        sender_id: u64,
        /// Messages sent but not confirmed.
        unconfirmed: usize,
        /// The oldest of them (the next seq if none).
        first_unconfirmed: u64,
        /// The receiver's reason.
        #[source]
        refusal: crate::frame::Refusal,
    },
    /// An earlier commit failed; the end is stopped.
    #[error("stopped after an earlier failure")]
    Stopped,
    /// A journal record that does not parse.
    #[error("malformed {kind} journal record of {len} bytes")]
    Malformed {
        /// Which journal.
        kind: &'static str,
        /// Its length.
        len: usize,
    },
    /// The sender refused the message.
    #[error(transparent)]
    Send(#[from] SendError),
}

fn u64_at(body: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
}

fn create_dir(storage: &dyn Storage, dir: &Path) -> Result<(), DurableError> {
    storage
        .create_dir_all(dir)
        .map_err(|source| DurableError::Dir {
            dir: dir.to_owned(),
            source,
        })
}

/// Where a durable end lives, and the proof that it still does: the journal must still be
/// at its path and, when the directory is locked, the lock must still be its `LOCK`.
#[derive(Debug)]
struct Home {
    storage: Arc<dyn Storage>,
    journal: PathBuf,
    lock: Option<StateDirLock>,
}

impl Home {
    fn new(storage: Arc<dyn Storage>, journal: PathBuf) -> Self {
        Home {
            storage,
            journal,
            lock: None,
        }
    }

    /// Fails unless the state is still where it was opened (checked after each fsync and
    /// before anything that depends on it is released).
    fn check_present(&self) -> Result<(), DurableError> {
        if let Some(lock) = &self.lock {
            lock.check_present()?;
        }
        match self.storage.exists(&self.journal) {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(DurableError::JournalGone {
                journal: self.journal.clone(),
            }),
        }
    }
}

fn record(kind: u8, fields: &[u64], payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + 8 * fields.len() + payload.len());
    body.push(kind);
    fields
        .iter()
        .for_each(|f| body.extend_from_slice(&f.to_le_bytes()));
    body.extend_from_slice(payload);
    body
}

/// A [`Sender`] whose unconfirmed messages survive restarts.
#[derive(Debug)]
pub struct DurableSender {
    sender: Sender,
    journal: Journal,
    home: Home,
    unsynced: Vec<(u64, Vec<u8>)>,
    compact_bytes_min: u64,
    fingerprint: Fingerprint,
}

struct SenderRecovery {
    sender_id: Option<u64>,
    next_seq: u64,
    unconfirmed: BTreeMap<u64, Vec<u8>>,
    malformed: Option<usize>,
    fingerprint: Fingerprint,
    /// Records visited so far.
    records: u64,
}

impl SenderRecovery {
    fn new() -> Self {
        SenderRecovery {
            sender_id: None,
            next_seq: 0,
            unconfirmed: BTreeMap::new(),
            malformed: None,
            fingerprint: Fingerprint::starting_at(0),
            records: 0,
        }
    }

    fn visit(&mut self, body: &[u8]) {
        let (kind, a, b) = (body.first().copied(), u64_at(body, 1), u64_at(body, 9));
        self.records += 1;
        // Creation and compaction both write the META first. Without it the journal is not
        // one a sender wrote (opening it would write a META that contradicts the records
        // before it, and the next open would refuse the journal).
        if self.records == 1 && kind != Some(META) {
            self.malformed = Some(body.len());
        }
        match (kind, a, b) {
            (Some(META), Some(id), Some(next)) => {
                self.sender_id = Some(id);
                self.next_seq = self.next_seq.max(next);
                // A META without a fingerprint was written by an older version: messages
                // below its next seq cannot be checked.
                let fingerprint = match body.get(17..) {
                    Some([]) | None => Some(Fingerprint::starting_at(next)),
                    Some(rest) => Fingerprint::decode(rest).filter(|f| f.next_seq() == next),
                };
                match fingerprint {
                    Some(f) => self.fingerprint = f,
                    None => self.malformed = Some(body.len()),
                }
            }
            (Some(MSG), Some(seq), _) => {
                self.next_seq = self.next_seq.max(seq + 1);
                // `u64_at(body, 1)` returned Some, so body holds at least 9 bytes.
                #[allow(clippy::expect_used)]
                let payload = body.get(9..).expect("a MSG with a seq has 9 header bytes");
                // Compaction re-lists unconfirmed messages already folded in; a seq beyond
                // the next one would be a hole in the journal.
                if seq == self.fingerprint.next_seq() {
                    self.fingerprint.push(payload);
                } else if seq > self.fingerprint.next_seq() {
                    self.malformed = Some(body.len());
                }
                self.unconfirmed.insert(seq, payload.to_vec());
            }
            (Some(DONE), Some(seq), _) => {
                self.unconfirmed.remove(&seq);
            }
            _ => self.malformed = Some(body.len()),
        }
    }
}

impl DurableSender {
    /// Opens the sender state in `dir` (creating it). A new state takes its sender id from
    /// `config.sender_id`; an existing one keeps its own. Unconfirmed messages are queued for
    /// transmission again at `now_ms`.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        mut config: SenderConfig,
        now_ms: u64,
    ) -> Result<Self, DurableError> {
        create_dir(storage.as_ref(), dir)?;
        let mut rec = SenderRecovery::new();
        let journal_path = dir.join(SENDER_JOURNAL);
        let home = Home::new(Arc::clone(&storage), journal_path.clone());
        let mut journal = Journal::open(storage, &journal_path, |b| rec.visit(b))?;
        if let Some(len) = rec.malformed {
            return Err(DurableError::Malformed {
                kind: "sender",
                len,
            });
        }
        if let Some(id) = rec.sender_id {
            config.sender_id = id;
        } else {
            let mut fingerprint = Vec::new();
            rec.fingerprint.encode(&mut fingerprint);
            journal.append(&record(META, &[config.sender_id, 0], &fingerprint))?;
            journal.commit()?;
        }
        let mut sender = Sender::starting_at(config, rec.next_seq);
        for (seq, payload) in rec.unconfirmed {
            sender.restore(now_ms, seq, payload);
        }
        Ok(DurableSender {
            sender,
            journal,
            home,
            unsynced: Vec::new(),
            compact_bytes_min: 8 * 1024 * 1024,
            fingerprint: rec.fingerprint,
        })
    }

    /// Attaches the lock of the state directory (taken with [`StateDirLock::acquire`]
    /// *before* [`DurableSender::open`]): it is held while the sender lives, and
    /// [`DurableSender::commit`] fails with [`StateDirError::Gone`] once the directory was
    /// deleted or replaced.
    pub fn with_dir_lock(mut self, lock: StateDirLock) -> Self {
        self.home.lock = Some(lock);
        self
    }

    /// Checks that `input` begins with exactly the messages this state already accepted
    /// (seq `n` = `input[n]`), so resuming by position is safe. A different or shorter input
    /// is [`ResumeMismatch`], naming the range of seqs holding the first difference.
    ///
    /// The range is narrowed with the unconfirmed messages the journal still holds: from its
    /// start, each seq whose payload is known is compared exactly.
    pub fn check_resume_input<T: AsRef<[u8]>>(&self, input: &[T]) -> Result<(), ResumeMismatch> {
        let checked = self.fingerprint.check(input);
        let Err(ResumeMismatch::InputDiffers {
            mut first_seq,
            last_seq,
        }) = checked
        else {
            return checked;
        };
        let known: BTreeMap<u64, &[u8]> = self.sender.in_flight().collect();
        while first_seq < last_seq {
            let given = usize::try_from(first_seq).ok().and_then(|i| input.get(i));
            match (known.get(&first_seq), given) {
                (Some(sent), Some(given)) if *sent == given.as_ref() => first_seq += 1,
                (Some(_), Some(_)) => {
                    return Err(ResumeMismatch::InputDiffers {
                        first_seq,
                        last_seq: first_seq,
                    })
                }
                _ => break,
            }
        }
        Err(ResumeMismatch::InputDiffers {
            first_seq,
            last_seq,
        })
    }

    /// Compacts the journal (to its live messages) once it exceeds `bytes` (default 8 MiB).
    pub fn with_compact_bytes_min(mut self, bytes: u64) -> Self {
        self.compact_bytes_min = bytes;
        self
    }

    /// The wrapped sender (read-only: counters, window).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The seq the next [`DurableSender::send`] assigns.
    pub fn next_seq(&self) -> u64 {
        self.sender.next_seq() + self.unsynced.len() as u64
    }

    /// Whether another message fits the window (counting uncommitted ones).
    pub fn can_send(&self) -> bool {
        let span = self.sender.window_span() + self.unsynced.len() as u64;
        span < self.sender.config().in_flight_max
    }

    /// Journals a message and returns its seq; it goes on the wire after
    /// [`DurableSender::commit`].
    pub fn send(&mut self, payload: &[u8]) -> Result<u64, DurableError> {
        let config = self.sender.config();
        if payload.len() > config.payload_bytes_max {
            return Err(SendError::PayloadTooLarge {
                payload_len: payload.len(),
                payload_bytes_max: config.payload_bytes_max,
            }
            .into());
        }
        if !self.can_send() {
            return Err(SendError::WindowFull {
                in_flight_max: config.in_flight_max,
            }
            .into());
        }
        let seq = self.next_seq();
        self.journal.append(&record(MSG, &[seq], payload))?;
        self.fingerprint.push(payload);
        self.unsynced.push((seq, payload.to_vec()));
        Ok(seq)
    }

    /// Makes journaled messages and confirmations durable, then releases the messages to the
    /// wire. Compacts the journal when it has grown large.
    pub fn commit(&mut self, now_ms: u64) -> Result<(), DurableError> {
        self.journal.commit()?;
        self.home.check_present()?;
        for (seq, payload) in std::mem::take(&mut self.unsynced) {
            let assigned = self.sender.send(now_ms, &payload)?;
            debug_assert_eq!(assigned, seq, "journaled seq must match the sender's");
        }
        if self.journal.len_bytes() > self.compact_bytes_min {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), DurableError> {
        let config = self.sender.config();
        let mut fingerprint = Vec::new();
        self.fingerprint.encode(&mut fingerprint);
        let mut bodies = vec![record(
            META,
            &[config.sender_id, self.sender.next_seq()],
            &fingerprint,
        )];
        bodies.extend(
            self.sender
                .in_flight()
                .map(|(seq, payload)| record(MSG, &[seq], payload)),
        );
        self.journal.rewrite(bodies.iter().map(Vec::as_slice))?;
        Ok(())
    }

    /// Handles bytes from the network (acks).
    pub fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        self.sender.handle_frame(now_ms, bytes);
    }

    /// Resends expired messages.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.sender.handle_timeout(now_ms);
    }

    /// When to call [`DurableSender::handle_timeout`] next.
    pub fn poll_timeout(&mut self) -> Option<u64> {
        self.sender.poll_timeout()
    }

    /// The next frame to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.sender.poll_transmit()
    }

    /// The next confirmation or give-up; it is journaled (durable at the next commit).
    /// [`DurableError::Refused`] once the receiver refused this sender and every
    /// confirmation that arrived before the refusal was returned.
    pub fn poll_event(&mut self) -> Result<Option<SenderEvent>, DurableError> {
        let Some(event) = self.sender.poll_event() else {
            return match self.sender.refusal() {
                Some(refusal) => Err(DurableError::Refused {
                    sender_id: self.sender.config().sender_id,
                    unconfirmed: self.sender.in_flight_len(),
                    first_unconfirmed: self
                        .sender
                        .in_flight()
                        .next()
                        .map_or(self.sender.next_seq(), |(seq, _)| seq),
                    refusal,
                }),
                None => Ok(None),
            };
        };
        let (SenderEvent::Confirmed { seq } | SenderEvent::GaveUp { seq }) = event;
        self.journal.append(&record(DONE, &[seq], &[]))?;
        Ok(Some(event))
    }

    /// Whether everything sent is confirmed (or given up) and committed.
    pub fn is_idle(&self) -> bool {
        self.sender.is_idle() && self.unsynced.is_empty()
    }
}

/// A [`Receiver`] whose de-dup state survives restarts; always confirms by cascade onto
/// its journal.
#[derive(Debug)]
pub struct DurableReceiver {
    receiver: Receiver,
    journal: Journal,
    home: Home,
    uncommitted: Vec<Delivery>,
    /// A commit failed: nothing more is confirmed (fail-stop).
    failed: bool,
}

fn parse_delivered(body: &[u8]) -> Option<Delivery> {
    if body.first() != Some(&DELIVERED) {
        return None;
    }
    Some(Delivery {
        sender_id: u64_at(body, 1)?,
        seq: u64_at(body, 9)?,
        payload: body.get(17..)?.to_vec(),
    })
}

impl DurableReceiver {
    /// Opens the receiver state in `dir` (creating it) and replays it into the de-dup state.
    /// `config.cascade` is forced on: confirmations wait for [`DurableReceiver::commit`].
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        mut config: ReceiverConfig,
    ) -> Result<Self, DurableError> {
        create_dir(storage.as_ref(), dir)?;
        config.cascade = true;
        let mut receiver = Receiver::new(config);
        let mut malformed = None;
        let journal_path = dir.join(RECEIVER_JOURNAL);
        let home = Home::new(Arc::clone(&storage), journal_path.clone());
        let journal = Journal::open(storage, &journal_path, |body| match parse_delivered(body) {
            Some(d) => receiver.replay_delivered(d.sender_id, d.seq),
            None => malformed = Some(body.len()),
        })?;
        if let Some(len) = malformed {
            return Err(DurableError::Malformed {
                kind: "receiver",
                len,
            });
        }
        Ok(DurableReceiver {
            receiver,
            journal,
            home,
            uncommitted: Vec::new(),
            failed: false,
        })
    }

    /// Attaches the lock of the state directory (taken with [`StateDirLock::acquire`]
    /// *before* [`DurableReceiver::open`]): it is held while the receiver lives, and
    /// [`DurableReceiver::commit`] fails with [`StateDirError::Gone`] once the directory
    /// was deleted or replaced.
    pub fn with_dir_lock(mut self, lock: StateDirLock) -> Self {
        self.home.lock = Some(lock);
        self
    }

    /// Every message delivered durably so far, in delivery order (the output of record).
    pub fn read_delivered(
        storage: Arc<dyn Storage>,
        dir: &Path,
    ) -> Result<Vec<Delivery>, DurableError> {
        let mut out = Vec::new();
        let mut malformed = None;
        Journal::open(
            storage,
            &dir.join(RECEIVER_JOURNAL),
            |body| match parse_delivered(body) {
                Some(d) => out.push(d),
                None => malformed = Some(body.len()),
            },
        )?;
        match malformed {
            Some(len) => Err(DurableError::Malformed {
                kind: "receiver",
                len,
            }),
            None => Ok(out),
        }
    }

    /// The wrapped receiver (read-only: counters, memory).
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// Handles bytes from the network; new messages are journaled (durable at commit).
    pub fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), DurableError> {
        self.receiver.handle_frame(now_ms, bytes);
        while let Some(d) = self.receiver.poll_delivery() {
            self.journal
                .append(&record(DELIVERED, &[d.sender_id, d.seq], &d.payload))?;
            self.uncommitted.push(d);
        }
        Ok(())
    }

    /// Makes the journaled deliveries durable, confirms them to their senders and returns
    /// them for the application.
    ///
    /// After an error the receiver is stopped: every later commit fails and no ack is
    /// transmitted (its durable state is unknown or gone; confirming anything could lose
    /// confirmed messages).
    pub fn commit(&mut self) -> Result<Vec<Delivery>, DurableError> {
        if self.failed {
            return Err(DurableError::Stopped);
        }
        self.failed = true;
        self.journal.commit()?;
        // The fsync went to a file still in place: only then may its messages be confirmed.
        self.home.check_present()?;
        self.failed = false;
        let delivered = std::mem::take(&mut self.uncommitted);
        for d in &delivered {
            self.receiver.confirm(d.sender_id, d.seq);
        }
        Ok(delivered)
    }

    /// When [`DurableReceiver::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.receiver.poll_timeout()
    }

    /// Repeats acks that are due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.receiver.handle_timeout(now_ms);
    }

    /// The next ack frame and the sender id it goes to.
    pub fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        if self.failed {
            return None;
        }
        self.receiver.poll_transmit()
    }
}
