//! The sender-table exhaustion attack: 1,500 forged sender ids, each with a hole (seq 5
//! first, so the receiver must remember seqs 0..5 and cannot forget the id), fill a
//! plaintext receiver's table and lock the legitimate sender out (it is refused with
//! `SendersFull` — the attack is real). Behind a secure channel the same forgeries — as
//! plaintext frames and as secure-looking transport frames — take no table slot at all and
//! the legitimate sender's messages are all delivered, once each. The oracle is the list of
//! messages the test sent against the deliveries it collected.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::secure_common;

use exactly_pipe::frame::{self, FrameKind, Refusal};
use exactly_pipe::secure::StaticKeypair;
use exactly_pipe::{PipeMode, Receiver, ReceiverConfig, Sender, SenderConfig};
use secure_common::SecureEnds;
use std::net::SocketAddr;

const FORGED: u64 = 1_500;
const SENDERS_MAX: usize = 64;
const FLOORS_MAX: usize = 64;

fn table_config() -> ReceiverConfig {
    let mut config = ReceiverConfig::for_mode(PipeMode::ResendIdDedup);
    config.senders_max = SENDERS_MAX;
    config.sender_floors_max = FLOORS_MAX;
    config
}

fn forged_plaintext(id: u64) -> Vec<u8> {
    let mut frame = Vec::new();
    frame::encode(FrameKind::Data, 10_000 + id, 5, b"forged", &mut frame);
    frame
}

fn forged_transport(id: u64) -> Vec<u8> {
    let mut frame = vec![0x50, 0x58, 2, 4];
    frame.extend_from_slice(&(id as u32).wrapping_mul(2_654_435_761).to_le_bytes());
    frame.extend_from_slice(&id.to_le_bytes());
    frame.extend(forged_plaintext(id));
    frame.extend_from_slice(&[0u8; 16]);
    frame
}

#[test]
fn plaintext_table_is_locked_by_forged_ids() {
    let mut receiver = Receiver::new(table_config());
    for id in 0..FORGED {
        receiver.handle_frame(0, &forged_plaintext(id));
        while receiver.poll_transmit().is_some() {} // answers to the forger
    }
    let mut sender = Sender::new(SenderConfig::for_mode(PipeMode::ResendIdDedup, 7));
    sender.send(1, b"legitimate").unwrap();
    let frame = sender.poll_transmit().unwrap();
    receiver.handle_frame(1, &frame);
    let mut refused = false;
    while let Some((id, ack)) = receiver.poll_transmit() {
        if id == 7 {
            sender.handle_frame(1, &ack);
            refused |= matches!(sender.refusal(), Some(Refusal::SendersFull { .. }));
        }
    }
    assert!(refused, "the attack must lock a plaintext receiver's table");
    assert_eq!(receiver.senders_len(), SENDERS_MAX);
}

#[test]
fn secure_table_takes_no_forged_id_and_the_legitimate_sender_gets_through() {
    let (sender_keys, receiver_keys) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    let mut ends = SecureEnds::new(&sender_keys, &receiver_keys, table_config());
    let attacker: SocketAddr = "10.9.9.9:6666".parse().unwrap();
    for chunk in (0..FORGED).collect::<Vec<_>>().chunks(100) {
        let burst: Vec<_> = chunk
            .iter()
            .flat_map(|&id| {
                [
                    (attacker, forged_plaintext(id)),
                    (attacker, forged_transport(id)),
                ]
            })
            .collect();
        ends.step(&burst);
    }
    let messages: Vec<Vec<u8>> = (0..500u32).map(|i| i.to_le_bytes().to_vec()).collect();
    ends.send_all(&messages, 60_000);
    for chunk in (0..FORGED).collect::<Vec<_>>().chunks(100) {
        let burst: Vec<_> = chunk
            .iter()
            .map(|&id| (attacker, forged_plaintext(id)))
            .collect();
        ends.step(&burst);
    }
    assert_eq!(
        ends.receiver.senders_len(),
        1,
        "only the authenticated sender"
    );
    assert_eq!(ends.receiver.sender_floors_len(), 0);
    let mut got: Vec<Vec<u8>> = ends.delivered.iter().map(|d| d.payload.clone()).collect();
    assert!(ends
        .delivered
        .iter()
        .all(|d| d.sender_id == sender_keys.public().sender_id()));
    got.sort();
    let mut expected = messages.clone();
    expected.sort();
    assert_eq!(
        got, expected,
        "every legitimate message once, nothing forged"
    );
    let stats = ends.responder.stats();
    assert!(stats.frames_unauthenticated >= 3 * FORGED, "{stats:?}");
    assert!(ends.responder.sessions_len() <= 3);
}
