//! Writing transaction markers: the driver of a [`MarkerWrite`], and the reconciliation
//! of markers lost from partitions (cut by `log repair`, or not durable before an OS
//! crash) against the decisions the coordinator recorded.

use super::error::TxnError;
use super::table::{MarkerWrite, TxnMetadata};
use crate::batch::ControlKind;
use crate::log::Log;
use crate::partition::MarkerSync;
use exactly_core::{ProducerEpoch, ProducerId};

/// A transaction marker recovery left unwritten because its partition is outside the
/// recovering process's write scope ([`Log::open_scoped`]). The transaction stays decided
/// but not complete: `read_committed` readers of that partition stop at its first record
/// (the last stable offset) until a process owning the topic and `__transactions` opens
/// the log and writes the marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMarker {
    /// The transaction's id (`None`: found only as an open span in the partition).
    pub transactional_id: Option<String>,
    /// Topic of the partition.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// The transaction's producer id.
    pub producer_id: u64,
    /// The epoch of the transaction's batches in that partition.
    pub epoch: u16,
    /// The marker the decision calls for.
    pub kind: ControlKind,
}

/// Says what waits and on whom, for an operator's warning.
impl std::fmt::Display for PendingMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "transaction {} (producer {} epoch {}) is decided ({:?}) but its marker \
             in {}/{} is not written: that topic is owned elsewhere; readers of it wait until \
             a process owning it and __transactions opens the log",
            self.transactional_id.as_deref().unwrap_or("(unknown id)"),
            self.producer_id,
            self.epoch,
            self.kind,
            self.topic,
            self.partition
        )
    }
}

/// When a written marker must be durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarkerDurability {
    /// Before [`write`] returns.
    Now,
    /// Later: [`write`] returns a [`MarkerSync`] per marker written, for the caller to
    /// complete (the decision is durable, so recovery writes a lost marker again).
    Trailing,
}

/// What [`write`] did.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// Markers left to the process owning their partition.
    pub pending: Vec<PendingMarker>,
    /// Markers written but not yet durable ([`MarkerDurability::Trailing`] only).
    pub syncs: Vec<MarkerSync>,
}

/// Writes `write`'s markers to every partition this handle owns. A partition outside the
/// write scope with the transaction still open gets none: it is returned as pending, and
/// the next process owning that topic completes it (each partition ignores a repeated
/// marker).
pub(crate) fn write(
    log: &Log,
    write: &MarkerWrite,
    durability: MarkerDurability,
) -> Result<Written, TxnError> {
    let producer_id = ProducerId(write.producer_id);
    let fence_epoch = ProducerEpoch(write.fence_epoch);
    let mut written = Written::default();
    let pending = &mut written.pending;
    for (topic, partition) in &write.partitions {
        if !log.owns_topic(topic) {
            // Followed read-only: if no transaction of this producer is open there any
            // more, its owner has already written the marker.
            if open_txn_epoch(log, topic, *partition, producer_id)?.is_none() {
                continue;
            }
            pending.push(PendingMarker {
                transactional_id: Some(write.transactional_id.clone()),
                topic: topic.clone(),
                partition: *partition,
                producer_id: write.producer_id,
                epoch: match write.txn_epoch {
                    Some(epoch) => epoch,
                    // Records written before `txn_epoch` existed carry only `epoch`.
                    None => write.fence_epoch,
                },
                kind: write.kind,
            });
            continue;
        }
        let epoch = match write.txn_epoch {
            Some(epoch) => epoch,
            // Recorded before `txn_epoch` existed (the epoch may have been bumped since
            // the data was written): the producer's open transaction there is this one
            // if it is not newer than the coordinator's epoch.
            None => match open_txn_epoch(log, topic, *partition, producer_id)? {
                Some(open) if open <= write.fence_epoch => open,
                // Nothing (or something newer) open: the marker carries the coordinator's
                // epoch, which the partition ignores or fences as it should.
                _ => write.fence_epoch,
            },
        };
        if already_ended(log, topic, *partition, producer_id, epoch)? {
            continue;
        }
        let epoch = ProducerEpoch(epoch);
        let appended = match durability {
            MarkerDurability::Now => log
                .append_marker(
                    topic,
                    *partition,
                    producer_id,
                    epoch,
                    fence_epoch,
                    write.kind,
                )
                .map(|_| None),
            MarkerDurability::Trailing => log
                .append_marker_trailing(
                    topic,
                    *partition,
                    producer_id,
                    epoch,
                    fence_epoch,
                    write.kind,
                )
                .map(Some),
        };
        let sync = appended.inspect_err(|e| {
            tracing::warn!(
                topic = %topic,
                partition,
                id = %write.transactional_id,
                error = %e,
                "writing a transaction marker failed"
            );
        })?;
        written.syncs.extend(sync);
    }
    Ok(written)
}

/// Whether the transaction at `epoch` is over in a partition because a later epoch of the
/// producer has written there since (a producer's batches at a later epoch are refused
/// while an older transaction is open, so that one was ended): its marker is a repeat. A
/// decision can outlive its completion this way — the completion record lost in a crash
/// after the id's next transaction had written — and recovery then finishes it again.
fn already_ended(
    log: &Log,
    topic: &str,
    partition: u32,
    producer_id: ProducerId,
    epoch: u16,
) -> Result<bool, TxnError> {
    if open_txn_epoch(log, topic, partition, producer_id)? == Some(epoch) {
        return Ok(false);
    }
    let later = log
        .producer_state(topic, partition, producer_id)?
        .is_some_and(|state| state.epoch.0 > epoch);
    Ok(later)
}

/// What reconciliation must do for one open span.
pub(crate) enum SpanAction {
    /// Prepared: it waits for its decision, as two-phase commit says.
    Wait,
    /// Write this marker.
    Write(ControlKind),
}

/// Ends every transaction still open in a partition although the coordinator has decided
/// it (its marker was lost) with the marker `decide` finds for that exact producer id and
/// epoch; one that was never decided and is not prepared is aborted. A lost COMMIT
/// otherwise pinned the last stable offset forever; a lost ABORT let a later commit of the
/// same id expose the aborted records. Markers for partitions outside the write scope are
/// returned as pending instead.
pub(crate) fn reconcile(
    log: &Log,
    decide: impl Fn(u64, u16) -> SpanAction,
) -> Result<Vec<PendingMarker>, TxnError> {
    let mut pending = Vec::new();
    for (topic, partition, spans) in log.open_transactions() {
        for span in spans {
            let SpanAction::Write(kind) = decide(span.producer_id, span.epoch) else {
                continue;
            };
            if !log.owns_topic(&topic) {
                pending.push(PendingMarker {
                    transactional_id: None,
                    topic: topic.clone(),
                    partition,
                    producer_id: span.producer_id,
                    epoch: span.epoch,
                    kind,
                });
                continue;
            }
            let epoch = ProducerEpoch(span.epoch);
            let id = ProducerId(span.producer_id);
            log.append_marker(&topic, partition, id, epoch, epoch, kind)
                .inspect_err(|e| {
                    tracing::warn!(
                        topic = %topic,
                        partition,
                        error = %e,
                        "writing a reconciled transaction marker failed"
                    );
                })?;
        }
    }
    Ok(pending)
}

/// Whether `meta` (prepared) is the transaction of `producer_id` whose batches carry
/// `epoch`.
pub(crate) fn is_transaction(meta: &TxnMetadata, producer_id: u64, epoch: u16) -> bool {
    meta.producer_id == producer_id
        && match meta.txn_epoch {
            Some(txn_epoch) => txn_epoch == epoch,
            // Recorded before `txn_epoch`: a hand-over bumped `epoch`.
            None => meta.epoch >= epoch,
        }
}

/// The decision recorded for the transaction of `producer_id` whose batches carry
/// `epoch`, in `history` (in record order): the first decision record of that exact
/// transaction (`txn_epoch`), or, for records written before `txn_epoch` existed, the
/// first decision at that epoch or a later one (an abort of an open transaction and a
/// hand-over bump the epoch before deciding; a new transaction's records are all at later
/// epochs than its begin).
pub(crate) fn decision_for<'a>(
    history: impl IntoIterator<Item = &'a TxnMetadata>,
    producer_id: u64,
    epoch: u16,
) -> Option<ControlKind> {
    decision_record_for(history, producer_id, epoch).and_then(TxnMetadata::decision)
}

/// The record [`decision_for`] takes its answer from.
pub(crate) fn decision_record_for<'a>(
    history: impl IntoIterator<Item = &'a TxnMetadata>,
    producer_id: u64,
    epoch: u16,
) -> Option<&'a TxnMetadata> {
    history
        .into_iter()
        .filter(|m| m.producer_id == producer_id)
        .filter(|m| match m.txn_epoch {
            Some(txn_epoch) => txn_epoch == epoch,
            None => m.epoch >= epoch,
        })
        .find(|m| m.decision().is_some())
}

/// The epoch of `producer_id`'s open transaction in a partition, if one is open.
pub(crate) fn open_txn_epoch(
    log: &Log,
    topic: &str,
    partition: u32,
    producer_id: ProducerId,
) -> Result<Option<u16>, TxnError> {
    let info = log.partition_info(topic, partition)?;
    Ok(info
        .open_transactions
        .iter()
        .find(|t| t.producer_id == producer_id.0)
        .map(|t| t.epoch))
}
