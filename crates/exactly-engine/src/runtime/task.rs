//! A keyed task: aligns barriers over its inputs (one per source), applies the operator,
//! fires windows by clock, and at each aligned barrier hands its checkpoint's outputs and
//! key-group snapshots to its sink.

use super::context::RunContext;
use super::error::RunError;
use super::messages::{EpochOutput, Lineage, ToTask};
use crate::barrier::{BarrierAligner, BarrierEvent};
use crate::clock::ClockTracker;
use crate::operator::KeyedOperator;
use crate::types::Guarantee;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};

/// Outputs and audit entries an at-least-once task hands over before its checkpoint.
const EAGER_FLUSH_ITEMS: usize = 8192;

pub(crate) struct Task<'a, 'c, K, T, O> {
    pub ctx: &'c RunContext<'a>,
    pub index: u32,
    pub operator: Box<dyn KeyedOperator<K, T, O>>,
    pub inputs: Receiver<ToTask<K, T>>,
    pub sink: Sender<EpochOutput<O>>,
}

struct Alignment<K, T> {
    aligner: BarrierAligner,
    /// Messages from inputs blocked by a barrier, per input, in arrival order.
    held: Vec<VecDeque<ToTask<K, T>>>,
    /// Held messages released by the last alignment, delivered before anything new.
    released: VecDeque<ToTask<K, T>>,
}

impl<K, T, O> Task<'_, '_, K, T, O> {
    pub fn run(mut self) -> Result<(), RunError> {
        let inputs = self.ctx.parallelism() as usize;
        let mut alignment = Alignment {
            aligner: BarrierAligner::new(inputs),
            held: (0..inputs).map(|_| VecDeque::new()).collect(),
            released: VecDeque::new(),
        };
        let mut clock = ClockTracker::new(inputs);
        let mut outputs: Vec<O> = Vec::new();
        let mut audit: Vec<Lineage> = Vec::new();
        let mut dead_letters: Vec<exactly_log::Record> = Vec::new();
        let auditing = self.ctx.job.audit.is_some();
        // At-least-once writes effects as they happen, before the checkpoint that covers
        // them: what a crash then replays is written again (duplicates, never loss).
        let eager = self.ctx.options.guarantee == Guarantee::AtLeastOnce;
        let mut ended = 0;
        while ended < inputs {
            let message = match alignment.released.pop_front() {
                Some(message) => message,
                None => match self.inputs.recv() {
                    Ok(message) => message,
                    Err(_) => return Ok(()),
                },
            };
            let input = message.input();
            if !alignment.aligner.accepts(input) {
                if let Some(queue) = alignment.held.get_mut(input) {
                    queue.push_back(message);
                }
                continue;
            }
            match message {
                ToTask::Data(_, items) => {
                    for item in items {
                        if auditing {
                            audit.push(item.lineage);
                        }
                        self.operator
                            .process(item.event, &mut outputs)
                            .map_err(|source| RunError::Encode {
                                what: "a key",
                                source,
                            })?;
                    }
                    if eager && outputs.len() + audit.len() >= EAGER_FLUSH_ITEMS {
                        let early = EpochOutput {
                            partial: true,
                            checkpoint_id: 0,
                            outputs: std::mem::take(&mut outputs),
                            audit: std::mem::take(&mut audit),
                            dead_letters: std::mem::take(&mut dead_letters),
                            states: Vec::new(),
                            clock: clock.clock(),
                        };
                        if self.sink.send(early).is_err() {
                            return Ok(());
                        }
                    }
                }
                ToTask::DeadLetters(_, records) => dead_letters.extend(records),
                ToTask::Clock(_, timestamp) => {
                    let now = clock.advance_input(input, timestamp);
                    self.operator
                        .on_clock(now, &mut outputs)
                        .map_err(|source| RunError::Encode {
                            what: "a closed window's key",
                            source,
                        })?;
                    self.publish_clock(now.0);
                }
                ToTask::Barrier(_, id) => {
                    if let BarrierEvent::Aligned(id) = alignment.aligner.on_barrier(input, id) {
                        self.operator.on_checkpoint(&mut outputs);
                        let states =
                            self.operator
                                .snapshot()
                                .map_err(|source| RunError::Encode {
                                    what: "the task's state",
                                    source,
                                })?;
                        let epoch = EpochOutput {
                            partial: false,
                            checkpoint_id: id,
                            outputs: std::mem::take(&mut outputs),
                            audit: std::mem::take(&mut audit),
                            dead_letters: std::mem::take(&mut dead_letters),
                            states,
                            clock: clock.clock(),
                        };
                        if self.sink.send(epoch).is_err() {
                            return Ok(());
                        }
                        for queue in alignment.held.iter_mut() {
                            alignment.released.extend(queue.drain(..));
                        }
                    }
                }
                ToTask::End(_) => ended += 1,
            }
            if self.ctx.failed() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn publish_clock(&self, clock_ms: i64) {
        if let Some(slot) = self.ctx.control.task_clocks.get(self.index as usize) {
            slot.store(clock_ms, Ordering::Relaxed);
        }
    }
}
