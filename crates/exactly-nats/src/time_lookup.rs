//! A partition's position by time: the sequence of the first record the server stored at
//! or after a moment. JetStream indexes its messages by the time it stored them — not by
//! the record's own timestamp header, which a producer may set to anything — and an
//! ordered consumer can start there (`DeliverPolicy::ByStartTime`, on every server
//! version): the first message it delivers names the sequence. The embedded log answers
//! the same question by the records' timestamps (its time index); for records stamped
//! when they are produced, as `gen` and `log produce` do by default, the two agree to
//! within the time a publish takes.

use crate::error::{api, NatsError};
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt;
use std::time::Duration;

/// The sequence of the first message of `stream` stored at or after `time_ms` (ms since
/// the Unix epoch), or the stream's last sequence + 1 if none is (yet): where reading
/// "from that time" starts. Waits at most `timeout_ms` for the server.
pub async fn first_seq_at_or_after(
    stream: &mut Stream,
    time_ms: i64,
    timeout_ms: u64,
) -> Result<u64, NatsError> {
    let name = stream.cached_info().config.name.clone();
    let read_error = |source: crate::error::Source| NatsError::Read {
        stream: name.clone(),
        sequence: 0,
        source,
    };
    let at = async_nats::datetime::from_nanos(i128::from(time_ms) * 1_000_000)
        .map_err(|_| read_error(format!("time {time_ms} ms is out of range").into()))?;
    let info = stream
        .info()
        .await
        .map_err(|e| api(format!("stream info {name}"), e))?;
    let state = &info.state;
    if state.messages == 0 || state.last_timestamp < at {
        return Ok(state.last_sequence + 1); // Nothing stored at or after it yet: the end.
    }
    if state.first_timestamp >= at {
        return Ok(state.first_sequence); // Everything kept is at or after it.
    }
    let config = OrderedConfig {
        deliver_policy: DeliverPolicy::ByStartTime { start_time: at },
        ..OrderedConfig::default()
    };
    let consumer = stream
        .create_consumer(config)
        .await
        .map_err(|e| read_error(e.into()))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| read_error(e.into()))?;
    // The stream holds a message at or after `at` (its last one), so one is delivered.
    let first = tokio::time::timeout(Duration::from_millis(timeout_ms), messages.next()).await;
    match first {
        Ok(Some(Ok(message))) => Ok(message.info().map_err(read_error)?.stream_sequence),
        Ok(Some(Err(error))) => Err(read_error(error.into())),
        Ok(None) => Err(read_error("the consumer's message stream ended".into())),
        Err(_) => Err(NatsError::Timeout {
            operation: format!(
                "finding the first record of {name} stored at or after {time_ms} ms"
            ),
            timeout_ms,
        }),
    }
}
