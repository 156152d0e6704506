//! The handler API: what user code implements, and the in-memory views it works on.
//!
//! A handler first declares the state keys a message touches ([`Handler::keys`]); the store
//! prefetches them for a whole batch at once; then [`Handler::handle`] runs purely in memory
//! against a [`State`] view and an [`Outbox`]. Nothing the handler does reaches the store
//! unless the whole batch commits.

use crate::message::Message;
use std::collections::HashMap;

/// Why a handler did not process a message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerError {
    /// The message is bad (unparseable, unknown account…): it goes to the dead-letter
    /// topic with this reason, is recorded in the inbox, and the endpoint goes on.
    #[error("rejected: {reason}")]
    Reject {
        /// Human-readable reason, stored with the dead letter.
        reason: String,
    },
    /// The handler touched a key it did not declare in [`Handler::keys`]: a bug in the
    /// handler. The batch stops, nothing is committed.
    #[error("state key {key:?} was not declared by Handler::keys")]
    UndeclaredKey {
        /// The key, lossily as text.
        key: String,
    },
    /// A transient failure: the batch stops, nothing is committed, the messages are
    /// delivered again.
    #[error("handler failed: {reason}")]
    Failed {
        /// What failed.
        reason: String,
    },
}

impl HandlerError {
    /// A [`HandlerError::Reject`] with `reason`.
    pub fn reject(reason: impl Into<String>) -> Self {
        Self::Reject {
            reason: reason.into(),
        }
    }
}

/// A state value the store keeps as bytes.
pub trait StateValue: Clone + Send {
    /// Bytes to store.
    fn encode(&self) -> Vec<u8>;
    /// Back from stored bytes.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

impl StateValue for i64 {
    fn encode(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let array: [u8; 8] = bytes
            .try_into()
            .map_err(|_| format!("i64 state value of {} bytes", bytes.len()))?;
        Ok(i64::from_le_bytes(array))
    }
}

impl StateValue for Vec<u8> {
    fn encode(&self) -> Vec<u8> {
        self.clone()
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(bytes.to_vec())
    }
}

/// User logic of an endpoint.
pub trait Handler {
    /// Type of a state value.
    type Value: StateValue;

    /// The state keys `msg` may read or write. Keys not declared here are refused by
    /// [`State`]. A message the handler cannot parse declares none and is rejected later.
    fn keys(&self, msg: &Message, keys: &mut Vec<Vec<u8>>);

    /// Processes one message: reads and writes `state`, sends to `out`.
    fn handle(
        &mut self,
        msg: &Message,
        state: &mut State<'_, Self::Value>,
        out: &mut Outbox,
    ) -> Result<(), HandlerError>;

    /// Most messages per store transaction. 1 disables batching (each message its own
    /// transaction); larger batches give the same result as one at a time, because
    /// messages run in order against the batch's state.
    fn batch_max(&self) -> usize {
        1024
    }
}

/// One state slot of a batch: its value, and whether the batch changed it.
#[derive(Clone, Debug)]
pub(crate) struct Slot<V> {
    pub(crate) value: Option<V>,
    pub(crate) dirty: bool,
}

/// The handler's view of the state during one message: the batch's prefetched keys, with
/// an undo list so a rejected message leaves no trace.
pub struct State<'a, V> {
    slots: &'a mut HashMap<Vec<u8>, Slot<V>>,
    undo: Vec<(Vec<u8>, Slot<V>)>,
}

impl<'a, V: Clone> State<'a, V> {
    pub(crate) fn new(slots: &'a mut HashMap<Vec<u8>, Slot<V>>) -> Self {
        Self {
            slots,
            undo: Vec::new(),
        }
    }

    /// The value at `key` (`None`: absent). Fails for an undeclared key.
    pub fn get(&self, key: &[u8]) -> Result<Option<&V>, HandlerError> {
        self.slots
            .get(key)
            .map(|slot| slot.value.as_ref())
            .ok_or_else(|| undeclared(key))
    }

    /// Sets `key` to `value`. Fails for an undeclared key.
    pub fn put(&mut self, key: &[u8], value: V) -> Result<(), HandlerError> {
        self.write(key, Some(value))
    }

    /// Deletes `key`. Fails for an undeclared key.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), HandlerError> {
        self.write(key, None)
    }

    fn write(&mut self, key: &[u8], value: Option<V>) -> Result<(), HandlerError> {
        let slot = self.slots.get_mut(key).ok_or_else(|| undeclared(key))?;
        let previous = std::mem::replace(slot, Slot { value, dirty: true });
        self.undo.push((key.to_vec(), previous));
        Ok(())
    }

    /// Restores every slot this message wrote (a rejected message).
    pub(crate) fn rollback(mut self) {
        while let Some((key, previous)) = self.undo.pop() {
            if let Some(slot) = self.slots.get_mut(&key) {
                *slot = previous;
            }
        }
    }
}

fn undeclared(key: &[u8]) -> HandlerError {
    HandlerError::UndeclaredKey {
        key: String::from_utf8_lossy(key).into_owned(),
    }
}

/// An outgoing message before it has an id (the runtime derives it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Destination topic.
    pub topic: String,
    /// Routing key.
    pub key: Vec<u8>,
    /// Body.
    pub payload: Vec<u8>,
}

/// Where a handler puts the messages it sends. Output `i` of message `m` gets the id
/// `m.id.derive(i)`.
#[derive(Debug, Default)]
pub struct Outbox {
    pub(crate) messages: Vec<Outgoing>,
}

/// Most outgoing messages per incoming message (bounded, and far below the dead-letter
/// index).
pub const OUTGOING_PER_MESSAGE_MAX: usize = 4096;

impl Outbox {
    /// Queues a message to `topic`. Fails past [`OUTGOING_PER_MESSAGE_MAX`].
    pub fn send(
        &mut self,
        topic: &str,
        key: Vec<u8>,
        payload: Vec<u8>,
    ) -> Result<(), HandlerError> {
        if self.messages.len() >= OUTGOING_PER_MESSAGE_MAX {
            return Err(HandlerError::Failed {
                reason: format!("more than {OUTGOING_PER_MESSAGE_MAX} outgoing messages"),
            });
        }
        self.messages.push(Outgoing {
            topic: topic.to_string(),
            key,
            payload,
        });
        Ok(())
    }

    /// Messages queued so far.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing was queued.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}
