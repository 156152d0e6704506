//! A Kafka message as the engine's record ([`to_stored_record`]). Pure; a leaf module.

use crate::error::InputError;
use exactly_core::{Offset, Timestamp};
use exactly_log::StoredRecord;
use rdkafka::message::{Message, Timestamp as KafkaTimestamp};

/// The engine's record for `message` of partition `partition` of `topic`.
///
/// The record's offset is the message's Kafka offset (the engine's position). A tombstone
/// (null value) becomes an empty value: the engine's records always carry one, and a job's
/// parse step sees the empty value and decides (the `balances` job dead-letters it as
/// bad input). Headers are not carried: the engine's records have none.
pub fn to_stored_record(
    message: &impl Message,
    topic: &str,
    partition: u32,
) -> Result<StoredRecord, InputError> {
    let offset = u64::try_from(message.offset()).map_err(|_| InputError::NegativeOffset {
        topic: topic.to_string(),
        partition,
        offset: message.offset(),
    })?;
    let timestamp = match message.timestamp() {
        KafkaTimestamp::CreateTime(ms) | KafkaTimestamp::LogAppendTime(ms) => ms,
        KafkaTimestamp::NotAvailable => {
            return Err(InputError::NoTimestamp {
                topic: topic.to_string(),
                partition,
                offset,
            })
        }
    };
    let value = match message.payload() {
        Some(bytes) => bytes.to_vec(),
        None => Vec::new(),
    };
    Ok(StoredRecord {
        offset: Offset(offset),
        timestamp: Timestamp(timestamp),
        key: message.key().map(<[u8]>::to_vec),
        value,
    })
}
