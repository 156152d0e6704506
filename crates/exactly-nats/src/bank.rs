//! The two-endpoint bank of `exactly_endpoint::bank` on NATS JetStream: connecting
//! patiently to a server that may be restarting, the feed of transfers ([`NatsFeed`]),
//! waiting for an endpoint's input topic, reading the outgoing topics back for the audit,
//! and deleting a run's topics.
//!
//! A run's topics carry its prefix (`<run>.feed.transfers`, `<run>.a.credits`,
//! `<run>.a.dead-letters`, `<run>.b.dead-letters`; see
//! `exactly_endpoint::bank_layout::transport_prefix`), so runs sharing a server never meet.

use crate::lineage::split_lineage;
use crate::scan::last_with_id_prefix;
use crate::{NatsError, NatsLog, OutRecord, Topic, TopicOptions};
use exactly_endpoint::bank::CREDITS_TOPIC;
use exactly_endpoint::bank_layout::{transport_prefix, Role};
use exactly_endpoint::message::decode_envelope;
use exactly_endpoint::testkit::{record_value, DEAD_LETTERS_TOPIC, TRANSFERS_TOPIC};
use exactly_endpoint::{Delivery, OutboxEntry};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long starting up waits for a server that is down (restarting), and an endpoint for
/// its input topic.
pub const PATIENCE: Duration = Duration::from_secs(60);
/// Pause between attempts while the server is down.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Pause between looks for an input topic that does not exist yet.
const TOPIC_POLL: Duration = Duration::from_millis(50);
/// Id prefix of the feed's messages (`feed.<n>` for the n-th delivery).
const FEED_ID_PREFIX: &str = "feed.";
/// Records read per batch when reading a topic back.
const READ_BATCH_RECORDS: usize = 4096;

/// Why a step of the bank on NATS failed.
#[derive(Debug, thiserror::Error)]
pub enum BankNatsError {
    /// The step `what` failed (after retrying transient failures for [`PATIENCE`]).
    #[error("{what}")]
    Step {
        /// What was being done (`connecting to …`, `creating topic …`).
        what: String,
        /// Why.
        source: NatsError,
    },
    /// A record of an outgoing topic is not an endpoint envelope.
    #[error("record {sequence} of topic {topic}: {reason}")]
    Envelope {
        /// The topic.
        topic: String,
        /// The record's stream sequence.
        sequence: u64,
        /// Why it does not decode.
        reason: String,
    },
    /// An endpoint's input topic did not appear in time.
    #[error("input topic {0} did not appear within {secs} s", secs = PATIENCE.as_secs())]
    InputMissing(String),
    /// [`NatsFeed::append`] before [`NatsFeed::create`].
    #[error("the feed topic was not created")]
    FeedNotCreated,
}

/// Whether `transport` names a NATS server (`nats://…`).
pub fn is_nats_address(transport: &str) -> bool {
    transport.starts_with("nats://")
}

/// Runs `attempt` until it succeeds, fails for good, or [`PATIENCE`] ran out; a failure
/// is described by `what`.
pub fn patiently<T>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, NatsError>,
) -> Result<T, BankNatsError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && Instant::now() < deadline => {
                std::thread::sleep(RETRY_PAUSE);
            }
            Err(source) => {
                return Err(BankNatsError::Step {
                    what: what.to_string(),
                    source,
                })
            }
        }
    }
}

/// Connects to `address`, waiting for a server that is restarting.
pub fn connect_patiently(address: &str) -> Result<Arc<NatsLog>, BankNatsError> {
    let log = patiently(&format!("connecting to {address}"), || {
        NatsLog::connect(address)
    })?;
    Ok(Arc::new(log))
}

/// Creates (or opens) a topic of one partition.
pub fn ensure_topic(log: &NatsLog, name: &str) -> Result<Topic, BankNatsError> {
    patiently(&format!("creating topic {name}"), || {
        log.create_topic(name, 1, TopicOptions::default())
    })
}

/// Waits until topic `name` exists (its writer creates it), for [`PATIENCE`].
pub fn wait_for_topic(log: &NatsLog, name: &str) -> Result<(), BankNatsError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match log.open_topic(name) {
            Ok(_) => return Ok(()),
            Err(NatsError::TopicNotFound { .. }) => {}
            Err(error) if error.is_transient() => {}
            Err(source) => {
                return Err(BankNatsError::Step {
                    what: format!("opening {name}"),
                    source,
                })
            }
        }
        if Instant::now() > deadline {
            return Err(BankNatsError::InputMissing(name.to_string()));
        }
        std::thread::sleep(TOPIC_POLL);
    }
}

/// The topics of run `run`.
pub fn run_topics(run: &str) -> Vec<String> {
    let a = transport_prefix(run, Some(Role::A));
    vec![
        format!("{}{TRANSFERS_TOPIC}", transport_prefix(run, None)),
        format!("{a}{CREDITS_TOPIC}"),
        format!("{a}{DEAD_LETTERS_TOPIC}"),
        format!(
            "{}{DEAD_LETTERS_TOPIC}",
            transport_prefix(run, Some(Role::B))
        ),
    ]
}

/// Deletes the topics of run `run` on `address` that exist. Fails only when the server
/// cannot be reached; returns each topic that could not be deleted, with why.
pub fn delete_run_topics(address: &str, run: &str) -> Result<Vec<(String, NatsError)>, NatsError> {
    let log = NatsLog::connect(address)?;
    let mut failed = Vec::new();
    for name in run_topics(run) {
        let deleted = match log.open_topic(&name) {
            Ok(topic) => log.delete_topic(&topic),
            Err(NatsError::TopicNotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = deleted {
            failed.push((name, error));
        }
    }
    Ok(failed)
}

/// Every record of partition 0 of topic `name`, decoded as outbox entries of the outbox
/// topic `outbox_topic` (stream order; `seq` is the stream sequence). A topic that does
/// not exist holds nothing.
pub fn read_outgoing(
    log: &NatsLog,
    name: &str,
    outbox_topic: &str,
) -> Result<Vec<OutboxEntry>, BankNatsError> {
    let step = |what: &str| {
        let what = format!("{what} {name}");
        move |source| BankNatsError::Step { what, source }
    };
    let topic = match log.open_topic(name) {
        Ok(topic) => topic,
        Err(NatsError::TopicNotFound { .. }) => return Ok(Vec::new()),
        Err(error) => return Err(step("opening")(error)),
    };
    let first = log
        .partition_state(&topic, 0)
        .map_err(step("reading"))?
        .first_seq;
    let mut reader = log.reader(&topic, 0, first).map_err(step("reading"))?;
    let mut out = Vec::new();
    loop {
        let batch = reader
            .next_batch(READ_BATCH_RECORDS)
            .map_err(step("reading"))?;
        if batch.is_empty() {
            return Ok(out);
        }
        for record in batch {
            let (id, payload) =
                decode_envelope(&record.value).map_err(|reason| BankNatsError::Envelope {
                    topic: name.to_string(),
                    sequence: record.sequence,
                    reason,
                })?;
            let key = match record.key {
                Some(key) => key,
                None => Vec::new(), // Published with an empty key (the outbox always has one).
            };
            out.push(OutboxEntry {
                seq: record.sequence,
                id,
                topic: outbox_topic.to_string(),
                key,
                payload: payload.to_vec(),
            });
        }
    }
}

/// The bank's transfers fed to a topic on JetStream: delivery `n` is message `feed.<n>`
/// at stream sequence `n + 1` (its offset is its index, as the workload's model assumes).
/// An append interrupted by the server (restarting) resumes after the last `feed.` message
/// stored, conditional on the stream's last sequence: never a copy, never a gap.
pub struct NatsFeed {
    log: Arc<NatsLog>,
    name: String,
    topic: Option<Topic>,
    fed: u64,
}

impl NatsFeed {
    /// The feed of run `run` on `log`.
    pub fn new(log: Arc<NatsLog>, run: &str) -> Self {
        Self {
            log,
            name: format!("{}{TRANSFERS_TOPIC}", transport_prefix(run, None)),
            topic: None,
            fed: 0,
        }
    }

    /// Creates (or opens) the feed topic; before the endpoints start.
    pub fn create(&mut self) -> Result<(), BankNatsError> {
        self.topic = Some(ensure_topic(&self.log, &self.name)?);
        Ok(())
    }

    /// Appends `chunk` after everything fed so far, durably, waiting out a server that is
    /// restarting.
    pub fn append(&mut self, chunk: &[Delivery]) -> Result<(), BankNatsError> {
        let topic = match &self.topic {
            Some(topic) => topic.clone(),
            None => return Err(BankNatsError::FeedNotCreated),
        };
        let what = format!("appending to {}", self.name);
        patiently(&what, || match self.append_once(&topic, chunk)? {
            true => Ok(()),
            false => Err(NatsError::Timeout {
                operation: what.clone(),
                timeout_ms: 0,
            }),
        })?;
        self.fed += chunk.len() as u64;
        Ok(())
    }

    /// Deliveries stored in the feed (by the last `feed.` id), and its last sequence.
    fn stored(&self, topic: &Topic) -> Result<(u64, u64), NatsError> {
        let last_seq = self.log.partition_state(topic, 0)?.last_seq;
        let last = last_with_id_prefix(&self.log, topic, 0, FEED_ID_PREFIX)?;
        let stored = match last.as_ref().and_then(|r| r.msg_id.as_deref()) {
            None => 0,
            Some(id) => match split_lineage(id) {
                Some((_, n)) => n + 1,
                None => {
                    return Err(NatsError::InvalidOptions {
                        topic: self.name.clone(),
                        reason: format!("feed message id {id:?} is not feed.<n>"),
                    })
                }
            },
        };
        Ok((stored, last_seq))
    }

    /// One conditional publish of what of `chunk` is not stored yet; `false` when a
    /// transient failure interrupted it (the caller tries again).
    fn append_once(&self, topic: &Topic, chunk: &[Delivery]) -> Result<bool, NatsError> {
        let (stored, last_seq) = self.stored(topic)?;
        let skip = match stored.checked_sub(self.fed) {
            Some(skip) => skip as usize,
            None => {
                return Err(NatsError::RetentionDeleted {
                    stream: topic.stream(0)?,
                    requested: self.fed + 1,
                    first_kept: stored + 1,
                })
            }
        };
        let Some(rest) = chunk.get(skip..).filter(|rest| !rest.is_empty()) else {
            return Ok(true);
        };
        let now_ms = exactly_core::Clock::now_ms(&exactly_core::SystemClock);
        let records: Vec<OutRecord> = rest
            .iter()
            .zip(self.fed + skip as u64..)
            .map(|(delivery, n)| OutRecord {
                msg_id: format!("{FEED_ID_PREFIX}{n}"),
                epoch: None,
                origin: None,
                key: None,
                timestamp_ms: now_ms,
                value: record_value(delivery),
            })
            .collect();
        match self.log.publish(topic, 0, &records, Some(last_seq)) {
            Ok(_) => Ok(true),
            Err(failure) if failure.error.is_transient() => Ok(false),
            Err(failure) => Err(failure.error),
        }
    }
}
