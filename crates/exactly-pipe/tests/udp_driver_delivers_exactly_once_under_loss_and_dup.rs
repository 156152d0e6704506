//! The UDP driver over loopback with injected loss and duplication: every message is
//! delivered exactly once (journaled before it is handed over), and a second sender run
//! on the same state resumes past what was confirmed, delivering nothing twice.

#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_pipe::udp::{
    run_receiver, FaultConfig, UdpReceiverOptions, UdpSender, UdpSenderOptions,
};
use exactly_pipe::{DurableReceiver, PipeMode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// (sender id, seq) → (payload, times handed over).
type Handed = Arc<Mutex<BTreeMap<(u64, u64), (Vec<u8>, u32)>>>;

fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

#[test]
fn loopback_with_loss_and_dup_delivers_each_message_once() {
    let seed = rand::random::<u64>();
    println!("seed {seed}");
    let dir = tempfile::tempdir().expect("tempdir");
    let (recv_state, send_state) = (dir.path().join("recv"), dir.path().join("send"));
    let address = format!("127.0.0.1:{}", free_port());
    let pipe = PipeMode::ResendIdDedup;
    let mut recv_options = UdpReceiverOptions::insecure(&address, &recv_state, pipe);
    recv_options.idle_exit_ms = 1500;
    recv_options.faults = FaultConfig {
        loss: 0.2,
        dup: 0.2,
        seed: Some(seed ^ 1),
    };
    let handed: Handed = Arc::default();
    let handed_by_receiver = Arc::clone(&handed);
    let receiver = std::thread::spawn(move || {
        run_receiver(&recv_options, &mut |delivered| {
            let mut handed = handed_by_receiver.lock().expect("lock");
            for d in delivered {
                let entry = handed
                    .entry((d.sender_id, d.seq))
                    .or_insert((d.payload.clone(), 0));
                entry.1 += 1;
            }
            Ok(())
        })
    });

    let messages: Vec<String> = (0..300).map(|i| format!("{{\"n\":{i}}}")).collect();
    let mut send_options = UdpSenderOptions::insecure(&address, &send_state, pipe);
    send_options.faults = FaultConfig {
        loss: 0.2,
        dup: 0.2,
        seed: Some(seed),
    };
    let sender = UdpSender::open(&send_options).expect("open sender");
    sender.check_resume_input(&messages).expect("fresh state");
    let summary = sender.run(&messages).expect("send");
    assert_eq!(
        (summary.sent, summary.resumed_at, summary.confirmed),
        (300, 0, 300)
    );
    assert!(summary.injected_drops > 0, "faults were injected");

    // The same input again: everything is confirmed, nothing is sent again.
    let again = UdpSender::open(&send_options).expect("reopen sender");
    assert_eq!(again.next_seq(), 300);
    again.check_resume_input(&messages).expect("same input");
    let summary = again.run(&messages).expect("resend");
    assert_eq!((summary.resumed_at, summary.frames_sent), (300, 0));

    receiver.join().expect("receiver thread").expect("receiver");
    let handed = handed.lock().expect("lock");
    assert_eq!(handed.len(), 300);
    for ((_, seq), (payload, times)) in handed.iter() {
        assert_eq!(*times, 1, "seq {seq} handed over once");
        let want = messages.get(*seq as usize).expect("seq in range");
        assert_eq!(payload, want.as_bytes());
    }
    // The journal (the output of record) agrees with what was handed over.
    let journal = DurableReceiver::read_delivered(Arc::new(exactly_core::StdStorage), &recv_state)
        .expect("read journal");
    assert_eq!(journal.len(), 300);
}
