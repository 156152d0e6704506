//! Fuzzes the pipe frame decoder and the state machines behind it with arbitrary bytes.
//! Decoding must never panic and never allocate for the payload; whatever decodes must
//! re-encode to the same bytes; the receiver and sender must survive any frame and keep
//! their memory bounds (sender table and forgotten-sender floors included).
#![no_main]

use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::{PipeMode, Receiver, ReceiverConfig, Sender, SenderConfig};
use libfuzzer_sys::fuzz_target;

const PAYLOAD_BYTES_MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = frame::decode(data, PAYLOAD_BYTES_MAX) {
        let mut again = Vec::new();
        frame::encode(f.kind, f.sender_id, f.seq, f.payload, &mut again);
        assert_eq!(again, data, "a decoded frame must re-encode to the same bytes");
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
