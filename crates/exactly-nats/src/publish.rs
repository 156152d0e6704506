//! Pipelined publishing to one partition (async): many publishes in flight, each with its
//! message id, optionally each conditional on the stream's last sequence.
//!
//! With `expected_last = Some(n)`, record `i` of the batch is sent with
//! `Nats-Expected-Last-Sequence: n + i` and, for `i ≥ 1`, `Nats-Expected-Last-Msg-Id:` the
//! id of record `i - 1`. The sequence alone is not enough once pipelined: if record 0 is
//! refused because a foreign writer (a zombie producer, a second writer) appended one
//! message, record 1's expectation `n + 1` matches that foreign message and would land,
//! leaving a hole where record 0 belongs. Chaining the previous record's id makes the stream
//! accept record `i` only right after record `i - 1` of the same batch, so a batch lands
//! contiguously after `n` or stops at its first refused record. This is what an
//! exactly-once sink builds on: it knows `n` from the stream's tail, and a retry of an
//! already stored record inside the duplicate window is answered `duplicate` with its
//! original sequence (JetStream checks duplicates before expectations).

use crate::error::NatsError;
use crate::record::{headers_of, OutRecord};
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::Context;
use std::collections::VecDeque;

/// The acknowledgment of one published record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishAck {
    /// The record's stream sequence (its offset in the partition).
    pub sequence: u64,
    /// The stream already had a message with this id (inside the duplicate window): the
    /// sequence is the original's and nothing new was stored.
    pub duplicate: bool,
}

/// A batch that stopped part-way: the acknowledged prefix and why the rest was not.
#[derive(Debug, thiserror::Error)]
#[error("{} of the batch acknowledged, then: {error}", acked.len())]
pub struct PublishFailure {
    /// Acknowledgments of the records before the first failure, in order.
    pub acked: Vec<PublishAck>,
    /// The first failure.
    #[source]
    pub error: NatsError,
}

/// Where a batch goes.
pub struct Target<'a> {
    /// The partition's stream name (for errors).
    pub stream: &'a str,
    /// The partition's subject.
    pub subject: &'a str,
}

/// Publishes `records` in order with at most `in_flight_max` unacknowledged at once.
/// Returns one acknowledgment per record, or the acknowledged prefix and the first error.
pub async fn publish_batch(
    js: &Context,
    target: &Target<'_>,
    records: &[OutRecord],
    expected_last: Option<u64>,
    in_flight_max: usize,
) -> Result<Vec<PublishAck>, PublishFailure> {
    let mut acked = Vec::with_capacity(records.len());
    let mut in_flight: VecDeque<(Option<u64>, PublishAckFuture)> = VecDeque::new();
    for (index, record) in (0u64..).zip(records) {
        if in_flight.len() >= in_flight_max.max(1) {
            if let Err(error) = await_oldest(target, &mut in_flight, &mut acked).await {
                return Err(PublishFailure { acked, error });
            }
        }
        let mut message = PublishMessage::build()
            .payload(record.value.clone().into())
            .headers(headers_of(record));
        let expected = expected_last.map(|last| last + index);
        if let Some(expected) = expected {
            message = message.expected_last_sequence(expected);
            if let Some(previous) = index.checked_sub(1).and_then(|i| records.get(i as usize)) {
                message = message.expected_last_message_id(&previous.msg_id);
            }
        }
        match js.send_publish(target.subject.to_string(), message).await {
            Ok(future) => in_flight.push_back((expected, future)),
            Err(source) => {
                // Earlier records may still be acknowledged: collect them first.
                return Err(drain_then_fail(
                    target,
                    in_flight,
                    acked,
                    to_error(target, None, source),
                )
                .await);
            }
        }
    }
    while !in_flight.is_empty() {
        if let Err(error) = await_oldest(target, &mut in_flight, &mut acked).await {
            return Err(PublishFailure { acked, error });
        }
    }
    Ok(acked)
}

async fn await_oldest(
    target: &Target<'_>,
    in_flight: &mut VecDeque<(Option<u64>, PublishAckFuture)>,
    acked: &mut Vec<PublishAck>,
) -> Result<(), NatsError> {
    let Some((expected, future)) = in_flight.pop_front() else {
        return Ok(());
    };
    match future.await {
        Ok(ack) => {
            acked.push(PublishAck {
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            });
            Ok(())
        }
        Err(source) => Err(to_error(target, expected, source)),
    }
}

async fn drain_then_fail(
    target: &Target<'_>,
    mut in_flight: VecDeque<(Option<u64>, PublishAckFuture)>,
    mut acked: Vec<PublishAck>,
    error: NatsError,
) -> PublishFailure {
    while !in_flight.is_empty() {
        if let Err(first) = await_oldest(target, &mut in_flight, &mut acked).await {
            return PublishFailure {
                acked,
                error: first,
            };
        }
    }
    PublishFailure { acked, error }
}

fn to_error(
    target: &Target<'_>,
    expected: Option<u64>,
    source: async_nats::jetstream::context::PublishError,
) -> NatsError {
    match (source.kind(), expected) {
        (PublishErrorKind::WrongLastSequence, Some(expected)) => NatsError::WrongLastSequence {
            stream: target.stream.to_string(),
            expected,
            source: Box::new(source),
        },
        _ => NatsError::Publish {
            stream: target.stream.to_string(),
            source: Box::new(source),
        },
    }
}
