//! Counting records by lineage id (pure): duplicates and gaps decided from the message ids
//! actually stored, never from JetStream's de-duplication state.
//!
//! A lineage id is `<prefix><n>`: a producer's name (everything up to the trailing decimal
//! digits) and the record's position in that producer's input. Per prefix, every `n` from
//! 0 to the largest seen must be present exactly once: a missing one is a gap (a lost
//! record), a repeated one a duplicate.

use serde::Serialize;
use std::collections::BTreeMap;

/// The audit so far.
#[derive(Debug, Default)]
pub struct LineageAudit {
    by_prefix: BTreeMap<String, BTreeMap<u64, u32>>,
    records: u64,
    without_id: u64,
    unnumbered: BTreeMap<String, u32>,
}

/// One producer's records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProducerLineage {
    /// The id prefix naming the producer.
    pub prefix: String,
    /// Distinct positions seen.
    pub distinct: u64,
    /// The largest position seen.
    pub last: u64,
    /// Positions in `0..=last` never seen.
    pub missing: u64,
    /// Extra copies of positions seen more than once.
    pub duplicates: u64,
    /// Up to ten missing positions, for the operator.
    pub missing_sample: Vec<u64>,
    /// Up to ten duplicated positions.
    pub duplicate_sample: Vec<u64>,
}

/// The verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineageReport {
    /// Records read.
    pub records: u64,
    /// Records without a message id (not verifiable).
    pub without_id: u64,
    /// Extra copies of ids seen more than once, over all producers and unnumbered ids.
    pub duplicates: u64,
    /// Positions missing, over all producers.
    pub gaps: u64,
    /// Per producer.
    pub producers: Vec<ProducerLineage>,
}

impl LineageReport {
    /// No duplicate, no gap, every record with an id.
    pub fn is_exact(&self) -> bool {
        self.duplicates == 0 && self.gaps == 0 && self.without_id == 0
    }
}

/// Splits `p7.e0.42` into (`p7.e0.`, 42); `None` without trailing digits.
pub fn split_lineage(id: &str) -> Option<(&str, u64)> {
    let digits = id.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (prefix, number) = id.split_at(id.len() - digits);
    Some((prefix, number.parse().ok()?))
}

impl LineageAudit {
    /// Counts one record with its message id.
    pub fn add(&mut self, msg_id: Option<&str>) {
        self.records += 1;
        let Some(id) = msg_id else {
            self.without_id += 1;
            return;
        };
        match split_lineage(id) {
            Some((prefix, n)) => {
                *self
                    .by_prefix
                    .entry(prefix.to_string())
                    .or_default()
                    .entry(n)
                    .or_default() += 1;
            }
            None => *self.unnumbered.entry(id.to_string()).or_default() += 1,
        }
    }

    /// The verdict over everything added.
    pub fn report(&self) -> LineageReport {
        let producers: Vec<ProducerLineage> = self
            .by_prefix
            .iter()
            .map(|(prefix, seen)| producer(prefix, seen))
            .collect();
        let unnumbered_duplicates: u64 = self
            .unnumbered
            .values()
            .map(|&c| u64::from(c.saturating_sub(1)))
            .sum();
        LineageReport {
            records: self.records,
            without_id: self.without_id,
            duplicates: producers.iter().map(|p| p.duplicates).sum::<u64>() + unnumbered_duplicates,
            gaps: producers.iter().map(|p| p.missing).sum(),
            producers,
        }
    }
}

fn producer(prefix: &str, seen: &BTreeMap<u64, u32>) -> ProducerLineage {
    #[allow(clippy::expect_used)]
    // invariant: a prefix is only entered together with a position (`add`), so `seen` is
    // never empty.
    let last = *seen
        .keys()
        .next_back()
        .expect("a producer's positions are never empty");
    let distinct = seen.len() as u64;
    let mut missing_sample = Vec::new();
    let mut expected = 0u64;
    for &n in seen.keys() {
        while expected < n && missing_sample.len() < 10 {
            missing_sample.push(expected);
            expected += 1;
        }
        expected = n + 1;
    }
    let duplicates: Vec<u64> = seen
        .iter()
        .filter(|(_, &c)| c > 1)
        .map(|(&n, _)| n)
        .collect();
    ProducerLineage {
        prefix: prefix.to_string(),
        distinct,
        last,
        missing: last + 1 - distinct,
        duplicates: seen.values().map(|&c| u64::from(c - 1)).sum(),
        missing_sample,
        duplicate_sample: duplicates.into_iter().take(10).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_duplicates_are_counted_per_producer() {
        let mut audit = LineageAudit::default();
        for id in ["p1.e0.0", "p1.e0.1", "p1.e0.1", "p1.e0.3", "gen.0", "gen.1"] {
            audit.add(Some(id));
        }
        audit.add(None);
        let report = audit.report();
        assert_eq!(
            (
                report.records,
                report.duplicates,
                report.gaps,
                report.without_id
            ),
            (7, 1, 1, 1)
        );
        let p1 = &report.producers[1];
        assert_eq!(
            (
                p1.prefix.as_str(),
                p1.missing_sample.clone(),
                p1.duplicate_sample.clone()
            ),
            ("p1.e0.", vec![2], vec![1])
        );
        assert!(!report.is_exact());
    }

    #[test]
    fn a_complete_producer_is_exact() {
        let mut audit = LineageAudit::default();
        for n in [2, 0, 1] {
            audit.add(Some(&format!("x{n}")));
        }
        assert!(audit.report().is_exact());
    }
}
