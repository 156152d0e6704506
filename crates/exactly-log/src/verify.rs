//! Read-only integrity check of a log directory: every batch of every segment is
//! checksummed, offsets must be dense across segments, indexes must match their segments.
//! Nothing is repaired; opening the log is what truncates a torn tail.

use crate::config::LogConfig;
use crate::durable_end::DurableEnd;
use crate::error::OpenError;
use crate::evidence;
use crate::index::SegmentIndex;
use crate::segment::{self, index_file_name, parse_file_name, ScanDepth};
use exactly_core::storage::read_file;
use exactly_core::{Offset, OpenMode, Storage};
use std::path::{Path, PathBuf};

/// One problem found by [`verify_log`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Damage before the end of a segment, or in a sealed segment: data that was durable is
    /// damaged. Opening the log refuses such a partition.
    Corrupt {
        /// Segment file.
        file: PathBuf,
        /// Byte position of the first damaged batch.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// The last segment ends in an incomplete or damaged batch with nothing valid after it,
    /// beyond what was known durable: a torn write. Opening the log truncates it.
    TornTail {
        /// Segment file.
        file: PathBuf,
        /// Where the whole-batch prefix ends.
        position: u64,
        /// Bytes after it.
        bytes: u64,
        /// What is wrong.
        reason: String,
        /// Whether durability evidence (the `durable-end` file, a snapshot) shows the torn
        /// bytes were never durable, hence never acknowledged: then it is no damage (a live
        /// writer's batch in progress looks the same). Without evidence (a log written
        /// before it existed) nobody can tell, and it counts as damage.
        beyond_evidence: bool,
    },
    /// The active segment's valid batches end below what the log had evidence was durable
    /// (acknowledged data damaged or missing). Opening refuses; `exactly log repair` cuts.
    DurableDataLost {
        /// Segment file.
        file: PathBuf,
        /// Where the valid batches end.
        position: u64,
        /// First offset that cannot be read.
        first_lost_offset: Offset,
        /// Offset after the last record known durable.
        durable_next_offset: Offset,
        /// Which evidence.
        evidence: String,
        /// What is wrong at `position`.
        reason: String,
    },
    /// A sealed segment's index is missing or does not match; opening rebuilds it.
    IndexStale {
        /// Index file.
        file: PathBuf,
    },
    /// A file or directory could not be read.
    Unreadable {
        /// Path.
        path: PathBuf,
        /// The I/O error.
        error: String,
    },
}

impl Finding {
    /// Whether the finding means data damage (as opposed to a rebuildable index).
    pub fn is_damage(&self) -> bool {
        !matches!(
            self,
            Finding::IndexStale { .. }
                | Finding::TornTail {
                    beyond_evidence: true,
                    ..
                }
        )
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Corrupt { file, position, reason } => {
                write!(f, "CORRUPT {} at byte {position}: {reason}", file.display())
            }
            Finding::TornTail { file, position, bytes, reason, beyond_evidence } => write!(
                f,
                "TORN TAIL {} at byte {position} ({bytes} bytes after the last whole batch): {reason} ({})",
                file.display(),
                match beyond_evidence {
                    true => "beyond the durable-end evidence: never acknowledged; cut on open",
                    false => "no durability evidence: cannot tell whether it was acknowledged",
                }
            ),
            Finding::DurableDataLost { file, position, first_lost_offset, durable_next_offset, evidence, reason } => write!(
                f,
                "DURABLE DATA LOST {} at byte {position}: offsets {first_lost_offset}..{durable_next_offset} were durable ({evidence}) but {reason}",
                file.display()
            ),
            Finding::IndexStale { file } => write!(f, "index {} is stale (rebuilt on open)", file.display()),
            Finding::Unreadable { path, error } => write!(f, "UNREADABLE {}: {error}", path.display()),
        }
    }
}

/// What [`verify_log`] looked at and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Partitions checked.
    pub partitions: u64,
    /// Segment files checked.
    pub segments: u64,
    /// Whole batches checksummed.
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// Segment bytes read.
    pub bytes: u64,
    /// Problems.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// Whether any data damage was found.
    pub fn has_damage(&self) -> bool {
        self.findings.iter().any(Finding::is_damage)
    }

    /// The totals as the JSON object `exactly log verify` prints (keys sorted).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({"partitions": self.partitions, "segments": self.segments,
               "batches": self.batches, "records": self.records, "bytes": self.bytes,
               "findings": self.findings.len(), "damage": self.has_damage()})
    }

    /// `Err` naming the number of findings and the first one when damage was found.
    pub fn check(&self) -> Result<(), VerifyFailed> {
        match self.has_damage() {
            false => Ok(()),
            true => Err(VerifyFailed {
                problems: self.findings.len(),
                first: self
                    .findings
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }),
        }
    }
}

/// A verification that found damage.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("verification failed: {problems} problem(s), first: {first}")]
pub struct VerifyFailed {
    /// Findings in all.
    pub problems: usize,
    /// The first finding, as text.
    pub first: String,
}

/// Checks every topic of the log in `dir`.
pub fn verify_log(storage: &dyn Storage, dir: &Path, config: &LogConfig) -> VerifyReport {
    let mut report = VerifyReport::default();
    let topics = match storage.list_dir(dir) {
        Ok(names) => names,
        Err(e) => {
            report.findings.push(unreadable(dir, e));
            return report;
        }
    };
    for topic in topics {
        if crate::validate_topic_name(&topic).is_err() {
            continue; // LOCK, temporary files: not topics.
        }
        let topic_dir = dir.join(&topic);
        let meta_path = topic_dir.join("topic.json");
        match storage.exists(&meta_path) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                // Skipping it would report a log with an unreadable topic as clean.
                report.findings.push(unreadable(&meta_path, e));
                continue;
            }
        }
        let partitions = match storage.list_dir(&topic_dir) {
            Ok(names) => names,
            Err(e) => {
                report.findings.push(unreadable(&topic_dir, e));
                continue;
            }
        };
        check_topic_meta(storage, &topic_dir, &meta_path, &partitions, &mut report);
        for partition in partitions.iter().filter(|n| n.parse::<u32>().is_ok()) {
            verify_partition(storage, &topic_dir.join(partition), config, &mut report);
        }
    }
    report
}

/// The metadata must decode (checksum included) and every partition it names must exist.
fn check_topic_meta(
    storage: &dyn Storage,
    topic_dir: &Path,
    meta_path: &Path,
    partition_dirs: &[String],
    report: &mut VerifyReport,
) {
    let bytes = match read_file(storage, meta_path) {
        Ok(bytes) => bytes,
        Err(e) => return report.findings.push(unreadable(meta_path, e)),
    };
    let corrupt = |file: PathBuf, reason: String| Finding::Corrupt {
        file,
        position: 0,
        reason,
    };
    let partitions = match crate::topic_meta::decode(&bytes, crate::PARTITIONS_MAX) {
        Ok(partitions) => partitions,
        Err(reason) => {
            return report
                .findings
                .push(corrupt(meta_path.to_path_buf(), reason))
        }
    };
    for missing in (0..partitions).filter(|p| !partition_dirs.contains(&p.to_string())) {
        let reason = "partition directory missing although topic.json names it".to_string();
        report
            .findings
            .push(corrupt(topic_dir.join(missing.to_string()), reason));
    }
}

/// The finding for a file or directory that could not be read (also logged).
fn unreadable(path: &Path, error: std::io::Error) -> Finding {
    tracing::warn!(path = %path.display(), %error, "verify could not read");
    Finding::Unreadable {
        path: path.to_path_buf(),
        error: error.to_string(),
    }
}

fn verify_partition(
    storage: &dyn Storage,
    dir: &Path,
    config: &LogConfig,
    report: &mut VerifyReport,
) {
    report.partitions += 1;
    let names = match storage.list_dir(dir) {
        Ok(names) => names,
        Err(e) => return report.findings.push(unreadable(dir, e)),
    };
    let mut bases: Vec<Offset> = names
        .iter()
        .filter_map(|n| parse_file_name(n, "log"))
        .collect();
    bases.sort();
    let claim = match evidence::load(storage, dir) {
        Ok(slot) => evidence::strongest_claim(&names, slot.map(|s| s.end)),
        Err(evidence::LoadError::Io(path, e)) => return report.findings.push(unreadable(&path, e)),
        Err(evidence::LoadError::Damaged(file, reason)) => {
            report.findings.push(Finding::Corrupt {
                file,
                position: 0,
                reason,
            });
            evidence::strongest_claim(&names, None)
        }
    };
    let mut expected: Option<Offset> = None;
    for (i, base) in bases.iter().enumerate() {
        let is_last = i + 1 == bases.len();
        let path = dir.join(segment::segment_file_name(*base));
        if let Some(next) = expected.filter(|next| next != base) {
            report.findings.push(Finding::Corrupt {
                file: path.clone(),
                position: 0,
                reason: format!(
                    "segment starts at offset {base} but the previous one ends at {next}"
                ),
            });
        }
        // Only the last segment can end below the evidence without being `Corrupt`.
        let role = SegmentRole {
            is_last,
            claim: claim.filter(|_| is_last),
        };
        expected = verify_segment(storage, dir, &path, *base, role, config, report);
    }
}

/// Where a segment stands in its partition.
#[derive(Clone, Copy)]
struct SegmentRole {
    /// The active (last) segment.
    is_last: bool,
    /// The durability claim it must reach (last segment only).
    claim: Option<DurableEnd>,
}

/// Checks one segment; returns the offset after its last whole batch.
fn verify_segment(
    storage: &dyn Storage,
    dir: &Path,
    path: &Path,
    base: Offset,
    role: SegmentRole,
    config: &LogConfig,
    report: &mut VerifyReport,
) -> Option<Offset> {
    let SegmentRole { is_last, claim } = role;
    let opened = storage
        .open(path, OpenMode::Existing)
        .and_then(|file| file.len_bytes().map(|len| (file, len)));
    let (file, len) = match opened {
        Ok(found) => found,
        Err(e) => {
            report.findings.push(unreadable(path, e));
            return None;
        }
    };
    report.segments += 1;
    report.bytes += len;
    let scan = segment::scan_segment(
        file.as_ref(),
        base,
        len,
        config.read_batch_bytes_max(),
        config.index_interval_bytes,
        ScanDepth::Checksums,
    );
    report.batches += scan.batches;
    report.records += scan.records;
    // A claim about a segment created after the listing (a live writer rolled) says
    // nothing about this one.
    let lost = claim
        .filter(|c| c.segment_base <= base)
        .and_then(|c| crate::partition::durable_data_lost(path, base, len, &scan, &c));
    let lost_finding = match lost {
        Some(OpenError::DurableDataLost {
            file,
            position,
            first_lost_offset,
            durable_next_offset,
            evidence,
            reason,
        }) => Some(Finding::DurableDataLost {
            file,
            position,
            first_lost_offset,
            durable_next_offset,
            evidence,
            reason,
        }),
        _ => None,
    };
    if let Some(stop) = scan.stop {
        let next = scan.index.next_offset;
        let valid_later = segment::valid_batch_after(
            file.as_ref(),
            stop.position,
            len,
            next,
            config.read_batch_bytes_max(),
        );
        let finding = match (is_last, valid_later, lost_finding) {
            (true, Ok(None), Some(lost)) => lost,
            (true, Ok(None), None) => Finding::TornTail {
                file: path.to_path_buf(),
                position: stop.position,
                bytes: len - stop.position,
                reason: stop.reason,
                beyond_evidence: claim.is_some(),
            },
            _ => Finding::Corrupt {
                file: path.to_path_buf(),
                position: stop.position,
                reason: stop.reason,
            },
        };
        report.findings.push(finding);
    } else if let Some(lost) = lost_finding {
        report.findings.push(lost);
    } else if !is_last {
        let index_path = dir.join(index_file_name(base));
        // Missing, unreadable or not matching the segment: all reported as a stale index.
        let stored = read_file(storage, &index_path)
            .inspect_err(|e| {
                tracing::debug!(path = %index_path.display(), error = %e, "index unreadable");
            })
            .ok()
            .and_then(|bytes| SegmentIndex::decode(&bytes, base, len, config.index_interval_bytes));
        if stored.is_none() {
            report
                .findings
                .push(Finding::IndexStale { file: index_path });
        }
    }
    Some(scan.index.next_offset)
}
