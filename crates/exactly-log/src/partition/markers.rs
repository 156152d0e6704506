//! Transaction markers: the commit/abort control batch that ends a producer's transaction
//! in a partition, and the epoch fence raised with it.

use super::append::violation_error;
use super::{lock, Mode, Partition};
use crate::batch::{self, ControlKind, EncodedBatch};
use crate::error::AppendError;
use crate::producer::MarkerCheck;
use exactly_core::{Offset, ProducerId, Timestamp};

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
                return Ok(None);
            }
            Ok(MarkerCheck::Write) => {}
        }
        let offset = self.write_batch(&mut state, &mut marker)?;
        state
            .producers
            .fence(producer_id, fence_epoch.max(epoch), now_ms);
        self.debug_check(&state);
        let mark = state.write_mark();
        drop(state);
        // The coordinator records completion only after every marker is durable — under
        // `Durability::None` too: the transaction's data and the completion record are
        // synced, so a lost marker left the transaction open in this partition forever
        // (a committed transaction invisible, and the LSO stuck behind it).
        self.make_durable(mark)?;
        Ok(Some(offset))
    }
}
