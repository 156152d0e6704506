//! `exactly bench …`: benchmarks whose every figure is a ratio measured in the same run.

mod endpoint;
mod engine;
mod log;
mod pipe;
mod txn;

use clap::{Args, Subcommand};

/// Arguments of `exactly bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
}

#[derive(Subcommand, Debug)]
enum BenchTarget {
    /// The embedded log: raw fdatasync bandwidth vs durable appends, idempotence, reads.
    Log(log::LogBenchArgs),
    /// Pipes: raw UDP vs the exactly-once pipe under loss; simulator speed.
    Pipe(pipe::PipeBenchArgs),
    /// Transactions: transactional vs idempotent appends, commit latency, copy EO vs ALO.
    Txn(txn::TxnBenchArgs),
    /// The stream engine: balances exactly-once vs at-least-once vs pass-through; recovery.
    Engine(engine::EngineBenchArgs),
    /// Endpoints: naive PostgreSQL outbox vs batched endpoint (PostgreSQL, embedded).
    Endpoint(endpoint::EndpointBenchArgs),
}

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Log(args) => log::run(args),
        BenchTarget::Pipe(args) => pipe::run(args),
        BenchTarget::Txn(args) => txn::run(args),
        BenchTarget::Engine(args) => engine::run(args),
        BenchTarget::Endpoint(args) => endpoint::run(args),
    }
}

/// Writes `block_bytes` blocks sequentially to a scratch file in `dir`, each followed by
/// fdatasync, for `budget`: the disk's own limit for durable writes. Returns the bytes
/// written and the time taken.
pub(crate) fn raw_fdatasync_bytes(
    dir: &std::path::Path,
    block_bytes: usize,
    budget: std::time::Duration,
) -> anyhow::Result<(u64, std::time::Duration)> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("raw.bin");
    let file = std::fs::File::create(&path)?;
    let block = vec![0xa5u8; block_bytes];
    let started = std::time::Instant::now();
    let mut written = 0u64;
    while started.elapsed() < budget {
        file.write_all_at(&block, written)?;
        file.sync_data()?;
        written += block.len() as u64;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok((written, elapsed))
}

/// The element whose `rate` is the median (noisy disks: report the middle round).
pub(crate) fn median_by<T>(mut results: Vec<T>, rate: impl Fn(&T) -> f64) -> Option<T> {
    results.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let middle = results.len() / 2;
    results.into_iter().nth(middle)
}
