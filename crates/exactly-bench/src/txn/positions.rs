//! The first read of committed consumer positions after an open, after a long history of
//! position commits: without a positions snapshot (the whole of `__consumer_offsets`
//! scanned) and with one (only the records after it).
//!
//! The history is `records` position records written by plain `commit_offsets` calls of
//! [`POSITIONS_PER_COMMIT`] positions each, spread over [`GROUPS`] groups, with automatic
//! snapshots off; every measured open also keeps them off, so a measurement never writes
//! the snapshot the next one would read. Each measurement opens the log and reads one
//! group's positions; the median of `opens` is reported, and the positions read are
//! checked against what the history wrote.

use super::{failed, Options, Result, TxnBenchError};
use exactly_core::Offset;
use exactly_log::{Durability, Log, LogConfig};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Positions per `commit_offsets` call (one batch of records).
const POSITIONS_PER_COMMIT: u64 = 1_000;
/// Groups the history is spread over.
const GROUPS: u64 = 10;

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::None,
        ..LogConfig::default()
    }
}

/// The positions commit `index` writes: partitions `0..POSITIONS_PER_COMMIT` of topic
/// `in`, each at `index + 1` (so the newest commit of a group is the one read back).
fn commit_positions(index: u64) -> Vec<(String, u32, Offset)> {
    (0..POSITIONS_PER_COMMIT as u32)
        .map(|partition| ("in".to_string(), partition, Offset(index + 1)))
        .collect()
}

fn group_of(index: u64) -> String {
    format!("group-{}", index % GROUPS)
}

/// Writes the history; returns the number of commits and how long it took.
fn build(dir: &Path, records: u64) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let commits = records.div_ceil(POSITIONS_PER_COMMIT).max(GROUPS);
    let log = Log::open(dir, config()).map_err(failed("opening the positions history"))?;
    log.set_transaction_snapshot_interval(None);
    for index in 0..commits {
        log.commit_offsets(&group_of(index), &commit_positions(index))
            .map_err(failed("writing the positions history"))?;
    }
    log.close()
        .map_err(failed("closing the positions history"))?;
    Ok((commits, started.elapsed()))
}

/// Median time of an open plus the first `committed_offsets`, checked.
fn median_first_read(dir: &Path, opens: usize, commits: u64) -> Result<Duration> {
    let last = commits - 1;
    let mut times = Vec::new();
    for _ in 0..opens.max(1) {
        let started = Instant::now();
        let log = Log::open(dir, config()).map_err(failed("opening the positions history"))?;
        log.set_transaction_snapshot_interval(None);
        let positions = log
            .committed_offsets(&group_of(last))
            .map_err(failed("reading positions"))?;
        times.push(started.elapsed());
        let newest = positions.get(&("in".to_string(), 0)).copied();
        if newest != Some(Offset(last + 1)) || positions.len() as u64 != POSITIONS_PER_COMMIT {
            return Err(TxnBenchError {
                what: "the positions history".into(),
                reason: format!(
                    "read {} positions, partition 0 at {newest:?}; wrote {POSITIONS_PER_COMMIT} \
                     at {}",
                    positions.len(),
                    last + 1
                ),
            });
        }
        log.close()
            .map_err(failed("closing the positions history"))?;
    }
    times.sort();
    times
        .get(times.len() / 2)
        .copied()
        .ok_or_else(|| TxnBenchError {
            what: "first reads".into(),
            reason: "none measured".into(),
        })
}

/// Measures and prints the first read of positions without and with a snapshot.
pub(super) fn first_read_times(options: &Options, dir: &Path) -> Result<()> {
    let records = options.history_transactions;
    let (commits, built) = build(dir, records)?;
    let before = median_first_read(dir, options.opens, commits)?;
    {
        let log = Log::open(dir, config()).map_err(failed("opening the positions history"))?;
        log.snapshot_transactions()
            .map_err(failed("writing the positions snapshot"))?;
        log.close()
            .map_err(failed("closing the positions history"))?;
    }
    let after = median_first_read(dir, options.opens, commits)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let written = commits * POSITIONS_PER_COMMIT;
    if options.json {
        for (name, time, ratio) in [
            ("first positions read without snapshot", before, None),
            (
                "first positions read with snapshot",
                after,
                Some(ms(after) / ms(before)),
            ),
        ] {
            println!(
                "{}",
                json!({"bench": name, "position_records": written, "groups": GROUPS,
                       "median_open_and_read_ms": ms(time), "opens": options.opens.max(1),
                       "history_build_seconds": built.as_secs_f64(), "ratio": ratio,
                       "ratio_against": ratio.map(|_| "first positions read without snapshot")})
            );
        }
    } else {
        println!(
            "open + first positions read after {written} position records ({GROUPS} groups, \
             built in {:.1} s): median {:.1} ms without snapshot, {:.1} ms with one ({:.2}%)",
            built.as_secs_f64(),
            ms(before),
            ms(after),
            ms(after) / ms(before) * 100.0
        );
    }
    std::fs::remove_dir_all(dir).map_err(failed("removing the positions history"))?;
    Ok(())
}
