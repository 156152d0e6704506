//! `Fetch`: records from the log as v2 batches, with long polling.
//!
//! Isolation is applied while reading the log: `read_committed` stops at the last stable
//! offset and skips aborted transactions and markers, so the batches sent carry only what
//! the client may see and the aborted-transactions list is always empty (offsets of
//! skipped records are simply absent, which clients handle as they do compacted gaps).
//! A fetch with nothing to return waits until data arrives, `max_wait_ms` passes (capped
//! by [`crate::ServerOptions::fetch_wait_ms_max`]) or the server is told data changed.

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::record_batch::{encode_batches, encode_control_batch};
use crate::security::{Access, Operation, Resource};
use bytes::Bytes;
use exactly_core::Offset;
use exactly_log::Isolation;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinError;
use tokio::time::Instant;

/// Records read from the log per call (bounded memory per step).
const READ_CHUNK_RECORDS: usize = 512;
/// How often a waiting fetch looks again even without a change signal (markers written by
/// the coordinator's timeouts do not signal).
const RECHECK_MS: u64 = 100;

/// Handles `Fetch`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: FetchRequest,
) -> Result<FetchResponse, JoinError> {
    // Checked once: denied topics are answered at once and never read.
    let readable: Arc<Vec<bool>> = Arc::new(
        request
            .topics
            .iter()
            .map(|t| access.allows(Operation::Read, Resource::Topic, &t.topic.0))
            .collect(),
    );
    // The protocol reads a negative wait or byte count as zero ("answer at once",
    // "nothing"), so clamping is the rule, not a fallback.
    let wait_ms = u64::from(request.max_wait_ms.max(0).unsigned_abs())
        .min(u64::from(broker.options.fetch_wait_ms_max));
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let min_bytes = (request.min_bytes.max(1).unsigned_abs()) as usize;
    let request = Arc::new(request);
    let mut changes = broker.watch_changes();
    loop {
        changes.mark_unchanged();
        let (shared, req, may) = (broker.clone(), request.clone(), readable.clone());
        let (responses, bytes) = blocking(move || read_all(&shared, &req, &may)).await?;
        if bytes >= min_bytes || Instant::now() >= deadline {
            let mut response = FetchResponse::default();
            response.responses = responses;
            return Ok(response);
        }
        let recheck = Instant::now() + Duration::from_millis(RECHECK_MS);
        let _ = tokio::time::timeout_at(deadline.min(recheck), changes.changed()).await;
    }
}

fn read_all(
    broker: &Broker,
    request: &FetchRequest,
    readable: &[bool],
) -> (Vec<FetchableTopicResponse>, usize) {
    let isolation = match request.isolation_level {
        1 => Isolation::ReadCommitted,
        _ => Isolation::ReadUncommitted,
    };
    let request_max = request.max_bytes.max(0).unsigned_abs() as usize;
    let mut budget = request_max.min(broker.options.fetch_bytes_max as usize);
    let mut total = 0;
    let topics = request
        .topics
        .iter()
        .zip(readable)
        .map(|(topic, &may_read)| {
            let name = topic.topic.0.to_string();
            let mut response = FetchableTopicResponse::default();
            response.topic = topic.topic.clone();
            response.partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    if !may_read {
                        return denied(p.partition);
                    }
                    let partition_max = p.partition_max_bytes.max(0).unsigned_abs() as usize;
                    let data = read_partition(
                        broker,
                        &name,
                        p.partition,
                        p.fetch_offset,
                        isolation,
                        partition_max.min(budget),
                        total == 0,
                    );
                    let len = data.records.as_ref().map_or(0, Bytes::len);
                    budget = budget.saturating_sub(len);
                    total += len;
                    data
                })
                .collect();
            response
        })
        .collect();
    (topics, total)
}

fn denied(partition: i32) -> PartitionData {
    let mut data = PartitionData::default();
    data.partition_index = partition;
    data.error_code = codes::TOPIC_AUTHORIZATION_FAILED;
    data.high_watermark = -1;
    data.last_stable_offset = -1;
    data.log_start_offset = -1;
    data.preferred_read_replica = kafka_protocol::messages::BrokerId(-1);
    data
}

fn read_partition(
    broker: &Broker,
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    isolation: Isolation,
    bytes_max: usize,
    must_progress: bool,
) -> PartitionData {
    let mut data = PartitionData::default();
    data.partition_index = partition;
    data.aborted_transactions = Some(Vec::new());
    data.preferred_read_replica = kafka_protocol::messages::BrokerId(-1);
    let outcome = read_records(
        broker,
        topic,
        partition,
        fetch_offset,
        isolation,
        bytes_max,
        must_progress,
        &mut data,
    );
    if let Err(code) = outcome {
        data.error_code = code;
        data.records = None;
    }
    data
}

#[allow(clippy::too_many_arguments)]
fn read_records(
    broker: &Broker,
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    isolation: Isolation,
    bytes_max: usize,
    must_progress: bool,
    data: &mut PartitionData,
) -> Result<(), i16> {
    let log = broker.log;
    let partition = u32::try_from(partition).map_err(|_| codes::UNKNOWN_TOPIC_OR_PARTITION)?;
    let info = log
        .partition_info(topic, partition)
        .map_err(|e| codes::read_error(&e))?;
    let to_i64 = |o: Offset| i64::try_from(o.0).map_err(|_| codes::UNKNOWN_SERVER_ERROR);
    data.high_watermark = to_i64(info.end_offset)?;
    data.last_stable_offset = to_i64(info.last_stable_offset)?;
    data.log_start_offset = to_i64(info.start_offset)?;
    let from = u64::try_from(fetch_offset).map_err(|_| codes::OFFSET_OUT_OF_RANGE)?;
    if from < info.start_offset.0 || from > info.end_offset.0 {
        return Err(codes::OFFSET_OUT_OF_RANGE);
    }
    let mut records = Vec::new();
    let mut next = Offset(from);
    let mut bytes = 0usize;
    let mut full = false;
    while !full {
        let read = log
            .read_with(topic, partition, next, READ_CHUNK_RECORDS, isolation)
            .map_err(|e| codes::read_error(&e))?;
        if read.records.is_empty() && read.next_offset <= next {
            break;
        }
        for record in read.records {
            let size = record.value.len() + record.key.as_ref().map_or(0, Vec::len) + 24;
            let first = records.is_empty() && must_progress;
            if bytes + size > bytes_max && !first {
                full = true;
                break;
            }
            bytes += size;
            next = Offset(record.offset.0 + 1);
            records.push(record);
        }
        if !full {
            next = next.max(read.next_offset);
        }
    }
    let mut out = Vec::with_capacity(bytes + 64);
    encode_batches(&records, &mut out).map_err(|_| codes::CORRUPT_MESSAGE)?;
    // Offsets past the last record sent that hold only markers or skipped (aborted)
    // batches: a control batch at the last of them moves the client past them, as the
    // markers themselves would (clients never deliver control records).
    let sent_end = records.last().map_or(from, |r| r.offset.0 + 1);
    if next.0 > sent_end {
        encode_control_batch(next.0 - 1, &mut out);
    }
    data.records = Some(Bytes::from(out));
    Ok(())
}
