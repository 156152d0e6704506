//! The durable fingerprint of what an idempotent producer consumed from its input.
//!
//! Sequences are derived from input positions, so a re-run with a *different* input would
//! have its first records answered `Duplicate` and silently dropped. The fingerprint
//! prevents that: one file per (topic, producer id) under `<log dir>/.produce-inputs/`
//! (a name no topic can have) holds, for every input record in order, the xxh3 hash of its
//! line and the partition it was routed to. A re-run must read the same lines where
//! records were appended, or it is refused with the first line that differs.
//!
//! Crash safety (kill -9 at any moment): the entries of a batch's records are written and
//! fdatasynced *before* the batch is handed to the log (write-ahead), so every appended
//! record has its entry. An entry may exist for a record that was never appended (killed
//! in between): on resume the log says, per partition, how many sequences of this producer
//! and epoch it holds; entry `i` is appended iff its sequence (its rank among the entries
//! of its partition) is below that. Everything up to the last appended entry must match
//! the new input (the routing and sequences of the appended records depend on the lines
//! before them); the entries after it are truncated and written again from the new input.
//!
//! Format: a 16-byte header (magic `EXPRODF1`, epoch u16 LE, 2 zero bytes, partitions
//! u32 LE), written atomically; then 16-byte entries: line hash u64 LE, partition u32 LE,
//! CRC32C of those 12 bytes u32 LE. A torn tail (a partial or bad entry with nothing valid
//! after it) is cut; a bad entry followed by a valid one is corruption, never skipped.

use crate::Log;
use exactly_core::{ProducerEpoch, ProducerId};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"EXPRODF1";
const HEADER_BYTES: u64 = 16;
const ENTRY_BYTES: usize = 16;

/// The fingerprint cannot be used or does not match the input.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// File I/O failed.
    #[error("input fingerprint {path}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file does not decode.
    #[error("input fingerprint {path} is corrupt at byte {position}: {reason}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// Byte position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// A line differs from the one the producer consumed there before.
    #[error(
        "line {line} (input record {record}) differs from the record producer {producer_id} \
         (epoch {epoch}) consumed at that position before, while the {} records before it \
         match: this is not the input of the earlier run. Re-run with that input to resume \
         it, or with --epoch {} to append this input in full as new records",
        record.saturating_sub(1),
        u32::from(*epoch) + 1
    )]
    Differs {
        /// Line number in the input (1-based).
        line: u64,
        /// Record number in the input (1-based, blank lines not counted).
        record: u64,
        /// Producer id.
        producer_id: u64,
        /// Producer epoch.
        epoch: u16,
    },
    /// The log holds more records of this producer and epoch than the fingerprint knows.
    #[error(
        "topic {topic} partition {partition} holds {in_log} records of producer {producer_id} \
         (epoch {epoch}) but its input fingerprint {path} accounts for {known}: the input of \
         those records is unknown (fingerprint deleted, or written by an older version). \
         Use --epoch {} to append this input in full as new records",
        u32::from(*epoch) + 1
    )]
    Unaccounted {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// Records of this producer and epoch in the log.
        in_log: u64,
        /// Entries the fingerprint has for the partition.
        known: u64,
        /// Producer id.
        producer_id: u64,
        /// Producer epoch.
        epoch: u16,
        /// Fingerprint file.
        path: PathBuf,
    },
    /// A newer epoch of this producer exists.
    #[error("producer {producer_id} is at epoch {current} on topic {topic}; --epoch {epoch} is fenced (use --epoch {current} to resume, or higher to start over)")]
    Fenced {
        /// Topic.
        topic: String,
        /// Producer id.
        producer_id: u64,
        /// Epoch asked for.
        epoch: u16,
        /// Epoch the log or the fingerprint knows.
        current: u16,
    },
    /// Reading the producer's state in the log failed.
    #[error("reading the state of producer {producer_id} in {topic}/{partition}")]
    Log {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// Producer id.
        producer_id: u64,
        /// Cause.
        source: crate::ReadError,
    },
}

/// An I/O failure on the fingerprint at `path`, logged where it happens.
fn io_error(path: &Path, source: std::io::Error) -> FingerprintError {
    tracing::warn!(path = %path.display(), error = %source, "input fingerprint I/O failed");
    FingerprintError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One input record as the fingerprint knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    line_hash: u64,
    partition: u32,
}

impl Entry {
    fn encode(self) -> [u8; ENTRY_BYTES] {
        let mut bytes = [0u8; ENTRY_BYTES];
        let (body, crc) = bytes.split_at_mut(12);
        let (hash, partition) = body.split_at_mut(8);
        hash.copy_from_slice(&self.line_hash.to_le_bytes());
        partition.copy_from_slice(&self.partition.to_le_bytes());
        crc.copy_from_slice(&crc32c::crc32c(body).to_le_bytes());
        bytes
    }

    /// `None` when the CRC does not match.
    fn decode(bytes: &[u8; ENTRY_BYTES]) -> Option<Self> {
        let (body, crc) = bytes.split_at(12);
        let (hash, partition) = body.split_at(8);
        let stored = u32::from_le_bytes(crc.try_into().ok()?);
        if crc32c::crc32c(body) != stored {
            return None;
        }
        Some(Self {
            line_hash: u64::from_le_bytes(hash.try_into().ok()?),
            partition: u32::from_le_bytes(partition.try_into().ok()?),
        })
    }
}

/// The hash a line is fingerprinted by.
pub fn line_hash(line: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(line)
}

/// The open fingerprint of one (topic, producer id, epoch). The entries the input must
/// match are read as the input is, never all held in memory.
pub struct InputFingerprint {
    path: PathBuf,
    file: File,
    producer_id: ProducerId,
    epoch: ProducerEpoch,
    /// Reads the entries the new input must match, in order.
    known: BufReader<File>,
    /// How many entries the new input must match (up to the last appended one).
    must_match: u64,
    /// Records seen so far in this run.
    records: u64,
    /// Entries of new records not written yet.
    pending: Vec<u8>,
}

impl InputFingerprint {
    /// Opens (or starts) the fingerprint of `producer_id` on `topic` and reconciles it with
    /// what the log holds of that producer at `epoch`.
    pub fn open(
        log: &Log,
        topic: &str,
        partitions: u32,
        producer_id: ProducerId,
        epoch: ProducerEpoch,
    ) -> Result<Self, FingerprintError> {
        let dir = log.dir().join(".produce-inputs").join(topic);
        let path = dir.join(format!("producer-{}", producer_id.0));
        let in_log = sequences_in_log(log, topic, partitions, producer_id, epoch)?;
        match read_header(&path, partitions)? {
            Some(file_epoch) if file_epoch > epoch.0 => {
                return Err(FingerprintError::Fenced {
                    topic: topic.to_string(),
                    producer_id: producer_id.0,
                    epoch: epoch.0,
                    current: file_epoch,
                })
            }
            Some(file_epoch) if file_epoch == epoch.0 => {}
            // No fingerprint yet, or one of an older epoch: this epoch starts over.
            _ => create_atomically(&dir, &path, epoch, partitions)?,
        }
        let must_match =
            scan_entries(&path, partitions, &in_log)?.map_err(|(partition, known, held)| {
                FingerprintError::Unaccounted {
                    topic: topic.to_string(),
                    partition,
                    in_log: held,
                    known,
                    producer_id: producer_id.0,
                    epoch: epoch.0,
                    path: path.clone(),
                }
            })?;
        let io = |source| io_error(&path, source);
        let file = OpenOptions::new().write(true).open(&path).map_err(io)?;
        // Entries past the last appended record are void: cut them before writing anew.
        let keep = HEADER_BYTES + must_match * ENTRY_BYTES as u64;
        file.set_len(keep).map_err(io)?;
        file.sync_data().map_err(io)?;
        let mut known = BufReader::new(File::open(&path).map_err(io)?);
        known.seek(SeekFrom::Start(HEADER_BYTES)).map_err(io)?;
        Ok(Self {
            path,
            file,
            producer_id,
            epoch,
            known,
            must_match,
            records: 0,
            pending: Vec::new(),
        })
    }

    /// Admits the next input record (`line_no`, its line's hash, its partition): checks it
    /// against the earlier run's record at this position, or queues its entry.
    pub fn admit(
        &mut self,
        line_no: u64,
        line_hash: u64,
        partition: u32,
    ) -> Result<(), FingerprintError> {
        let index = self.records;
        self.records += 1;
        let entry = Entry {
            line_hash,
            partition,
        };
        if index >= self.must_match {
            self.pending.extend_from_slice(&entry.encode());
            return Ok(());
        }
        let position = HEADER_BYTES + index * ENTRY_BYTES as u64;
        let mut bytes = [0u8; ENTRY_BYTES];
        self.known
            .read_exact(&mut bytes)
            .map_err(|source| io_error(&self.path, source))?;
        // Scanned valid when opened; a change since is damage, not a torn tail.
        let known = Entry::decode(&bytes).ok_or_else(|| FingerprintError::Corrupt {
            path: self.path.clone(),
            position,
            reason: "entry changed while in use".to_string(),
        })?;
        if known == entry {
            return Ok(());
        }
        Err(FingerprintError::Differs {
            line: line_no,
            record: index + 1,
            producer_id: self.producer_id.0,
            epoch: self.epoch.0,
        })
    }

    /// Writes and fdatasyncs the queued entries: call before handing their records to the
    /// log.
    pub fn sync(&mut self) -> Result<(), FingerprintError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let io = |source| io_error(&self.path, source);
        self.file.seek(SeekFrom::End(0)).map_err(io)?;
        self.file.write_all(&self.pending).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.pending.clear();
        Ok(())
    }
}

/// Per partition, how many sequences of `producer_id` at `epoch` the log holds.
fn sequences_in_log(
    log: &Log,
    topic: &str,
    partitions: u32,
    producer_id: ProducerId,
    epoch: ProducerEpoch,
) -> Result<Vec<u64>, FingerprintError> {
    (0..partitions)
        .map(|partition| {
            let state = log
                .producer_state(topic, partition, producer_id)
                .map_err(|source| FingerprintError::Log {
                    topic: topic.to_string(),
                    partition,
                    producer_id: producer_id.0,
                    source,
                })?;
            match state {
                Some(s) if s.epoch > epoch => Err(FingerprintError::Fenced {
                    topic: topic.to_string(),
                    producer_id: producer_id.0,
                    epoch: epoch.0,
                    current: s.epoch.0,
                }),
                Some(s) if s.epoch == epoch => Ok(s.last_sequence.map_or(0, |q| q.0 + 1)),
                // Unknown producer, or an older epoch: nothing of this epoch is there.
                _ => Ok(0),
            }
        })
        .collect()
}

/// Finds how many leading entries the new input must match: up to and including the last
/// one the log holds (entry `i` is held iff its rank among its partition's entries is below
/// the partition's count in the log). Fails with `(partition, entries known)` when the log
/// holds more than the fingerprint has (with how many the log holds).
fn appended_prefix(
    entries: impl Iterator<Item = Entry>,
    in_log: &[u64],
    partitions: u32,
) -> Result<u64, (u32, u64, u64)> {
    let mut rank = vec![0u64; partitions as usize];
    let mut end = 0;
    for (index, entry) in (1u64..).zip(entries) {
        let (Some(rank), Some(held)) = (
            rank.get_mut(entry.partition as usize),
            in_log.get(entry.partition as usize),
        ) else {
            continue;
        };
        if *rank < *held {
            end = index;
        }
        *rank += 1;
    }
    for (partition, (known, held)) in rank.iter().zip(in_log).enumerate() {
        if held > known {
            return Err((partition as u32, *known, *held));
        }
    }
    Ok(end)
}

/// The epoch of an existing fingerprint; `None` if there is none.
fn read_header(path: &Path, partitions: u32) -> Result<Option<u16>, FingerprintError> {
    let corrupt = |position: u64, reason: String| FingerprintError::Corrupt {
        path: path.to_path_buf(),
        position,
        reason,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(path, source)),
    };
    let mut header = [0u8; HEADER_BYTES as usize];
    file.read_exact(&mut header)
        .map_err(|_| corrupt(0, "header shorter than 16 bytes".to_string()))?;
    let [m0, m1, m2, m3, m4, m5, m6, m7, e0, e1, _, _, p0, p1, p2, p3] = header;
    if [m0, m1, m2, m3, m4, m5, m6, m7] != *MAGIC {
        return Err(corrupt(
            0,
            "not an input fingerprint (bad magic)".to_string(),
        ));
    }
    let stored_partitions = u32::from_le_bytes([p0, p1, p2, p3]);
    if stored_partitions != partitions {
        return Err(corrupt(
            12,
            format!("written for {stored_partitions} partitions, the topic has {partitions}"),
        ));
    }
    Ok(Some(u16::from_le_bytes([e0, e1])))
}

/// Reads the entries once, streaming: how many the new input must match (see
/// [`appended_prefix`]). A bad or partial entry with nothing valid after it is a torn tail
/// (the write did not complete, so its records were never handed to the log) and is
/// ignored; a bad entry followed by a valid one is corruption.
fn scan_entries(
    path: &Path,
    partitions: u32,
    in_log: &[u64],
) -> Result<Result<u64, (u32, u64, u64)>, FingerprintError> {
    let io = |source| io_error(path, source);
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    reader.seek(SeekFrom::Start(HEADER_BYTES)).map_err(io)?;
    let mut failure = None;
    let mut bad_at = None;
    let mut position = HEADER_BYTES;
    let entries = std::iter::from_fn(|| loop {
        let mut bytes = [0u8; ENTRY_BYTES];
        match read_full(&mut reader, &mut bytes) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                failure = Some(io(e));
                return None;
            }
        }
        let at = position;
        position += ENTRY_BYTES as u64;
        let decoded = Entry::decode(&bytes).filter(|e| e.partition < partitions);
        match (decoded, bad_at) {
            (Some(_), Some(bad)) => {
                failure = Some(FingerprintError::Corrupt {
                    path: path.to_path_buf(),
                    position: bad,
                    reason: "bad entry followed by valid ones".to_string(),
                });
                return None;
            }
            (Some(entry), None) => return Some(entry),
            (None, _) => {
                bad_at.get_or_insert(at);
            }
        }
    });
    let end = appended_prefix(entries, in_log, partitions);
    match failure {
        Some(error) => Err(error),
        None => Ok(end),
    }
}

/// Fills `bytes`; `false` at the end of the file (a partial entry counts as the end).
fn read_full(reader: &mut impl Read, bytes: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < bytes.len() {
        #[allow(clippy::expect_used)]
        // invariant: the loop runs only while `filled < bytes.len()`.
        let rest = bytes
            .get_mut(filled..)
            .expect("filled stays below the length");
        match reader.read(rest) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Writes a fresh header-only fingerprint atomically (temporary file, fsync, rename,
/// directory fsync).
fn create_atomically(
    dir: &Path,
    path: &Path,
    epoch: ProducerEpoch,
    partitions: u32,
) -> Result<(), FingerprintError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| io_error(&path, source)
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut header = Vec::with_capacity(HEADER_BYTES as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&epoch.0.to_le_bytes());
    header.extend_from_slice(&[0, 0]);
    header.extend_from_slice(&partitions.to_le_bytes());
    let temp = path.with_extension("tmp");
    let mut file = File::create(&temp).map_err(io(&temp))?;
    file.write_all(&header).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    std::fs::rename(&temp, path).map_err(io(path))?;
    // The new entry, and the directories up to the log's, must survive a crash.
    // (A directory without a parent is the root: only itself to sync.)
    for parent in std::iter::once(dir).chain(dir.parent()) {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io(parent))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::panic)] // Tests fail by panicking.
mod tests {
    use super::*;

    fn entry(line_hash: u64, partition: u32) -> Entry {
        Entry {
            line_hash,
            partition,
        }
    }

    #[test]
    fn appended_prefix_ends_at_the_last_held_entry() {
        // p0: entries 0, 2; p1: entries 1, 3. The log holds 1 of p0 and 2 of p1.
        let entries = [entry(1, 0), entry(2, 1), entry(3, 0), entry(4, 1)];
        let prefix = |in_log: &[u64]| appended_prefix(entries.into_iter(), in_log, 2);
        assert_eq!(prefix(&[1, 2]), Ok(4));
        assert_eq!(prefix(&[1, 1]), Ok(2));
        assert_eq!(prefix(&[2, 0]), Ok(3));
        assert_eq!(prefix(&[0, 0]), Ok(0));
        assert_eq!(prefix(&[3, 0]), Err((0, 2, 3)));
    }

    /// A fingerprint file with a header for 2 partitions, then `body`.
    fn file_with(body: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("producer-1");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0, 2, 0, 0, 0]);
        bytes.extend_from_slice(body);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write: {e}"));
        (dir, path)
    }

    #[test]
    fn torn_tail_is_ignored_and_damage_before_valid_entries_is_refused() {
        let (a, b) = (entry(1, 0).encode(), entry(2, 1).encode());
        let mut torn = [a, b].concat();
        torn.extend_from_slice(&[7; 9]); // partial entry
        let (_dir, path) = file_with(&torn);
        assert_eq!(read_header(&path, 2).ok(), Some(Some(0)));
        assert!(matches!(scan_entries(&path, 2, &[1, 1]), Ok(Ok(2))));

        let bad_tail = [a, [0; ENTRY_BYTES]].concat(); // zeros: unsynced, never used
        let (_dir, path) = file_with(&bad_tail);
        assert!(matches!(scan_entries(&path, 2, &[1, 0]), Ok(Ok(1))));

        let bad_middle = [[0; ENTRY_BYTES], a].concat();
        let (_dir, path) = file_with(&bad_middle);
        assert!(matches!(
            scan_entries(&path, 2, &[0, 0]),
            Err(FingerprintError::Corrupt { position: 16, .. })
        ));
        assert!(matches!(
            read_header(&path, 3),
            Err(FingerprintError::Corrupt { position: 12, .. })
        ));
    }

    #[test]
    fn entry_round_trips_and_a_flipped_bit_is_refused() {
        let bytes = entry(0xDEAD_BEEF, 7).encode();
        assert_eq!(Entry::decode(&bytes), Some(entry(0xDEAD_BEEF, 7)));
        for bit in 0..ENTRY_BYTES * 8 {
            let mut damaged = bytes;
            if let Some(byte) = damaged.get_mut(bit / 8) {
                *byte ^= 1 << (bit % 8);
            }
            assert_eq!(Entry::decode(&damaged), None, "bit {bit}");
        }
    }
}
