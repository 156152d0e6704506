//! Replay of a captured session after both ends restart: every datagram the sender's side
//! put on the wire during a first session (handshake init, data, keepalives) is recorded.
//! Both durable ends are then dropped and reopened from their journals; the attacker
//! replays the whole capture before, between and after a second legitimate session, and
//! into a brand-new receiver state that never saw the sender (where de-duplication cannot
//! help: only the channel can). Nothing replayed is delivered or journaled; the receiver's
//! journal — read back by a fresh reader — holds each legitimate message exactly once.

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::StdStorage;
use exactly_pipe::secure::{
    InitiatorChannel, InitiatorConfig, ResponderChannel, ResponderConfig, StaticKeypair,
};
use exactly_pipe::{DurableReceiver, DurableSender, PipeMode, ReceiverConfig, SenderConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

fn from() -> SocketAddr {
    "10.0.0.1:4000".parse().unwrap()
}

struct Receiving {
    end: DurableReceiver,
    channel: ResponderChannel,
}

impl Receiving {
    fn open(dir: &Path, keys: &StaticKeypair, sender: &StaticKeypair) -> Self {
        let config = ReceiverConfig::for_mode(PipeMode::ResendIdDedup);
        Receiving {
            end: DurableReceiver::open(Arc::new(StdStorage), dir, config).unwrap(),
            channel: ResponderChannel::new(
                ResponderConfig::new(keys.clone(), vec![sender.public()]),
                0,
            )
            .unwrap(),
        }
    }

    /// Handles datagrams; returns how many messages became durable.
    fn receive(&mut self, now_ms: u64, datagrams: &[Vec<u8>]) -> usize {
        for datagram in datagrams {
            if let Some(inner) = self.channel.handle_datagram(now_ms, from(), datagram) {
                self.end.handle_frame(now_ms, &inner).unwrap();
            }
        }
        self.end.commit().unwrap().len()
    }
}

/// A legitimate session: sends `messages` until confirmed; returns what went on the wire.
fn session(
    dir: &Path,
    keys: &StaticKeypair,
    receiver_keys: &StaticKeypair,
    clock_base_ms: u64,
    receiving: &mut Receiving,
    messages: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    let config = SenderConfig::for_mode(PipeMode::ResendIdDedup, keys.public().sender_id());
    let mut sender = DurableSender::open(Arc::new(StdStorage), dir, config, 0).unwrap();
    let mut channel_config = InitiatorConfig::new(keys.clone(), receiver_keys.public());
    channel_config.clock_base_ms = clock_base_ms;
    let mut channel = InitiatorChannel::new(channel_config).unwrap();
    let mut wire = Vec::new();
    for m in messages {
        sender.send(m).unwrap();
    }
    for now in 1..10_000 {
        sender.commit(now).unwrap();
        sender.handle_timeout(now);
        channel.handle_timeout(now);
        while let Some(frame) = sender.poll_transmit() {
            channel.send_inner(now, &frame);
        }
        let sent: Vec<Vec<u8>> = std::iter::from_fn(|| channel.poll_transmit()).collect();
        receiving.receive(now, &sent);
        wire.extend(sent);
        while let Some((id, ack)) = receiving.end.poll_transmit() {
            receiving.channel.send_inner(now, id, &ack);
        }
        while let Some((_, datagram)) = receiving.channel.poll_transmit() {
            if let Some(inner) = channel.handle_datagram(now, &datagram) {
                sender.handle_frame(now, &inner);
            }
        }
        while sender.poll_event().unwrap().is_some() {}
        if sender.is_idle() {
            sender.commit(now).unwrap();
            return wire;
        }
    }
    panic!("session did not finish");
}

fn journal(dir: &Path) -> Vec<(u64, u64, Vec<u8>)> {
    DurableReceiver::read_delivered(Arc::new(StdStorage), dir)
        .unwrap()
        .into_iter()
        .map(|d| (d.sender_id, d.seq, d.payload))
        .collect()
}

#[test]
fn replayed_session_is_never_delivered_after_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (send_dir, recv_dir, fresh_dir) = (
        dir.path().join("send"),
        dir.path().join("recv"),
        dir.path().join("fresh"),
    );
    let (sender_keys, receiver_keys) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    let first: Vec<Vec<u8>> = (0..40u32)
        .map(|i| format!("first {i}").into_bytes())
        .collect();
    let second: Vec<Vec<u8>> = (0..25u32)
        .map(|i| format!("second {i}").into_bytes())
        .collect();

    let mut receiving = Receiving::open(&recv_dir, &receiver_keys, &sender_keys);
    let capture = session(
        &send_dir,
        &sender_keys,
        &receiver_keys,
        1_000,
        &mut receiving,
        &first,
    );
    assert_eq!(journal(&recv_dir).len(), first.len());
    // Replayed while the same receiver runs.
    assert_eq!(receiving.receive(20_000, &capture), 0);
    drop(receiving); // both ends restart: the receiver here, the sender in `session`

    let mut receiving = Receiving::open(&recv_dir, &receiver_keys, &sender_keys);
    assert_eq!(
        receiving.receive(1, &capture),
        0,
        "replay before the new session"
    );
    session(
        &send_dir,
        &sender_keys,
        &receiver_keys,
        50_000,
        &mut receiving,
        &second,
    );
    assert_eq!(
        receiving.receive(30_000, &capture),
        0,
        "replay after the new session"
    );
    let stats = receiving.channel.stats();
    assert!(stats.frames_unauthenticated > 0, "{stats:?}");
    drop(receiving);

    let mut fresh = Receiving::open(&fresh_dir, &receiver_keys, &sender_keys);
    assert_eq!(
        fresh.receive(1, &capture),
        0,
        "replay into a receiver that never saw it"
    );
    drop(fresh);
    assert!(journal(&fresh_dir).is_empty());

    let id = sender_keys.public().sender_id();
    let expected: Vec<(u64, u64, Vec<u8>)> = first
        .iter()
        .chain(&second)
        .enumerate()
        .map(|(seq, m)| (id, seq as u64, m.clone()))
        .collect();
    let mut got = journal(&recv_dir);
    got.sort();
    assert_eq!(got, expected, "each legitimate message exactly once");
}
