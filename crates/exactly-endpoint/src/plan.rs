//! The sans-IO core of a batch: from prefetched inbox and state plus the deliveries, the
//! [`Commit`] to write. No I/O, so it runs the same against any store.

use crate::handler::{Handler, HandlerError, Outbox, Slot, State};
use crate::id::{MessageId, DEAD_LETTER_INDEX};
use crate::message::{Delivery, Position};
use crate::store::{Commit, NewOutgoing, Outcome, Prefetched};
use std::collections::{BTreeMap, HashMap};

/// Counts of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Deliveries in the batch.
    pub deliveries: u64,
    /// Messages the handler processed.
    pub processed: u64,
    /// Deliveries skipped because the inbox knew their id.
    pub duplicates: u64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Outgoing messages stored in the outbox (dead letters included).
    pub outgoing: u64,
}

impl BatchReport {
    /// Adds the counts of `other`.
    pub fn add(&mut self, other: &BatchReport) {
        self.deliveries += other.deliveries;
        self.processed += other.processed;
        self.duplicates += other.duplicates;
        self.dead_lettered += other.dead_lettered;
        self.outgoing += other.outgoing;
    }
}

/// Why a batch could not be planned; nothing is committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The handler failed (transiently) or broke its contract.
    #[error("handler error on message {id}")]
    Handler {
        /// The message.
        id: MessageId,
        /// The handler's error.
        source: HandlerError,
    },
    /// A stored state value does not decode.
    #[error("stored state of key {key:?} does not decode: {reason}")]
    BadState {
        /// The key, lossily as text.
        key: String,
        /// Decoder message.
        reason: String,
    },
}

/// Runs `deliveries` through `handler` against `prefetched`; `keys` are the keys the
/// handler declared for the batch. `dead_letter_topic` receives rejections.
pub fn plan_batch<H: Handler>(
    handler: &mut H,
    deliveries: &[Delivery],
    keys: &[Vec<u8>],
    prefetched: Prefetched,
    dead_letter_topic: &str,
    now_ms: i64,
) -> Result<(Commit, BatchReport), PlanError> {
    let mut slots = decode_slots::<H>(keys, prefetched.state)?;
    let mut seen = prefetched.inbox;
    let mut commit = Commit {
        now_ms,
        ..Commit::default()
    };
    let mut report = BatchReport {
        deliveries: deliveries.len() as u64,
        ..BatchReport::default()
    };
    for delivery in deliveries {
        let id = delivery.message.id;
        if seen.contains_key(&id) {
            report.duplicates += 1;
            continue;
        }
        let outcome = run_one(
            handler,
            delivery,
            &mut slots,
            &mut commit,
            dead_letter_topic,
        )?;
        match outcome {
            Outcome::Processed => report.processed += 1,
            Outcome::DeadLettered => report.dead_lettered += 1,
        }
        seen.insert(id, outcome);
        commit.inbox.push((id, outcome));
    }
    report.outgoing = commit.outbox.len() as u64;
    commit.state = dirty_writes(slots);
    commit.positions = last_positions(deliveries);
    Ok((commit, report))
}

fn decode_slots<H: Handler>(
    keys: &[Vec<u8>],
    mut stored: HashMap<Vec<u8>, Vec<u8>>,
) -> Result<HashMap<Vec<u8>, Slot<H::Value>>, PlanError> {
    let mut slots = HashMap::with_capacity(keys.len());
    for key in keys {
        let value = match stored.remove(key) {
            Some(bytes) => Some(<H::Value as crate::StateValue>::decode(&bytes).map_err(
                |reason| PlanError::BadState {
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason,
                },
            )?),
            None => None,
        };
        slots.insert(
            key.clone(),
            Slot {
                value,
                dirty: false,
            },
        );
    }
    Ok(slots)
}

/// Runs one new message; a rejection rolls its state writes back and dead-letters it.
fn run_one<H: Handler>(
    handler: &mut H,
    delivery: &Delivery,
    slots: &mut HashMap<Vec<u8>, Slot<H::Value>>,
    commit: &mut Commit,
    dead_letter_topic: &str,
) -> Result<Outcome, PlanError> {
    let message = &delivery.message;
    let reason = match &delivery.malformed {
        Some(reason) => reason.clone(),
        None => {
            let mut state = State::new(slots);
            let mut out = Outbox::default();
            match handler.handle(message, &mut state, &mut out) {
                Ok(()) => {
                    push_outgoing(commit, message.id, out);
                    return Ok(Outcome::Processed);
                }
                Err(HandlerError::Reject { reason }) => {
                    state.rollback();
                    reason
                }
                Err(source) => {
                    state.rollback();
                    return Err(PlanError::Handler {
                        id: message.id,
                        source,
                    });
                }
            }
        }
    };
    commit.outbox.push(NewOutgoing {
        id: message.id.derive(DEAD_LETTER_INDEX),
        topic: dead_letter_topic.to_string(),
        key: message.key.clone(),
        payload: dead_letter_payload(message.id, &reason, &message.payload),
    });
    Ok(Outcome::DeadLettered)
}

fn push_outgoing(commit: &mut Commit, parent: MessageId, out: Outbox) {
    for (index, message) in out.messages.into_iter().enumerate() {
        commit.outbox.push(NewOutgoing {
            id: parent.derive(index as u32),
            topic: message.topic,
            key: message.key,
            payload: message.payload,
        });
    }
}

/// A dead letter's body: one JSON object with the original id, the reason and the
/// original payload (lossily as text, since it may not be UTF-8).
pub fn dead_letter_payload(id: MessageId, reason: &str, payload: &[u8]) -> Vec<u8> {
    let body = serde_json::json!({
        "id": id.to_hex(),
        "reason": reason,
        "payload": String::from_utf8_lossy(payload),
    });
    body.to_string().into_bytes()
}

fn dirty_writes<V: crate::StateValue>(
    slots: HashMap<Vec<u8>, Slot<V>>,
) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut writes: Vec<_> = slots
        .into_iter()
        .filter(|(_, slot)| slot.dirty)
        .map(|(key, slot)| (key, slot.value.map(|v| v.encode())))
        .collect();
    // Sorted so that stores write rows in one order (no deadlocks, deterministic journals).
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    writes
}

fn last_positions(deliveries: &[Delivery]) -> Vec<Position> {
    let mut last: BTreeMap<(&str, u32), u64> = BTreeMap::new();
    for d in deliveries {
        let entry = last
            .entry((d.position.topic.as_str(), d.position.partition))
            .or_insert(0);
        *entry = (*entry).max(d.position.next_offset);
    }
    last.into_iter()
        .map(|((topic, partition), next_offset)| Position {
            topic: topic.to_string(),
            partition,
            next_offset,
        })
        .collect()
}
