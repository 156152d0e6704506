//! A durable sender reopened with an input checks it against what it accepted: the same
//! input (or a longer one) passes; a changed line among the confirmed messages is located to
//! its checkpoint interval (16 messages); a changed line among the unconfirmed ones, whose
//! payloads the journal still holds, is named exactly; a shorter input is refused.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use exactly_core::SimStorage;
use exactly_pipe::frame;
use exactly_pipe::{DurableSender, PipeMode, ResumeMismatch, SenderConfig};
use std::path::Path;
use std::sync::Arc;

fn input(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{{\"n\":{i}}}").into_bytes())
        .collect()
}

#[test]
fn resume_check_locates_the_first_changed_message() {
    let disk = SimStorage::new(4);
    let dir = Path::new("/s");
    let config = SenderConfig::for_mode(PipeMode::ResendIdDedup, 8);
    let open = || DurableSender::open(Arc::new(disk.clone()), dir, config.clone(), 0).unwrap();
    let mut sender = open();
    let messages = input(40);
    for m in &messages {
        sender.send(m).unwrap();
    }
    sender.commit(0).unwrap();
    // The receiver confirmed seqs 0..20; 20..40 stay unconfirmed in the journal.
    let mut ack = Vec::new();
    frame::encode_ack(8, 20, &[], &mut ack);
    sender.handle_frame(1, &ack);
    while sender.poll_event().unwrap().is_some() {}
    sender.commit(1).unwrap();
    drop(sender);

    let sender = open();
    assert_eq!(sender.check_resume_input(&messages), Ok(()));
    assert_eq!(sender.check_resume_input(&input(50)), Ok(()));
    let changed = |seq: usize| {
        let mut other = messages.clone();
        other[seq] = b"{\"other\":1}".to_vec();
        sender.check_resume_input(&other)
    };
    assert_eq!(
        changed(5),
        Err(ResumeMismatch::InputDiffers {
            first_seq: 0,
            last_seq: 15
        })
    );
    for seq in [33, 39] {
        assert_eq!(
            changed(seq),
            Err(ResumeMismatch::InputDiffers {
                first_seq: seq as u64,
                last_seq: seq as u64
            }),
            "unconfirmed seq {seq} is named exactly"
        );
    }
    assert_eq!(
        sender.check_resume_input(&messages[..39]),
        Err(ResumeMismatch::InputShorter {
            accepted: 40,
            input_len: 39
        })
    );
}
