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
    print!("{}", report.table(&config));
    Ok(())
}
