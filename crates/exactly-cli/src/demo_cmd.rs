//! `exactly demo`: the main job. Transfers are generated into a temporary embedded log and
//! the `balances` job runs three times — at-most-once, at-least-once, exactly-once — each
//! as a child process killed with SIGKILL at random moments and restarted with the same
//! command. Each run is then audited from the log alone: R and UR of the applied transfer
//! halves (from the audit the job writes in the same transaction as its outputs), every
//! account's last balance against the reference computed from the input, money conserved.
//!
//! `exactly demo producer` is the earlier demo: an idempotent producer killed and resumed.

mod producer;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use exactly_engine::generate::transfers_into;
use exactly_testkit::demo::{self, DemoJob, GuaranteeRun, GUARANTEES};
use exactly_testkit::demo_report::{json_row, DemoTable};
use producer::spinner;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `exactly demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(subcommand)]
    kind: Option<DemoKind>,
    /// Transfers to generate.
    #[arg(long, default_value_t = 1_000_000)]
    transfers: u64,
    /// Accounts.
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// SIGKILLs per guarantee (each lands while the job is running).
    #[arg(long, default_value_t = 4)]
    kills: u32,
    /// Tasks per stage.
    #[arg(long, default_value_t = 2)]
    parallelism: u32,
    /// Time between checkpoints.
    #[arg(long, default_value_t = 100)]
    checkpoint_interval_ms: u64,
    /// Seed for the input and the kill timing (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the logs in this directory instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON line per guarantee.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum DemoKind {
    /// An idempotent producer killed with SIGKILL and resumed, verified exactly once.
    Producer(producer::ProducerArgs),
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    if let Some(DemoKind::Producer(args)) = args.kind {
        return producer::run(args);
    }
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let work = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let started = Instant::now();
    let mut rows = Vec::new();
    for (i, guarantee) in GUARANTEES.into_iter().enumerate() {
        let dir = work.join(guarantee);
        let bar = spinner(&format!(
            "{guarantee}: generating {} transfers",
            args.transfers
        ));
        transfers_into(&dir, "transfers", 4, args.transfers, args.accounts, seed)?;
        bar.finish_and_clear();
        rows.push(run_guarantee(
            &dir,
            guarantee,
            &args,
            seed.wrapping_add(i as u64),
        )?);
    }
    print_rows(&args, &rows, seed, started.elapsed());
    let Some(exactly) = rows.iter().find(|r| r.guarantee == "exactly-once") else {
        bail!("the exactly-once run is missing");
    };
    if !exactly.check.exactly_once() {
        bail!("exactly-once was not exactly once (seed {seed})");
    }
    Ok(())
}

fn print_rows(args: &DemoArgs, rows: &[GuaranteeRun], seed: u64, elapsed: Duration) {
    if args.json {
        for row in rows {
            println!("{}", json_row(row, seed));
        }
        return;
    }
    let table = DemoTable {
        transfers: args.transfers,
        accounts: args.accounts,
        job: &job(args),
        rows,
        seed,
        elapsed,
    };
    print!("{table}");
}

fn job(args: &DemoArgs) -> DemoJob {
    DemoJob {
        kills: args.kills,
        parallelism: args.parallelism,
        checkpoint_interval_ms: args.checkpoint_interval_ms,
    }
}

/// Runs one guarantee (see `exactly_testkit::demo`) with a spinner on the terminal.
fn run_guarantee(
    dir: &Path,
    guarantee: &'static str,
    args: &DemoArgs,
    seed: u64,
) -> anyhow::Result<GuaranteeRun> {
    let exe = crate::exactly_exe()?;
    let job = job(args);
    let bar = spinner(&format!("{guarantee}: run 1"));
    let run = demo::run_guarantee(&exe, dir, guarantee, &job, seed, |so_far| {
        bar.set_message(format!(
            "{guarantee}: run {}, {} SIGKILLs so far",
            so_far.runs, so_far.kills
        ));
    });
    bar.finish_and_clear();
    Ok(run?)
}
