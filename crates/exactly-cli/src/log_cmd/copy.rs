//! `exactly log copy`: the consume-transform-produce loop of `exactly_log::copy`, with its
//! arguments and summary line.

use super::open_scoped_writer;
use clap::Args;
use exactly_log::copy::{copy, CopyOptions, Guarantee, Transform};
use exactly_log::{LogConfig, WriteScope};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `exactly log copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Input topic.
    #[arg(long)]
    from: String,
    /// Output topic.
    #[arg(long)]
    to: String,
    /// Consumer group whose positions are read and committed.
    #[arg(long)]
    group: String,
    /// Transactional id (exactly-once).
    #[arg(long, default_value = "exactly-copy")]
    transactional_id: String,
    /// Transformation of each value.
    #[arg(long, value_enum, default_value = "identity")]
    transform: Transform,
    /// Commit (outputs + positions) at least this often.
    #[arg(long, default_value_t = 100)]
    commit_interval_ms: u64,
    /// exactly-once or at-least-once.
    #[arg(long, value_enum, default_value = "exactly-once")]
    guarantee: Guarantee,
    /// Keep running and copy new input as it arrives.
    #[arg(long)]
    follow: bool,
}

/// Runs `exactly log copy`.
pub fn run(args: CopyArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Owns its output and the group positions and transactions; follows its input.
    let scope = WriteScope::topics([args.to.as_str()]).with_transactions();
    let log = open_scoped_writer(&args.dir, LogConfig::default(), scope)?;
    let options = CopyOptions {
        from: args.from.clone(),
        to: args.to.clone(),
        group: args.group.clone(),
        transactional_id: args.transactional_id.clone(),
        transform: args.transform,
        commit_interval: Duration::from_millis(args.commit_interval_ms),
        guarantee: args.guarantee,
        follow: args.follow,
    };
    let copied = copy(&log, &options)?;
    log.close()?;
    let elapsed = started.elapsed();
    println!(
        "{}",
        json!({"from": args.from, "to": args.to, "group": args.group,
               "guarantee": format!("{:?}", args.guarantee), "copied": copied.copied,
               "commits": copied.commits, "elapsed_ms": elapsed.as_millis() as u64})
    );
    Ok(())
}
