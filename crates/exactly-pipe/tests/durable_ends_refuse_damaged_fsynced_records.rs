//! Both durable pipe ends, on simulated storage: a bit flipped in the last journal record
//! after a clean stop (the record was fsynced, so its message may have been confirmed) makes
//! open fail with `DamagedDurable` naming the journal and the byte — for the receiver's and
//! the sender's journal alike — while a crash that tears unsynced bytes still recovers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{SimStorage, Storage, TearMode};
use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::{
    DurableError, DurableReceiver, DurableSender, JournalError, PipeMode, ReceiverConfig,
    SenderConfig,
};
use std::path::Path;
use std::sync::Arc;

fn flip_last_byte(disk: &SimStorage, path: &Path) -> u64 {
    let mut bytes = disk.live_bytes(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    disk.overwrite_bytes(path, bytes).unwrap();
    last as u64
}

fn assert_damaged_durable(result: Result<(), DurableError>, journal: &str, last_byte: u64) {
    match result {
        Err(DurableError::Journal(JournalError::DamagedDurable { path, offset, .. })) => {
            assert!(path.ends_with(journal), "{}", path.display());
            assert!(
                offset < last_byte,
                "the damaged record starts before its last byte"
            );
        }
        other => panic!("expected DamagedDurable, got {other:?}"),
    }
}

#[test]
fn receiver_journal_refuses_a_damaged_last_record() {
    let disk = SimStorage::new(11);
    let dir = Path::new("/r");
    let config = ReceiverConfig::for_mode(PipeMode::ResendIdDedup);
    let mut receiver = DurableReceiver::open(Arc::new(disk.clone()), dir, config.clone()).unwrap();
    for seq in 0..3 {
        let mut f = Vec::new();
        frame::encode(FrameKind::Data, 5, seq, b"confirmed", &mut f);
        receiver.handle_frame(0, &f).unwrap();
        assert_eq!(receiver.commit().unwrap().len(), 1);
    }
    drop(receiver);
    // A torn, unsynced write after the durable end is still a torn tail.
    let journal = dir.join("receiver.journal");
    let mut bytes = disk.live_bytes(&journal).unwrap();
    let clean_len = bytes.len();
    bytes.extend_from_slice(&[9, 0, 0, 0, 1]);
    disk.open(&journal, exactly_core::storage::OpenMode::Existing)
        .unwrap()
        .write_at(clean_len as u64, &bytes[clean_len..])
        .unwrap();
    disk.crash(TearMode::KeepPrefix);
    let delivered = DurableReceiver::read_delivered(Arc::new(disk.clone()), dir).unwrap();
    assert_eq!(delivered.len(), 3);

    let last = flip_last_byte(&disk, &journal);
    assert_damaged_durable(
        DurableReceiver::open(Arc::new(disk.clone()), dir, config).map(drop),
        "receiver.journal",
        last,
    );
}

#[test]
fn sender_journal_refuses_a_damaged_last_record() {
    let disk = SimStorage::new(12);
    let dir = Path::new("/s");
    let config = SenderConfig::for_mode(PipeMode::ResendIdDedup, 3);
    let mut sender = DurableSender::open(Arc::new(disk.clone()), dir, config.clone(), 0).unwrap();
    sender.send(b"journaled and on the wire").unwrap();
    sender.commit(0).unwrap();
    drop(sender);
    let last = flip_last_byte(&disk, &dir.join("sender.journal"));
    assert_damaged_durable(
        DurableSender::open(Arc::new(disk.clone()), dir, config, 0).map(drop),
        "sender.journal",
        last,
    );
}
