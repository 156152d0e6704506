//! `exactly log txn`: write a JSON-lines file to several topics in one transaction — all
//! of it becomes visible to `read_committed` readers, or none of it
//! (`exactly_log::produce::transaction`).

use super::open_scoped_writer;
use clap::Args;
use exactly_core::{Clock, SystemClock};
use exactly_log::existing::open_existing_read_only;
use exactly_log::produce::transaction::{read_transaction_lines, write_transaction};
use exactly_log::{LogConfig, WriteScope};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `exactly log txn`.
#[derive(Args, Debug)]
pub struct TxnArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Transactional id (a newer instance with the same id fences older ones).
    #[arg(long)]
    transactional_id: String,
    /// Input file of JSON lines `{"topic":…, "key":…, "value":…, "timestamp":…}`
    /// (default: standard input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Abort instead of committing at the end (to see that nothing becomes visible).
    #[arg(long)]
    abort: bool,
    /// Transaction timeout.
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: i64,
}

/// Runs `exactly log txn`.
pub fn run(args: TxnArgs) -> anyhow::Result<()> {
    // Parse against a read-only view (partition counts never change), then own only the
    // topics the transaction writes.
    let view = open_existing_read_only(&args.dir)?;
    let reader = super::produce::input(args.input.as_deref())?;
    // Read and check everything first: a bad line aborts before anything is written.
    let count = |topic: &str| view.partition_count(topic);
    let input = read_transaction_lines(reader, &count, SystemClock.now_ms())?;
    drop(view);
    let scope = WriteScope::topics(input.batches.keys().map(|(topic, _)| topic.clone()));
    let log = open_scoped_writer(&args.dir, LogConfig::default(), scope.with_transactions())?;
    write_transaction(
        &log,
        &args.transactional_id,
        args.timeout_ms,
        &input,
        args.abort,
    )?;
    log.close()?;
    println!(
        "{}",
        json!({"transactional_id": args.transactional_id, "records": input.records,
               "partitions": input.batches.len(), "outcome": if args.abort { "aborted" } else { "committed" }})
    );
    Ok(())
}
