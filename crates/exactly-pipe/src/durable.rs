//! Persistent pipe ends: a [`Sender`] whose unconfirmed messages and a [`Receiver`] whose
//! de-dup state survive restarts, each backed by a [`Journal`].
//!
//! Rules (why each end is safe across a crash, see `docs/pipes.md`):
//! - **Sender**: a message gets its seq when appended to the journal and is put on the wire
//!   only after [`DurableSender::commit`] made it durable, so a seq is never reused for a
//!   different message. Confirmations are journaled lazily: losing one only causes a
//!   resend, which the receiver de-duplicates.
//! - **Receiver** (cascade confirmation onto storage): a delivered message is journaled
//!   with its sender id and seq, and confirmed to the sender only after
//!   [`DurableReceiver::commit`] made it durable. The journal is both the delivered-messages
//!   store and the de-dup state: recovery replays it into the [`Receiver`].

use crate::config::{ReceiverConfig, SenderConfig};
use crate::journal::{Journal, JournalError};
use crate::receiver::{Delivery, Receiver};
use crate::sender::{SendError, Sender, SenderEvent};
use exactly_core::Storage;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

const MSG: u8 = 1;
const DONE: u8 = 2;
const META: u8 = 3;
const DELIVERED: u8 = 4;

/// Sender journal file name inside the state directory.
pub const SENDER_JOURNAL: &str = "sender.journal";
/// Receiver journal file name inside the state directory.
pub const RECEIVER_JOURNAL: &str = "receiver.journal";

/// Why a durable pipe end failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The journal failed (I/O or corruption before the tail).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The state directory could not be created.
    #[error("creating state directory: {0}")]
    Dir(#[source] std::io::Error),
    /// A journal record that does not parse.
    #[error("malformed {kind} journal record of {len} bytes")]
    Malformed {
        /// Which journal.
        kind: &'static str,
        /// Its length.
        len: usize,
    },
    /// The sender refused the message.
    #[error(transparent)]
    Send(#[from] SendError),
}

fn u64_at(body: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
}

fn record(kind: u8, fields: &[u64], payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + 8 * fields.len() + payload.len());
    body.push(kind);
    fields
        .iter()
        .for_each(|f| body.extend_from_slice(&f.to_le_bytes()));
    body.extend_from_slice(payload);
    body
}

/// A [`Sender`] whose unconfirmed messages survive restarts.
#[derive(Debug)]
pub struct DurableSender {
    sender: Sender,
    journal: Journal,
    unsynced: Vec<(u64, Vec<u8>)>,
    compact_bytes_min: u64,
}

#[derive(Default)]
struct SenderRecovery {
    sender_id: Option<u64>,
    next_seq: u64,
    unconfirmed: BTreeMap<u64, Vec<u8>>,
    malformed: Option<usize>,
}

impl SenderRecovery {
    fn visit(&mut self, body: &[u8]) {
        let (kind, a, b) = (body.first().copied(), u64_at(body, 1), u64_at(body, 9));
        match (kind, a, b) {
            (Some(META), Some(id), Some(next)) => {
                self.sender_id = Some(id);
                self.next_seq = self.next_seq.max(next);
            }
            (Some(MSG), Some(seq), _) => {
                self.next_seq = self.next_seq.max(seq + 1);
                self.unconfirmed
                    .insert(seq, body.get(9..).unwrap_or_default().to_vec());
            }
            (Some(DONE), Some(seq), _) => {
                self.unconfirmed.remove(&seq);
            }
            _ => self.malformed = Some(body.len()),
        }
    }
}

impl DurableSender {
    /// Opens the sender state in `dir` (creating it). A new state takes its sender id from
    /// `config.sender_id`; an existing one keeps its own. Unconfirmed messages are queued for
    /// transmission again at `now_ms`.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        mut config: SenderConfig,
        now_ms: u64,
    ) -> Result<Self, DurableError> {
        storage.create_dir_all(dir).map_err(DurableError::Dir)?;
        let mut rec = SenderRecovery::default();
        let mut journal = Journal::open(storage, &dir.join(SENDER_JOURNAL), |b| rec.visit(b))?;
        if let Some(len) = rec.malformed {
            return Err(DurableError::Malformed {
                kind: "sender",
                len,
            });
        }
        if let Some(id) = rec.sender_id {
            config.sender_id = id;
        } else {
            journal.append(&record(META, &[config.sender_id, 0], &[]))?;
            journal.commit()?;
        }
        let mut sender = Sender::starting_at(config, rec.next_seq);
        for (seq, payload) in rec.unconfirmed {
            sender.restore(now_ms, seq, payload);
        }
        Ok(DurableSender {
            sender,
            journal,
            unsynced: Vec::new(),
            compact_bytes_min: 8 * 1024 * 1024,
        })
    }

    /// Compacts the journal (to its live messages) once it exceeds `bytes` (default 8 MiB).
    pub fn with_compact_bytes_min(mut self, bytes: u64) -> Self {
        self.compact_bytes_min = bytes;
        self
    }

    /// The wrapped sender (read-only: counters, window).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The seq the next [`DurableSender::send`] assigns.
    pub fn next_seq(&self) -> u64 {
        self.sender.next_seq() + self.unsynced.len() as u64
    }

    /// Whether another message fits the window (counting uncommitted ones).
    pub fn can_send(&self) -> bool {
        let span = self.sender.window_span() + self.unsynced.len() as u64;
        span < self.sender.config().in_flight_max
    }

    /// Journals a message and returns its seq; it goes on the wire after
    /// [`DurableSender::commit`].
    pub fn send(&mut self, payload: &[u8]) -> Result<u64, DurableError> {
        let config = self.sender.config();
        if payload.len() > config.payload_bytes_max {
            return Err(SendError::PayloadTooLarge {
                payload_len: payload.len(),
                payload_bytes_max: config.payload_bytes_max,
            }
            .into());
        }
        if !self.can_send() {
            return Err(SendError::WindowFull {
                in_flight_max: config.in_flight_max,
            }
            .into());
        }
        let seq = self.next_seq();
        self.journal.append(&record(MSG, &[seq], payload))?;
        self.unsynced.push((seq, payload.to_vec()));
        Ok(seq)
    }

    /// Makes journaled messages and confirmations durable, then releases the messages to the
    /// wire. Compacts the journal when it has grown large.
    pub fn commit(&mut self, now_ms: u64) -> Result<(), DurableError> {
        self.journal.commit()?;
        for (seq, payload) in std::mem::take(&mut self.unsynced) {
            let assigned = self.sender.send(now_ms, &payload)?;
            debug_assert_eq!(assigned, seq, "journaled seq must match the sender's");
        }
        if self.journal.len_bytes() > self.compact_bytes_min {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), DurableError> {
        let config = self.sender.config();
        let mut bodies = vec![record(
            META,
            &[config.sender_id, self.sender.next_seq()],
            &[],
        )];
        bodies.extend(
            self.sender
                .in_flight()
                .map(|(seq, payload)| record(MSG, &[seq], payload)),
        );
        self.journal.rewrite(bodies.iter().map(Vec::as_slice))?;
        Ok(())
    }

    /// Handles bytes from the network (acks).
    pub fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        self.sender.handle_frame(now_ms, bytes);
    }

    /// Resends expired messages.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.sender.handle_timeout(now_ms);
    }

    /// When to call [`DurableSender::handle_timeout`] next.
    pub fn poll_timeout(&mut self) -> Option<u64> {
        self.sender.poll_timeout()
    }

    /// The next frame to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.sender.poll_transmit()
    }

    /// The next confirmation or give-up; it is journaled (durable at the next commit).
    pub fn poll_event(&mut self) -> Result<Option<SenderEvent>, DurableError> {
        let Some(event) = self.sender.poll_event() else {
            return Ok(None);
        };
        let (SenderEvent::Confirmed { seq } | SenderEvent::GaveUp { seq }) = event;
        self.journal.append(&record(DONE, &[seq], &[]))?;
        Ok(Some(event))
    }

    /// Whether everything sent is confirmed (or given up) and committed.
    pub fn is_idle(&self) -> bool {
        self.sender.is_idle() && self.unsynced.is_empty()
    }
}

/// A [`Receiver`] whose de-dup state survives restarts; always confirms by cascade onto
/// its journal.
#[derive(Debug)]
pub struct DurableReceiver {
    receiver: Receiver,
    journal: Journal,
    uncommitted: Vec<Delivery>,
}

fn parse_delivered(body: &[u8]) -> Option<Delivery> {
    if body.first() != Some(&DELIVERED) {
        return None;
    }
    Some(Delivery {
        sender_id: u64_at(body, 1)?,
        seq: u64_at(body, 9)?,
        payload: body.get(17..)?.to_vec(),
    })
}

impl DurableReceiver {
    /// Opens the receiver state in `dir` (creating it) and replays it into the de-dup state.
    /// `config.cascade` is forced on: confirmations wait for [`DurableReceiver::commit`].
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        mut config: ReceiverConfig,
    ) -> Result<Self, DurableError> {
        storage.create_dir_all(dir).map_err(DurableError::Dir)?;
        config.cascade = true;
        let mut receiver = Receiver::new(config);
        let mut malformed = None;
        let journal =
            Journal::open(
                storage,
                &dir.join(RECEIVER_JOURNAL),
                |body| match parse_delivered(body) {
                    Some(d) => receiver.replay_delivered(d.sender_id, d.seq),
                    None => malformed = Some(body.len()),
                },
            )?;
        if let Some(len) = malformed {
            return Err(DurableError::Malformed {
                kind: "receiver",
                len,
            });
        }
        Ok(DurableReceiver {
            receiver,
            journal,
            uncommitted: Vec::new(),
        })
    }

    /// Every message delivered durably so far, in delivery order (the output of record).
    pub fn read_delivered(
        storage: Arc<dyn Storage>,
        dir: &Path,
    ) -> Result<Vec<Delivery>, DurableError> {
        let mut out = Vec::new();
        let mut malformed = None;
        Journal::open(
            storage,
            &dir.join(RECEIVER_JOURNAL),
            |body| match parse_delivered(body) {
                Some(d) => out.push(d),
                None => malformed = Some(body.len()),
            },
        )?;
        match malformed {
            Some(len) => Err(DurableError::Malformed {
                kind: "receiver",
                len,
            }),
            None => Ok(out),
        }
    }

    /// The wrapped receiver (read-only: counters, memory).
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// Handles bytes from the network; new messages are journaled (durable at commit).
    pub fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), DurableError> {
        self.receiver.handle_frame(now_ms, bytes);
        while let Some(d) = self.receiver.poll_delivery() {
            self.journal
                .append(&record(DELIVERED, &[d.sender_id, d.seq], &d.payload))?;
            self.uncommitted.push(d);
        }
        Ok(())
    }

    /// Makes the journaled deliveries durable, confirms them to their senders and returns
    /// them for the application.
    pub fn commit(&mut self) -> Result<Vec<Delivery>, DurableError> {
        self.journal.commit()?;
        let delivered = std::mem::take(&mut self.uncommitted);
        for d in &delivered {
            self.receiver.confirm(d.sender_id, d.seq);
        }
        Ok(delivered)
    }

    /// When [`DurableReceiver::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.receiver.poll_timeout()
    }

    /// Repeats acks that are due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.receiver.handle_timeout(now_ms);
    }

    /// The next ack frame and the sender id it goes to.
    pub fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        self.receiver.poll_transmit()
    }
}
