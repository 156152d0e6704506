//! `exactly log copy`: the consume-transform-produce loop of `exactly_log::copy`, with its
//! arguments and summary line.

use super::open_scoped_writer;
use clap::{Args, ValueEnum};
use exactly_log::copy::{copy, CopyOptions, Guarantee as LibGuarantee, Transform as LibTransform};
use exactly_log::{LogConfig, WriteScope};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What happens to each value on the way.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Transform {
    /// Unchanged.
    Identity,
    /// UTF-8 upper-cased (non-UTF-8 values unchanged).
    Upper,
}

/// Delivery guarantee of the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Guarantee {
    /// Outputs and positions in one transaction.
    ExactlyOnce,
    /// Outputs first, positions after: duplicates after a crash.
    AtLeastOnce,
}

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
        transform: match args.transform {
            Transform::Identity => LibTransform::Identity,
            Transform::Upper => LibTransform::Upper,
        },
        commit_interval: Duration::from_millis(args.commit_interval_ms),
        guarantee: match args.guarantee {
            Guarantee::ExactlyOnce => LibGuarantee::ExactlyOnce,
            Guarantee::AtLeastOnce => LibGuarantee::AtLeastOnce,
        },
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
