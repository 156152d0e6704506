//! A sender journal whose first record is not the META record (which creation and
//! compaction always write first) is refused as malformed, and left as it was. Found by the
//! `pipe_journal` fuzz target: such a journal used to open, append a META that contradicts
//! the records before it, and then be refused on the next open — the state directory
//! broken by the first open. The oracle is the journal's bytes before and after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_core::{OpenMode, SimStorage, Storage};
use exactly_pipe::durable::SENDER_JOURNAL;
use exactly_pipe::{DurableError, DurableSender, PipeMode, SenderConfig};
use std::path::Path;
use std::sync::Arc;

/// One journal record as the journal frames it: length, CRC32C of the body, body.
fn record(body: &[u8]) -> Vec<u8> {
    let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn a_journal_starting_with_a_message_is_refused_and_left_unchanged() {
    let disk = Arc::new(SimStorage::new(7));
    let dir = Path::new("/send");
    disk.create_dir_all(dir).unwrap();
    // A MSG record (kind 1, seq 0, payload) and nothing before it.
    let mut body = vec![1u8];
    body.extend_from_slice(&0u64.to_le_bytes());
    body.extend_from_slice(b"{\"n\":0}");
    let journal = record(&body);
    let path = dir.join(SENDER_JOURNAL);
    let file = disk.open(&path, OpenMode::CreateOrOpen).unwrap();
    file.write_at(0, &journal).unwrap();
    file.sync_data().unwrap();
    disk.sync_dir(dir).unwrap();

    for attempt in 0..2 {
        let config = SenderConfig::for_mode(PipeMode::ResendIdDedup, 9);
        match DurableSender::open(disk.clone(), dir, config, 0) {
            Err(DurableError::Malformed { kind: "sender", .. }) => {}
            other => panic!(
                "open {attempt}: expected Malformed, got {:?}",
                other.map(|_| "an open sender")
            ),
        }
        assert_eq!(
            disk.live_bytes(&path).unwrap(),
            journal,
            "open {attempt} must not write to a journal it refuses"
        );
    }
}
