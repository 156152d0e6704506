//! A handshake flood: for three seconds, 10 handshake inits per millisecond arrive from
//! spoofed addresses — real Noise inits with a valid mac1 (the receiver's public key is
//! public) from 200 keys that are not allowed — plus replays of the legitimate sender's
//! captured init. The receiver's Diffie-Hellman work stays at its per-second limit (the
//! rest get stateless cookie replies the spoofers never see), it holds no state per
//! attacker (at most three sessions for its one allowed key, one sender-table entry), and a
//! legitimate sender that restarts in the middle of the flood completes its handshake
//! through a cookie round trip and gets every message delivered once.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::secure_common;

use exactly_pipe::secure::{InitiatorChannel, InitiatorConfig, StaticKeypair};
use exactly_pipe::{PipeMode, ReceiverConfig};
use secure_common::SecureEnds;
use std::net::SocketAddr;

const ATTACK_KEYS: usize = 200;
const FLOOD_MS: u64 = 3_000;
const PER_MS: usize = 10;

fn attacker_init(receiver: &StaticKeypair) -> Vec<u8> {
    let keys = StaticKeypair::generate().unwrap();
    let mut channel = InitiatorChannel::new(InitiatorConfig::new(keys, receiver.public())).unwrap();
    channel.send_inner(0, &[0u8; 28]);
    channel.poll_transmit().unwrap()
}

#[test]
fn flood_is_bounded_and_the_legitimate_sender_gets_through() {
    let (sender_keys, receiver_keys) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    let config = ReceiverConfig::for_mode(PipeMode::ResendIdDedup);
    let mut ends = SecureEnds::new(&sender_keys, &receiver_keys, config);
    let first: Vec<Vec<u8>> = (0..10u32).map(|i| i.to_le_bytes().to_vec()).collect();
    ends.send_all(&first, 5_000);
    let captured_init = ends.recorded[0].clone();
    let inits: Vec<Vec<u8>> = (0..ATTACK_KEYS)
        .map(|_| attacker_init(&receiver_keys))
        .collect();
    let limit = u64::from(
        exactly_pipe::secure::ResponderConfig::new(receiver_keys.clone(), Vec::new())
            .handshakes_per_s_max,
    );
    let processed_before = ends.responder.stats().handshakes_processed;
    let flood_start = ends.now_ms;
    let second: Vec<Vec<u8>> = (10..210u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let mut next = 0;
    let mut k = 0usize;
    while ends.now_ms < flood_start + FLOOD_MS {
        let burst: Vec<(SocketAddr, Vec<u8>)> = (0..PER_MS)
            .map(|_| {
                k += 1;
                let from = SocketAddr::from((
                    [172, 16, (k >> 8) as u8, k as u8],
                    1_000 + (k % 50_000) as u16,
                ));
                let datagram = if k.is_multiple_of(97) {
                    captured_init.clone()
                } else {
                    inits[k % ATTACK_KEYS].clone()
                };
                (from, datagram)
            })
            .collect();
        if ends.now_ms == flood_start + 500 {
            // The legitimate sender restarts: a new channel, a new handshake mid-flood.
            let mut config = InitiatorConfig::new(sender_keys.clone(), receiver_keys.public());
            config.clock_base_ms = 1_000_000;
            ends.initiator = InitiatorChannel::new(config).unwrap();
        }
        if ends.now_ms > flood_start + 500 {
            while next < second.len() && ends.sender.can_send() {
                ends.sender.send(ends.now_ms, &second[next]).unwrap();
                next += 1;
            }
        }
        ends.step(&burst);
    }
    let legit_done = ends.sender.is_idle() && next == second.len();
    let responder = ends.responder.stats();
    let processed = responder.handshakes_processed - processed_before;
    let windows = FLOOD_MS / 1_000 + 1;
    eprintln!(
        "flood: {responder:?}; initiator {:?}",
        ends.initiator.stats()
    );
    assert!(
        processed <= limit * windows,
        "{processed} handshakes processed, limit {limit}/s"
    );
    assert!(responder.cookies_sent > 10_000, "{responder:?}");
    assert!(responder.handshakes_refused > 0, "{responder:?}");
    assert!(ends.responder.sessions_len() <= 3);
    assert_eq!(ends.receiver.senders_len(), 1);
    assert!(ends.initiator.stats().cookies_received >= 1);
    assert!(
        legit_done,
        "the legitimate sender did not finish during the flood"
    );
    let mut got: Vec<Vec<u8>> = ends.delivered.iter().map(|d| d.payload.clone()).collect();
    got.sort();
    let mut expected: Vec<Vec<u8>> = first.into_iter().chain(second).collect();
    expected.sort();
    assert_eq!(got, expected, "every legitimate message once");
}
