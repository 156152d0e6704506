//! A JSON-lines input written to several topics in one transaction, as `exactly log txn`
//! does: every line `{"topic": …, "key": …, "value": …, "timestamp": …}` names its topic;
//! all of it becomes visible to `read_committed` readers, or none of it. The whole input
//! is read and checked first ([`read_transaction_lines`]), so a bad line aborts before
//! anything is written; [`write_transaction`] then sends it and commits (or aborts).

use super::record::{parse_json_line, RecordError};
use crate::batch::Record;
use crate::log::Log;
use crate::topic::partition_for_key;
use crate::txn::TxnError;
use std::collections::BTreeMap;
use std::io::BufRead;

/// Records per `send` call.
const SEND_RECORDS: usize = 1000;

/// An input read and routed, not yet written.
#[derive(Clone, Debug, Default)]
pub struct TransactionInput {
    /// The records of each (topic, partition), in input order.
    pub batches: BTreeMap<(String, u32), Vec<Record>>,
    /// Records in all.
    pub records: u64,
}

/// Why one line is not a record with a topic.
#[derive(Debug, thiserror::Error)]
pub enum TopicLineError {
    /// Not a JSON object.
    #[error("want a JSON object with a \"topic\"")]
    Json(#[source] serde_json::Error),
    /// `topic` is there but not a string.
    #[error("topic must be a string, got {0}")]
    TopicNotString(serde_json::Value),
    /// No `topic`.
    #[error("missing \"topic\"")]
    MissingTopic,
    /// The rest of the line is not a record.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Why the input was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TransactionInputError {
    /// The input could not be read.
    #[error("reading line {line}")]
    Read {
        /// 1-based line number.
        line: usize,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a record with a topic.
    #[error("line {line}: bad record; nothing was written")]
    BadRecord {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: TopicLineError,
    },
    /// A line names a topic the log does not have.
    #[error("line {line}: unknown topic '{topic}'; nothing was written")]
    UnknownTopic {
        /// 1-based line number.
        line: usize,
        /// The topic named.
        topic: String,
    },
}

/// Why the transaction was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteTransactionError {
    /// The id's previous instance left a prepared transaction, which needs a decision.
    #[error("transactional id '{0}' holds a prepared transaction; it needs a commit or abort decision first")]
    Prepared(String),
    /// The transaction failed (nothing of it is visible).
    #[error(transparent)]
    Txn(#[from] TxnError),
}

/// Reads every line of `input`, routing each record to the partition of its key (unkeyed:
/// round-robin per topic); `partition_count` says how many partitions a topic has
/// (`None`: no such topic). `now_ms` stamps records without a timestamp.
pub fn read_transaction_lines(
    input: impl BufRead,
    partition_count: &dyn Fn(&str) -> Option<u32>,
    now_ms: i64,
) -> Result<TransactionInput, TransactionInputError> {
    let mut read = TransactionInput::default();
    let mut round_robin: BTreeMap<String, u64> = BTreeMap::new();
    for (index, line) in input.lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|source| TransactionInputError::Read {
            line: line_no,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let (topic, record) =
            split_topic(&line, now_ms).map_err(|source| TransactionInputError::BadRecord {
                line: line_no,
                source,
            })?;
        let Some(partitions) = partition_count(&topic) else {
            return Err(TransactionInputError::UnknownTopic {
                line: line_no,
                topic,
            });
        };
        let partition = match &record.key {
            Some(key) => partition_for_key(key, partitions),
            None => {
                let next = round_robin.entry(topic.clone()).or_insert(0);
                *next += 1;
                ((*next - 1) % u64::from(partitions)) as u32
            }
        };
        read.batches
            .entry((topic, partition))
            .or_default()
            .push(record);
        read.records += 1;
    }
    Ok(read)
}

/// Splits `{"topic": …, …}` into the topic and the record without it.
fn split_topic(line: &str, now_ms: i64) -> Result<(String, Record), TopicLineError> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line).map_err(TopicLineError::Json)?;
    let topic = match object.remove("topic") {
        Some(serde_json::Value::String(topic)) => topic,
        Some(other) => return Err(TopicLineError::TopicNotString(other)),
        None => return Err(TopicLineError::MissingTopic),
    };
    let record = parse_json_line(&serde_json::Value::Object(object).to_string(), now_ms)?;
    Ok((topic, record))
}

/// Writes `input` in one transaction of `transactional_id` (fencing older instances),
/// then commits it, or aborts it when `abort` is set (nothing becomes visible).
pub fn write_transaction(
    log: &Log,
    transactional_id: &str,
    timeout_ms: i64,
    input: &TransactionInput,
    abort: bool,
) -> Result<(), WriteTransactionError> {
    let mut producer = log.transactional_producer(transactional_id, timeout_ms)?;
    if producer.is_prepared() {
        return Err(WriteTransactionError::Prepared(
            transactional_id.to_string(),
        ));
    }
    producer.begin()?;
    for ((topic, partition), batch) in &input.batches {
        for chunk in batch.chunks(SEND_RECORDS) {
            producer.send(topic, *partition, chunk)?;
        }
    }
    match abort {
        true => producer.abort()?,
        false => producer.commit()?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(topic: &str) -> Option<u32> {
        match topic {
            "a" => Some(2),
            "b" => Some(4),
            _ => None,
        }
    }

    #[test]
    fn lines_are_routed_by_key_or_round_robin_per_topic() {
        let input = "{\"topic\":\"a\",\"value\":1}\n\n{\"topic\":\"a\",\"value\":2}\n\
                     {\"topic\":\"b\",\"key\":\"k\",\"value\":\"x\"}\n";
        let read = read_transaction_lines(input.as_bytes(), &count, 7).unwrap();
        assert_eq!(read.records, 3);
        assert_eq!(read.batches[&("a".to_string(), 0)][0].value, b"1");
        assert_eq!(read.batches[&("a".to_string(), 1)][0].value, b"2");
        let b = partition_for_key(b"k", 4);
        assert_eq!(read.batches[&("b".to_string(), b)][0].value, b"x");
        assert_eq!(read.batches[&("b".to_string(), b)][0].timestamp.0, 7);
    }

    #[test]
    fn bad_lines_and_unknown_topics_name_their_line() {
        let unknown =
            read_transaction_lines("\n{\"topic\":\"c\",\"value\":1}".as_bytes(), &count, 0);
        assert!(matches!(
            unknown,
            Err(TransactionInputError::UnknownTopic { line: 2, ref topic }) if topic == "c"
        ));
        let missing = read_transaction_lines("{\"value\":1}".as_bytes(), &count, 0);
        assert!(matches!(
            missing,
            Err(TransactionInputError::BadRecord {
                line: 1,
                source: TopicLineError::MissingTopic
            })
        ));
    }
}
