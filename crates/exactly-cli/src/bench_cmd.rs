//! `exactly bench …`: benchmarks whose every figure is a ratio measured in the same run.

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
}

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Log(args) => log::run(args),
        BenchTarget::Pipe(args) => pipe::run(args),
        BenchTarget::Txn(args) => txn::run(args),
    }
}
