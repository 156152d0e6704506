//! A receiver taking at most one incarnation (sender state directory) per key: a second
//! state directory under the same key, while the first is recently active, is refused with
//! a typed error at the sender (never a silent success), none of its messages is
//! delivered, and the first state directory keeps working.

#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_pipe::frame::Refusal;
use exactly_pipe::secure::StaticKeypair;
use exactly_pipe::udp::{
    run_receiver, ReceiverSecurity, SenderSecurity, UdpError, UdpReceiverOptions, UdpSender,
    UdpSenderOptions,
};
use exactly_pipe::{DurableError, PipeMode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

#[test]
fn a_second_incarnation_beyond_the_limit_is_refused_and_nothing_of_it_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recv_state = dir.path().join("recv");
    let address = format!("127.0.0.1:{}", free_port());
    let pipe = PipeMode::ResendIdDedup;
    let sender_keys = StaticKeypair::generate().expect("sender key");
    let receiver_keys = StaticKeypair::generate().expect("receiver key");
    let security = ReceiverSecurity::Noise {
        local: receiver_keys.clone(),
        allowed: vec![sender_keys.public()],
    };
    let mut recv_options = UdpReceiverOptions::new(&address, &recv_state, pipe, security);
    recv_options.idle_exit_ms = 1500;
    recv_options.incarnations_per_key_max = 1;
    let handed: Arc<Mutex<BTreeMap<Vec<u8>, u32>>> = Arc::default();
    let handed_by_receiver = Arc::clone(&handed);
    let receiver = std::thread::spawn(move || {
        run_receiver(&recv_options, &mut |delivered| {
            let mut handed = handed_by_receiver.lock().expect("lock");
            for d in delivered {
                *handed.entry(d.payload.clone()).or_insert(0) += 1;
            }
            Ok(())
        })
    });
    let options = |state: &str| {
        let security = SenderSecurity::Noise {
            local: sender_keys.clone(),
            receiver: receiver_keys.public(),
        };
        UdpSenderOptions::new(&address, &dir.path().join(state), pipe, security)
    };

    let first: Vec<String> = (0..50).map(|i| format!("first-{i}")).collect();
    let sender = UdpSender::open(&options("send-a")).expect("open first");
    assert_eq!(sender.run(&first).expect("first run").confirmed, 50);

    let second: Vec<String> = (0..50).map(|i| format!("second-{i}")).collect();
    let sender = UdpSender::open(&options("send-b")).expect("open second");
    match sender.run(&second) {
        Err(UdpError::Durable(DurableError::Refused {
            refusal: Refusal::IncarnationsFull { max: 1 },
            unconfirmed,
            ..
        })) => assert!(
            unconfirmed > 0,
            "the refused messages are reported unconfirmed"
        ),
        other => panic!("a second incarnation must be refused, got {other:?}"),
    }

    // The first state directory is still taken from: it resumes with more input.
    let mut more = first.clone();
    more.extend((50..80).map(|i| format!("first-{i}")));
    let sender = UdpSender::open(&options("send-a")).expect("reopen first");
    assert_eq!(sender.next_seq(), 50);
    assert_eq!(sender.run(&more).expect("resumed run").confirmed, 30);

    receiver.join().expect("receiver thread").expect("receiver");
    let handed = handed.lock().expect("lock");
    let expected: BTreeMap<Vec<u8>, u32> =
        more.iter().map(|m| (m.clone().into_bytes(), 1)).collect();
    assert_eq!(
        *handed, expected,
        "exactly the first incarnation's messages, once each"
    );
}
