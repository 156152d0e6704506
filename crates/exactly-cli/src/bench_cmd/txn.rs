//! `exactly bench txn`: parses the arguments and runs [`exactly_bench::txn`] (what
//! transactions cost, as ratios measured in the same run; see there for every part).

use clap::Args;
use exactly_bench::txn::{Options, Parts};
use std::path::PathBuf;

/// Arguments of `exactly bench txn`.
#[derive(Args, Debug)]
pub struct TxnBenchArgs {
    /// Seconds per append or commit measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Directory on the disk to measure (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// 1 KiB records per appended batch (one `send`/`append` call).
    #[arg(long, default_value_t = 64)]
    batch_records: usize,
    /// Records in the input topic of the copy comparison.
    #[arg(long, default_value_t = 200_000)]
    copy_records: usize,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Transactional producers committing at once (concurrent vs serialized commits).
    #[arg(long, default_value_t = 8)]
    producers: u32,
    /// Committed transactions in the history the open time is measured after.
    #[arg(long, default_value_t = 1_000_000)]
    history_transactions: u64,
    /// Transactional ids the history is spread over.
    #[arg(long, default_value_t = 1_000)]
    history_ids: u64,
    /// Opens measured per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    opens: usize,
    /// Parts to run, comma-separated: appends, copy, concurrent, open (default: all).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "appends,copy,concurrent,open"
    )]
    only: Vec<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark.
pub fn run(args: TxnBenchArgs) -> anyhow::Result<()> {
    let parts = Parts::from_names(&args.only)?;
    let options = Options {
        seconds: args.seconds,
        dir: args.dir.clone(),
        batch_records: args.batch_records,
        copy_records: args.copy_records,
        rounds: args.rounds,
        json: args.json,
        exactly_exe: crate::exactly_exe()?,
        producers: args.producers,
        history_transactions: args.history_transactions,
        history_ids: args.history_ids,
        opens: args.opens,
        parts,
    };
    exactly_bench::txn::run(&options)?;
    Ok(())
}
