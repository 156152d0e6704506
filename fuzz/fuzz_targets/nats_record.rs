//! Fuzzes the NATS record layout (`exactly-nats` `record.rs`): a stored message's headers
//! (message id, timestamp, epoch, hex key) and payload as a reader decodes them. The input
//! is a header block (`Name: value` lines, as the server delivers them) and a payload
//! after the first blank line. Decoding must never panic, memory must follow the input,
//! and a decoded record must survive `headers_of` → `decode` unchanged.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use exactly_nats::record::{decode, headers_of};
use exactly_nats::OutRecord;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

/// The header map the client library would build from `text` (invalid lines dropped, as
/// its parser refuses them).
fn header_map(text: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            name.parse::<HeaderName>(),
            value.trim().parse::<HeaderValue>(),
        ) {
            headers.insert(name, value);
        }
    }
    headers
}

fuzz_target!(|data: &[u8]| {
    let split = data.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, payload) = match split {
        Some(at) => (&data[..at], &data[at + 4..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(head) else {
        return;
    };
    let headers = header_map(text);
    let with_headers = (!text.is_empty()).then_some(&headers);
    let (decoded, usage) = common::measure(|| decode(1, with_headers, payload));
    common::assert_bounded("record decode", usage, data.len(), 8, 4 << 10);
    let Ok(record) = decoded else { return };
    let Some(msg_id) = record.msg_id.clone() else {
        return;
    };
    let out = OutRecord {
        msg_id,
        epoch: record.epoch,
        key: record.key.clone(),
        timestamp_ms: record.timestamp_ms,
        value: record.value.clone(),
        origin: record.origin.clone(),
    };
    let again = decode(1, Some(&headers_of(&out)), &out.value).expect("our own layout decodes");
    assert_eq!(
        again, record,
        "a record must survive headers_of → decode unchanged"
    );
});
