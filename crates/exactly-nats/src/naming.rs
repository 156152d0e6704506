//! Names: how a topic and its partitions map to JetStream stream names and subjects (pure).
//!
//! Topic names allow `A-Z a-z 0-9 . _ -` (the embedded log's alphabet); stream names may not
//! contain `.`. The escaping `_` → `__`, `.` → `_d` is a prefix-free code over the topic's
//! characters, so it is injective and can be decoded; a lone `_` followed by anything else
//! never occurs in an escaped name and so marks where the suffix begins:
//!
//! | what | stream | subject |
//! |---|---|---|
//! | partition `p` of topic `t` | `exactly_<esc(t)>_p<p>` | `exactly.<esc(t)>.<p>` |
//! | metadata of topic `t` | `exactly_<esc(t)>_meta` | `exactly.<esc(t)>.meta` |
//!
//! Subjects use the escaped name too, so a topic like `a..b` (legal) never produces an
//! empty subject token, and no two streams' subjects overlap.

/// Longest topic name on NATS (characters). Escaping at most doubles it and the stream
/// name must stay a valid file name (≤ 255 bytes) on the server's disk.
pub const TOPIC_NAME_CHARS_MAX: usize = 100;

/// Most partitions of a topic on NATS (each partition is a stream).
pub const PARTITIONS_MAX: u32 = 1000;

/// Prefix of every stream and subject this crate creates.
const PREFIX: &str = "exactly";

/// A topic name that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid topic name {topic:?}: {reason}")]
pub struct InvalidTopicName {
    /// The name.
    pub topic: String,
    /// Why.
    pub reason: &'static str,
}

/// Checks a topic name: 1–100 characters of `[A-Za-z0-9._-]`.
pub fn validate_topic(topic: &str) -> Result<(), InvalidTopicName> {
    let invalid = |reason: &'static str| InvalidTopicName {
        topic: topic.to_string(),
        reason,
    };
    if topic.is_empty() || topic.len() > TOPIC_NAME_CHARS_MAX {
        return Err(invalid("length must be 1..=100"));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(invalid("only A-Z a-z 0-9 . _ - are allowed"));
    }
    Ok(())
}

/// Escapes a (valid) topic name so it contains no `.`: `_` → `__`, `.` → `_d`.
pub fn escape(topic: &str) -> String {
    let mut escaped = String::with_capacity(topic.len() + 8);
    for c in topic.chars() {
        match c {
            '_' => escaped.push_str("__"),
            '.' => escaped.push_str("_d"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Inverts [`escape`]: `None` for a string no topic escapes to.
pub fn unescape(escaped: &str) -> Option<String> {
    let mut topic = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '_' => match chars.next() {
                Some('_') => topic.push('_'),
                Some('d') => topic.push('.'),
                _ => return None,
            },
            '.' => return None,
            other => topic.push(other),
        }
    }
    Some(topic)
}

/// The stream holding partition `partition` of `topic`.
pub fn partition_stream(topic: &str, partition: u32) -> String {
    format!("{PREFIX}_{}_p{partition}", escape(topic))
}

/// The one subject of partition `partition`'s stream.
pub fn partition_subject(topic: &str, partition: u32) -> String {
    format!("{PREFIX}.{}.{partition}", escape(topic))
}

/// The stream holding `topic`'s metadata (one message: partition count and options).
pub fn meta_stream(topic: &str) -> String {
    format!("{PREFIX}_{}_meta", escape(topic))
}

/// The one subject of the metadata stream.
pub fn meta_subject(topic: &str) -> String {
    format!("{PREFIX}.{}.meta", escape(topic))
}

/// What a stream name of this crate names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamRole {
    /// Partition `1` of topic `0`.
    Partition(String, u32),
    /// The metadata of a topic.
    Meta(String),
}

/// Decodes a stream name made by [`partition_stream`] or [`meta_stream`]; `None` for any
/// other stream (another application's, or a name this crate never makes).
pub fn parse_stream(stream: &str) -> Option<StreamRole> {
    let rest = stream.strip_prefix(PREFIX)?.strip_prefix('_')?;
    // The suffix starts at the first lone `_` (one not part of an escape pair).
    let bytes = rest.as_bytes();
    let mut at = 0;
    let split = loop {
        match bytes.get(at) {
            None => return None,
            Some(b'_') => match bytes.get(at + 1) {
                Some(b'_') | Some(b'd') => at += 2,
                _ => break at,
            },
            Some(_) => at += 1,
        }
    };
    let (escaped, suffix) = rest.split_at(split);
    let topic = unescape(escaped)?;
    validate_topic(&topic).ok()?;
    match suffix {
        "_meta" => Some(StreamRole::Meta(topic)),
        _ => {
            let digits = suffix.strip_prefix("_p")?;
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            if !canonical {
                return None;
            }
            Some(StreamRole::Partition(topic, digits.parse().ok()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_and_underscores_are_escaped() {
        assert_eq!(partition_stream("a.b_c", 3), "exactly_a_db__c_p3");
        assert_eq!(meta_stream("a.b_c"), "exactly_a_db__c_meta");
        assert_eq!(partition_subject("a..b", 0), "exactly.a_d_db.0");
    }

    #[test]
    fn look_alike_topics_get_distinct_streams() {
        // `a_d` and `a.` would collide under a naive `.` → `_d`.
        assert_ne!(partition_stream("a_d", 0), partition_stream("a.", 0));
        assert_ne!(meta_stream("x_meta"), meta_stream("x"));
        assert_ne!(partition_stream("x_p1", 2), partition_stream("x", 1));
    }

    #[test]
    fn foreign_streams_are_not_ours() {
        assert_eq!(parse_stream("KV_bucket"), None);
        assert_eq!(parse_stream("exactly_a_x"), None);
        assert_eq!(parse_stream("exactly_a_p01"), None);
        assert_eq!(parse_stream("exactly_a_p"), None);
    }
}
