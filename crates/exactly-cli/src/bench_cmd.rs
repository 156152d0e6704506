//! `exactly bench …`: the arguments and the printing of the benchmarks; the measuring is
//! done by `exactly_bench`, whose every figure is the median of several rounds compared
//! with a baseline measured in the same run.

mod cluster;
mod endpoint;
mod engine;
mod kafka;
mod log;
mod nats;
mod pipe;
mod txn;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

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
    /// NATS JetStream publishing with message ids vs the log's idempotent producer.
    Nats(nats::NatsBenchArgs),
    /// librdkafka against `exactly serve`: produce, consume, transactional copy.
    Kafka(kafka::KafkaBenchArgs),
    /// Distributed jobs on worker processes: scaling 1-3 workers, latency, kill recovery.
    Cluster(cluster::ClusterBenchArgs),
}

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Log(args) => log::run(args),
        BenchTarget::Pipe(args) => pipe::run(args),
        BenchTarget::Txn(args) => txn::run(args),
        BenchTarget::Engine(args) => engine::run(args),
        BenchTarget::Endpoint(args) => endpoint::run(args),
        BenchTarget::Nats(args) => nats::run(args),
        BenchTarget::Kafka(args) => kafka::run(args),
        BenchTarget::Cluster(args) => cluster::run(args),
    }
}

/// A spinner naming the step being measured, on standard error when it is a terminal;
/// nothing at all when it is not (piped output stays clean).
pub(crate) struct Progress(ProgressBar);

impl Progress {
    /// A spinner for `bench`.
    pub(crate) fn new(bench: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix}: {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_prefix(bench.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(bar)
    }

    /// Shows `step`.
    pub(crate) fn step(&self, step: &str) {
        self.0.set_message(step.to_string());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Prints one JSON line per item.
pub(crate) fn print_json_lines<T: serde::Serialize>(items: &[T]) -> anyhow::Result<()> {
    for item in items {
        println!("{}", serde_json::to_string(item)?);
    }
    Ok(())
}
