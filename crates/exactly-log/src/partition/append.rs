//! Appending to a partition: idempotent de-duplication, writing and indexing a batch, and
//! group commit (one `fdatasync` for every appender waiting at the same time), with the
//! durable-end evidence written after each sync.

use super::{lock, Mode, Partition, PartitionState, WriteMark};
use crate::batch::{self, BatchHeader, EncodedBatch};
use crate::config::Durability;
use crate::durable_end::DurableEnd;
use crate::error::AppendError;
use crate::producer::{SequenceCheck, SequenceViolation};
use exactly_core::{Offset, ProducerId, StorageFile};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// `fdatasync` calls of one partition that may run at once (see `make_durable`).
const SYNCS_IN_FLIGHT_MAX: u32 = 2;

/// What happened to an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The batch was appended at these offsets.
    Appended {
        /// Offset of the first record.
        base_offset: Offset,
        /// Offset of the last record.
        last_offset: Offset,
    },
    /// The batch is a retry of one already appended; nothing was written.
    Duplicate {
        /// The original offsets, if still remembered (see the producer expiry policy).
        original: Option<(Offset, Offset)>,
    },
}

impl Partition {
    /// Appends an encoded batch, de-duplicating idempotent retries.
    pub fn append(&self, batch: &mut EncodedBatch) -> Result<AppendOutcome, AppendError> {
        // A transaction's data need not be durable before its commit or prepare, which
        // flushes every partition of the transaction before recording the decision; until
        // then `read_committed` readers cannot see it, and a crash aborts the transaction
        // anyway. Waiting here would cost one fsync per send.
        let wait = batch.attributes & batch::ATTR_TRANSACTIONAL == 0;
        self.append_waiting(batch, wait)
    }

    /// Appends, waiting for durability (per the log's `Durability`) only if `wait`. Only
    /// records whose loss recovery repairs may skip the wait (a transaction's completion).
    pub fn append_waiting(
        &self,
        batch: &mut EncodedBatch,
        wait: bool,
    ) -> Result<AppendOutcome, AppendError> {
        if self.mode == Mode::ReadOnly {
            return Err(AppendError::ReadOnly);
        }
        let mut state = lock(&self.state);
        self.fail
            .check()
            .map_err(|reason| AppendError::FailStopped { reason })?;
        if let Some(stamp) = batch.producer {
            if batch.attributes & batch::ATTR_TRANSACTIONAL != 0 {
                state
                    .producers
                    .check_transactional(stamp)
                    .map_err(|v| violation_error(stamp.producer_id, stamp, v))?;
            }
            let verdict = state.producers.check(
                stamp,
                batch.record_count,
                self.config.producers_per_partition_max,
            );
            let original = match verdict {
                Ok(SequenceCheck::Append) => None,
                Ok(SequenceCheck::Duplicate {
                    base_offset,
                    last_offset,
                }) => Some(Some((base_offset, last_offset))),
                Ok(SequenceCheck::DuplicateOffsetsUnknown) => Some(None),
                Err(violation) => return Err(violation_error(stamp.producer_id, stamp, violation)),
            };
            if let Some(original) = original {
                // The original may still be unsynced: acknowledge the retry only once it is
                // as durable as a fresh append would be.
                self.meters.duplicate();
                let mark = state.write_mark();
                drop(state);
                self.await_durability(mark)?;
                return Ok(AppendOutcome::Duplicate { original });
            }
        }
        let base_offset = self.write_batch(&mut state, batch)?;
        let last_offset = batch.header(base_offset).last_offset();
        let mark = state.write_mark();
        drop(state);
        if wait {
            self.await_durability(mark)?;
        }
        Ok(AppendOutcome::Appended {
            base_offset,
            last_offset,
        })
    }

    /// Rolls if needed, stamps the next offset, writes the batch and indexes it (under the
    /// state lock). Any failure trips the fail-stop.
    pub(super) fn write_batch(
        &self,
        state: &mut PartitionState,
        batch: &mut EncodedBatch,
    ) -> Result<Offset, AppendError> {
        let needed = state.active.len_bytes() + batch.len_bytes() as u64;
        if needed > self.config.segment_bytes_max && state.active.len_bytes() > 0 {
            self.roll(state).map_err(|r| self.fail_stopped(r))?;
        }
        let base_offset = state.next_offset();
        let position = state.active.len_bytes();
        let header = batch.header(base_offset);
        let bytes = batch.seal(base_offset);
        if let Err(e) = state.active.file.write_at(position, bytes) {
            let reason = format!("write to {} failed: {e}", state.active.path.display());
            return Err(self.fail_stopped(reason));
        }
        self.index_appended(state, position, &header);
        self.meters.appended(header.record_count, bytes.len());
        Ok(base_offset)
    }

    fn index_appended(&self, state: &mut PartitionState, position: u64, header: &BatchHeader) {
        state.active.index.on_batch(
            position,
            header.base_offset,
            header.next_offset(),
            header.max_timestamp,
            u64::from(header.batch_len),
        );
        state.producers.record(header, self.clock.now_ms());
        if self.config.durability == Durability::None {
            state.visible_end = state.next_offset();
            self.visible_changed.notify_all();
        }
        self.meter_lso_lag(state);
        self.debug_check(state);
    }

    fn await_durability(&self, mark: WriteMark) -> Result<(), AppendError> {
        match self.config.durability {
            Durability::Immediate => self.make_durable(mark),
            Durability::Interval(_) | Durability::None => Ok(()),
        }
    }

    /// Group commit: makes every byte up to `target` durable, sharing `fdatasync` calls
    /// between everyone waiting at the same time.
    ///
    /// A caller whose bytes a sync in flight already covers (it started after they were
    /// written) waits for it; otherwise it starts a sync of its own if fewer than
    /// [`SYNCS_IN_FLIGHT_MAX`] are running, covering everything written so far, and waits
    /// otherwise. Waiting never holds the lock, so asking whether a mark is durable never
    /// waits for an `fdatasync`. Why two syncs may overlap: with one at a time, bytes written
    /// just after a sync started wait for the rest of it and then a whole one of their own
    /// (1.5 syncs on average); a second sync starts at once and covers them in one.
    /// Overlapping syncs of one file are safe: each makes durable everything written before
    /// it started, so the durable mark is the highest mark of the syncs completed, in
    /// whatever order they complete.
    pub(super) fn make_durable(&self, target: WriteMark) -> Result<(), AppendError> {
        let mut durable = lock(&self.durable);
        loop {
            if durable.mark >= target {
                return Ok(());
            }
            self.fail
                .check()
                .map_err(|reason| AppendError::FailStopped { reason })?;
            let covered = durable.in_flight > 0 && durable.in_flight_mark >= target;
            if !covered && durable.in_flight < SYNCS_IN_FLIGHT_MAX {
                break;
            }
            durable = self
                .durable_changed
                .wait(durable)
                .unwrap_or_else(|e| e.into_inner());
        }
        let (file, path, mark, next_offset) = self.written_end();
        durable.in_flight += 1;
        durable.in_flight_mark = durable.in_flight_mark.max(mark);
        drop(durable);
        let sync_started = Instant::now();
        let synced = file.sync_data();
        self.meters.fsynced(sync_started.elapsed());
        let mut durable = lock(&self.durable);
        durable.in_flight -= 1;
        // Waiters re-check: covered, fail-stopped, or free to start a sync.
        self.durable_changed.notify_all();
        if let Err(e) = synced {
            return Err(self.fail_stopped(format!("fdatasync of {} failed: {e}", path.display())));
        }
        if mark <= durable.mark {
            // A sync started later completed first and covered these bytes too.
            return Ok(());
        }
        durable.mark = mark;
        if let Some(writer) = durable.evidence.as_mut() {
            let end = DurableEnd {
                segment_base: Offset(mark.segment_base),
                position: mark.position,
                next_offset,
            };
            if let Err(e) = writer.record(end, self.clock.now_ms()) {
                let reason = format!("writing {} failed: {e}", writer.path().display());
                return Err(self.fail_stopped(reason));
            }
        }
        drop(durable);
        self.publish_visible(next_offset);
        Ok(())
    }

    /// The active segment's file and path, and where its written bytes end (the mark and
    /// the next offset): what a sync started now makes durable.
    fn written_end(&self) -> (Arc<dyn StorageFile>, PathBuf, WriteMark, Offset) {
        let state = lock(&self.state);
        let a = &state.active;
        (
            Arc::clone(&a.file),
            a.path.clone(),
            state.write_mark(),
            state.next_offset(),
        )
    }

    fn publish_visible(&self, next_offset: Offset) {
        let mut state = lock(&self.state);
        if next_offset > state.visible_end {
            state.visible_end = next_offset;
            self.visible_changed.notify_all();
        }
        self.meter_lso_lag(&state);
        self.debug_check(&state);
    }

    /// How far `read_committed` readers are held back now, for the metrics.
    fn meter_lso_lag(&self, state: &PartitionState) {
        let lag = state
            .visible_end
            .0
            .saturating_sub(state.last_stable_offset().0);
        self.meters.lso_lag(lag);
    }

    /// Syncs everything written so far.
    pub fn flush(&self) -> Result<(), AppendError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        // A fail-stopped log must not report a successful flush, even when this partition
        // has nothing unsynced (`make_durable` returns early before checking).
        self.fail
            .check()
            .map_err(|reason| AppendError::FailStopped { reason })?;
        let mark = lock(&self.state).write_mark();
        self.make_durable(mark)
    }

    /// Writes a producer snapshot at the current end (clean shutdown: faster restart).
    pub fn checkpoint_producers(&self) -> Result<(), AppendError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        self.flush()?;
        {
            let mut durable = lock(&self.durable);
            if let Some(writer) = durable.evidence.as_mut() {
                if let Err(e) = writer.sync() {
                    let reason = format!("fsync of {} failed: {e}", writer.path().display());
                    return Err(self.fail_stopped(reason));
                }
            }
        }
        let mut state = lock(&self.state);
        let next = state.next_offset();
        self.write_snapshot(&mut state, next)
            .map_err(|r| self.fail_stopped(r))
    }
}

pub(super) fn violation_error(
    producer_id: ProducerId,
    stamp: batch::ProducerStamp,
    violation: SequenceViolation,
) -> AppendError {
    match violation {
        SequenceViolation::Fenced { current } => AppendError::ProducerFenced {
            producer_id,
            epoch: stamp.epoch,
            current_epoch: current,
        },
        SequenceViolation::OutOfOrder { expected } => AppendError::OutOfOrderSequence {
            producer_id,
            expected,
            got: stamp.base_sequence,
        },
        SequenceViolation::Overflow => AppendError::SequenceOverflow {
            producer_id,
            base_sequence: stamp.base_sequence,
        },
        SequenceViolation::OlderTransactionOpen { open_epoch } => {
            AppendError::OlderTransactionOpen {
                producer_id,
                open_epoch,
                marker_epoch: stamp.epoch,
            }
        }
        SequenceViolation::TooManyProducers { max } => {
            AppendError::TooManyProducers { producer_id, max }
        }
    }
}
