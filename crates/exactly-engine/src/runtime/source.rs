//! A source task: reads its input partitions, runs the fused stateless chain, routes items to
//! keyed tasks by key group, reports its clock, and injects barriers.

use super::context::RunContext;
use super::coordinator_core::CoordinatorEvent;
use super::dead_letter::{dead_letter_record, BadInputPolicy};
use super::error::RunError;
use super::messages::{Ack, Lineage, Routed, ToTask};
use super::plan::TypedPlan;
use crate::hashed_key::key_hash;
use crate::key_group::{key_group_of_hash, task_for_key_group};
use crate::types::{Event, GroupKey, SourceRecord};
use exactly_core::Timestamp;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Sender, SyncSender};
use std::time::Duration;

/// Items a per-task buffer starts with (it then keeps the size of the last batch sent).
const ROUTE_BATCH_ITEMS: usize = 1024;

struct PartitionCursor {
    partition: u32,
    next_offset: u64,
    /// Largest timestamp read: records of a partition are taken to arrive in timestamp
    /// order, so nothing older is expected (anything older is late, per the late policy).
    max_timestamp: Timestamp,
}

pub(crate) struct Source<'a, 'c, K, T, O> {
    pub ctx: &'c RunContext<'a>,
    pub plan: &'c TypedPlan<K, T, O>,
    pub index: usize,
    pub outputs: Vec<SyncSender<ToTask<K, T>>>,
    pub acks: Sender<Ack>,
}

/// Items routed per task, and rejected records as dead letters per task.
struct Buffers<K, T> {
    items: Vec<Vec<Routed<K, T>>>,
    dead_letters: Vec<Vec<exactly_log::Record>>,
}

/// The downstream task is gone (it failed or the run is winding down).
struct Disconnected;

impl<K: GroupKey, T: Send + 'static, O> Source<'_, '_, K, T, O> {
    pub fn run(self, starts: Vec<(u32, u64)>) -> Result<(), RunError> {
        let mut cursors: Vec<PartitionCursor> = starts
            .into_iter()
            .map(|(partition, next_offset)| PartitionCursor {
                partition,
                next_offset,
                max_timestamp: Timestamp::MIN,
            })
            .collect();
        let mut injected = 0;
        let mut sent_clock = Timestamp::MIN;
        let mut since_barrier: u64 = 0;
        let mut buffers = Buffers {
            items: self.outputs.iter().map(|_| Vec::new()).collect(),
            dead_letters: self.outputs.iter().map(|_| Vec::new()).collect(),
        };
        // Idle polls in a row: the idle pause grows with it (see `idle`).
        let mut idle_streak = 0u32;
        loop {
            if self.ctx.failed() {
                return Ok(());
            }
            let requested = self.ctx.control.requested.load(Ordering::SeqCst);
            if requested > injected {
                injected = requested;
                since_barrier = 0;
                if self.barrier(requested, &cursors).is_err() {
                    return Ok(());
                }
                if self.ctx.control.final_id.load(Ordering::SeqCst) == requested {
                    let _ = self.broadcast(|i| ToTask::End(i));
                    return Ok(());
                }
            }
            if self.at_record_bound(since_barrier) {
                // Checkpoints by record count are a bound: wait for the barrier.
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
            // Read before the poll: only a poll that started after the input ended can
            // tell that the input is read to its end.
            let may_end = self.ctx.options.may_end();
            let read = self.poll(&mut cursors, &mut buffers)?;
            since_barrier += read as u64;
            if self.flush(&mut buffers).is_err() {
                return Ok(());
            }
            let clock = source_clock(&cursors);
            if clock > sent_clock {
                sent_clock = clock;
                if self.broadcast(|i| ToTask::Clock(i, clock)).is_err() {
                    return Ok(());
                }
            }
            if let Some(drained) = self.ctx.control.drained.get(self.index) {
                drained.store(read == 0 && may_end, Ordering::SeqCst);
            }
            if read == 0 {
                self.idle(&cursors, idle_streak)?;
                idle_streak = idle_streak.saturating_add(1);
            } else {
                idle_streak = 0;
            }
        }
    }

    fn at_record_bound(&self, since_barrier: u64) -> bool {
        self.ctx
            .options
            .checkpoint_every_records
            .is_some_and(|every| since_barrier >= every.max(1))
    }

    /// Reads one batch from every partition; returns the records read.
    fn poll(
        &self,
        cursors: &mut [PartitionCursor],
        buffers: &mut Buffers<K, T>,
    ) -> Result<usize, RunError> {
        let mut read = 0;
        for cursor in cursors.iter_mut() {
            let input = self.ctx.input;
            let batch = input
                .read(
                    cursor.partition,
                    cursor.next_offset,
                    self.ctx.options.read_batch_records,
                )
                .inspect_err(|error| {
                    let partition = cursor.partition;
                    tracing::error!(input = %input.name(), partition, %error, "reading the input")
                })?;
            read += batch.records.len();
            for record in batch.records {
                cursor.max_timestamp = cursor.max_timestamp.max(record.timestamp);
                self.route(cursor.partition, record, buffers)?;
            }
            cursor.next_offset = batch.next_position;
            if let Some(position) = self
                .ctx
                .control
                .read_positions
                .get(cursor.partition as usize)
            {
                position.store(cursor.next_offset, Ordering::SeqCst);
            }
        }
        self.ctx
            .options
            .status
            .records_in
            .fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }

    fn route(
        &self,
        partition: u32,
        record: exactly_log::StoredRecord,
        buffers: &mut Buffers<K, T>,
    ) -> Result<(), RunError> {
        let (offset, timestamp) = (record.offset.0, record.timestamp);
        let source_record = SourceRecord {
            partition,
            offset,
            timestamp,
            key: record.key,
            value: record.value,
        };
        let (key_groups, parallelism) = (self.ctx.job.key_groups, self.ctx.parallelism());
        let mut index = 0u32;
        let items = &mut buffers.items;
        let parsed = (self.plan.chain)(source_record, &mut |(key, item)| {
            let hash = key_hash(&key);
            let group = key_group_of_hash(hash, key_groups);
            let task = if self.plan.route_by_partition {
                partition % parallelism
            } else {
                task_for_key_group(group, key_groups, parallelism)
            };
            let lineage = Lineage {
                partition,
                offset,
                index,
            };
            index = index.saturating_add(1);
            let event = Event {
                key,
                hash,
                group,
                value: item,
                timestamp,
            };
            if let Some(buffer) = items.get_mut(task as usize) {
                buffer.push(Routed { event, lineage });
            }
        });
        match parsed {
            Ok(()) => Ok(()),
            Err(rejection) => self.reject(partition, offset, rejection.reason, buffers),
        }
    }

    /// A record the parse step rejected: a dead letter (sent with this source's items, so
    /// it commits with the checkpoint that consumed it) or, per policy, the job's end.
    fn reject(
        &self,
        partition: u32,
        offset: u64,
        reason: String,
        buffers: &mut Buffers<K, T>,
    ) -> Result<(), RunError> {
        let topic = self.ctx.input.name();
        if self.ctx.options.on_bad_input == BadInputPolicy::Fail {
            return Err(RunError::BadInput {
                topic: topic.to_string(),
                partition,
                offset,
                reason,
            });
        }
        // The chain consumed the record; rejections are rare, so it is read again rather
        // than copied for every record.
        let batch = self.ctx.input.read(partition, offset, 1)?;
        let record = batch
            .records
            .into_iter()
            .find(|r| r.offset.0 == offset)
            .ok_or_else(|| {
                RunError::Thread(format!(
                "{topic} partition {partition} offset {offset} vanished while being dead-lettered"
            ))
            })?;
        let letter = dead_letter_record(topic, partition, record, reason)?;
        let task = (partition % self.ctx.parallelism()) as usize;
        if let Some(buffer) = buffers.dead_letters.get_mut(task) {
            buffer.push(letter);
        }
        Ok(())
    }

    fn flush(&self, buffers: &mut Buffers<K, T>) -> Result<(), Disconnected> {
        for (task, letters) in buffers.dead_letters.iter_mut().enumerate() {
            if letters.is_empty() {
                continue;
            }
            let output = self.outputs.get(task).ok_or(Disconnected)?;
            output
                .send(ToTask::DeadLetters(self.index, std::mem::take(letters)))
                .map_err(|_| Disconnected)?;
        }
        for (task, buffer) in buffers.items.iter_mut().enumerate() {
            if buffer.is_empty() {
                continue;
            }
            // The next batch is likely as big as this one: reserve that much up front rather
            // than growing (and copying) the buffer by doubling.
            let capacity = buffer.len().max(ROUTE_BATCH_ITEMS);
            let items = std::mem::replace(buffer, Vec::with_capacity(capacity));
            let output = self.outputs.get(task).ok_or(Disconnected)?;
            output
                .send(ToTask::Data(self.index, items))
                .map_err(|_| Disconnected)?;
        }
        Ok(())
    }

    /// Injects barrier `id`: positions first (they describe everything sent before it),
    /// then the barrier on every output. The final barrier of a finished input is preceded
    /// by the end-of-time clock, so every window closes inside the last checkpoint.
    fn barrier(&self, id: u64, cursors: &[PartitionCursor]) -> Result<(), Disconnected> {
        let is_final = self.ctx.control.final_id.load(Ordering::SeqCst) == id;
        if is_final && self.ctx.control.final_closes.load(Ordering::SeqCst) {
            self.broadcast(|i| ToTask::Clock(i, Timestamp::MAX))?;
        }
        let positions = cursors
            .iter()
            .map(|c| (c.partition, c.next_offset))
            .collect();
        self.acks
            .send(Ack::Event(CoordinatorEvent::SourceAcked {
                source: self.index as u32,
                barrier: id,
                positions,
            }))
            .map_err(|_| Disconnected)?;
        self.broadcast(|i| ToTask::Barrier(i, id))
    }

    fn broadcast(&self, message: impl Fn(usize) -> ToTask<K, T>) -> Result<(), Disconnected> {
        for output in &self.outputs {
            output.send(message(self.index)).map_err(|_| Disconnected)?;
        }
        Ok(())
    }

    /// Nothing new: wait briefly for appends (following) or for the coordinator. With
    /// several partitions there is nothing to block on, so the pause doubles from 0.5 ms
    /// with every idle poll in a row up to [`IDLE_PAUSE_MAX`]: a source idle for long
    /// costs ~200 wake-ups a second instead of 2 000, and a record (or a barrier) that
    /// arrives waits at most that long.
    fn idle(&self, cursors: &[PartitionCursor], idle_streak: u32) -> Result<(), RunError> {
        match cursors.first() {
            Some(first) if self.ctx.options.follow && cursors.len() == 1 => {
                self.ctx.input.wait(
                    first.partition,
                    first.next_offset,
                    Duration::from_millis(2),
                )?;
            }
            _ => {
                let pause = Duration::from_micros(500) * (1u32 << idle_streak.min(4));
                std::thread::sleep(pause.min(IDLE_PAUSE_MAX));
            }
        }
        Ok(())
    }
}

/// The longest pause of an idle source reading several partitions.
const IDLE_PAUSE_MAX: Duration = Duration::from_millis(5);

/// The least timestamp this source may still emit: the minimum over its partitions (a
/// source without partitions will never emit anything).
fn source_clock(cursors: &[PartitionCursor]) -> Timestamp {
    match cursors.iter().map(|c| c.max_timestamp).min() {
        Some(clock) => clock,
        None => Timestamp::MAX,
    }
}
