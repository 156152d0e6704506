//! Fuzzes the secure channel's decoders and state machines (handshake init, response,
//! cookie reply, transport) with datagrams from a peer that holds no key. Each run first
//! completes a real handshake and delivers two real frames, recording every datagram;
//! the input then picks, per datagram, a recorded one to replay with bit flips or a
//! truncation, or raw bytes. Nothing the attacker sends may be delivered by either end
//! (forging needs the keys; every recorded frame was already delivered, so a replay must be
//! refused), nothing may panic, and the responder's memory stays within its bounds.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::secure::{
    InitiatorChannel, InitiatorConfig, ResponderChannel, ResponderConfig, StaticKeypair,
};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

const SENDER_PRIVATE: [u8; 32] = [7; 32];
const RECEIVER_PRIVATE: [u8; 32] = [9; 32];

struct Run {
    initiator: InitiatorChannel,
    responder: ResponderChannel,
    recorded: Vec<Vec<u8>>,
    from: SocketAddr,
}

fn inner_frame(seq: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    frame::encode(FrameKind::Data, 42, seq, b"legit", &mut bytes);
    bytes
}

/// A real handshake and two frames each way, every datagram recorded.
fn establish() -> Run {
    let sender = StaticKeypair::from_private(SENDER_PRIVATE).expect("fixed sender key");
    let receiver = StaticKeypair::from_private(RECEIVER_PRIVATE).expect("fixed receiver key");
    let mut initiator =
        InitiatorChannel::new(InitiatorConfig::new(sender.clone(), receiver.public()))
            .expect("initiator");
    let mut responder =
        ResponderChannel::new(ResponderConfig::new(receiver, vec![sender.public()]), 0)
            .expect("responder");
    let from: SocketAddr = "10.0.0.1:4000".parse().expect("address");
    let mut recorded = Vec::new();
    let mut delivered = 0;
    for seq in 0..2 {
        initiator.send_inner(1, &inner_frame(seq));
        for _ in 0..4 {
            while let Some(datagram) = initiator.poll_transmit() {
                recorded.push(datagram.clone());
                if let Some(inner) = responder.handle_datagram(1, from, &datagram) {
                    delivered += 1;
                    let ack = frame::decode(&inner, 1 << 16).expect("delivered frame decodes");
                    responder.send_inner(1, ack.sender_id, &inner_frame(100 + seq));
                }
            }
            while let Some((_, datagram)) = responder.poll_transmit() {
                recorded.push(datagram.clone());
                initiator.handle_datagram(1, &datagram);
            }
        }
    }
    assert_eq!(
        delivered, 2,
        "the legitimate frames are delivered once each"
    );
    Run {
        initiator,
        responder,
        recorded,
        from,
    }
}

/// The datagram one input part describes: its first byte picks a recorded datagram (or
/// none: raw bytes), the second a truncation, the rest is XORed into it.
fn hostile(run: &Run, part: &[u8]) -> Vec<u8> {
    let Some((&pick, rest)) = part.split_first() else {
        return Vec::new();
    };
    let Some(base) = run.recorded.get(usize::from(pick)) else {
        return rest.to_vec();
    };
    let mut datagram = base.clone();
    let Some((&cut, mask)) = rest.split_first() else {
        return datagram; // an exact replay
    };
    for (byte, flip) in datagram.iter_mut().zip(mask) {
        *byte ^= flip;
    }
    if cut >= 128 {
        datagram.truncate(usize::from(cut - 128) % (datagram.len() + 1));
    }
    datagram
}

fuzz_target!(|data: &[u8]| {
    let mut run = establish();
    let before = run.responder.stats();
    for (i, part) in common::split(data).into_iter().enumerate() {
        let datagram = hostile(&run, part);
        let now_ms = 2 + i as u64;
        let (delivered, usage) =
            common::measure(|| run.responder.handle_datagram(now_ms, run.from, &datagram));
        assert!(
            delivered.is_none(),
            "a hostile datagram was delivered: {datagram:?}"
        );
        // A cookie reply or a handshake response is at most a few hundred bytes; sessions
        // are bounded by the allow-list.
        common::assert_bounded("responder", usage, datagram.len(), 4, 16 << 10);
        assert!(run.responder.sessions_len() <= 3);
        while run.responder.poll_transmit().is_some() {}
        let opened = run.initiator.handle_datagram(now_ms, &datagram);
        assert!(
            opened.is_none(),
            "the initiator opened a hostile datagram: {datagram:?}"
        );
        while run.initiator.poll_transmit().is_some() {}
    }
    assert_eq!(run.responder.stats().frames_opened, before.frames_opened);
});
