//! Fuzzes every Kafka request the server parses: the header, the version check and the
//! body decoder of each API, exactly as `dispatch` runs them on a client's frame. Decoding
//! must never panic, never allocate more than a small multiple of the frame (a length
//! field claiming millions of elements must not reserve them), and whatever decodes must
//! encode to bytes that decode to the same request.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use bytes::BytesMut;
use exactly_kafka::frame::frame_len;
use exactly_kafka::fuzz_entry::{decode_request, Request};
use kafka_protocol::protocol::Encodable;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

/// Decoded structures cost more than their bytes (a 1-byte empty string becomes a 24-byte
/// `String`, an element a struct of ~100 bytes), but only by a constant factor.
const AMPLIFICATION: usize = 256;
const SLACK_BYTES: usize = 64 << 10;

fn encode(request: &Request, version: i16, out: &mut BytesMut) -> Result<(), String> {
    macro_rules! each {
        ($($key:ident),*) => {
            match request {
                $(Request::$key(r) => r.encode(out, version).map_err(|e| e.to_string()),)*
            }
        };
    }
    each!(
        Metadata,
        CreateTopics,
        Produce,
        Fetch,
        ListOffsets,
        InitProducerId,
        FindCoordinator,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        TxnOffsetCommit,
        EndTxn,
        JoinGroup,
        SyncGroup,
        Heartbeat,
        LeaveGroup,
        OffsetCommit,
        OffsetFetch
    )
}

/// The request size limit the server is started with in this target.
const REQUEST_BYTES_MAX: u32 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // The size prefix a connection reads first: never more than the limit.
    if let Some(prefix) = data.first_chunk::<4>() {
        if let Ok(len) = frame_len(*prefix, REQUEST_BYTES_MAX) {
            assert!(
                len <= REQUEST_BYTES_MAX as usize,
                "prefix {prefix:?} gave {len}"
            );
        }
    }
    // Refused or not, a request reserves memory in proportion to its bytes: the codec's
    // arrays reserve at most one element per byte left (vendor/kafka-protocol/VENDORED.md).
    let (decoded, usage) = common::measure(|| decode_request(data));
    common::assert_bounded(
        "request decode",
        usage,
        data.len(),
        AMPLIFICATION,
        SLACK_BYTES,
    );
    let Ok(decoded) = decoded else { return };
    let mut frame = BytesMut::new();
    decoded
        .header
        .encode(
            &mut frame,
            decoded.key.request_header_version(decoded.version),
        )
        .expect("a decoded header encodes");
    if let Some(body) = &decoded.body {
        if encode(body, decoded.version, &mut frame).is_err() {
            // Some fields decode in a version that cannot encode them (tagged fields the
            // encoder refuses): not a decoder fault.
            return;
        }
    }
    // The re-encoding is the codec crate's request encoder, which the server never uses
    // (it decodes requests and encodes responses): bytes it writes that its own decoder
    // refuses (seen: FindCoordinator v3) are not a decoder fault either. What decodes
    // again must be the same request.
    let Ok(again) = decode_request(&frame) else {
        return;
    };
    assert_eq!(
        again, decoded,
        "a request must survive encode → decode unchanged"
    );
});
