//! Resumable idempotent producing of a JSON-lines input into a topic on JetStream
//! (blocking): what `exactly log produce --log nats://…` runs, without trusting
//! JetStream's duplicate window.
//!
//! Record `n` of the input (0-based, blank lines skipped) gets the message id
//! `p<producer>.e<epoch>.<n>` and goes to the partition of its key (unkeyed: `n mod P`).
//! Each partition's records are published in input order, chained on the stream's last
//! sequence (see [`crate::publish`]), so a partition holds a prefix of its share of
//! the input. A re-run first finds this producer's last record in every partition and
//! appends only what follows it: killed at any moment, the same run started again
//! completes the input exactly once, whatever the duplicate window. Publishes a killed run
//! left in its socket may still land after the re-run looked: the re-run's conditional
//! publish is then refused (`WrongLastSequence`), and it looks again and skips them.
//!
//! # Example
//! ```no_run
//! use exactly_core::SystemClock;
//! use exactly_nats::produce::{produce_lines, ProduceOptions};
//! use exactly_nats::NatsLog;
//!
//! let log = NatsLog::connect("nats://127.0.0.1:4222")?;
//! let topic = log.open_topic("payments")?;
//! let options = ProduceOptions { producer_id: 1, epoch: 0, batch_records: 1000 };
//! let input = "{\"key\":\"a\",\"value\":1}\n".as_bytes();
//! let produced = produce_lines(&log, &topic, &options, input, &SystemClock, &mut |_| {})?;
//! assert_eq!(produced.records, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::blocking::{NatsLog, Topic};
use crate::error::NatsError;
use crate::publish::{PublishAck, PublishFailure};
use crate::record::OutRecord;
use crate::scan::last_with_id_prefix;
use exactly_core::Clock;
use exactly_log::produce::{parse_json_line, RecordError};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

/// Times a partition's resume point is looked up again after a refused publish.
const RELOOKS_MAX: u32 = 20;

/// Who produces and how much is published per round.
#[derive(Clone, Copy, Debug)]
pub struct ProduceOptions {
    /// The producer id: with the epoch it names the records, so a re-run resumes.
    pub producer_id: u64,
    /// The producer epoch: a new epoch starts the input over as new records.
    pub epoch: u16,
    /// Most records per partition in one publish round (at least 1 is used).
    pub batch_records: usize,
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Produced {
    /// Records in the input.
    pub records: u64,
    /// Records this run stored.
    pub appended: u64,
    /// Records already stored (by an earlier run, or acknowledged as duplicates).
    pub deduplicated: u64,
}

/// Why a run stopped. Whatever was published before stays; running again resumes.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The input could not be read.
    #[error("reading input line {line}")]
    Read {
        /// 1-based line number.
        line: u64,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// An input line is not a record.
    #[error("input line {line}")]
    Record {
        /// 1-based line number.
        line: u64,
        /// Why the line is not a record.
        #[source]
        source: RecordError,
    },
    /// A publish failed (other than a refusal the run recovers from by looking again).
    #[error("publishing to partition {partition}; run the same command again to resume")]
    Publish {
        /// The partition published to.
        partition: u32,
        /// What was acknowledged, and the failure.
        #[source]
        source: PublishFailure,
    },
    /// A record in the partition carries this producer's id prefix but no ordinal after
    /// it: another writer uses the same producer id.
    #[error("partition {partition}: message id {id:?} is not ours")]
    ForeignId {
        /// The partition.
        partition: u32,
        /// The message id found.
        id: String,
    },
    /// Reading a partition's state or tail failed.
    #[error(transparent)]
    Nats(#[from] NatsError),
}

/// Where one partition stands: its last sequence and the last input record it holds.
struct PartitionCursor {
    last_seq: u64,
    done_through: Option<u64>,
}

/// Publishes the JSON lines of `input` (`{"key":…,"value":…,"timestamp":…}`, as
/// `exactly_log::produce`) to `topic`, resuming after what an earlier run with the same
/// producer id and epoch stored. `clock` stamps records without a timestamp;
/// `progress` is told the records read so far after each round.
pub fn produce_lines(
    log: &NatsLog,
    topic: &Topic,
    options: &ProduceOptions,
    input: impl BufRead,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(u64),
) -> Result<Produced, ProduceError> {
    let prefix = format!("p{}.e{}.", options.producer_id, options.epoch);
    let mut run = Run {
        log,
        topic,
        prefix: &prefix,
        cursors: resume_points(log, topic, &prefix)?,
        produced: Produced::default(),
    };
    let now_ms = clock.now_ms();
    let chunk_records = options.batch_records.max(1) * topic.partitions() as usize;
    let mut chunk: BTreeMap<u32, Vec<(u64, OutRecord)>> = BTreeMap::new();
    let mut in_chunk = 0usize;
    for (line_number, line) in (1u64..).zip(input.lines()) {
        let line = line.map_err(|source| ProduceError::Read {
            line: line_number,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_json_line(&line, now_ms).map_err(|source| ProduceError::Record {
            line: line_number,
            source,
        })?;
        let ordinal = run.produced.records;
        run.produced.records += 1;
        let partition = match &record.key {
            Some(key) => topic.partition_for_key(key),
            None => (ordinal % u64::from(topic.partitions())) as u32,
        };
        if run
            .cursor(partition)
            .done_through
            .is_some_and(|done| ordinal <= done)
        {
            run.produced.deduplicated += 1; // Published by an earlier run.
            continue;
        }
        let out = OutRecord {
            origin: None,
            msg_id: format!("{prefix}{ordinal}"),
            epoch: None,
            key: record.key,
            timestamp_ms: record.timestamp.0,
            value: record.value,
        };
        chunk.entry(partition).or_default().push((ordinal, out));
        in_chunk += 1;
        if in_chunk >= chunk_records {
            run.flush(&mut chunk)?;
            in_chunk = 0;
            progress(run.produced.records);
        }
    }
    run.flush(&mut chunk)?;
    Ok(run.produced)
}

/// One run's state: where each partition stands and what was done.
struct Run<'a> {
    log: &'a NatsLog,
    topic: &'a Topic,
    prefix: &'a str,
    cursors: Vec<PartitionCursor>,
    produced: Produced,
}

impl Run<'_> {
    fn cursor(&mut self, partition: u32) -> &mut PartitionCursor {
        // Partitions come from `Topic::partition_for_key` or `n mod P`, both below P, and
        // `resume_points` made one cursor per partition.
        self.cursors
            .get_mut(partition as usize)
            .expect("a cursor for every partition of the topic")
    }

    /// Publishes every partition's pending records, chained on its last sequence,
    /// counting those stored now and those the server already had.
    fn flush(
        &mut self,
        chunk: &mut BTreeMap<u32, Vec<(u64, OutRecord)>>,
    ) -> Result<(), ProduceError> {
        for (partition, mut pending) in std::mem::take(chunk) {
            let mut relooks = 0;
            loop {
                let done = self.cursor(partition).done_through;
                let before = pending.len();
                pending.retain(|(ordinal, _)| done.is_none_or(|done| *ordinal > done));
                self.produced.deduplicated += (before - pending.len()) as u64;
                if pending.is_empty() {
                    break;
                }
                let records: Vec<OutRecord> = pending.iter().map(|(_, r)| r.clone()).collect();
                let last_seq = self.cursor(partition).last_seq;
                let failure =
                    match self
                        .log
                        .publish(self.topic, partition, &records, Some(last_seq))
                    {
                        Ok(acks) => {
                            self.count(partition, &acks);
                            break;
                        }
                        Err(failure) => failure,
                    };
                let refused = matches!(failure.error, NatsError::WrongLastSequence { .. });
                if !refused || relooks >= RELOOKS_MAX {
                    return Err(ProduceError::Publish {
                        partition,
                        source: failure,
                    });
                }
                // Someone appended since we looked — most likely publishes of a killed
                // earlier run still landing. Look again; what is ours there is skipped.
                relooks += 1;
                std::thread::sleep(Duration::from_millis(50));
                *self.cursor(partition) =
                    resume_point(self.log, self.topic, partition, self.prefix)?;
            }
        }
        Ok(())
    }

    /// Counts acknowledgments (new, duplicate) and moves the cursor past the new ones.
    fn count(&mut self, partition: u32, acks: &[PublishAck]) {
        for ack in acks {
            if ack.duplicate {
                self.produced.deduplicated += 1;
            } else {
                self.produced.appended += 1;
                self.cursor(partition).last_seq = ack.sequence;
            }
        }
    }
}

/// This producer's last record in every partition, from the streams themselves.
fn resume_points(
    log: &NatsLog,
    topic: &Topic,
    prefix: &str,
) -> Result<Vec<PartitionCursor>, ProduceError> {
    (0..topic.partitions())
        .map(|partition| resume_point(log, topic, partition, prefix))
        .collect()
}

fn resume_point(
    log: &NatsLog,
    topic: &Topic,
    partition: u32,
    prefix: &str,
) -> Result<PartitionCursor, ProduceError> {
    let last_seq = log.partition_state(topic, partition)?.last_seq;
    let done_through = match last_with_id_prefix(log, topic, partition, prefix)? {
        None => None,
        Some(record) => {
            // `last_with_id_prefix` only returns records whose id starts with `prefix`.
            let id = record.msg_id.expect("a record found by its id has an id");
            let ordinal = id.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
            match ordinal {
                Some(ordinal) => Some(ordinal),
                None => return Err(ProduceError::ForeignId { partition, id }),
            }
        }
    };
    Ok(PartitionCursor {
        last_seq,
        done_through,
    })
}
