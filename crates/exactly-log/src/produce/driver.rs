//! Reads a JSON-lines input into a [`Batcher`] and says, when a line stops it, how much of
//! the input before that line is in the log.

use super::batcher::{AdmitError, Batcher, BatcherError};
use super::fingerprint::{line_hash, FingerprintError};
use super::record::{parse_json_line, RecordError};
use crate::Log;
use exactly_core::{Clock, ProducerEpoch, ProducerId};
use std::io::BufRead;
use std::sync::Arc;

/// Why producing stopped at a line of its input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Reading the input failed.
    #[error("line {line}: cannot read the input")]
    Read {
        /// Line number (1-based).
        line: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// The line is not UTF-8.
    #[error("line {line} is not valid UTF-8 (invalid byte at position {byte} of the line)")]
    NotUtf8 {
        /// Line number (1-based).
        line: u64,
        /// Position of the first invalid byte within the line (0-based).
        byte: usize,
    },
    /// The line is not a record.
    #[error("line {line}: bad record")]
    BadRecord {
        /// Line number (1-based).
        line: u64,
        /// What is wrong.
        source: RecordError,
    },
    /// The record cannot fit in any batch.
    #[error(
        "line {line}: the record takes up to {record_bytes} bytes in a batch, more than the \
         {batch_bytes_max}-byte batch limit allows (the limit is the smaller of 16 MiB and \
         --segment-bytes)"
    )]
    TooLarge {
        /// Line number (1-based).
        line: u64,
        /// Bound of the record's encoded size.
        record_bytes: usize,
        /// The log's batch limit.
        batch_bytes_max: u32,
    },
    /// The input is not the one an earlier run of this producer consumed.
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),
}

impl InputError {
    /// The input line the error is at, if it is at one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Read { line, .. }
            | Self::NotUtf8 { line, .. }
            | Self::BadRecord { line, .. }
            | Self::TooLarge { line, .. } => Some(*line),
            Self::Fingerprint(FingerprintError::Differs { line, .. }) => Some(*line),
            Self::Fingerprint(_) => None,
        }
    }

    fn admit(line: u64, error: AdmitError) -> Self {
        match error {
            AdmitError::TooLarge {
                record_bytes,
                batch_bytes_max,
            } => Self::TooLarge {
                line,
                record_bytes,
                batch_bytes_max,
            },
            AdmitError::Fingerprint(e) => Self::Fingerprint(e),
        }
    }
}

/// Producing stopped at a line; every record before it is in the log.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped at line {line}: the {kept} records before it are in the log ({appended} \
     appended by this run, {already} were already there)"
)]
pub struct Stopped {
    /// Line number (1-based).
    pub line: u64,
    /// Records before the line that are in the log.
    pub kept: u64,
    /// Of those, appended by this run.
    pub appended: u64,
    /// Of those, already in the log (a resumed run).
    pub already: u64,
    /// Why.
    #[source]
    pub cause: InputError,
}

/// Why [`produce_lines`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The batcher could not start, or the log refused an append.
    #[error(transparent)]
    Batcher(#[from] BatcherError),
    /// The input is bad, before any line (the fingerprint does not fit the log).
    #[error(transparent)]
    Input(Box<InputError>),
    /// A line stopped the run; what came before it is in the log.
    #[error(transparent)]
    Stopped(Box<Stopped>),
    /// A line stopped the run, and appending what came before it failed too.
    #[error("appending the records before line {line}, which stopped the run: {cause}")]
    AppendingBeforeStop {
        /// The line that stopped the run.
        line: u64,
        /// Why it stopped the run.
        cause: Box<InputError>,
        /// Why the append failed.
        #[source]
        source: BatcherError,
    },
}

/// What [`produce_lines`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Produced {
    /// Records read from the input.
    pub records: u64,
    /// Records this run appended.
    pub appended: u64,
    /// Records already in the log (a resumed run of the same producer).
    pub deduplicated: u64,
}

/// Options of [`produce_lines`].
#[derive(Clone, Copy, Debug)]
pub struct ProduceOptions {
    /// Idempotent producer (id, epoch): the same input at the same epoch resumes; `None`
    /// appends plainly (a re-run duplicates).
    pub producer: Option<(ProducerId, ProducerEpoch)>,
    /// Most records per batch (per partition), at least 1.
    pub batch_records: usize,
}

/// Appends the JSON lines of `reader` to `topic` (see the module documentation). Blank
/// lines are skipped; `progress` is called with the records read so far every 10,000.
pub fn produce_lines(
    log: &Arc<Log>,
    topic: &str,
    options: ProduceOptions,
    reader: impl BufRead,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(u64),
) -> Result<Produced, ProduceError> {
    let mut batcher = Batcher::new(log, topic, options.producer, options.batch_records)?;
    let records = match feed(reader, &mut batcher, clock, progress) {
        Ok(records) => records,
        Err(cause) => return Err(stop(batcher, cause)),
    };
    let (appended, deduplicated) = batcher.finish()?;
    Ok(Produced {
        records,
        appended,
        deduplicated,
    })
}

/// Why feeding stopped early.
enum Fed {
    /// The input is bad at a line.
    Input(InputError),
    /// The log refused an append.
    Append(BatcherError),
}

/// Reads the input into `batcher`; returns the number of records.
fn feed(
    mut reader: impl BufRead,
    batcher: &mut Batcher,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Fed> {
    let mut records = 0u64;
    let mut buffer = Vec::new();
    for line_no in 1u64.. {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer).map_err(|source| {
            Fed::Input(InputError::Read {
                line: line_no,
                source,
            })
        })?;
        if read == 0 {
            break;
        }
        let raw = without_line_end(&buffer);
        let line = std::str::from_utf8(raw).map_err(|e| {
            Fed::Input(InputError::NotUtf8 {
                line: line_no,
                byte: e.valid_up_to(),
            })
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_json_line(line, clock.now_ms()).map_err(|source| {
            Fed::Input(InputError::BadRecord {
                line: line_no,
                source,
            })
        })?;
        let partition = batcher
            .admit(&record, line_no, line_hash(raw))
            .map_err(|e| Fed::Input(InputError::admit(line_no, e)))?;
        batcher.queue(partition, record).map_err(Fed::Append)?;
        records += 1;
        if records.is_multiple_of(10_000) {
            progress(records);
        }
    }
    Ok(records)
}

/// Appends everything admitted before an input error (so a fixed input can resume) and
/// says how much of it is in the log.
fn stop(batcher: Batcher, cause: Fed) -> ProduceError {
    let cause = match cause {
        Fed::Append(error) => {
            // The appenders' own error says what failed; stopping them can only repeat it.
            if let Err(also) = batcher.finish() {
                tracing::debug!(error = %also, "stopping the appenders after a failed append");
            }
            return error.into();
        }
        Fed::Input(cause) => cause,
    };
    let Some(line) = cause.line() else {
        return ProduceError::Input(Box::new(cause));
    };
    match batcher.finish() {
        Ok((appended, already)) => ProduceError::Stopped(Box::new(Stopped {
            line,
            kept: appended + already,
            appended,
            already,
            cause,
        })),
        Err(source) => ProduceError::AppendingBeforeStop {
            line,
            cause: Box::new(cause),
            source,
        },
    }
}

/// `line` without a trailing `\n`, then without a trailing `\r`; each may be absent (the
/// input's last line may have no ending at all).
fn without_line_end(mut line: &[u8]) -> &[u8] {
    if let Some(stripped) = line.strip_suffix(b"\n") {
        line = stripped;
    }
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    line
}
