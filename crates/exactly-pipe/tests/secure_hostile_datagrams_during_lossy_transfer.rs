//! A real secure pipe transfer over UDP, both ends losing 20% of what they send (the pipes'
//! own fault injection), while a peer without the key sends at least 100,000 hostile
//! datagrams to the receiver: forged frames (plaintext data frames under made-up ids and
//! the sender's key-derived id, random secure frames of every kind and size, real
//! handshake inits from a key that is not allowed), and replayed, truncated and bit-flipped
//! copies of the real frames and handshakes, recorded by a relay on the legitimate path.
//!
//! Outcome: nothing hostile is delivered or journaled, the receiver's sender table (rebuilt
//! from its journal) holds one sender, and the legitimate transfer is complete and exactly
//! once (R = UR = 1). The oracle is the input itself: every payload carries its index, and
//! the deliveries handed to the application and the journal read back after the receiver
//! stopped are both compared with it. The seed is printed; `EXACTLY_SEED=N` replays one.

#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // Tests fail by panicking.

use exactly_core::StdStorage;
use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::secure::{InitiatorChannel, InitiatorConfig, StaticKeypair};
use exactly_pipe::udp::{
    run_receiver, FaultConfig, ReceiverSecurity, SenderSecurity, UdpReceiverOptions, UdpSender,
    UdpSenderOptions,
};
use exactly_pipe::{Delivery, DurableReceiver, PipeMode, ReceiverConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MESSAGES: usize = 2_000;
/// Messages per second: the transfer lasts about as long as the attack.
const SEND_RATE_PER_S: u64 = 800;
const HOSTILE_MIN: u64 = 100_000;
/// Hostile datagrams per burst; a burst every millisecond or so.
const BURST: u64 = 64;
const LOSS: f64 = 0.2;
const PIPE: PipeMode = PipeMode::ResendIdDedup;

type Recorded = Arc<Mutex<Vec<Vec<u8>>>>;

fn payload(i: usize) -> Vec<u8> {
    format!("{{\"legit\":{i}}}").into_bytes()
}

fn free_address() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
}

/// Forwards the sender's datagrams to the receiver and the receiver's back, recording
/// both directions for the attacker. Stops when `done` is set.
fn relay(socket: UdpSocket, receiver: SocketAddr, recorded: Recorded, done: Arc<AtomicBool>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("relay timeout");
    let mut sender: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65_536];
    while !done.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let datagram = &buf[..n];
        let to = if from == receiver {
            sender
        } else {
            sender = Some(from);
            Some(receiver)
        };
        if let Some(to) = to {
            // A full socket buffer is loss, which the pipe recovers from.
            let _ = socket.send_to(datagram, to);
        }
        recorded.lock().expect("recording").push(datagram.to_vec());
    }
}

/// One hostile datagram.
fn hostile(rng: &mut SmallRng, recorded: &[Vec<u8>], forged_ids: &[u64]) -> Vec<u8> {
    let choice = rng.random_range(0..6);
    if recorded.is_empty() || choice < 2 {
        return forged(rng, forged_ids);
    }
    let mut datagram = recorded[rng.random_range(0..recorded.len())].clone();
    match choice {
        2 => {} // replayed as is
        3 => datagram.truncate(rng.random_range(0..datagram.len().max(1))),
        _ => {
            for _ in 0..rng.random_range(1..4) {
                let bit = rng.random_range(0..datagram.len() * 8);
                datagram[bit / 8] ^= 1 << (bit % 8);
            }
        }
    }
    datagram
}

/// A datagram made up from nothing: a plaintext data frame under a forged id, or a secure
/// frame of a random kind and size with random contents.
fn forged(rng: &mut SmallRng, forged_ids: &[u64]) -> Vec<u8> {
    if rng.random_bool(0.5) {
        let mut frame = Vec::new();
        let id = forged_ids[rng.random_range(0..forged_ids.len())];
        frame::encode(
            FrameKind::Data,
            id,
            rng.random_range(0..4_000),
            b"{\"forged\":1}",
            &mut frame,
        );
        return frame;
    }
    let (kind, len) = match rng.random_range(0..4) {
        0 => (1u8, 144),
        1 => (2, 60),
        2 => (3, 40),
        _ => (4, 32 + rng.random_range(0..200)),
    };
    let mut datagram = vec![0x50, 0x58, 2, kind];
    datagram.extend((4..len).map(|_| rng.random::<u8>()));
    datagram
}

/// Real handshake inits from a key the receiver does not allow (valid mac1: the
/// receiver's public key is public).
fn unallowed_inits(receiver_key: &StaticKeypair, count: usize) -> Vec<Vec<u8>> {
    let stranger = StaticKeypair::generate().expect("keys");
    let mut inits = Vec::new();
    for i in 0..count {
        let mut channel = InitiatorChannel::new(InitiatorConfig::new(
            stranger.clone(),
            receiver_key.public(),
        ))
        .expect("initiator");
        channel.send_inner(i as u64, b"x");
        inits.extend(std::iter::from_fn(|| channel.poll_transmit()));
    }
    inits
}

/// Sends hostile datagrams in bursts until at least `HOSTILE_MIN` are out and the
/// transfer is done; returns how many were sent.
fn attack(
    to: SocketAddr,
    seed: u64,
    recorded: Recorded,
    inits: Vec<Vec<u8>>,
    forged_ids: Vec<u64>,
    done: Arc<AtomicBool>,
) -> u64 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("attacker socket");
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut sent = 0u64;
    while sent < HOSTILE_MIN || !done.load(Ordering::Relaxed) {
        let snapshot: Vec<Vec<u8>> = {
            let recorded = recorded.lock().expect("recording");
            // A sample of what was recorded so far (the whole list grows with the run).
            (0..16.min(recorded.len()))
                .map(|_| recorded[rng.random_range(0..recorded.len())].clone())
                .collect()
        };
        for _ in 0..BURST {
            let datagram = if rng.random_range(0..20) == 0 {
                inits[rng.random_range(0..inits.len())].clone()
            } else {
                hostile(&mut rng, &snapshot, &forged_ids)
            };
            if socket.send_to(&datagram, to).is_ok() {
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    sent
}

#[test]
fn hostile_datagrams_deliver_nothing_and_the_lossy_transfer_is_exactly_once() {
    let seed = std::env::var("EXACTLY_SEED")
        .ok()
        .map(|s| s.parse().expect("EXACTLY_SEED is a number"))
        .unwrap_or_else(rand::random::<u64>);
    println!("seed {seed} (EXACTLY_SEED={seed} replays the attacker and the injected loss)");
    let dir = tempfile::tempdir().expect("tempdir");
    let (recv_state, send_state) = (dir.path().join("recv"), dir.path().join("send"));
    let (sender_keys, receiver_keys) = (
        StaticKeypair::generate().expect("keys"),
        StaticKeypair::generate().expect("keys"),
    );
    let receiver_address = free_address();
    let lossy = |salt: u64| FaultConfig {
        loss: LOSS,
        dup: 0.0,
        seed: Some(seed ^ salt),
    };

    let mut recv_options = UdpReceiverOptions::new(
        &receiver_address.to_string(),
        &recv_state,
        PIPE,
        ReceiverSecurity::Noise {
            local: receiver_keys.clone(),
            allowed: vec![sender_keys.public()],
        },
    );
    recv_options.idle_exit_ms = 1_500;
    recv_options.faults = lossy(1);
    let handed_over: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let receiver = {
        let handed_over = Arc::clone(&handed_over);
        std::thread::spawn(move || {
            run_receiver(&recv_options, &mut |batch| {
                handed_over
                    .lock()
                    .expect("deliveries")
                    .extend_from_slice(batch);
                Ok(())
            })
        })
    };
    std::thread::sleep(Duration::from_millis(100));

    let recorded: Recorded = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let relay_socket = UdpSocket::bind("127.0.0.1:0").expect("relay socket");
    let relay_address = relay_socket.local_addr().expect("relay address");
    let relay = {
        let (recorded, done) = (Arc::clone(&recorded), Arc::clone(&done));
        std::thread::spawn(move || relay(relay_socket, receiver_address, recorded, done))
    };
    // Made-up ids, and the id a secure sender declared before state directories had their
    // own (public: a hash of the public key).
    let forged_ids: Vec<u64> = (1_000..1_050)
        .chain([sender_keys.public().sender_id()])
        .collect();
    let attacker = {
        let inits = unallowed_inits(&receiver_keys, 8);
        let (recorded, done) = (Arc::clone(&recorded), Arc::clone(&done));
        std::thread::spawn(move || {
            attack(receiver_address, seed, recorded, inits, forged_ids, done)
        })
    };

    let mut send_options = UdpSenderOptions::new(
        &relay_address.to_string(),
        &send_state,
        PIPE,
        SenderSecurity::Noise {
            local: sender_keys.clone(),
            receiver: receiver_keys.public(),
        },
    );
    send_options.rate = SEND_RATE_PER_S;
    send_options.faults = lossy(2);
    let messages: Vec<Vec<u8>> = (0..MESSAGES).map(payload).collect();
    let summary = UdpSender::open(&send_options)
        .expect("open sender")
        .run(&messages)
        .expect("the legitimate transfer finishes");
    done.store(true, Ordering::Relaxed);
    let hostile_sent = attacker.join().expect("attacker thread");
    relay.join().expect("relay thread");
    receiver
        .join()
        .expect("receiver thread")
        .expect("receiver ran");
    println!(
        "hostile datagrams {hostile_sent}, recorded {}, {summary:?}",
        recorded.lock().expect("recording").len()
    );
    assert!(
        hostile_sent >= HOSTILE_MIN,
        "only {hostile_sent} hostile datagrams"
    );
    assert!(summary.injected_drops > 0, "the sender's loss was injected");
    assert_eq!(summary.confirmed, MESSAGES as u64);

    let journal =
        DurableReceiver::read_delivered(Arc::new(StdStorage), &recv_state).expect("the journal");
    let handed_over = handed_over.lock().expect("deliveries").clone();
    for (what, deliveries) in [("journal", &journal), ("application", &handed_over)] {
        // Index → copies delivered, parsed from the payloads themselves.
        let mut copies: BTreeMap<usize, usize> = BTreeMap::new();
        for d in deliveries.iter() {
            let text = std::str::from_utf8(&d.payload).expect("utf-8 payload");
            let index: usize = text
                .strip_prefix("{\"legit\":")
                .and_then(|t| t.strip_suffix('}'))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{what}: a hostile payload got through: {text}"));
            assert_eq!(d.payload, payload(index), "{what}: payload {index} altered");
            *copies.entry(index).or_default() += 1;
        }
        let unique = copies.len();
        let reliability = unique as f64 / MESSAGES as f64;
        let uniqueness = unique as f64 / deliveries.len() as f64;
        println!(
            "{what}: {} deliveries, R = {reliability}, UR = {uniqueness}",
            deliveries.len()
        );
        assert!(
            copies.keys().all(|&i| i < MESSAGES),
            "{what}: unknown index"
        );
        assert_eq!(unique, MESSAGES, "{what}: R = {reliability}, must be 1");
        assert_eq!(
            deliveries.len(),
            MESSAGES,
            "{what}: UR = {uniqueness}, must be 1"
        );
    }
    let ids: std::collections::BTreeSet<u64> = journal.iter().map(|d| d.sender_id).collect();
    assert_eq!(ids.len(), 1, "one sender journaled: {ids:?}");
    let reopened = DurableReceiver::open(
        Arc::new(StdStorage),
        &recv_state,
        ReceiverConfig::for_mode(PIPE),
    )
    .expect("reopen the receiver state");
    assert_eq!(
        reopened.receiver().senders_len(),
        1,
        "the sender table rebuilt from the journal holds the legitimate sender only"
    );
}
