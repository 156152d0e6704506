//! The physical limits of the `balances` job on this machine, measured on the same input
//! as the job: a sequential read of the input's bytes, a bare JSON parse of every record
//! and a bare hash-map aggregation of the parsed records, each on one core with nothing
//! else around it (no threads, no checkpoints, no outputs). The job can be no faster per
//! core than all three in a row; how close it gets is the figure that matters.

use crate::error::{io_error, BenchError, Context};
use exactly_log::{Log, LogConfig};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Instant;
use xxhash_rust::xxh3::Xxh3Builder;

/// Read buffer of the sequential read.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// Records per log read while loading the input.
const LOAD_BATCH_RECORDS: usize = 8192;

/// The input records' values, loaded once (untimed) for the parse and aggregation limits.
pub(super) struct LoadedInput {
    /// Every value, back to back.
    bytes: Vec<u8>,
    /// `(start, end)` of each value in `bytes`.
    spans: Vec<(usize, usize)>,
}

/// One round of limit measurements.
#[derive(Clone, Debug, Serialize)]
pub struct LimitRound {
    /// Input records.
    pub records: u64,
    /// Bytes of the input's files read sequentially.
    pub input_bytes: u64,
    /// Seconds to read them (page cache warm: the job reads them warm too).
    pub read_seconds: f64,
    /// Seconds to parse every record's JSON value (typed, borrowed: no allocation).
    pub parse_seconds: f64,
    /// Seconds to add every debit and credit into a hash map owning its account names.
    pub aggregate_seconds: f64,
}

impl LimitRound {
    /// Records per second of the three in a row on one core: the job's bare limit.
    pub fn bare_per_sec(&self) -> f64 {
        let seconds = self.read_seconds + self.parse_seconds + self.aggregate_seconds;
        self.records as f64 / seconds.max(1e-9)
    }
}

/// The transfer fields the job reads, borrowed from the value (generated names hold no
/// JSON escapes; one that did would fail the load, not be skipped).
#[derive(Deserialize)]
struct BareTransfer<'a> {
    #[allow(dead_code)]
    id: u64,
    from: &'a str,
    to: &'a str,
    amount: i64,
}

/// Loads every value of `topic` in the log at `dir` (read-only, untimed).
pub(super) fn load(dir: &Path, topic: &str) -> Result<LoadedInput, BenchError> {
    let log = Log::open_read_only(dir, LogConfig::default()).during("opening the input")?;
    let partitions = log
        .partition_count(topic)
        .ok_or_else(|| BenchError::Settings(format!("the input has no topic {topic}")))?;
    let mut loaded = LoadedInput {
        bytes: Vec::new(),
        spans: Vec::new(),
    };
    for partition in 0..partitions {
        let mut from = exactly_core::Offset(0);
        loop {
            let batch = log
                .read_with(
                    topic,
                    partition,
                    from,
                    LOAD_BATCH_RECORDS,
                    exactly_log::Isolation::ReadCommitted,
                )
                .during("reading the input")?;
            if batch.records.is_empty() {
                break;
            }
            for record in &batch.records {
                let start = loaded.bytes.len();
                loaded.bytes.extend_from_slice(&record.value);
                loaded.spans.push((start, loaded.bytes.len()));
            }
            from = batch.next_offset;
        }
    }
    Ok(loaded)
}

/// Measures one round of the three limits.
pub(super) fn measure(dir: &Path, input: &LoadedInput) -> Result<LimitRound, BenchError> {
    let started = Instant::now();
    let input_bytes = read_all(dir)?;
    let read_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut parsed = Vec::with_capacity(input.spans.len());
    for &(start, end) in &input.spans {
        let value = input
            .bytes
            .get(start..end)
            .ok_or_else(|| BenchError::Check(format!("no loaded value at {start}..{end}")))?;
        let transfer: BareTransfer<'_> = serde_json::from_slice(value)
            .map_err(|e| BenchError::Check(format!("an input record does not parse: {e}")))?;
        parsed.push(transfer);
    }
    let parse_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    // The map owns its keys (as the job's state does): keys borrowed from the input would
    // send every comparison to a random place in hundreds of MB of input.
    let mut balances: HashMap<String, i128, Xxh3Builder> = HashMap::default();
    for transfer in &parsed {
        let amount = i128::from(transfer.amount);
        add(&mut balances, transfer.from, -amount);
        add(&mut balances, transfer.to, amount);
    }
    let aggregate_seconds = started.elapsed().as_secs_f64();
    // The sums must be used or the optimiser may drop the loop; money is conserved.
    let total: i128 = balances.values().sum();
    if total != 0 {
        return Err(BenchError::Check(format!(
            "bare aggregation: balances sum to {total}, not 0"
        )));
    }
    Ok(LimitRound {
        records: parsed.len() as u64,
        input_bytes,
        read_seconds,
        parse_seconds,
        aggregate_seconds,
    })
}

/// Adds `amount` to `account`'s balance, copying the name only the first time.
fn add(balances: &mut HashMap<String, i128, Xxh3Builder>, account: &str, amount: i128) {
    match balances.get_mut(account) {
        Some(balance) => *balance += amount,
        None => {
            balances.insert(account.to_owned(), amount);
        }
    }
}

/// Reads every file under `dir` sequentially; returns the bytes read.
fn read_all(dir: &Path) -> Result<u64, BenchError> {
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).map_err(io_error("listing", &path))? {
            let entry = entry.map_err(io_error("listing", &path))?;
            let file = entry.path();
            let kind = entry.file_type().map_err(io_error("inspecting", &file))?;
            if kind.is_dir() {
                pending.push(file);
                continue;
            }
            let mut reader = std::fs::File::open(&file).map_err(io_error("opening", &file))?;
            loop {
                let n = reader
                    .read(&mut buffer)
                    .map_err(io_error("reading", &file))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
        }
    }
    Ok(total)
}
