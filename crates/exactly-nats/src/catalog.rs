//! Creating and opening topics (async): the metadata claim, then the partition streams.
//!
//! `create` publishes the metadata with `Nats-Expected-Last-Sequence: 0` to the topic's
//! metadata stream: the first creator wins; every creator then reads the winner's metadata
//! back and fails with [`NatsError::TopicConflict`] if it differs from what it asked for.
//! Only after that are the partition streams created, from the metadata alone, so `open`
//! (a reader that did not create the topic) can finish a creation that stopped half-way.

use crate::error::{api, NatsError};
use crate::naming::{
    meta_stream, meta_subject, parse_stream, validate_topic, StreamRole, PARTITIONS_MAX,
};
use crate::topic::{meta_config, partition_config, TopicMeta, TopicOptions, META_VERSION};
use async_nats::jetstream::context::{GetStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, LastRawMessageErrorKind, Stream};
use async_nats::jetstream::Context;
use async_nats::jetstream::ErrorCode;
use futures_util::TryStreamExt;

/// Creates `topic` with `partitions` partitions, or returns its metadata if it already
/// exists exactly so (idempotent); a different existing topic is a typed conflict.
pub async fn create_topic(
    js: &Context,
    topic: &str,
    partitions: u32,
    options: TopicOptions,
) -> Result<TopicMeta, NatsError> {
    validate_topic(topic)?;
    validate_options(topic, partitions, &options)?;
    let requested = TopicMeta::new(topic, partitions, options);
    let meta_stream = match ensure_stream(js, meta_config(topic, &requested.options)).await {
        Ok(stream) => stream,
        // A metadata stream with other replicas or storage: another creator asked for
        // other options; report what exists.
        Err(NatsError::StreamConflict { .. }) => {
            let existing = open_topic(js, topic).await?;
            return Err(NatsError::TopicConflict {
                topic: topic.to_string(),
                existing: Box::new(existing),
                requested: Box::new(requested),
            });
        }
        Err(error) => return Err(error),
    };
    let claim = serde_json::to_vec(&requested).map_err(|e| NatsError::MetadataDamaged {
        topic: topic.to_string(),
        reason: e.to_string(),
    })?;
    let published = publish_claim(js, topic, claim).await;
    // Whoever won, the metadata at sequence 1 is the topic's.
    let existing = match read_meta(&meta_stream, topic).await? {
        Some(existing) => existing,
        None => {
            published?;
            return Err(NatsError::MetadataDamaged {
                topic: topic.to_string(),
                reason: "the metadata was acknowledged but cannot be read back".into(),
            });
        }
    };
    if existing != requested {
        return Err(NatsError::TopicConflict {
            topic: topic.to_string(),
            existing: Box::new(existing),
            requested: Box::new(requested),
        });
    }
    ensure_partitions(js, &existing).await?;
    Ok(existing)
}

/// Opens an existing topic: reads its metadata and makes sure every partition stream
/// exists (finishing a creation that crashed after its metadata was written).
pub async fn open_topic(js: &Context, topic: &str) -> Result<TopicMeta, NatsError> {
    validate_topic(topic)?;
    let not_found = || NatsError::TopicNotFound {
        topic: topic.to_string(),
        stream: meta_stream(topic),
    };
    let stream = match js.get_stream(meta_stream(topic)).await {
        Ok(stream) => stream,
        Err(error) if is_stream_not_found(&error) => return Err(not_found()),
        Err(error) => return Err(api(format!("stream info {}", meta_stream(topic)), error)),
    };
    let meta = read_meta(&stream, topic).await?.ok_or_else(not_found)?;
    ensure_partitions(js, &meta).await?;
    Ok(meta)
}

/// Deletes `topic`: its partition streams, then its metadata (so a crash half-way leaves
/// a topic that `open_topic` completes again, never streams without metadata).
pub async fn delete_topic(js: &Context, meta: &TopicMeta) -> Result<(), NatsError> {
    for partition in 0..meta.partitions {
        let config = partition_config(meta, partition);
        delete_stream(js, &config.name).await?;
    }
    delete_stream(js, &meta_stream(&meta.topic)).await
}

async fn delete_stream(js: &Context, name: &str) -> Result<(), NatsError> {
    match js.delete_stream(name).await {
        Ok(_) => Ok(()),
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(inner)
                if inner.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(()) // Already gone: deleting is idempotent.
            }
            _ => Err(api(format!("delete stream {name}"), error)),
        },
    }
}

/// The names of every topic (every metadata stream of this crate), sorted.
pub async fn list_topics(js: &Context) -> Result<Vec<String>, NatsError> {
    let names: Vec<String> = js
        .stream_names()
        .try_collect()
        .await
        .map_err(|e| api("stream names".into(), e))?;
    let mut topics: Vec<String> = names
        .iter()
        .filter_map(|name| match parse_stream(name) {
            Some(StreamRole::Meta(topic)) => Some(topic),
            _ => None,
        })
        .collect();
    topics.sort();
    Ok(topics)
}

fn validate_options(topic: &str, partitions: u32, options: &TopicOptions) -> Result<(), NatsError> {
    let invalid = |reason: String| NatsError::InvalidOptions {
        topic: topic.to_string(),
        reason,
    };
    if partitions == 0 || partitions > PARTITIONS_MAX {
        return Err(invalid(format!("partitions must be 1..={PARTITIONS_MAX}")));
    }
    if !matches!(options.replicas, 1 | 3 | 5) {
        return Err(invalid("replicas must be 1, 3 or 5".into()));
    }
    if options.duplicate_window_ms == 0 {
        return Err(invalid("the duplicate window must be > 0 ms".into()));
    }
    if options.max_message_bytes == 0 || i32::try_from(options.max_message_bytes).is_err() {
        return Err(invalid("max message bytes must be 1..=2^31-1".into()));
    }
    Ok(())
}

async fn publish_claim(js: &Context, topic: &str, claim: Vec<u8>) -> Result<(), NatsError> {
    let message = PublishMessage::build()
        .payload(claim.into())
        .expected_last_sequence(0);
    let stream = meta_stream(topic);
    let failed = |source| NatsError::Publish {
        stream: stream.clone(),
        source,
    };
    let ack = js
        .send_publish(meta_subject(topic), message)
        .await
        .map_err(|e| failed(Box::new(e)))?;
    match ack.await {
        Ok(_) => Ok(()),
        // Someone else's metadata is there already: read it.
        Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => Ok(()),
        Err(error) => Err(failed(Box::new(error))),
    }
}

/// The metadata message (sequence 1), `None` if none was written yet.
async fn read_meta(stream: &Stream, topic: &str) -> Result<Option<TopicMeta>, NatsError> {
    let message = match stream.get_raw_message(1).await {
        Ok(message) => message,
        Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(error) => return Err(api(format!("get {} #1", meta_stream(topic)), error)),
    };
    let damaged = |reason: String| NatsError::MetadataDamaged {
        topic: topic.to_string(),
        reason,
    };
    let meta: TopicMeta =
        serde_json::from_slice(&message.payload).map_err(|e| damaged(e.to_string()))?;
    if meta.version != META_VERSION || meta.topic != topic {
        return Err(damaged(format!(
            "version {} of topic {:?}, expected version {META_VERSION} of {topic:?}",
            meta.version, meta.topic
        )));
    }
    // Read back from the server: limits out of range are damage, not a value to clamp.
    validate_options(topic, meta.partitions, &meta.options).map_err(|e| damaged(e.to_string()))?;
    Ok(Some(meta))
}

async fn ensure_partitions(js: &Context, meta: &TopicMeta) -> Result<(), NatsError> {
    for partition in 0..meta.partitions {
        ensure_stream(js, partition_config(meta, partition)).await?;
    }
    Ok(())
}

/// Makes sure the stream exists with the settings that matter: reads it first (a read
/// needs only the stream's leader, so opening works while the cluster's meta leader is
/// being elected), creates it only when it is missing, and compares what exists.
async fn ensure_stream(js: &Context, config: Config) -> Result<Stream, NatsError> {
    let name = config.name.clone();
    match js.get_stream(&name).await {
        Ok(stream) => return check_settings(stream, &config).await,
        Err(error) if !is_stream_not_found(&error) => {
            return Err(api(format!("stream info {name}"), error))
        }
        Err(_) => {}
    }
    let create_error = match js.create_stream(config.clone()).await {
        Ok(stream) => return Ok(stream),
        Err(error) => error,
    };
    // Created by a racing creator in between, or really failed.
    match js.get_stream(&name).await {
        Ok(stream) => check_settings(stream, &config).await,
        Err(_) => Err(api(format!("create stream {name}"), create_error)),
    }
}

fn is_stream_not_found(error: &async_nats::jetstream::context::GetStreamError) -> bool {
    matches!(error.kind(), GetStreamErrorKind::JetStream(inner)
        if inner.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

async fn check_settings(mut stream: Stream, wanted: &Config) -> Result<Stream, NatsError> {
    let info = stream
        .info()
        .await
        .map_err(|e| api(format!("stream info {}", wanted.name), e))?;
    match differing_setting(&info.config, wanted) {
        None => Ok(stream),
        Some(setting) => Err(NatsError::StreamConflict {
            stream: wanted.name.clone(),
            setting,
        }),
    }
}

/// The first setting that matters on which `existing` differs from `wanted`, or `None`.
/// The server stores "no limit" as -1 whatever the request said (0 or -1), so limits are
/// compared after mapping every value ≤ 0 to -1; a duplicate window left at zero asks for
/// the server's default (2 minutes), so it is compared only when set.
fn differing_setting(existing: &Config, wanted: &Config) -> Option<&'static str> {
    let limit = |value: i64| if value <= 0 { -1 } else { value };
    let checks = [
        ("subjects", existing.subjects == wanted.subjects),
        ("replicas", existing.num_replicas == wanted.num_replicas),
        ("storage", existing.storage == wanted.storage),
        ("max_age", existing.max_age == wanted.max_age),
        (
            "duplicate_window",
            wanted.duplicate_window.is_zero()
                || existing.duplicate_window == wanted.duplicate_window,
        ),
        (
            "max_messages",
            limit(existing.max_messages) == limit(wanted.max_messages),
        ),
        (
            "max_message_size",
            limit(existing.max_message_size.into()) == limit(wanted.max_message_size.into()),
        ),
    ];
    checks
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(setting, _)| setting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicOptions;

    fn meta() -> TopicMeta {
        TopicMeta::new("orders", 2, TopicOptions::default())
    }

    #[test]
    fn the_servers_unlimited_is_not_a_conflict() {
        let wanted = partition_config(&meta(), 0);
        let mut stored = wanted.clone();
        stored.max_messages = -1; // what the server reports for the 0 we sent
        stored.max_message_size = if wanted.max_message_size <= 0 {
            -1
        } else {
            wanted.max_message_size
        };
        assert_eq!(differing_setting(&stored, &wanted), None);
        let wanted_meta = meta_config("orders", &TopicOptions::default());
        let mut stored_meta = wanted_meta.clone();
        stored_meta.max_message_size = -1;
        stored_meta.duplicate_window = std::time::Duration::from_secs(120);
        assert_eq!(differing_setting(&stored_meta, &wanted_meta), None);
    }

    #[test]
    fn other_replicas_or_limits_are_a_conflict() {
        let wanted = partition_config(&meta(), 0);
        let mut stored = wanted.clone();
        stored.num_replicas = 3;
        assert_eq!(differing_setting(&stored, &wanted), Some("replicas"));
        let mut stored = wanted.clone();
        stored.max_messages = 10;
        assert_eq!(differing_setting(&stored, &wanted), Some("max_messages"));
    }
}
