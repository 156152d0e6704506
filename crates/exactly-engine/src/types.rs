//! The types shared by the builder, the operators and the runtime: the delivery
//! [`Guarantee`], input records ([`SourceRecord`]), keys ([`GroupKey`]), what a sink writes
//! ([`OutputRecord`], [`Windowed`]), a parse step's [`Rejection`] and one keyed item on its
//! way into an operator (`Event`). A leaf module: it uses no other file of the crate.

use exactly_core::Timestamp;
use exactly_state::SnapshotError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::hash::Hash;

/// What a job promises about the effect of each input message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Guarantee {
    /// Source positions are committed ahead of processing: a crash may lose messages,
    /// never double them.
    AtMostOnce,
    /// Outputs are written before the checkpoint that covers them: a crash may replay
    /// messages whose outputs are already out (duplicates), never lose them.
    AtLeastOnce,
    /// State and outputs change as if every message was processed once: outputs go in one
    /// log transaction per checkpoint, prepared before the manifest, committed after it.
    ExactlyOnce,
}

impl Guarantee {
    /// The CLI spelling (`exactly-once`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Guarantee::AtMostOnce => "at-most-once",
            Guarantee::AtLeastOnce => "at-least-once",
            Guarantee::ExactlyOnce => "exactly-once",
        }
    }
}

/// A record as a source hands it to the job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRecord {
    /// Input partition.
    pub partition: u32,
    /// Offset in the partition.
    pub offset: u64,
    /// Event time.
    pub timestamp: Timestamp,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Vec<u8>,
}

/// A key that can route to a key group and live in checkpointed state.
pub trait GroupKey:
    Clone + Eq + Hash + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The bytes hashed to the key's group (and used as the output record key).
    fn group_bytes(&self) -> Cow<'_, [u8]>;
}

impl GroupKey for String {
    fn group_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl GroupKey for Vec<u8> {
    fn group_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl GroupKey for u64 {
    fn group_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.to_le_bytes().to_vec())
    }
}

impl GroupKey for i64 {
    fn group_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.to_le_bytes().to_vec())
    }
}

/// Something a log sink can write: an optional key (which also picks the partition) and a
/// value.
pub trait OutputRecord: Send + 'static {
    /// The record key.
    fn record_key(&self) -> Option<Vec<u8>>;
    /// The record value; an output that cannot be encoded fails the run (it is never
    /// written as an empty value).
    fn record_value(&self) -> Result<Vec<u8>, SnapshotError>;
}

/// `(key, value)` pairs are written with the key's bytes as record key and
/// `{"key":…,"value":…}` JSON as value.
impl<K: GroupKey, V: Serialize + Send + 'static> OutputRecord for (K, V) {
    fn record_key(&self) -> Option<Vec<u8>> {
        Some(self.0.group_bytes().into_owned())
    }
    fn record_value(&self) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(&KeyValueJson {
            key: &self.0,
            value: &self.1,
        })
        .map_err(|e| SnapshotError::Encode(e.to_string()))
    }
}

#[derive(Serialize)]
struct KeyValueJson<'a, K, V> {
    key: &'a K,
    value: &'a V,
}

impl OutputRecord for SourceRecord {
    fn record_key(&self) -> Option<Vec<u8>> {
        self.key.clone()
    }
    fn record_value(&self) -> Result<Vec<u8>, SnapshotError> {
        Ok(self.value.clone())
    }
}

/// A closed window's value for one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windowed<K, V> {
    /// The key.
    pub key: K,
    /// Window start (inclusive), ms.
    pub start_ms: i64,
    /// Window end (exclusive), ms.
    pub end_ms: i64,
    /// The combined value.
    pub value: V,
}

impl<K: GroupKey, V: Serialize + Send + 'static> OutputRecord for Windowed<K, V> {
    fn record_key(&self) -> Option<Vec<u8>> {
        Some(self.key.group_bytes().into_owned())
    }
    fn record_value(&self) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(self).map_err(|e| SnapshotError::Encode(e.to_string()))
    }
}

/// Why a record could not be turned into items (a parse step refused it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// What is wrong with the record.
    pub reason: String,
}

/// One keyed item on its way into an operator.
#[derive(Debug)]
pub(crate) struct Event<K, T> {
    pub key: K,
    /// `xxh3` of the key's group bytes (computed once, by the source).
    pub hash: u64,
    pub group: u32,
    pub value: T,
    pub timestamp: Timestamp,
}
