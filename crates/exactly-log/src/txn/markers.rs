//! Writing transaction markers: the driver of a [`MarkerWrite`], and the reconciliation
//! of markers lost from partitions (cut by `log repair`, or not durable before an OS
//! crash) against the decisions the coordinator recorded.

use super::error::TxnError;
use super::table::{MarkerWrite, TxnMetadata};
use crate::batch::ControlKind;
use crate::log::Log;
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

/// Writes `write`'s markers to every partition this handle owns. A partition outside the
/// write scope with the transaction still open gets none: it is returned as pending, and
/// the next process owning that topic completes it (each partition ignores a repeated
/// marker). Returns the markers left pending (empty: all written).
pub(crate) fn write(log: &Log, write: &MarkerWrite) -> Result<Vec<PendingMarker>, TxnError> {
    let producer_id = ProducerId(write.producer_id);
    let fence_epoch = ProducerEpoch(write.fence_epoch);
    let mut pending = Vec::new();
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
                // Records written before `txn_epoch` existed carry only `epoch`.
                epoch: write.txn_epoch.unwrap_or(write.fence_epoch),
                kind: write.kind,
            });
            continue;
        }
        let epoch = match write.txn_epoch {
            Some(epoch) => epoch,
            // Recorded before `txn_epoch` existed (the epoch may have been bumped since
            // the data was written): the producer's open transaction there is this one
            // if it is not newer than the coordinator's epoch.
            None => open_txn_epoch(log, topic, *partition, producer_id)?
                .filter(|open| *open <= write.fence_epoch)
                .unwrap_or(write.fence_epoch),
        };
        log.append_marker(
            topic,
            *partition,
            producer_id,
            ProducerEpoch(epoch),
            fence_epoch,
            write.kind,
        )
        .inspect_err(|e| {
            tracing::warn!(
                topic = %topic,
                partition,
                id = %write.transactional_id,
                error = %e,
                "writing a transaction marker failed"
            );
        })?;
    }
    Ok(pending)
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
