//! A flood from a peer that *does* receive at its address: it sends 20 real handshake
//! inits per millisecond (valid mac1, keys not allowed) for three seconds, reads the cookie
//! replies the receiver sends it under load, and puts a valid mac2 on every later init. The
//! cookie proves its address, so only the per-address budget stands between it and the
//! receiver's Diffie-Hellman work: the work done for it stays at that budget (10 per second
//! after a burst of 5), the rest is dropped without work, and a legitimate sender that
//! restarts mid-flood still completes its handshake and delivers every message once.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::secure_common;

use exactly_pipe::secure::wire::{self, Wire, INIT_MAC2_AT};
use exactly_pipe::secure::{
    cookie, InitiatorChannel, InitiatorConfig, ResponderConfig, StaticKeypair,
};
use exactly_pipe::{PipeMode, ReceiverConfig};
use secure_common::SecureEnds;
use std::net::SocketAddr;

const FLOOD_MS: u64 = 3_000;
const PER_MS: usize = 20;

fn attacker_init(receiver: &StaticKeypair) -> Vec<u8> {
    let keys = StaticKeypair::generate().unwrap();
    let mut channel = InitiatorChannel::new(InitiatorConfig::new(keys, receiver.public())).unwrap();
    channel.send_inner(0, &[0u8; 28]);
    channel.poll_transmit().unwrap()
}

#[test]
fn cookie_holding_flooder_gets_only_its_address_budget() {
    let (sender_keys, receiver_keys) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    let defaults = ResponderConfig::new(receiver_keys.clone(), Vec::new());
    let (global, per_address) = (
        u64::from(defaults.handshakes_per_s_max),
        u64::from(defaults.handshakes_per_address_per_s),
    );
    let mut ends = SecureEnds::new(
        &sender_keys,
        &receiver_keys,
        ReceiverConfig::for_mode(PipeMode::ResendIdDedup),
    );
    let first: Vec<Vec<u8>> = (0..10u32).map(|i| i.to_le_bytes().to_vec()).collect();
    ends.send_all(&first, 5_000);
    let flooder: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let inits: Vec<Vec<u8>> = (0..50).map(|_| attacker_init(&receiver_keys)).collect();
    let mut cookie_of_flooder: Option<Vec<u8>> = None;
    let processed_before = ends.responder.stats().handshakes_processed;
    let start = ends.now_ms;
    let second: Vec<Vec<u8>> = (10..110u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let (mut next, mut k) = (0, 0usize);
    while ends.now_ms < start + FLOOD_MS {
        for (to, datagram) in ends.to_others.drain(..) {
            if let (true, Some(Wire::Cookie { cookie, .. })) =
                (to == flooder, wire::decode(&datagram))
            {
                cookie_of_flooder = Some(cookie.to_vec());
            }
        }
        let burst: Vec<(SocketAddr, Vec<u8>)> = (0..PER_MS)
            .map(|_| {
                k += 1;
                let mut init = inits[k % inits.len()].clone();
                if let Some(c) = &cookie_of_flooder {
                    let mac2 = cookie::mac(c, &init[..INIT_MAC2_AT]);
                    init[INIT_MAC2_AT..].copy_from_slice(&mac2);
                }
                (flooder, init)
            })
            .collect();
        if ends.now_ms == start + 500 {
            let mut config = InitiatorConfig::new(sender_keys.clone(), receiver_keys.public());
            config.clock_base_ms = 1_000_000;
            ends.initiator = InitiatorChannel::new(config).unwrap();
        }
        if ends.now_ms > start + 500 {
            while next < second.len() && ends.sender.can_send() {
                ends.sender.send(ends.now_ms, &second[next]).unwrap();
                next += 1;
            }
        }
        ends.step(&burst);
    }
    let stats = ends.responder.stats();
    eprintln!("flooder with cookies: {stats:?}");
    let processed = stats.handshakes_processed - processed_before;
    let windows = FLOOD_MS / 1_000 + 1;
    // Until the receiver is under load, inits need no cookie (the global limit per second);
    // after that the flooder's cookie buys it only its address budget.
    let bound = global * windows + 5 + per_address * (FLOOD_MS / 1_000 + 1);
    assert!(
        cookie_of_flooder.is_some(),
        "the flooder never got a cookie"
    );
    assert!(
        processed <= bound,
        "{processed} handshakes processed, bound {bound}"
    );
    assert!(stats.handshakes_rate_limited > 10_000, "{stats:?}");
    assert!(ends.responder.sessions_len() <= 3);
    assert!(
        ends.sender.is_idle() && next == second.len(),
        "legitimate sender stuck"
    );
    let mut got: Vec<Vec<u8>> = ends.delivered.iter().map(|d| d.payload.clone()).collect();
    got.sort();
    let mut expected: Vec<Vec<u8>> = first.into_iter().chain(second).collect();
    expected.sort();
    assert_eq!(got, expected, "every legitimate message once");
}
