//! Resend + ID de-dup and ordered pipes inside secure channels (Noise IK: handshake,
//! ChaCha20-Poly1305 with per-frame nonces, replay window, rekeying every 2,000 frames)
//! over the hostile link (30% loss, 10% duplication, reordering, 1% corruption, healing
//! partitions): R = 1 and UR = 1 on every seed, counted by the simulator's auditor (a
//! bitmap of original ids, independent of the pipe). Corrupted frames are caught by the
//! AEAD tag, duplicated ones by the replay window. Seeds are printed; `EXACTLY_SEEDS=N`
//! sweeps more.

// Test helper, not library code: a panic is the failure report.
#![allow(clippy::indexing_slicing, clippy::expect_used)]

use exactly_pipe::{DeliveryMode, PipeMode};
use exactly_sim::{run, seeds::seeds, NetConfig, SimConfig};

fn check(pipe: PipeMode, seed: u64, messages: u64) {
    let mut config = SimConfig::new(pipe, NetConfig::hostile(), messages, seed);
    config.secure = true;
    let report = run(&config);
    let replay = config.replay_command();
    eprintln!("seed {seed} {pipe}: {:?}", report.end_to_end);
    assert!(
        report.completed,
        "seed {seed} did not finish; replay: {replay}"
    );
    assert_eq!(
        report.end_to_end.mode(),
        DeliveryMode::ExactlyOnce,
        "seed {seed}: {:?}; replay: {replay}",
        report.end_to_end
    );
    assert_eq!(report.end_to_end.sent, messages);
    if pipe == PipeMode::Ordered {
        assert!(
            report.in_order,
            "seed {seed}: out of order; replay: {replay}"
        );
    }
    let hop = &report.hops[0];
    let (initiator, responder) = hop.channel.expect("secure run reports its channel");
    assert!(hop.net.lost > 0 && hop.net.duplicated > 0 && hop.net.corrupted > 0);
    assert!(
        initiator.handshakes_completed >= 2,
        "seed {seed}: no rekey happened: {initiator:?}"
    );
    assert!(
        responder.frames_unauthenticated > 0 && responder.frames_replayed > 0,
        "seed {seed}: corruption and duplication must reach the channel: {responder:?}"
    );
    assert_eq!(responder.inner_sender_mismatch, 0);
}

#[test]
fn secure_pipes_are_exactly_once_on_every_seed() {
    let all: Vec<u64> = seeds(8).collect();
    std::thread::scope(|scope| {
        for chunk in all.chunks(all.len().div_ceil(2).max(1)) {
            scope.spawn(move || {
                for &seed in chunk {
                    check(PipeMode::ResendIdDedup, seed, 20_000);
                    check(PipeMode::Ordered, seed, 5_000);
                }
            });
        }
    });
}
