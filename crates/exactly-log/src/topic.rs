//! Topic names and key routing: the rules every topic and record obeys, whatever opens
//! the log (a leaf module: the log, the write scope and repair all use it).

use crate::error::TopicError;

/// Most partitions a topic may have.
pub const PARTITIONS_MAX: u32 = 10_000;

/// Checks a topic name: 1–200 characters of `[A-Za-z0-9._-]`, not starting with a dot.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason| TopicError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("length must be 1..=200"));
    }
    if name.starts_with('.') {
        return Err(invalid("must not start with '.'"));
    }
    if name == "LOCK" {
        return Err(invalid("'LOCK' is the log directory's lock file"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(invalid("only A-Z a-z 0-9 . _ - are allowed"));
    }
    Ok(())
}

/// The partition a key goes to: `xxh3(key) mod partitions`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(key) % u64::from(partitions.max(1))) as u32
}
