//! Property test of the receiver's de-duplication against a model: for any sequence of
//! data frames (duplicates, reordering, far-ahead seqs), ID de-dup delivers each seq at
//! most once and exactly the seqs a set-based model accepts within the gap bound; ordered
//! delivers exactly the consecutive prefix the model has seen, in order; memory stays
//! within the configured bounds.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::{PipeMode, Receiver, ReceiverConfig};
use proptest::prelude::*;
use std::collections::BTreeSet;

const GAPS_MAX: usize = 8;

fn data(seq: u64) -> Vec<u8> {
    let mut f = Vec::new();
    frame::encode(FrameKind::Data, 1, seq, &seq.to_le_bytes(), &mut f);
    f
}

fn receiver(mode: PipeMode) -> Receiver {
    let mut config = ReceiverConfig::for_mode(mode);
    config.gap_ids_max = GAPS_MAX;
    config.reorder_buffer_max = GAPS_MAX;
    Receiver::new(config)
}

fn delivered(r: &mut Receiver) -> Vec<u64> {
    std::iter::from_fn(|| r.poll_delivery())
        .map(|d| d.seq)
        .collect()
}

proptest! {
    #[test]
    fn id_dedup_matches_the_model(seqs in proptest::collection::vec(0u64..40, 0..200)) {
        let mut r = receiver(PipeMode::ResendIdDedup);
        // Model: next (one above the high-water mark) and the gap set, bounded.
        let (mut next, mut gaps, mut expected) = (0u64, BTreeSet::new(), Vec::new());
        for &seq in &seqs {
            r.handle_frame(0, &data(seq));
            if seq < next {
                if gaps.remove(&seq) {
                    expected.push(seq);
                }
            } else if gaps.len() + (seq - next) as usize <= GAPS_MAX {
                gaps.extend(next..seq);
                next = seq + 1;
                expected.push(seq);
            }
            prop_assert!(r.gap_ids_len(1) <= GAPS_MAX);
        }
        let got = delivered(&mut r);
        prop_assert_eq!(&got, &expected);
        let unique: BTreeSet<u64> = got.iter().copied().collect();
        prop_assert_eq!(unique.len(), got.len(), "a seq was delivered twice");
    }

    #[test]
    fn ordered_delivers_the_consecutive_prefix_in_order(
        seqs in proptest::collection::vec(0u64..30, 0..200)
    ) {
        let mut r = receiver(PipeMode::Ordered);
        // Model: next and a bounded buffer of seqs ahead of it.
        let (mut next, mut buffer, mut expected) = (0u64, BTreeSet::new(), Vec::new());
        let mut got = Vec::new();
        for &seq in &seqs {
            r.handle_frame(0, &data(seq));
            got.extend(delivered(&mut r));
            if seq == next {
                expected.push(seq);
                next += 1;
                while buffer.remove(&next) {
                    expected.push(next);
                    next += 1;
                }
            } else if seq > next
                && seq - next <= GAPS_MAX as u64
                && buffer.len() < GAPS_MAX
            {
                buffer.insert(seq);
            }
            prop_assert!(r.reorder_buffered_len(1) <= GAPS_MAX);
        }
        prop_assert_eq!(&got, &expected);
        let in_order: Vec<u64> = (0..got.len() as u64).collect();
        prop_assert_eq!(&got, &in_order, "not the consecutive prefix");
    }
}
