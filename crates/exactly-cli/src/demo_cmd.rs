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
use producer::spinner;
use rand::Rng;
use serde_json::json;
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
            let c = &row.check;
            println!(
                "{}",
                json!({"guarantee": row.guarantee, "crashes": row.crashes, "runs": row.runs,
                       "transfers": c.transfers, "events_expected": c.events_expected,
                       "events_applied": c.events_applied, "r": c.r, "ur": c.ur,
                       "accounts": c.accounts, "accounts_wrong": c.accounts_wrong,
                       "money_total": c.money_total, "exactly_once": c.exactly_once(),
                       "transfers_per_sec": row.throughput(), "seed": seed})
            );
        }
        return;
    }
    println!(
        "exactly demo: `balances` over {} transfers between {} accounts, parallelism {}, \
         checkpoints every {} ms, killed with SIGKILL and restarted (seed {seed})\n",
        args.transfers, args.accounts, args.parallelism, args.checkpoint_interval_ms
    );
    println!(
        "  {:<14} {:>7} {:>10} {:>9} {:>9} {:>17} {:>15} {:>12}",
        "guarantee",
        "crashes",
        "transfers",
        "R",
        "UR",
        "balances correct",
        "money conserved",
        "transfers/s"
    );
    for row in rows {
        let c = &row.check;
        let correct = if c.accounts_wrong == 0 {
            "yes".to_string()
        } else {
            format!("no ({} wrong)", c.accounts_wrong)
        };
        let conserved = if c.money_total == 0 {
            "yes".to_string()
        } else {
            format!("no ({:+})", c.money_total)
        };
        println!(
            "  {:<14} {:>7} {:>10} {:>9.6} {:>9.6} {:>17} {:>15} {:>12.0}",
            row.guarantee,
            row.crashes,
            c.transfers,
            c.r.unwrap_or(f64::NAN),
            c.ur.unwrap_or(f64::NAN),
            correct,
            conserved,
            row.throughput()
        );
    }
    println!(
        "\n  R: share of transfer halves (debit, credit) applied at least once; UR: share of \
         applications that were not repeats\n  (both from the audit the job writes in the same \
         transaction as its outputs). Throughput includes restarts. {:.1} s in all.\n  \
         at-most-once commits input positions ahead of processing: a crash skips messages.\n  \
         at-least-once writes effects before the checkpoint covering them: a crash repeats \
         them (its state is\n  restored with its positions, so balances stay right; the \
         repeats are in what it wrote out).\n  exactly-once writes each checkpoint's outputs \
         in one transaction, committed once its manifest is durable.",
        elapsed.as_secs_f64()
    );
}

/// Runs one guarantee (see `exactly_testkit::demo`) with a spinner on the terminal.
fn run_guarantee(
    dir: &Path,
    guarantee: &'static str,
    args: &DemoArgs,
    seed: u64,
) -> anyhow::Result<GuaranteeRun> {
    let exe = crate::exactly_exe()?;
    let job = DemoJob {
        kills: args.kills,
        parallelism: args.parallelism,
        checkpoint_interval_ms: args.checkpoint_interval_ms,
    };
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
