//! Golden-file tests of the sender and receiver state machines: each file under
//! `tests/golden/` is a transcript — input lines start with `> `, the lines after each are
//! what the state machines output. The test replays the inputs and compares the whole
//! transcript; `UPDATE_GOLDEN=1` rewrites the files (review the diff!).
//!
//! Inputs: `pipe MODE [cascade] [window=N] [timeout=MS] [retries=N]`, `send TEXT`,
//! `at MS` (time passes: timers fire), `deliver [N]` / `drop` / `dup` / `swap` /
//! `corrupt` (the first data frame on the wire), `oversize` (a forged frame),
//! `ack [N]` / `drop-ack` (the first ack on the wire), `confirm SEQ` (cascade).

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_pipe::frame::{self, FrameKind};
use exactly_pipe::{PipeMode, Receiver, ReceiverConfig, Sender, SenderConfig, SenderEvent};
use std::collections::VecDeque;
use std::fmt::Write;
use std::path::Path;

struct Harness {
    sender: Sender,
    receiver: Receiver,
    data: VecDeque<Vec<u8>>,
    acks: VecDeque<Vec<u8>>,
    now_ms: u64,
    out: String,
}

fn describe(bytes: &[u8]) -> String {
    match frame::decode(bytes, 1 << 20) {
        Err(e) => format!("undecodable ({e})"),
        Ok(f) if f.kind == FrameKind::Data => {
            format!(
                "data seq={} {:?}",
                f.seq,
                String::from_utf8_lossy(f.payload)
            )
        }
        Ok(f) => match f.ack_range() {
            Some(r) => format!(
                "ack cumulative={} end={} gaps={:?} pending={:?}",
                f.seq,
                r.end,
                r.gaps().collect::<Vec<_>>(),
                r.pending().collect::<Vec<_>>()
            ),
            None => format!(
                "ack cumulative={} listed={:?}",
                f.seq,
                f.acked_seqs().collect::<Vec<_>>()
            ),
        },
    }
}

impl Harness {
    fn new(args: &[&str]) -> Self {
        let mode: PipeMode = args[0].parse().unwrap();
        let mut sc = SenderConfig::for_mode(mode, 1);
        sc.resend_timeout_ms = 10;
        sc.resend_timeout_max_ms = 40;
        sc.in_flight_max = 4;
        let mut rc = ReceiverConfig::for_mode(mode);
        rc.ack_repeats = 0;
        rc.payload_bytes_max = 64;
        for arg in &args[1..] {
            match arg.split_once('=') {
                None if *arg == "cascade" => rc.cascade = true,
                Some(("window", n)) => sc.in_flight_max = n.parse().unwrap(),
                Some(("timeout", n)) => sc.resend_timeout_ms = n.parse().unwrap(),
                Some(("retries", n)) => sc.retries_max = Some(n.parse().unwrap()),
                Some(("buffer", n)) => rc.reorder_buffer_max = n.parse().unwrap(),
                _ => panic!("unknown pipe option {arg}"),
            }
        }
        Harness {
            sender: Sender::new(sc),
            receiver: Receiver::new(rc),
            data: VecDeque::new(),
            acks: VecDeque::new(),
            now_ms: 0,
            out: String::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(f) = self.sender.poll_transmit() {
            writeln!(self.out, "  sender -> {}", describe(&f)).unwrap();
            self.data.push_back(f);
        }
        while let Some(d) = self.receiver.poll_delivery() {
            let text = String::from_utf8_lossy(&d.payload).into_owned();
            writeln!(self.out, "  receiver delivers seq={} {text:?}", d.seq).unwrap();
        }
        while let Some((_, f)) = self.receiver.poll_transmit() {
            writeln!(self.out, "  receiver -> {}", describe(&f)).unwrap();
            self.acks.push_back(f);
        }
        while let Some(e) = self.sender.poll_event() {
            let line = match e {
                SenderEvent::Confirmed { seq } => format!("confirmed seq={seq}"),
                SenderEvent::GaveUp { seq } => format!("gave up seq={seq}"),
            };
            writeln!(self.out, "  sender {line}").unwrap();
        }
    }

    fn times(args: &[&str]) -> usize {
        args.first().map_or(1, |n| n.parse().unwrap())
    }

    fn apply(&mut self, cmd: &str, args: &[&str]) {
        let now = self.now_ms;
        match cmd {
            "send" => match self.sender.send(now, args.join(" ").as_bytes()) {
                Ok(seq) => writeln!(self.out, "  accepted seq={seq}").unwrap(),
                Err(e) => writeln!(self.out, "  refused: {e}").unwrap(),
            },
            "at" => {
                self.now_ms = args[0].parse().unwrap();
                self.sender.handle_timeout(self.now_ms);
                self.receiver.handle_timeout(self.now_ms);
            }
            "deliver" => {
                for _ in 0..Self::times(args) {
                    let f = self.data.pop_front().expect("no data frame on the wire");
                    self.receiver.handle_frame(now, &f);
                }
            }
            "drop" => drop(self.data.pop_front()),
            "dup" => {
                let f = self.data.front().cloned().unwrap();
                self.data.push_front(f);
            }
            "swap" => self.data.swap(0, 1),
            "corrupt" => self.data[0][frame::HEADER_BYTES] ^= 0x01,
            "oversize" => {
                let mut f = Vec::new();
                frame::encode(FrameKind::Data, 1, 99, &[0; 100], &mut f);
                self.data.push_front(f);
            }
            "ack" => {
                for _ in 0..Self::times(args) {
                    let f = self.acks.pop_front().expect("no ack on the wire");
                    self.sender.handle_frame(now, &f);
                }
            }
            "drop-ack" => drop(self.acks.pop_front()),
            "confirm" => self.receiver.confirm(1, args[0].parse().unwrap()),
            _ => panic!("unknown command {cmd}"),
        }
        self.drain();
    }

    fn finish(&mut self) {
        let s = self.sender.stats();
        let r = self.receiver.stats();
        writeln!(
            self.out,
            "= sender: sent={} frames={} resends={} fast={} confirmed={} given_up={} in_flight={}",
            s.messages_sent,
            s.frames_sent,
            s.resends,
            s.fast_resends,
            s.confirmed,
            s.given_up,
            self.sender.in_flight_len()
        )
        .unwrap();
        writeln!(
            self.out,
            "= receiver: frames={} delivered={} duplicates={} stale={} corrupt={} oversize={} over_bound={} acks={}",
            r.frames_received, r.delivered, r.duplicates_suppressed, r.stale_discarded,
            r.frames_corrupt, r.frames_oversize, r.dropped_over_bound, r.acks_sent
        )
        .unwrap();
    }
}

fn replay(script: &str) -> String {
    let mut harness: Option<Harness> = None;
    let mut out = String::new();
    for line in script.lines() {
        let Some(input) = line.strip_prefix("> ") else {
            if line.starts_with('#') {
                writeln!(out, "{line}").unwrap();
            }
            continue;
        };
        let words: Vec<&str> = input.split_whitespace().collect();
        writeln!(out, "{line}").unwrap();
        match (words[0], harness.as_mut()) {
            ("pipe", _) => harness = Some(Harness::new(&words[1..])),
            (cmd, Some(h)) => {
                h.out.clear();
                h.apply(cmd, &words[1..]);
                out.push_str(&h.out);
            }
            (_, None) => panic!("the transcript must start with `pipe`"),
        }
    }
    if let Some(h) = harness.as_mut() {
        h.out.clear();
        h.finish();
        out.push_str(&h.out);
    }
    out
}

#[test]
fn transcripts_match_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap();
        let actual = replay(&golden);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &actual).unwrap();
        } else {
            assert_eq!(
                actual,
                golden,
                "{} differs (UPDATE_GOLDEN=1 to accept)",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 4,
        "expected the golden transcripts in {}",
        dir.display()
    );
}
