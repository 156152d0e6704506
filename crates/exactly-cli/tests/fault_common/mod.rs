//! Shared harness of the storage-fault sweeps: which faults to inject into a file, how to
//! inject them, and how to classify what the commands did afterwards.
//!
//! The classification is the point of the sweep. After one fault, every command the
//! scenario runs must either work with results equal to the oracle (the state taken before
//! the fault, computed from the scenario's own inputs), or refuse: exit non-zero with an
//! error that names the damaged file. A command that exits 0 with a result the oracle does
//! not accept is **silently wrong**, and the sweep fails on the first one.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_exactly");

/// Bytes zeroed by [`Fault::ZeroSector`]: one disk sector.
pub const SECTOR_BYTES: u64 = 512;

/// One storage fault at one place of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Flip bit `bit` of the byte at `position`.
    FlipBit { position: u64, bit: u8 },
    /// Zero the 512-byte sector that starts at `position` (clipped to the file).
    ZeroSector { position: u64 },
    /// Cut the file to `length` bytes.
    Truncate { length: u64 },
}

impl Fault {
    /// Applies the fault to `path` in place.
    pub fn apply(self, path: &Path) {
        let mut bytes = std::fs::read(path).unwrap();
        match self {
            Fault::FlipBit { position, bit } => bytes[position as usize] ^= 1 << bit,
            Fault::ZeroSector { position } => {
                let end = (position + SECTOR_BYTES).min(bytes.len() as u64);
                bytes[position as usize..end as usize].fill(0);
            }
            Fault::Truncate { length } => bytes.truncate(length as usize),
        }
        std::fs::write(path, bytes).unwrap();
    }
}

/// The faults tried on a file of `len` bytes: bit flips at the first byte, the last byte,
/// inside the last 64 bytes (where the last record of a journal or segment lives) and at
/// `random` random places; the first, last and a random sector zeroed; truncation to 0,
/// to half and to one byte short. Deterministic for a given `rng` state.
pub fn faults_for(len: u64, random: usize, rng: &mut SmallRng) -> Vec<Fault> {
    let mut faults = Vec::new();
    if len == 0 {
        return faults;
    }
    let mut flips = vec![
        0,
        len - 1,
        len.saturating_sub(1 + rng.random_range(0..64.min(len))),
    ];
    flips.extend((0..random).map(|_| rng.random_range(0..len)));
    for position in flips {
        let bit = rng.random_range(0..8);
        faults.push(Fault::FlipBit { position, bit });
    }
    let last_sector = (len - 1) / SECTOR_BYTES * SECTOR_BYTES;
    let random_sector = rng.random_range(0..len) / SECTOR_BYTES * SECTOR_BYTES;
    for position in [0, last_sector, random_sector] {
        faults.push(Fault::ZeroSector { position });
    }
    for length in [0, len / 2, len - 1] {
        faults.push(Fault::Truncate { length });
    }
    faults.sort_by_key(|f| format!("{f:?}"));
    faults.dedup();
    faults
}

/// What one fault led to, over all the commands run after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every command worked and every result matched the oracle (the fault was repaired,
    /// or it hit bytes nothing reads).
    Worked,
    /// At least one command refused with an error naming the damaged file; the others
    /// worked correctly or refused too.
    Refused,
    /// A command refused without naming the damaged file.
    RefusedUnnamed,
    /// A command exited 0 with a result the oracle rejects.
    SilentlyWrong,
}

/// Counts of verdicts, printed at the end of a sweep.
#[derive(Debug, Default)]
pub struct Tally {
    /// Faults tried.
    pub tried: u64,
    /// [`Verdict::Worked`].
    pub worked: u64,
    /// [`Verdict::Refused`].
    pub refused: u64,
    /// [`Verdict::RefusedUnnamed`].
    pub refused_unnamed: u64,
    /// [`Verdict::SilentlyWrong`]: must stay 0.
    pub silently_wrong: u64,
}

impl Tally {
    /// Adds one verdict.
    pub fn add(&mut self, verdict: Verdict) {
        self.tried += 1;
        match verdict {
            Verdict::Worked => self.worked += 1,
            Verdict::Refused => self.refused += 1,
            Verdict::RefusedUnnamed => self.refused_unnamed += 1,
            Verdict::SilentlyWrong => self.silently_wrong += 1,
        }
    }
}

/// Collects the outcomes of the commands run after one fault.
pub struct Judge {
    /// The damaged file, as named in error messages (its file name).
    file_name: String,
    /// What happened, in order (for the failure message).
    pub transcript: Vec<String>,
    refused: bool,
    refused_unnamed: bool,
    wrong: bool,
}

impl Judge {
    /// A judge for a fault in `file`.
    pub fn new(file: &Path) -> Self {
        Self {
            file_name: file.file_name().unwrap().to_string_lossy().into_owned(),
            transcript: Vec::new(),
            refused: false,
            refused_unnamed: false,
            wrong: false,
        }
    }

    /// Records a command's output. Returns its stdout when it exited 0 (so the caller can
    /// check the result against the oracle with [`Judge::expect`]), `None` when it refused.
    pub fn ran(&mut self, what: &str, output: &Output) -> Option<String> {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            self.transcript.push(format!("{what}: ok"));
            return Some(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let first_line = stderr.lines().last().unwrap_or("").to_string();
        if stderr.contains(&self.file_name) {
            self.refused = true;
            self.transcript
                .push(format!("{what}: refused naming the file: {first_line}"));
        } else {
            self.refused_unnamed = true;
            self.transcript
                .push(format!("{what}: refused WITHOUT naming the file: {stderr}"));
        }
        None
    }

    /// Records whether a result of a command that exited 0 is what the oracle accepts.
    pub fn expect(&mut self, what: &str, accepted: bool, detail: impl FnOnce() -> String) {
        if !accepted {
            self.wrong = true;
            self.transcript
                .push(format!("{what}: SILENTLY WRONG: {}", detail()));
        }
    }

    /// The verdict over everything recorded.
    pub fn verdict(&self) -> Verdict {
        if self.wrong {
            Verdict::SilentlyWrong
        } else if self.refused_unnamed {
            Verdict::RefusedUnnamed
        } else if self.refused {
            Verdict::Refused
        } else {
            Verdict::Worked
        }
    }
}

/// `exactly <args>` with no standard input, output captured.
pub fn exactly(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// Same as [`exactly`], with paths as arguments too.
pub fn exactly_os(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(EXE)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// Every regular file under `root`, sorted, except lock files (empty, never read).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    exactly_testkit::cli::files_under(root).unwrap()
}

/// Copies the directory tree `from` to `to` (which must not exist).
pub fn copy_tree(from: &Path, to: &Path) {
    exactly_testkit::cli::copy_tree(from, to).unwrap();
}

/// Seed (`EXACTLY_SEED`, default random) and random flips per file
/// (`EXACTLY_FAULT_SAMPLES`, default `default_samples`), printed so a failure replays.
pub fn seed_and_samples(default_samples: usize) -> (u64, usize, SmallRng) {
    let seed = exactly_testkit::cli::seed_from_env();
    let samples = exactly_testkit::cli::env_or("EXACTLY_FAULT_SAMPLES", default_samples);
    println!("seed {seed}, random flips per file {samples} (EXACTLY_SEED, EXACTLY_FAULT_SAMPLES)");
    (seed, samples, SmallRng::seed_from_u64(seed))
}

/// Tries every fault of [`faults_for`] on every file of `template`, each on a fresh copy at
/// `scratch` (the same relative layout), and lets `judge(copy, damaged file relative to
/// the copy)` run the commands. Prints the counts and every failure, then fails the test
/// on any silently wrong outcome or any refusal that does not name the file.
pub fn sweep(
    template: &Path,
    scratch: &Path,
    seed: u64,
    samples: usize,
    rng: &mut SmallRng,
    mut judge: impl FnMut(&Path, &Path) -> Judge,
) {
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for file in files_under(template) {
        let relative = file.strip_prefix(template).unwrap().to_path_buf();
        let len = std::fs::metadata(&file).unwrap().len();
        for fault in faults_for(len, samples, rng) {
            let _ = std::fs::remove_dir_all(scratch);
            copy_tree(template, scratch);
            fault.apply(&scratch.join(&relative));
            let judged = judge(scratch, &relative);
            let verdict = judged.verdict();
            tally.add(verdict);
            if matches!(verdict, Verdict::SilentlyWrong | Verdict::RefusedUnnamed) {
                failures.push(format!(
                    "{verdict:?}: {} {fault:?}\n    {}",
                    relative.display(),
                    judged.transcript.join("\n    ")
                ));
            }
        }
    }
    println!(
        "faults tried {}, worked (repaired or harmless) {}, refused naming the file {}, \
         refused without naming it {}, silently wrong {}",
        tally.tried, tally.worked, tally.refused, tally.refused_unnamed, tally.silently_wrong
    );
    for failure in &failures {
        println!("{failure}");
    }
    assert_eq!(
        tally.silently_wrong, 0,
        "seed {seed}: silently wrong outcomes above"
    );
    assert_eq!(
        tally.refused_unnamed, 0,
        "seed {seed}: refusals that do not name the file"
    );
}
