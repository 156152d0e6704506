//! Fuzzes the pipe journals as the durable ends read them after a restart: the input is a
//! sender's or a receiver's journal file (first byte picks which). Recovery must never
//! panic, must allocate no more than a multiple of the file, and must be idempotent: a
//! journal that opened once (its torn tail cut) opens again with the same contents.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use exactly_core::{SimStorage, Storage};
use exactly_pipe::durable::{RECEIVER_JOURNAL, SENDER_JOURNAL};
use exactly_pipe::{DurableReceiver, DurableSender, PipeMode, ReceiverConfig, SenderConfig};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

/// A journal of well-framed records (length, CRC32C, body), one per part of `data`: the
/// fuzzer reaches the record bodies the durable ends parse.
fn framed_records(data: &[u8]) -> Vec<u8> {
    let mut journal = Vec::new();
    for body in common::split(data) {
        journal.extend_from_slice(&(body.len() as u32).to_le_bytes());
        journal.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
        journal.extend_from_slice(body);
    }
    journal
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    // Bit 0 picks the end, bit 1 raw bytes or framed records, the rest the pipe mode.
    let framed;
    let journal = if which & 2 == 0 {
        rest
    } else {
        framed = framed_records(rest);
        framed.as_slice()
    };
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::new(1));
    let dir = Path::new("/state");
    let mode = PipeMode::ALL[usize::from(which >> 2) % PipeMode::ALL.len()];
    if which & 1 == 0 {
        common::put_file(storage.as_ref(), &dir.join(RECEIVER_JOURNAL), journal);
        let (first, usage) =
            common::measure(|| DurableReceiver::read_delivered(Arc::clone(&storage), dir));
        common::assert_bounded("receiver journal", usage, journal.len(), 16, 64 << 10);
        let Ok(first) = first else { return };
        let opened =
            DurableReceiver::open(Arc::clone(&storage), dir, ReceiverConfig::for_mode(mode));
        drop(opened);
        let again = DurableReceiver::read_delivered(Arc::clone(&storage), dir)
            .expect("a journal that opened once opens again");
        assert_eq!(again, first, "recovery must be idempotent");
    } else {
        common::put_file(storage.as_ref(), &dir.join(SENDER_JOURNAL), journal);
        let config = SenderConfig::for_mode(mode, 1);
        let (first, usage) =
            common::measure(|| DurableSender::open(Arc::clone(&storage), dir, config.clone(), 0));
        common::assert_bounded("sender journal", usage, journal.len(), 16, 64 << 10);
        let Ok(first) = first else { return };
        let unconfirmed = |s: &DurableSender| -> Vec<(u64, Vec<u8>)> {
            s.sender()
                .in_flight()
                .map(|(seq, p)| (seq, p.to_vec()))
                .collect()
        };
        let first_state = (first.next_seq(), unconfirmed(&first));
        drop(first);
        let again = DurableSender::open(Arc::clone(&storage), dir, config, 0)
            .expect("a journal that opened once opens again");
        assert_eq!(
            (again.next_seq(), unconfirmed(&again)),
            first_state,
            "recovery must be idempotent"
        );
    }
});
