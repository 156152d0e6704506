//! The forged-frame attack over real UDP: an attacker who can reach a receiver sends
//! CRC-valid plaintext data frames under made-up sender ids — and under the legitimate
//! sender's own id, which is public — plus random secure-looking frames. A plaintext
//! (`insecure`) receiver journals and delivers the forgeries (the attack is real); a secure
//! receiver (keys, allow-list) journals exactly the legitimate sender's messages, each once,
//! under one id (that of its authenticated key and state directory), never under an id the
//! forger used. The oracle is the receiver's journal read back
//! after it stopped, compared with the messages the test sent.

#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_core::StdStorage;
use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::secure::StaticKeypair;
use exactly_pipe::udp::{
    run_receiver, ReceiverSecurity, SenderSecurity, UdpReceiverOptions, UdpSender, UdpSenderOptions,
};
use exactly_pipe::{Delivery, DurableReceiver, PipeMode};
use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;

const LEGIT: usize = 20;
const FORGED_IDS: u64 = 50;

fn forge(to: &str, legit_sender_id: u64) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut frame = Vec::new();
    for id in 0..FORGED_IDS {
        for seq in 0..3 {
            frame.clear();
            let body = format!("{{\"forged\":{id}}}");
            frame::encode(
                FrameKind::Data,
                1_000 + id,
                seq,
                body.as_bytes(),
                &mut frame,
            );
            socket.send_to(&frame, to).expect("send forged");
        }
    }
    for seq in 0..LEGIT as u64 {
        frame.clear();
        frame::encode(
            FrameKind::Data,
            legit_sender_id,
            seq,
            b"{\"forged\":-1}",
            &mut frame,
        );
        socket.send_to(&frame, to).expect("send forged");
    }
    for i in 0..200u32 {
        // Version 2, kind 4 (transport), random index and counter, junk ciphertext.
        let mut junk = vec![0x50, 0x58, 2, 4];
        junk.extend_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
        junk.extend_from_slice(&[7u8; 60]);
        socket.send_to(&junk, to).expect("send junk");
    }
}

/// Runs a receiver, the forger, then the legitimate sender; returns the journal.
fn attack(dir: &Path, secure: bool) -> Vec<Delivery> {
    let (sender_keys, receiver_keys) = (
        StaticKeypair::generate().expect("keys"),
        StaticKeypair::generate().expect("keys"),
    );
    let address = format!(
        "127.0.0.1:{}",
        UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("port")
            .port()
    );
    let (recv_state, send_state) = (dir.join("recv"), dir.join("send"));
    let pipe = PipeMode::ResendIdDedup;
    let (recv_security, send_security) = if secure {
        (
            ReceiverSecurity::Noise {
                local: receiver_keys.clone(),
                allowed: vec![sender_keys.public()],
            },
            SenderSecurity::Noise {
                local: sender_keys.clone(),
                receiver: receiver_keys.public(),
            },
        )
    } else {
        (ReceiverSecurity::Insecure, SenderSecurity::Insecure)
    };
    let mut recv_options = UdpReceiverOptions::new(&address, &recv_state, pipe, recv_security);
    recv_options.idle_exit_ms = 800;
    let receiver = std::thread::spawn(move || run_receiver(&recv_options, &mut |_| Ok(())));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let sender = UdpSender::open(&UdpSenderOptions::new(
        &address,
        &send_state,
        pipe,
        send_security,
    ))
    .expect("open sender");
    let legit_id = if secure {
        // The id a secure sender took from its key before state directories had their own.
        sender_keys.public().sender_id()
    } else {
        // A plaintext sender's id is random and unknown here: the made-up ids suffice.
        0
    };
    forge(&address, legit_id);
    let messages: Vec<String> = (0..LEGIT).map(|i| format!("{{\"n\":{i}}}")).collect();
    let summary = sender.run(&messages).expect("legitimate sender finishes");
    assert_eq!(summary.confirmed, LEGIT as u64);
    receiver
        .join()
        .expect("receiver thread")
        .expect("receiver ran");
    DurableReceiver::read_delivered(Arc::new(StdStorage), &recv_state).expect("read the journal")
}

#[test]
fn forged_frames_reach_a_plaintext_receiver_and_never_a_secure_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = attack(&dir.path().join("plain"), false);
    let forged_plain = plain
        .iter()
        .filter(|d| d.payload.starts_with(b"{\"forged\""))
        .count();
    assert!(
        forged_plain >= FORGED_IDS as usize,
        "the attack must work on plaintext ({forged_plain} forgeries delivered)"
    );

    let journal = attack(&dir.path().join("secure"), true);
    let ids: std::collections::BTreeSet<u64> = journal.iter().map(|d| d.sender_id).collect();
    assert_eq!(
        ids.len(),
        1,
        "one sender (key and state directory): {ids:?}"
    );
    assert!(
        ids.iter()
            .all(|id| !(1_000..1_000 + FORGED_IDS).contains(id)),
        "never under a forged id"
    );
    let mut expected: Vec<(u64, Vec<u8>)> = (0..LEGIT)
        .map(|i| (i as u64, format!("{{\"n\":{i}}}").into_bytes()))
        .collect();
    let mut got: Vec<(u64, Vec<u8>)> = journal.into_iter().map(|d| (d.seq, d.payload)).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "exactly the legitimate messages, once each");
}
