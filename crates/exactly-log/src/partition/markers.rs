//! Transaction markers: the commit/abort control batch that ends a producer's transaction
//! in a partition, and the epoch fence raised with it.

use super::append::violation_error;
use super::{lock, Mode, Partition, WriteMark};
use crate::batch::{self, ControlKind, EncodedBatch};
use crate::error::AppendError;
use crate::producer::MarkerCheck;
use exactly_core::{Offset, ProducerId, Timestamp};
use std::sync::Arc;

impl Partition {
    /// Writes a commit/abort marker for `producer_id`'s transaction at `epoch`. Returns the
    /// marker's offset, or `None` when nothing of the producer is open here (a repeated
    /// marker). A marker older than the producer's epoch here is `ProducerFenced`.
    ///
    /// `epoch` is the transaction's own epoch (its batches carry it); `fence_epoch` (≥ it)
    /// is the coordinator's current epoch, raised here in memory afterwards so a batch of
    /// the ended transaction still on its way is refused.
    pub fn append_marker(
        &self,
        producer_id: ProducerId,
        epoch: exactly_core::ProducerEpoch,
        fence_epoch: exactly_core::ProducerEpoch,
        kind: ControlKind,
    ) -> Result<Option<Offset>, AppendError> {
        let (offset, mark) = self.write_marker(producer_id, epoch, fence_epoch, kind)?;
        if offset.is_some() {
            // The coordinator records completion only after every marker is durable —
            // under `Durability::None` too: the transaction's data and the completion
            // record are synced, so a lost marker left the transaction open in this
            // partition forever (a committed transaction invisible, the LSO stuck).
            self.make_durable(mark)?;
        }
        Ok(offset)
    }

    /// [`Partition::append_marker`] without waiting for durability: the marker is written
    /// (it survives a killed process, not an OS crash) but neither durable nor visible to
    /// readers until [`MarkerSync::complete`] or any later sync of the partition. Used when
    /// the decision is already durable, so recovery writes a lost marker again. With
    /// nothing open (a repeated marker) the sync covers the partition's current end, where
    /// an earlier marker of the transaction may still wait for its own sync.
    pub fn append_marker_trailing(
        self: &Arc<Self>,
        producer_id: ProducerId,
        epoch: exactly_core::ProducerEpoch,
        fence_epoch: exactly_core::ProducerEpoch,
        kind: ControlKind,
    ) -> Result<MarkerSync, AppendError> {
        let (_, mark) = self.write_marker(producer_id, epoch, fence_epoch, kind)?;
        Ok(MarkerSync {
            partition: Arc::clone(self),
            mark,
        })
    }

    /// Writes the marker unless nothing of the producer is open; returns its offset (if
    /// written) and the partition's write mark after it.
    fn write_marker(
        &self,
        producer_id: ProducerId,
        epoch: exactly_core::ProducerEpoch,
        fence_epoch: exactly_core::ProducerEpoch,
        kind: ControlKind,
    ) -> Result<(Option<Offset>, WriteMark), AppendError> {
        if self.mode == Mode::ReadOnly {
            return Err(AppendError::ReadOnly);
        }
        let now_ms = self.clock.now_ms();
        let stamp = batch::ProducerStamp {
            producer_id,
            epoch,
            base_sequence: exactly_core::Sequence(batch::NO_SEQUENCE),
        };
        let records = [kind.record(Timestamp(now_ms))];
        let mut marker = EncodedBatch::encode(
            &records,
            Some(stamp),
            kind.attributes(),
            self.config.batch_bytes_max,
        )?;
        let mut state = lock(&self.state);
        self.fail
            .check()
            .map_err(|reason| AppendError::FailStopped { reason })?;
        match state.producers.check_marker(producer_id, epoch) {
            Err(violation) => return Err(violation_error(producer_id, stamp, violation)),
            Ok(MarkerCheck::NothingOpen) => {
                // Fence a batch of the ended transaction still on its way here (see
                // `ProducerTable::fence`).
                state
                    .producers
                    .fence(producer_id, fence_epoch.max(epoch), now_ms);
                self.debug_check(&state);
                return Ok((None, state.write_mark()));
            }
            Ok(MarkerCheck::Write) => {}
        }
        let offset = self.write_batch(&mut state, &mut marker)?;
        state
            .producers
            .fence(producer_id, fence_epoch.max(epoch), now_ms);
        self.debug_check(&state);
        Ok((Some(offset), state.write_mark()))
    }
}

/// A marker written by [`Partition::append_marker_trailing`], not yet known durable.
#[derive(Clone, Debug)]
pub(crate) struct MarkerSync {
    partition: Arc<Partition>,
    mark: WriteMark,
}

impl MarkerSync {
    /// Makes the marker durable (and visible), unless a later sync already did.
    pub fn complete(&self) -> Result<(), AppendError> {
        self.partition.make_durable(self.mark)
    }

    /// Whether the marker is durable already (without syncing anything).
    pub fn is_durable(&self) -> bool {
        lock(&self.partition.durable).mark >= self.mark
    }
}
