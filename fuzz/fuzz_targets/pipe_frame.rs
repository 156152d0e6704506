//! Fuzzes the pipe frame decoder and the state machines behind it with arbitrary bytes.
//! Decoding must never panic and never allocate for the payload; whatever decodes must
//! re-encode to the same bytes; the receiver and sender must survive any frame and keep
//! their memory bounds (sender table and forgotten-sender floors included). The first byte
//! of the input picks whether checksums are fixed up first (see `fix_crc`).
#![no_main]

use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::{PipeMode, Receiver, ReceiverConfig, Sender, SenderConfig};
use libfuzzer_sys::fuzz_target;

#[path = "common/mod.rs"]
mod common;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

const PAYLOAD_BYTES_MAX: usize = 4096;

/// Writes the CRC32C a frame's header and payload call for (bytes 24..28, over bytes 0..24
/// and the payload), so the fuzzer reaches the ack parsing and the state machines.
fn fix_crc(frame: &mut [u8]) {
    if frame.len() < 28 {
        return;
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&frame[..24]), &frame[28..]);
    frame[24..28].copy_from_slice(&crc.to_le_bytes());
}

fuzz_target!(|input: &[u8]| {
    let Some((&path, rest)) = input.split_first() else {
        return;
    };
    // First byte odd: every 64-byte chunk (the frames fed to the state machines below, the
    // first of them also decoded on its own when it is the whole input) gets a valid CRC.
    let mut bytes = rest.to_vec();
    if path & 1 == 1 {
        bytes.chunks_mut(64).for_each(fix_crc);
    }
    let data = bytes.as_slice();
    let (decoded, usage) = common::measure(|| frame::decode(data, PAYLOAD_BYTES_MAX).is_ok());
    assert_eq!(
        usage.allocations, 0,
        "frame decoding must not allocate: {usage:?}"
    );
    if !decoded {
        assert!(frame::decode(data, PAYLOAD_BYTES_MAX).is_err());
    }
    if let Ok(f) = frame::decode(data, PAYLOAD_BYTES_MAX) {
        let mut again = Vec::new();
        frame::encode(f.kind, f.sender_id, f.seq, f.payload, &mut again);
        assert_eq!(
            again, data,
            "a decoded frame must re-encode to the same bytes"
        );
        if f.kind == FrameKind::AckRange {
            let range = f.ack_range().expect("validated range ack");
            let _ = (range.gaps().count(), range.pending().count());
        }
        if f.kind == FrameKind::Refused {
            f.refusal().expect("validated refused frame");
        }
    }
    // The same bytes, split into frames, through every receiver and a sender.
    for mode in PipeMode::ALL {
        let mut config = ReceiverConfig::for_mode(mode);
        config.gap_ids_max = 64;
        config.reorder_buffer_max = 64;
        config.senders_max = 4;
        config.sender_floors_max = 4;
        let mut receiver = Receiver::new(config);
        let mut sender = Sender::new(SenderConfig::for_mode(mode, 1));
        let _ = sender.send(0, b"m");
        for (i, chunk) in data.chunks(64).enumerate() {
            receiver.handle_frame(i as u64, chunk);
            sender.handle_frame(i as u64, chunk);
            while receiver.poll_delivery().is_some() {}
            while receiver.poll_transmit().is_some() {}
            assert!(receiver.gap_ids_len(1) <= 64 && receiver.reorder_buffered_len(1) <= 64);
            assert!(receiver.senders_len() <= 4 && receiver.sender_floors_len() <= 4);
        }
        sender.handle_timeout(u64::MAX / 2);
        while sender.poll_transmit().is_some() {}
        let _ = sender.refusal();
    }
});
