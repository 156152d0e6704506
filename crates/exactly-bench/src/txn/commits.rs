//! Part 5 of `exactly bench txn`: commit throughput of `producers` transactional producers
//! committing at once, each to its own partition (`Durability::Immediate`, one 1 KiB record
//! per transaction), three ways in the same run:
//! - **concurrent**: the coordinator as built (no lock across I/O, group-committed
//!   `__transactions`, markers trailing the decision);
//! - **serialized**: the same producers with the coordinator's old global lock across
//!   every operation's I/O restored (`Log::serialize_transaction_io`);
//! - **parallel fdatasync**: the physical limit — as many threads as producers, each
//!   writing blocks of one commit's data batch to its own file, each write followed by
//!   `fdatasync`. A commit needs at least one such sync of its own partition (its data),
//!   so commits/s can only approach this rate, and the ratio says how close they get.
//!
//! Rounds alternate the order of the three; medians are reported.

use super::{failed, median, open_log, report, Measurement, Options, Result, TxnBenchError};
use crate::disk::parallel_fdatasync_writes;
use exactly_log::batch::{EncodedBatch, ATTR_TRANSACTIONAL};
use exactly_log::{Durability, ProducerStamp};
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs the three measurements `options.rounds` times and reports their medians.
pub(super) fn concurrency(options: &Options, temp: &Path) -> Result<()> {
    let budget = Duration::from_secs_f64(options.seconds);
    let producers = options.producers.max(1);
    let block_bytes = commit_batch_bytes()?;
    let (mut concurrent, mut serialized, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..options.rounds.max(1) {
        let dir = |name: &str| temp.join(format!("commits-{name}-{round}"));
        let mut order = [0, 1, 2];
        if round % 2 == 1 {
            order.reverse();
        }
        for which in order {
            match which {
                0 => serialized.push(concurrent_commits(&dir("s"), producers, true, budget)?),
                1 => concurrent.push(concurrent_commits(&dir("c"), producers, false, budget)?),
                _ => raw.push(parallel_raw(temp, producers, block_bytes, budget)?),
            }
        }
    }
    let no_rounds = || TxnBenchError {
        what: "commits".into(),
        reason: "no rounds".into(),
    };
    let raw = median(raw).ok_or_else(no_rounds)?;
    let serialized = median(serialized).ok_or_else(no_rounds)?;
    let concurrent = median(concurrent).ok_or_else(no_rounds)?;
    report(options, &raw, &[]);
    let limit = |m: &Measurement| m.records_per_sec() / raw.records_per_sec();
    report(
        options,
        &serialized,
        &[("parallel fdatasync", limit(&serialized))],
    );
    let versus_serialized = concurrent.records_per_sec() / serialized.records_per_sec();
    report(
        options,
        &concurrent,
        &[
            ("serialized commits", versus_serialized),
            ("parallel fdatasync", limit(&concurrent)),
        ],
    );
    Ok(())
}

/// Bytes of one commit's data batch as written to its partition: one 1 KiB record, stamped
/// transactional (the size the physical limit is measured at).
fn commit_batch_bytes() -> Result<usize> {
    let record = super::make_records(1);
    let stamp = ProducerStamp {
        producer_id: exactly_core::ProducerId(1),
        epoch: exactly_core::ProducerEpoch(0),
        base_sequence: exactly_core::Sequence(0),
    };
    let batch = EncodedBatch::encode(&record, Some(stamp), ATTR_TRANSACTIONAL, u32::MAX)
        .map_err(failed("encoding a commit's batch"))?;
    Ok(batch.len_bytes())
}

/// The physical limit: `files` threads, each writing `block_bytes` to its own file with
/// an `fdatasync` after every write. Counts writes as `records`.
fn parallel_raw(
    dir: &Path,
    files: u32,
    block_bytes: usize,
    budget: Duration,
) -> Result<Measurement> {
    let (writes, elapsed) = parallel_fdatasync_writes(dir, files as usize, block_bytes, budget)
        .map_err(failed("parallel write+fdatasync"))?;
    Ok(Measurement {
        name: format!("raw write+fdatasync, {files} files in parallel, {block_bytes} B"),
        records: writes,
        elapsed,
        commits: Vec::new(),
    })
}

/// Commit throughput of `producers` producers at once, each to its own partition, one
/// 1 KiB record per transaction; `serialize` restores the old global lock across I/O.
/// Counts commits as `records`.
fn concurrent_commits(
    dir: &Path,
    producers: u32,
    serialize: bool,
    budget: Duration,
) -> Result<Measurement> {
    let log = open_log(dir, Durability::Immediate, producers)?;
    log.serialize_transaction_io(serialize);
    let record = super::make_records(1);
    let barrier = Barrier::new(producers as usize);
    let started = Instant::now();
    let results: Vec<Result<Vec<Duration>>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..producers)
            .map(|i| {
                let (log, record, barrier) = (&log, &record, &barrier);
                s.spawn(move || -> Result<Vec<Duration>> {
                    let mut producer = log
                        .transactional_producer(&format!("bench-{i}"), 60_000)
                        .map_err(failed("creating a producer"))?;
                    barrier.wait();
                    let started = Instant::now();
                    let mut latencies = Vec::new();
                    while started.elapsed() < budget {
                        let commit = Instant::now();
                        producer.begin().map_err(failed("begin"))?;
                        producer.send("bench", i, record).map_err(failed("send"))?;
                        producer.commit().map_err(failed("commit"))?;
                        latencies.push(commit.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| match t.join() {
                Ok(result) => result,
                Err(_) => Err(TxnBenchError {
                    what: "a producer thread".into(),
                    reason: "panicked".into(),
                }),
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut commits = Vec::new();
    for result in results {
        commits.extend(result?);
    }
    commits.sort();
    log.close().map_err(failed("closing the log"))?;
    std::fs::remove_dir_all(dir).map_err(failed("removing the log"))?;
    let mode = match serialize {
        true => "serialized (global lock across I/O)",
        false => "concurrent",
    };
    Ok(Measurement {
        name: format!("{producers} producers committing, {mode}"),
        records: commits.len() as u64,
        elapsed,
        commits,
    })
}
