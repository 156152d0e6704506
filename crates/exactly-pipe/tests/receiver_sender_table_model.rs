//! The receiver's sender table under pressure, checked against an independent model:
//! - chaos (random senders, gaps, resends of delivered seqs, restarts replaying what was
//!   delivered, a tiny table): no (sender, seq) is ever delivered twice, and no ack ever
//!   confirms a seq that was not delivered — forgetting senders never doubles or loses;
//! - stale senders (more senders than `senders_max` over time, each done) never block a
//!   new one, before or after a restart;
//! - forged senders with holes fill the table: a new sender is refused explicitly (never
//!   left to resend forever) until they are idle for `sender_idle_evict_ms`, then admitted;
//!   a forgotten sender with holes that comes back is refused from its lowest hole on.
//!
//! Randomized tests print their seed; `EXACTLY_SEED=N` replays one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_pipe::frame::{self, FrameKind, Refusal};
use exactly_pipe::{PipeMode, Receiver, ReceiverConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeSet, HashMap, HashSet};

const SENDERS_MAX: usize = 3;
const IDLE_MS: u64 = 100;

fn config(mode: PipeMode, floors_max: usize) -> ReceiverConfig {
    let mut c = ReceiverConfig::for_mode(mode);
    c.senders_max = SENDERS_MAX;
    c.sender_floors_max = floors_max;
    c.sender_idle_evict_ms = IDLE_MS;
    c
}

fn data(sender: u64, seq: u64) -> Vec<u8> {
    let mut f = Vec::new();
    frame::encode(FrameKind::Data, sender, seq, &seq.to_le_bytes(), &mut f);
    f
}

/// What the receiver said back, decoded naively.
#[derive(Default)]
struct Answers {
    /// (sender, seq) confirmed by any ack.
    confirmed: Vec<(u64, u64)>,
    refused: Vec<(u64, u64, Refusal)>,
}

fn drain(r: &mut Receiver, answers: &mut Answers) {
    while let Some((to, bytes)) = r.poll_transmit() {
        let f = frame::decode(&bytes, 1 << 20).unwrap();
        assert_eq!(f.sender_id, to);
        match f.kind {
            FrameKind::Refused => answers.refused.push((to, f.seq, f.refusal().unwrap())),
            FrameKind::Ack => {
                answers.confirmed.extend((0..f.seq).map(|s| (to, s)));
                answers.confirmed.extend(f.acked_seqs().map(|s| (to, s)));
            }
            FrameKind::AckRange => {
                let range = f.ack_range().unwrap();
                let except: BTreeSet<u64> = range.gaps().chain(range.pending()).collect();
                answers.confirmed.extend((0..f.seq).map(|s| (to, s)));
                answers.confirmed.extend(
                    (f.seq..range.end)
                        .filter(|s| !except.contains(s))
                        .map(|s| (to, s)),
                );
            }
            FrameKind::Data => panic!("a receiver sent data"),
        }
    }
}

fn seed() -> u64 {
    std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Runs one chaos schedule; returns (senders forgotten, `Evicted` refusals).
fn chaos(mode: PipeMode, seed: u64) -> (u64, u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let floors_max = rng.random_range(0..6);
    let mut r = Receiver::new(config(mode, floors_max));
    let mut journal: Vec<(u64, u64)> = Vec::new();
    let mut delivered: HashSet<(u64, u64)> = HashSet::new();
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut answers = Answers::default();
    let mut now_ms = 0;
    let mut peak_after_replay = 0;
    let (mut forgotten, mut evicted_refusals) = (0, 0);
    for _ in 0..3_000 {
        now_ms += rng.random_range(0..30);
        let sender = rng.random_range(1..=10u64);
        let n = next.entry(sender).or_insert(0);
        let seq = match rng.random_range(0..10) {
            0..=5 => *n,
            6 => *n + rng.random_range(1..4), // the ones in between are lost
            _ => rng.random_range(0..=*n),    // a resend, maybe of a delivered seq
        };
        *n = (*n).max(seq + 1);
        r.handle_frame(now_ms, &data(sender, seq));
        while let Some(d) = r.poll_delivery() {
            assert!(
                delivered.insert((d.sender_id, d.seq)),
                "seed {seed} {mode}: ({}, {}) delivered twice",
                d.sender_id,
                d.seq
            );
            journal.push((d.sender_id, d.seq));
        }
        drain(&mut r, &mut answers);
        for c in answers.confirmed.drain(..) {
            // Index de-dup confirms what it discards as stale by design (at-most-once).
            assert!(
                delivered.contains(&c) || mode == PipeMode::ResendIndexDedup,
                "seed {seed} {mode}: {c:?} confirmed but never delivered"
            );
        }
        for (_, seq, refusal) in answers.refused.drain(..) {
            if let Refusal::Evicted { low, .. } = refusal {
                assert!(seq >= low, "seed {seed}: refused below the floor");
                evicted_refusals += 1;
            }
        }
        assert!(
            r.senders_len() <= SENDERS_MAX.max(peak_after_replay),
            "seed {seed}: {} senders",
            r.senders_len()
        );
        assert!(r.sender_floors_len() <= floors_max);
        if rng.random_range(0..200) == 0 {
            forgotten += r.stats().senders_forgotten;
            // Restart: a fresh receiver replays the journal of deliveries.
            r = Receiver::new(config(mode, floors_max));
            for (sender, seq) in &journal {
                r.replay_delivered(*sender, *seq);
            }
            peak_after_replay = r.senders_len();
        }
    }
    (forgotten + r.stats().senders_forgotten, evicted_refusals)
}

#[test]
fn forgetting_senders_never_doubles_or_loses() {
    let base = seed();
    eprintln!("seeds {base}..+200");
    let (mut forgotten, mut evicted_refusals) = (0, 0);
    for i in 0..200u64 {
        let seed = base.wrapping_add(i);
        for mode in [
            PipeMode::ResendIdDedup,
            PipeMode::Ordered,
            PipeMode::ResendIndexDedup,
        ] {
            let (f, e) = chaos(mode, seed);
            forgotten += f;
            evicted_refusals += e;
        }
    }
    // The schedules really exercise forgetting and refusals.
    assert!(
        forgotten > 1000 && evicted_refusals > 100,
        "{forgotten} {evicted_refusals}"
    );
}

#[test]
fn stale_senders_never_block_a_new_one_even_after_restart() {
    let mut r = Receiver::new(config(PipeMode::ResendIdDedup, 64));
    let mut journal = Vec::new();
    let mut answers = Answers::default();
    for sender in 1..=40u64 {
        if sender == 20 {
            r = Receiver::new(config(PipeMode::ResendIdDedup, 64));
            journal.iter().for_each(|(s, q)| r.replay_delivered(*s, *q));
        }
        for seq in 0..5 {
            r.handle_frame(sender * 10, &data(sender, seq));
        }
        let got: Vec<_> = std::iter::from_fn(|| r.poll_delivery())
            .map(|d| (d.sender_id, d.seq))
            .collect();
        assert_eq!(got, (0..5).map(|q| (sender, q)).collect::<Vec<_>>());
        journal.extend(got);
        drain(&mut r, &mut answers);
        assert!(answers.refused.is_empty(), "sender {sender} refused");
        assert!(r.senders_len() <= SENDERS_MAX);
    }
    // A forgotten sender resending an old seq is confirmed, not delivered again, and can go on.
    r.handle_frame(500, &data(3, 2));
    r.handle_frame(500, &data(3, 5));
    let got: Vec<_> = std::iter::from_fn(|| r.poll_delivery())
        .map(|d| (d.sender_id, d.seq))
        .collect();
    assert_eq!(got, vec![(3, 5)]);
}

#[test]
fn forged_senders_with_holes_get_new_senders_refused_until_idle() {
    let mut r = Receiver::new(config(PipeMode::ResendIdDedup, 64));
    let mut answers = Answers::default();
    // Forged ids, each one frame far ahead: holes that will never be filled.
    for forged in 100..100 + SENDERS_MAX as u64 {
        r.handle_frame(0, &data(forged, 7));
    }
    while r.poll_delivery().is_some() {}
    drain(&mut r, &mut answers);
    r.handle_frame(IDLE_MS - 1, &data(1, 0));
    assert!(r.poll_delivery().is_none());
    drain(&mut r, &mut answers);
    assert_eq!(
        answers.refused,
        vec![(
            1,
            0,
            Refusal::SendersFull {
                senders_max: SENDERS_MAX as u64,
                floors_max: 64
            }
        )],
        "refused explicitly, not dropped"
    );
    answers.refused.clear();
    r.handle_frame(IDLE_MS + 1, &data(1, 0));
    assert_eq!(
        r.poll_delivery().map(|d| (d.sender_id, d.seq)),
        Some((1, 0))
    );
    drain(&mut r, &mut answers);
    assert!(answers.refused.is_empty());
    // The forgotten forged sender 100 comes back: nothing at or above its lowest hole.
    r.handle_frame(IDLE_MS + 2, &data(100, 3));
    assert!(r.poll_delivery().is_none());
    drain(&mut r, &mut answers);
    assert_eq!(
        answers.refused,
        vec![(100, 3, Refusal::Evicted { low: 0, high: 8 })]
    );
}
