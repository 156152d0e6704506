//! One sender key, two sender state directories (the first wiped and replaced by an empty
//! one between runs), one receiver whose state is kept: the second incarnation starts again
//! at seq 0, and every message of both runs must still be delivered exactly once. Before
//! sender incarnations, the receiver took the second run's messages for duplicates of the
//! first run's (same key, same seqs) and acknowledged them without delivering them.

#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_pipe::secure::StaticKeypair;
use exactly_pipe::udp::{
    run_receiver, ReceiverSecurity, SenderSecurity, UdpReceiverOptions, UdpSender, UdpSenderOptions,
};
use exactly_pipe::PipeMode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

#[test]
fn same_key_new_state_dir_delivers_both_runs_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (recv_state, send_state) = (dir.path().join("recv"), dir.path().join("send"));
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
    // payload → times handed over (the oracle compares it with what the test sent).
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

    let mut sent = Vec::new();
    for run in ["first", "second"] {
        let messages: Vec<String> = (0..100).map(|i| format!("{run}-{i}")).collect();
        let security = SenderSecurity::Noise {
            local: sender_keys.clone(),
            receiver: receiver_keys.public(),
        };
        let options = UdpSenderOptions::new(&address, &send_state, pipe, security);
        let sender = UdpSender::open(&options).expect("open sender");
        assert_eq!(sender.next_seq(), 0, "{run} run starts a new incarnation");
        let summary = sender.run(&messages).expect("send");
        assert_eq!(summary.confirmed, 100, "{run} run confirmed everything");
        sent.extend(messages.into_iter().map(String::into_bytes));
        // The user replaces the sender's state directory, keeping the key.
        std::fs::remove_dir_all(&send_state).expect("wipe sender state");
    }

    receiver.join().expect("receiver thread").expect("receiver");
    let handed = handed.lock().expect("lock");
    let missing: Vec<_> = sent
        .iter()
        .filter(|p| !handed.contains_key(*p))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert!(
        missing.is_empty(),
        "{} sent messages never delivered, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert_eq!(
        handed.len(),
        sent.len(),
        "nothing but what was sent is delivered"
    );
    assert!(
        handed.values().all(|&times| times == 1),
        "each delivered exactly once"
    );
}
