//! `exactly bench engine`: arguments and printing of the engine benchmark
//! ([`exactly_bench::engine`]).

use super::Progress;
use clap::Args;
use exactly_bench::engine::{EngineBenchConfig, RecoveryConfig};
use std::path::PathBuf;

/// Arguments of `exactly bench engine`.
#[derive(Args, Debug)]
pub struct EngineBenchArgs {
    /// Transfers in the throughput input.
    #[arg(long, default_value_t = 2_000_000)]
    transfers: u64,
    /// Accounts in the throughput input.
    #[arg(long, default_value_t = 100_000)]
    accounts: u64,
    /// Tasks per stage.
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Accounts (keys of state) for the recovery measurement (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    recovery_keys: u64,
    /// Scratch directory (default: a temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: EngineBenchArgs) -> anyhow::Result<()> {
    let recovery = match args.recovery_keys {
        0 => None,
        keys => Some(RecoveryConfig {
            keys,
            exactly_exe: crate::exactly_exe()?,
        }),
    };
    let config = EngineBenchConfig {
        transfers: args.transfers,
        accounts: args.accounts,
        parallelism: args.parallelism,
        rounds: args.rounds,
        recovery,
        dir: args.dir,
    };
    let progress = Progress::new("bench engine");
    let report = exactly_bench::engine::run(&config, &|step| progress.step(step))?;
    drop(progress);
    if args.json {
        super::print_json_lines(&report.variants)?;
        return super::print_json_lines(&[&report]);
    }
    let p = report.parallelism;
    println!(
        "exactly bench engine: balances over {} transfers (~{:.0} B records), {} accounts, parallelism {p}, checkpoints every 1 s, median of {} rounds",
        args.transfers, report.record_bytes, args.accounts, report.rounds
    );
    for v in &report.variants {
        let rounds: Vec<String> = v
            .rounds_events_per_sec
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect();
        println!(
            "  {:<14} {:>10} events in {:>6.2} s = {:>9.0} events/s ({} checkpoints; rounds {})",
            v.variant,
            v.records,
            v.seconds,
            v.events_per_sec,
            v.checkpoints,
            rounds.join(", ")
        );
    }
    let (eo, alo, pass) = (
        report.exactly_once_per_sec,
        report.at_least_once_per_sec,
        report.pass_through_per_sec,
    );
    println!(
        "  medians: exactly-once {eo:.0}/s, at-least-once {alo:.0}/s, pass-through {pass:.0}/s"
    );
    println!(
        "  exactly-once / at-least-once = {:.1}%  (goal ≥ 90%); exactly-once / pass-through = {:.1}%",
        100.0 * report.eo_vs_alo,
        100.0 * eo / pass.max(1e-9)
    );
    println!(
        "  exactly-once with the idempotent sink: {:.0}/s = {:.1}% of at-least-once",
        report.exactly_once_idempotent_per_sec,
        100.0 * report.exactly_once_idempotent_per_sec / alo.max(1e-9)
    );
    if let Some(r) = &report.recovery {
        println!(
            "  recovery after kill -9 with {} keys: log open {} ms, back to processing {} ms after restart (checkpoint {:?}; goal < 1000 ms)",
            r.keys, r.log_open_ms, r.back_to_processing_ms, r.restored_checkpoint
        );
    }
    Ok(())
}
