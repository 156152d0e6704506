//! A reliable pipe over UDP on loopback, with 20% of the frames dropped and 20% sent twice
//! on both sides (injected, seeded). The pipe resends until confirmed and de-duplicates by
//! id, journaling each message before handing it over: every message reaches the handler
//! exactly once. The sender then "crashes" and a new one on the same state directory, given
//! the same input, resumes past what was confirmed and sends nothing again.
//!
//! Run: `cargo run -p exactly-pipe --example udp_pipe` (exits non-zero if a message is
//! missing, doubled or changed).

use exactly_pipe::udp::{
    run_receiver, FaultConfig, UdpReceiverOptions, UdpSender, UdpSenderOptions,
};
use exactly_pipe::PipeMode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// (sender id, seq) → every payload handed over with that sequence.
type Handed = Arc<Mutex<BTreeMap<(u64, u64), Vec<Vec<u8>>>>>;

const MESSAGES: usize = 200;
const SEED: u64 = 2026;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("fault seed {SEED}");
    let dir = tempfile::tempdir()?;
    let (recv_state, send_state) = (dir.path().join("recv"), dir.path().join("send"));
    let address = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .to_string();
    let pipe = PipeMode::ResendIdDedup;
    let faults = |seed| FaultConfig {
        loss: 0.2,
        dup: 0.2,
        seed: Some(seed),
    };

    // The receiving end: a handler that records what it was handed, per (sender, seq).
    let mut recv_options = UdpReceiverOptions::insecure(&address, &recv_state, pipe);
    recv_options.idle_exit_ms = 1_500; // ends once the sender has been quiet this long
    recv_options.faults = faults(SEED ^ 1);
    let handed: Handed = Arc::default();
    let receiver = {
        let handed = Arc::clone(&handed);
        std::thread::spawn(move || {
            run_receiver(&recv_options, &mut |delivered| {
                let mut handed = handed
                    .lock()
                    .map_err(|_| std::io::Error::other("poisoned"))?;
                for d in delivered {
                    handed
                        .entry((d.sender_id, d.seq))
                        .or_default()
                        .push(d.payload.clone());
                }
                Ok(())
            })
        })
    };

    let messages: Vec<String> = (0..MESSAGES)
        .map(|n| format!("{{\"order\":{n}}}"))
        .collect();
    let mut send_options = UdpSenderOptions::insecure(&address, &send_state, pipe);
    send_options.faults = faults(SEED);
    // The first sender gets through half of the input and stops (as if killed there).
    let first = UdpSender::open(&send_options)?;
    first.check_resume_input(&messages)?;
    let summary = first.run(messages.get(..MESSAGES / 2).ok_or("input too short")?)?;
    println!(
        "first sender: {} sent, {} frames dropped by faults",
        summary.sent, summary.injected_drops
    );
    // The restarted sender is given the whole input: it resumes after what was confirmed.
    let second = UdpSender::open(&send_options)?;
    second.check_resume_input(&messages)?;
    let summary = second.run(&messages)?;
    println!(
        "restarted sender resumed at {} and confirmed {}",
        summary.resumed_at, summary.confirmed
    );

    let result = receiver.join().map_err(|_| "receiver thread panicked")?;
    result?;
    let handed = handed.lock().map_err(|_| "poisoned")?;
    if handed.len() != MESSAGES {
        return Err(format!(
            "{} distinct messages handed over, expected {MESSAGES}",
            handed.len()
        )
        .into());
    }
    for ((_, seq), payloads) in handed.iter() {
        let want = messages.get(*seq as usize).ok_or("seq out of range")?;
        if payloads.len() != 1 || payloads.first().map(Vec::as_slice) != Some(want.as_bytes()) {
            return Err(format!("seq {seq} handed over as {payloads:?}, want {want} once").into());
        }
    }
    println!("ok: {MESSAGES} messages, each handed over exactly once");
    Ok(())
}
