//! Durable pipe ends on simulated storage, crashed at random points (including in the middle
//! of journal writes and fsyncs, with torn tails) and restarted from what was durable, over
//! a wire that loses, duplicates and reorders: the receiver's journal ends with every
//! message exactly once — in order for the ordered pipe. `EXACTLY_SEEDS=N` sweeps more.

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{SimStorage, Storage, TearMode};
use exactly_pipe::{DurableReceiver, DurableSender, PipeMode, ReceiverConfig, SenderConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;

const MESSAGES: u64 = 1_500;

fn seeds() -> u64 {
    std::env::var("EXACTLY_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

struct World {
    rng: SmallRng,
    pipe: PipeMode,
    send_disk: SimStorage,
    recv_disk: SimStorage,
    sender: DurableSender,
    receiver: DurableReceiver,
    to_receiver: Vec<Vec<u8>>,
    to_sender: Vec<Vec<u8>>,
    now_ms: u64,
    crashes: u32,
}

fn open_sender(
    disk: &SimStorage,
    pipe: PipeMode,
    now_ms: u64,
) -> Result<DurableSender, exactly_pipe::DurableError> {
    let mut config = SenderConfig::for_mode(pipe, 77);
    config.in_flight_max = 32;
    config.resend_timeout_ms = 5;
    config.resend_timeout_max_ms = 40;
    // A tiny compaction threshold, so crashes also hit journal rewrites.
    DurableSender::open(Arc::new(disk.clone()), Path::new("/s"), config, now_ms)
        .map(|s| s.with_compact_bytes_min(2048))
}

fn open_receiver(
    disk: &SimStorage,
    pipe: PipeMode,
) -> Result<DurableReceiver, exactly_pipe::DurableError> {
    DurableReceiver::open(
        Arc::new(disk.clone()),
        Path::new("/r"),
        ReceiverConfig::for_mode(pipe),
    )
}

fn tear(rng: &mut SmallRng) -> TearMode {
    [
        TearMode::DropUnsynced,
        TearMode::KeepPrefix,
        TearMode::PrefixThenGarbage,
        TearMode::PrefixThenZeros,
    ][rng.random_range(0..4)]
}

impl World {
    fn new(seed: u64, pipe: PipeMode) -> Self {
        let send_disk = SimStorage::new(seed);
        let recv_disk = SimStorage::new(seed ^ 0xABCD);
        send_disk.create_dir_all(Path::new("/s")).unwrap();
        recv_disk.create_dir_all(Path::new("/r")).unwrap();
        World {
            rng: SmallRng::seed_from_u64(seed),
            pipe,
            sender: open_sender(&send_disk, pipe, 0).unwrap(),
            receiver: open_receiver(&recv_disk, pipe).unwrap(),
            send_disk,
            recv_disk,
            to_receiver: Vec::new(),
            to_sender: Vec::new(),
            now_ms: 0,
            crashes: 0,
        }
    }

    /// Crashes the sender machine and restarts it from its durable bytes.
    fn crash_sender(&mut self) {
        self.crashes += 1;
        let t = tear(&mut self.rng);
        self.send_disk.crash(t);
        self.sender = open_sender(&self.send_disk, self.pipe, self.now_ms)
            .unwrap_or_else(|e| panic!("sender recovery: {e}"));
        // The recovered fingerprint still matches the input (seq n carries n) after torn
        // tails and compactions.
        let input: Vec<[u8; 8]> = (0..MESSAGES).map(u64::to_le_bytes).collect();
        self.sender
            .check_resume_input(&input)
            .unwrap_or_else(|e| panic!("resume check after a crash: {e}"));
    }

    fn crash_receiver(&mut self) {
        self.crashes += 1;
        let t = tear(&mut self.rng);
        self.recv_disk.crash(t);
        self.receiver = open_receiver(&self.recv_disk, self.pipe)
            .unwrap_or_else(|e| panic!("receiver recovery: {e}"));
    }

    /// Puts a frame on the wire: 20% loss, 10% duplication, inserted at a random place
    /// among the frames in flight (reordering).
    fn wire(rng: &mut SmallRng, queue: &mut Vec<Vec<u8>>, frame: Vec<u8>) {
        if rng.random_bool(0.2) {
            return;
        }
        let copies = if rng.random_bool(0.1) { 2 } else { 1 };
        for _ in 0..copies {
            let at = rng.random_range(0..=queue.len());
            queue.insert(at, frame.clone());
        }
    }

    fn step_sender(&mut self) -> Result<(), ()> {
        let mut next = self.sender.next_seq();
        while next < MESSAGES && self.sender.can_send() && self.rng.random_bool(0.7) {
            self.sender.send(&next.to_le_bytes()).map_err(|_| ())?;
            next += 1;
        }
        self.sender.commit(self.now_ms).map_err(|_| ())?;
        while let Some(f) = self.sender.poll_transmit() {
            Self::wire(&mut self.rng, &mut self.to_receiver, f);
        }
        for f in std::mem::take(&mut self.to_sender) {
            self.sender.handle_frame(self.now_ms, &f);
        }
        self.sender.handle_timeout(self.now_ms);
        while self.sender.poll_event().map_err(|_| ())?.is_some() {}
        Ok(())
    }

    fn step_receiver(&mut self) -> Result<(), ()> {
        let n = self.rng.random_range(0..=self.to_receiver.len());
        for f in self.to_receiver.drain(..n).collect::<Vec<_>>() {
            self.receiver
                .handle_frame(self.now_ms, &f)
                .map_err(|_| ())?;
        }
        self.receiver.commit().map_err(|_| ())?;
        while let Some((_, ack)) = self.receiver.poll_transmit() {
            Self::wire(&mut self.rng, &mut self.to_sender, ack);
        }
        Ok(())
    }

    fn maybe_arm_crashes(&mut self) {
        if self.rng.random_bool(0.01) {
            let n = self.rng.random_range(0..4);
            self.send_disk.crash_after_mutations(n);
        }
        if self.rng.random_bool(0.01) {
            let n = self.rng.random_range(0..4);
            self.recv_disk.crash_after_mutations(n);
        }
    }

    fn run(&mut self, seed: u64) {
        for _ in 0..2_000_000u64 {
            self.now_ms += 1;
            if self.crashes < 40 {
                self.maybe_arm_crashes();
            }
            if self.step_sender().is_err() || self.send_disk.is_crashed() {
                self.crash_sender();
            }
            if self.step_receiver().is_err() || self.recv_disk.is_crashed() {
                self.crash_receiver();
            }
            if self.sender.next_seq() >= MESSAGES && self.sender.is_idle() {
                return;
            }
        }
        panic!("seed {seed}: did not finish");
    }
}

fn check(pipe: PipeMode) {
    for seed in 0..seeds() {
        let mut world = World::new(seed, pipe);
        world.run(seed);
        let delivered =
            DurableReceiver::read_delivered(Arc::new(world.recv_disk.clone()), Path::new("/r"))
                .unwrap();
        let ids: Vec<u64> = delivered
            .iter()
            .map(|d| u64::from_le_bytes(d.payload[..8].try_into().unwrap()))
            .collect();
        assert!(world.crashes > 0, "seed {seed}: no crash happened");
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        let expected: Vec<u64> = (0..MESSAGES).collect();
        assert_eq!(
            sorted, expected,
            "seed {seed} ({pipe}): lost or duplicated messages"
        );
        if pipe == PipeMode::Ordered {
            assert_eq!(ids, expected, "seed {seed}: out of order");
        }
    }
}

#[test]
fn id_dedup_survives_crashes_exactly_once() {
    check(PipeMode::ResendIdDedup);
}

#[test]
fn ordered_survives_crashes_exactly_once_in_order() {
    check(PipeMode::Ordered);
}
