//! [`SelectedPartitions`]: partitions of several inputs seen as one input — a task of a
//! later stage reads partition `g` of every upstream writer's topic, each with its own
//! position in the task's checkpoint.
//!
//! Partition `i` of the selection is `parts[i]`. A part found empty is not asked again
//! for a while: an engine source with several partitions polls them in a tight loop, and
//! each look at a JetStream stream is an API request, so without this a worker's idle
//! tasks would cost the servers thousands of requests a second. The pause starts at
//! [`IDLE_POLL_MIN`] and grows with the time the part has been empty (a quarter of it) up
//! to [`IDLE_POLL_MAX`]: a busy part is asked again within 20 ms, one idle for a while
//! five times a second. The price is that much latency when an idle part gets a record.

use exactly_engine::{Input, InputBatch, RunError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shortest pause before an empty part is asked again.
pub const IDLE_POLL_MIN: Duration = Duration::from_millis(20);
/// Longest pause before an empty part is asked again.
pub const IDLE_POLL_MAX: Duration = Duration::from_millis(200);

/// A part found empty at `position`: since when, and when it was last asked.
#[derive(Clone, Copy)]
struct Empty {
    position: u64,
    since: Instant,
    asked: Instant,
}

impl Empty {
    /// How long after `asked` to ask again.
    fn pause(&self) -> Duration {
        (self.since.elapsed() / 4).clamp(IDLE_POLL_MIN, IDLE_POLL_MAX)
    }

    /// How much longer to wait before asking again, if the part is still taken as empty
    /// at `position`.
    fn remaining(&self, position: u64) -> Option<Duration> {
        let due = self.asked + self.pause();
        (self.position == position)
            .then(|| due.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }
}

/// One selected partition and when it was found empty.
struct Part<'a> {
    input: &'a dyn Input,
    partition: u32,
    empty: Mutex<Option<Empty>>,
}

/// Several inputs' partitions as one input.
pub struct SelectedPartitions<'a> {
    name: String,
    parts: Vec<Part<'a>>,
}

impl<'a> SelectedPartitions<'a> {
    /// The selection `parts`, each an input and one of its partitions, named `name` (for
    /// messages and dead letters).
    pub fn new(name: &str, parts: Vec<(&'a dyn Input, u32)>) -> Self {
        let parts = (parts.into_iter())
            .map(|(input, partition)| Part {
                input,
                partition,
                empty: Mutex::new(None),
            })
            .collect();
        Self {
            name: name.to_string(),
            parts,
        }
    }

    fn part(&self, partition: u32) -> Result<&Part<'a>, RunError> {
        (self.parts.get(partition as usize)).ok_or_else(|| RunError::Input {
            input: self.name.clone(),
            source: format!(
                "no partition {partition}: the selection has {}",
                self.parts.len()
            )
            .into(),
        })
    }
}

impl Part<'_> {
    /// How much longer the part is taken as empty at `position` (a poisoned lock only
    /// loses the hint: the input is asked).
    fn quiet_for(&self, position: u64) -> Option<Duration> {
        let seen = self.empty.lock().map(|slot| *slot).unwrap_or(None);
        seen.and_then(|empty| empty.remaining(position))
    }

    fn remember(&self, position: u64, empty: bool) {
        if let Ok(mut slot) = self.empty.lock() {
            let now = Instant::now();
            *slot = match (*slot, empty) {
                (_, false) => None,
                (Some(seen), true) if seen.position == position => {
                    Some(Empty { asked: now, ..seen })
                }
                (_, true) => Some(Empty {
                    position,
                    since: now,
                    asked: now,
                }),
            };
        }
    }
}

impl Input for SelectedPartitions<'_> {
    fn name(&self) -> &str {
        &self.name
    }

    fn partitions(&self) -> Option<u32> {
        Some(self.parts.len() as u32)
    }

    fn read(
        &self,
        partition: u32,
        position: u64,
        records_max: usize,
    ) -> Result<InputBatch, RunError> {
        let part = self.part(partition)?;
        if part.quiet_for(position).is_some() {
            return Ok(InputBatch {
                records: Vec::new(),
                next_position: position,
            });
        }
        let batch = part.input.read(part.partition, position, records_max)?;
        part.remember(position, batch.records.is_empty());
        Ok(batch)
    }

    /// A part taken as empty is not asked: the wait sleeps (at most `timeout`) instead.
    fn wait(&self, partition: u32, position: u64, timeout: Duration) -> Result<(), RunError> {
        let part = self.part(partition)?;
        match part.quiet_for(position) {
            Some(left) => {
                std::thread::sleep(left.min(timeout));
                Ok(())
            }
            None => part.input.wait(part.partition, position, timeout),
        }
    }

    fn position_at(&self, partition: u32, time_ms: i64) -> Result<u64, RunError> {
        let part = self.part(partition)?;
        part.input.position_at(part.partition, time_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_log::StoredRecord;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// An input whose partition `p` holds `p + 1` records and counts reads.
    struct Counted {
        reads: AtomicU32,
    }

    impl Input for Counted {
        fn name(&self) -> &str {
            "counted"
        }
        fn partitions(&self) -> Option<u32> {
            Some(4)
        }
        fn read(&self, partition: u32, position: u64, _: usize) -> Result<InputBatch, RunError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let end = u64::from(partition) + 1;
            let records = (position..end)
                .map(|offset| StoredRecord {
                    offset: exactly_core::Offset(offset),
                    timestamp: exactly_core::Timestamp(0),
                    key: None,
                    value: vec![partition as u8],
                })
                .collect();
            Ok(InputBatch {
                records,
                next_position: end.max(position),
            })
        }
        fn wait(&self, _: u32, _: u64, _: Duration) -> Result<(), RunError> {
            Ok(())
        }
    }

    #[test]
    fn partitions_map_to_their_parts_and_empty_parts_are_not_asked_again_at_once() {
        let (a, b) = (
            Counted {
                reads: AtomicU32::new(0),
            },
            Counted {
                reads: AtomicU32::new(0),
            },
        );
        let selection = SelectedPartitions::new("sel", vec![(&a, 2), (&b, 0)]);
        assert_eq!(selection.partitions(), Some(2));
        let first = selection.read(0, 0, 100).expect("read");
        assert_eq!(first.records.len(), 3);
        assert_eq!(first.records[0].value, vec![2]);
        assert_eq!(selection.read(1, 0, 100).expect("read").records.len(), 1);
        // At its end: asked once, then not again within IDLE_POLL_MIN.
        assert!(selection.read(1, 1, 100).expect("read").records.is_empty());
        assert!(selection.read(1, 1, 100).expect("read").records.is_empty());
        assert_eq!(b.reads.load(Ordering::SeqCst), 2);
        std::thread::sleep(IDLE_POLL_MIN);
        assert!(selection.read(1, 1, 100).expect("read").records.is_empty());
        assert_eq!(b.reads.load(Ordering::SeqCst), 3);
        assert!(selection.read(2, 0, 1).is_err());
    }
}
