//! Idempotent-producer state of one partition (pure, no I/O): the sans-IO core that decides
//! whether a batch is new, a retry of something already appended, or a protocol error.
//!
//! Per producer id the table keeps the current epoch and the sequence ranges (with their
//! offsets) of the last [`RETAINED_BATCHES`] batches, as Kafka does:
//! - a batch whose `[first, last]` sequences equal a retained batch is a **duplicate** and
//!   gets the original offsets back;
//! - a batch entirely at or below the last sequence but older than the retained window is a
//!   duplicate whose offsets are no longer known;
//! - a batch starting at `last + 1` is **new**; anything else is `OutOfOrderSequence`;
//! - an older epoch is **fenced**; a newer epoch must start at sequence 0;
//! - an unknown producer id may start at any sequence (it may have expired, see below).
//!
//! **Expiry** (explicit policy): an entry is forgotten `producer_expiry_ms` after its last
//! append, measured on the wall clock when snapshots are taken. A retry arriving after its
//! producer expired is appended again — the window is 7 days by default. The table never
//! evicts to make room: beyond `producers_per_partition_max` a new id is refused.

use crate::batch::{BatchHeader, ControlKind, ProducerStamp};
use exactly_core::framing::{self, FrameKind};
use exactly_core::{Offset, ProducerEpoch, ProducerId, Sequence};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// How many recent batches per producer are remembered with their offsets.
pub const RETAINED_BATCHES: usize = 5;
/// The frame of a producer snapshot file.
const SNAPSHOT_KIND: FrameKind = FrameKind {
    magic: *b"EXPS",
    version: 1,
    body_bytes_max: u32::MAX,
};

/// Sequence range and offsets of one appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSeq {
    /// First sequence of the batch.
    pub first_sequence: u64,
    /// Last sequence of the batch.
    pub last_sequence: u64,
    /// Offset of the first record.
    pub base_offset: u64,
    /// Offset of the last record.
    pub last_offset: u64,
}

/// What the partition remembers of one producer id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    /// Current epoch.
    pub epoch: u16,
    /// Most recent batches, oldest first, at most [`RETAINED_BATCHES`].
    pub batches: VecDeque<BatchSeq>,
    /// Wall-clock time of the last append, for expiry.
    pub last_append_ms: i64,
}

impl ProducerEntry {
    /// Last sequence appended by this producer.
    pub fn last_sequence(&self) -> Option<u64> {
        self.batches.back().map(|b| b.last_sequence)
    }
}

/// Verdict on an incoming idempotent batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// Already appended at these offsets.
    Duplicate {
        /// Offset of the original first record.
        base_offset: Offset,
        /// Offset of the original last record.
        last_offset: Offset,
    },
    /// Already appended, too long ago to know where.
    DuplicateOffsetsUnknown,
}

/// Why an idempotent batch is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceViolation {
    /// A newer epoch exists.
    Fenced {
        /// The epoch the partition knows.
        current: ProducerEpoch,
    },
    /// The batch does not continue the sequence.
    OutOfOrder {
        /// The sequence expected next.
        expected: Sequence,
    },
    /// The batch's sequences do not fit in a u64.
    Overflow,
    /// A transaction of an older epoch of this producer is still open here (its marker was
    /// lost); a marker of a newer one must not end it.
    OlderTransactionOpen {
        /// The open transaction's epoch.
        open_epoch: ProducerEpoch,
    },
    /// No room for another producer id.
    TooManyProducers {
        /// The limit.
        max: usize,
    },
}

/// A transaction with batches in this partition and no marker yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OngoingTxn {
    /// Producer id.
    pub producer_id: u64,
    /// Epoch of the transaction.
    pub epoch: u16,
    /// Offset of its first batch here: the last stable offset cannot pass it.
    pub first_offset: u64,
}

/// An aborted transaction's span in this partition, for `read_committed` readers to skip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    /// Producer id.
    pub producer_id: u64,
    /// Offset of its first batch.
    pub first_offset: u64,
    /// Offset of its abort marker.
    pub last_offset: u64,
}

/// What to do with a commit/abort marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerCheck {
    /// The transaction is open here: write the marker.
    Write,
    /// Nothing of this producer is open here (never written, or already ended): a marker
    /// would change nothing, so none is written — this makes re-sent markers idempotent.
    NothingOpen,
}

/// The producer table of one partition: idempotence state plus transaction state (open
/// transactions, and the aborted ones `read_committed` readers must skip).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerTable {
    entries: BTreeMap<u64, ProducerEntry>,
    #[serde(default)]
    ongoing: BTreeMap<u64, OngoingTxn>,
    #[serde(default)]
    aborted: VecDeque<AbortedTxn>,
}

mod consistency;

impl ProducerTable {
    /// Looks a producer up.
    pub fn get(&self, producer_id: ProducerId) -> Option<&ProducerEntry> {
        self.entries.get(&producer_id.0)
    }

    /// Number of producers remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decides what to do with a batch of `record_count` records stamped `stamp`.
    pub fn check(
        &self,
        stamp: ProducerStamp,
        record_count: u32,
        producers_max: usize,
    ) -> Result<SequenceCheck, SequenceViolation> {
        let first = stamp.base_sequence.0;
        let last = first
            .checked_add(u64::from(record_count.max(1)))
            .ok_or(SequenceViolation::Overflow)?
            - 1;
        let Some(entry) = self.entries.get(&stamp.producer_id.0) else {
            if self.entries.len() >= producers_max {
                return Err(SequenceViolation::TooManyProducers { max: producers_max });
            }
            return Ok(SequenceCheck::Append);
        };
        let current = ProducerEpoch(entry.epoch);
        if stamp.epoch < current {
            return Err(SequenceViolation::Fenced { current });
        }
        if stamp.epoch > current {
            return match first {
                0 => Ok(SequenceCheck::Append),
                _ => Err(SequenceViolation::OutOfOrder {
                    expected: Sequence(0),
                }),
            };
        }
        if let Some(seen) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == first && b.last_sequence == last)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: Offset(seen.base_offset),
                last_offset: Offset(seen.last_offset),
            });
        }
        let next = entry.last_sequence().map_or(0, |s| s + 1);
        let oldest_retained = entry.batches.front().map_or(0, |b| b.first_sequence);
        if first == next {
            Ok(SequenceCheck::Append)
        } else if last < oldest_retained {
            Ok(SequenceCheck::DuplicateOffsetsUnknown)
        } else {
            Err(SequenceViolation::OutOfOrder {
                expected: Sequence(next),
            })
        }
    }

    /// Decides whether a commit/abort marker of `producer_id` at `epoch` may be written.
    /// A marker older than the producer's epoch here is late (its transaction was fenced or
    /// superseded) and is refused, so it can never end a newer transaction.
    pub fn check_marker(
        &self,
        producer_id: ProducerId,
        epoch: ProducerEpoch,
    ) -> Result<MarkerCheck, SequenceViolation> {
        let open = self.ongoing.get(&producer_id.0);
        if open.is_some_and(|txn| txn.epoch == epoch.0) {
            // Exactly the open transaction (even if a later epoch's marker, written before
            // markers carried their transaction's epoch, raised the producer's epoch).
            return Ok(MarkerCheck::Write);
        }
        if let Some(entry) = self.entries.get(&producer_id.0) {
            if epoch.0 < entry.epoch {
                return Err(SequenceViolation::Fenced {
                    current: ProducerEpoch(entry.epoch),
                });
            }
        }
        match open {
            None => Ok(MarkerCheck::NothingOpen),
            Some(txn) if txn.epoch > epoch.0 => Err(SequenceViolation::Fenced {
                current: ProducerEpoch(txn.epoch),
            }),
            // A marker ends only the transaction it was written for: an older one still
            // open here (its own marker lost) must be reconciled first, never closed by a
            // newer transaction's marker.
            Some(txn) => Err(SequenceViolation::OlderTransactionOpen {
                open_epoch: ProducerEpoch(txn.epoch),
            }),
        }
    }

    /// Checks that a transactional batch stamped `stamp` does not start a new transaction
    /// while an older one of its producer is still open here (its marker lost): its batches
    /// would join the older span and share its fate (an abort of the old one would hide
    /// them; a commit of the new one would have exposed the old one).
    pub fn check_transactional(&self, stamp: ProducerStamp) -> Result<(), SequenceViolation> {
        match self.ongoing.get(&stamp.producer_id.0) {
            Some(open) if open.epoch < stamp.epoch.0 => {
                Err(SequenceViolation::OlderTransactionOpen {
                    open_epoch: ProducerEpoch(open.epoch),
                })
            }
            _ => Ok(()),
        }
    }

    /// Raises `producer_id`'s epoch here to `epoch` when a marker found nothing open. A
    /// batch of the ended transaction may still be on its way (its producer passed the
    /// coordinator's epoch check just before a newer instance aborted the transaction):
    /// without the raised epoch it was accepted and stayed open forever, holding the last
    /// stable offset back. In memory only: after a restart no such producer exists.
    pub fn fence(&mut self, producer_id: ProducerId, epoch: ProducerEpoch, now_ms: i64) {
        let entry = self
            .entries
            .entry(producer_id.0)
            .or_insert_with(|| ProducerEntry {
                epoch: epoch.0,
                batches: VecDeque::new(),
                last_append_ms: now_ms,
            });
        if epoch.0 > entry.epoch {
            entry.epoch = epoch.0;
            entry.batches.clear();
        }
    }

    /// Open transactions in this partition.
    pub fn ongoing(&self) -> impl Iterator<Item = &OngoingTxn> {
        self.ongoing.values()
    }

    /// The first offset of the oldest open transaction: `read_committed` readers stop there.
    pub fn first_unstable_offset(&self) -> Option<Offset> {
        self.ongoing.values().map(|t| Offset(t.first_offset)).min()
    }

    /// Aborted transactions whose span meets `[from, to)`.
    pub fn aborted_between(&self, from: Offset, to: Offset) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from.0 && a.first_offset < to.0)
            .copied()
            .collect()
    }

    /// Forgets aborted transactions that end before `start` (deleted by retention).
    pub fn prune_aborted(&mut self, start: Offset) {
        while self
            .aborted
            .front()
            .is_some_and(|a| a.last_offset < start.0)
        {
            self.aborted.pop_front();
        }
    }

    /// Number of aborted transactions remembered (their memory is explicit: 24 bytes each,
    /// kept until retention deletes the segments they span).
    pub fn aborted_len(&self) -> usize {
        self.aborted.len()
    }

    fn record_marker(&mut self, header: &BatchHeader, now_ms: i64) {
        let (Some(stamp), Some(kind)) = (header.producer, header.control_kind()) else {
            return;
        };
        let entry = self
            .entries
            .entry(stamp.producer_id.0)
            .or_insert_with(|| ProducerEntry {
                epoch: stamp.epoch.0,
                batches: VecDeque::new(),
                last_append_ms: now_ms,
            });
        if stamp.epoch.0 > entry.epoch {
            entry.epoch = stamp.epoch.0;
            entry.batches.clear();
        }
        entry.last_append_ms = entry.last_append_ms.max(now_ms);
        let open = self.ongoing.get(&stamp.producer_id.0).copied();
        // Exactly its own transaction: a marker of another epoch used to end any older open
        // transaction too — a lost abort marker then let the next commit expose the aborted
        // records. (Markers written before this rule carried a bumped epoch after an abort
        // of an open transaction or a hand-over; recovery reconciles those spans.)
        if let Some(txn) = open.filter(|t| t.epoch == stamp.epoch.0) {
            self.ongoing.remove(&stamp.producer_id.0);
            if kind == ControlKind::Abort {
                self.aborted.push_back(AbortedTxn {
                    producer_id: txn.producer_id,
                    first_offset: txn.first_offset,
                    last_offset: header.base_offset.0,
                });
            }
        }
    }

    /// Remembers an appended (or replayed) batch: sequences of idempotent data batches,
    /// open transactions, and the effect of commit/abort markers.
    pub fn record(&mut self, header: &BatchHeader, now_ms: i64) {
        if header.is_control() {
            return self.record_marker(header, now_ms);
        }
        let (Some(stamp), Some(last_sequence)) = (header.producer, header.last_sequence()) else {
            return;
        };
        if header.is_transactional() {
            self.ongoing
                .entry(stamp.producer_id.0)
                .or_insert(OngoingTxn {
                    producer_id: stamp.producer_id.0,
                    epoch: stamp.epoch.0,
                    first_offset: header.base_offset.0,
                });
        }
        let entry = self
            .entries
            .entry(stamp.producer_id.0)
            .or_insert_with(|| ProducerEntry {
                epoch: stamp.epoch.0,
                batches: VecDeque::new(),
                last_append_ms: now_ms,
            });
        if stamp.epoch.0 != entry.epoch {
            entry.epoch = stamp.epoch.0;
            entry.batches.clear();
        }
        entry.batches.push_back(BatchSeq {
            first_sequence: stamp.base_sequence.0,
            last_sequence: last_sequence.0,
            base_offset: header.base_offset.0,
            last_offset: header.last_offset().0,
        });
        while entry.batches.len() > RETAINED_BATCHES {
            entry.batches.pop_front();
        }
        entry.last_append_ms = entry.last_append_ms.max(now_ms);
    }

    /// Forgets producers whose last append is older than `expiry_ms` before `now_ms`;
    /// returns how many were forgotten.
    pub fn expire(&mut self, now_ms: i64, expiry_ms: i64) -> usize {
        let before = self.entries.len();
        let ongoing = &self.ongoing;
        // A producer with an open transaction is never forgotten: its marker still comes.
        self.entries.retain(|id, e| {
            e.last_append_ms >= now_ms.saturating_sub(expiry_ms) || ongoing.contains_key(id)
        });
        before - self.entries.len()
    }

    /// Serialises the table as a snapshot valid up to (excluding) `next_offset`: one core
    /// frame (magic `EXPS`, version 1) holding the JSON. An encoding failure is returned,
    /// never written as an empty snapshot.
    pub fn encode_snapshot(&self, next_offset: Offset) -> Result<Vec<u8>, serde_json::Error> {
        let snapshot = SnapshotRef {
            next_offset: next_offset.0,
            table: self,
        };
        let json = serde_json::to_vec(&snapshot)?;
        framing::encode(&SNAPSHOT_KIND, &json)
            .map_err(|e| serde_json::Error::io(std::io::Error::other(e)))
    }

    /// Parses a snapshot; `None` if it is damaged or of a version this build does not
    /// know (the caller rebuilds from the log, so refusing costs only a rescan).
    ///
    /// Older builds wrote `crc32c u32 | JSON` without magic or version. Such a file is still
    /// read, through this explicit legacy path rather than refused: a snapshot is also a
    /// durability claim (recovery refuses to cut the log below the offset it names), and
    /// reading it keeps that check for logs written before the frame existed. The two are
    /// told apart by the magic; JSON always starts with `{`, so a legacy file's body never
    /// passes for a frame body and vice versa.
    pub fn decode_snapshot(bytes: &[u8]) -> Option<(Offset, ProducerTable)> {
        let json = if bytes.starts_with(&SNAPSHOT_KIND.magic) {
            framing::decode_whole(&SNAPSHOT_KIND, bytes).ok()?
        } else {
            let (crc, json) = bytes.split_at_checked(4)?;
            if crc32c::crc32c(json).to_le_bytes().as_slice() != crc {
                return None;
            }
            json
        };
        let snapshot: SnapshotOwned = serde_json::from_slice(json).ok()?;
        Some((Offset(snapshot.next_offset), snapshot.table))
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    next_offset: u64,
    table: &'a ProducerTable,
}

#[derive(Deserialize)]
struct SnapshotOwned {
    next_offset: u64,
    table: ProducerTable,
}

#[cfg(test)]
mod tests;
