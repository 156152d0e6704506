//! The positions an `OffsetCommit` or `TxnOffsetCommit` request asks to write: checked
//! the same way (the principal must be allowed to read each topic; partitions and
//! offsets must be non-negative) and answered the same way (one code per topic).

use crate::codes;
use crate::security::{Access, Operation, Resource};
use exactly_core::Offset;
use kafka_protocol::messages::TopicName;

/// One topic of a commit request: its name and `(partition index, committed offset)`s.
#[derive(Debug)]
pub struct AskedTopic {
    /// The topic.
    pub name: TopicName,
    /// Partition index and offset, as the client sent them.
    pub partitions: Vec<(i32, i64)>,
}

/// What of a commit request may be written.
#[derive(Debug)]
pub struct Checked {
    /// The positions to write: every partition of every topic the principal may read.
    pub positions: Vec<(String, u32, Offset)>,
    /// Per asked topic, in order: whether the principal may read it.
    readable: Vec<bool>,
    /// A negative partition or offset: the whole request is refused.
    pub invalid: bool,
}

/// Checks `asked` for `access`.
pub fn check(asked: &[AskedTopic], access: &Access) -> Checked {
    let mut checked = Checked {
        positions: Vec::new(),
        readable: Vec::with_capacity(asked.len()),
        invalid: false,
    };
    for topic in asked {
        let name = topic.name.0.as_str();
        let readable = access.allows(Operation::Read, Resource::Topic, name);
        checked.readable.push(readable);
        if !readable {
            continue;
        }
        for &(index, offset) in &topic.partitions {
            match (u32::try_from(index), u64::try_from(offset)) {
                (Ok(partition), Ok(offset)) => {
                    checked
                        .positions
                        .push((name.to_string(), partition, Offset(offset)))
                }
                _ => checked.invalid = true,
            }
        }
    }
    checked
}

impl Checked {
    /// The code of asked topic `index` when the request's outcome is `outcome`.
    fn code(&self, index: usize, outcome: i16) -> i16 {
        match self.readable.get(index) {
            Some(false) => codes::TOPIC_AUTHORIZATION_FAILED,
            _ => outcome,
        }
    }
}

/// The per-topic answer: `topic(name, partitions)` of `partition(index, code)`s, with
/// `outcome` for every topic the principal may read.
pub fn answer<T, P>(
    asked: Vec<AskedTopic>,
    checked: &Checked,
    outcome: i16,
    partition: impl Fn(i32, i16) -> P,
    topic: impl Fn(TopicName, Vec<P>) -> T,
) -> Vec<T> {
    asked
        .into_iter()
        .enumerate()
        .map(|(index, asked)| {
            let code = checked.code(index, outcome);
            let partitions = asked
                .partitions
                .iter()
                .map(|&(p, _)| partition(p, code))
                .collect();
            topic(asked.name, partitions)
        })
        .collect()
}
