//! `exactly sim`: runs messages through pipes over the seeded simulated network and prints
//! the measured reliability R, uniqueness rate UR and the delivery mode they imply;
//! `exactly sim sweep` compares measured R and UR with the analytic formulas over a grid of
//! loss rates and retry limits (table, CSV, SVG).

mod sweep;

use anyhow::ensure;
use exactly_pipe::PipeMode;
use exactly_sim::{run as run_sim, Faults, NetConfig, SimConfig};
use std::time::Instant;

/// Arguments of `exactly sim`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand, Debug)]
enum SimCommand {
    /// Sweep loss rates and retry limits; compare measured R and UR with the analytic curves.
    Sweep(sweep::SweepArgs),
}

/// One simulated run.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Pipe: at-most-once, resend, resend+id-dedup, resend+index-dedup, ordered.
    #[arg(long, default_value = "resend+id-dedup")]
    pipe: PipeMode,
    #[command(flatten)]
    net: NetArgs,
    /// Resends before a message is given up (default: never give up).
    #[arg(long)]
    retries: Option<u32>,
    /// Messages to send.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Pipes in series.
    #[arg(long, default_value_t = 1)]
    hops: u32,
    /// Seed of every random decision; the same seed replays the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sender in-flight window (seqs).
    #[arg(long, default_value_t = 256)]
    window: u64,
    /// Receivers confirm only after the next hop (or the application) confirmed.
    #[arg(long)]
    cascade: bool,
    /// Run every hop inside a secure channel (Noise IK: handshake, encryption, replay
    /// window, rekeying).
    #[arg(long)]
    secure: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Link faults shared by `sim` and `sim sweep`.
#[derive(clap::Args, Debug, Clone)]
pub struct NetArgs {
    /// Probability a frame is lost.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability a frame is duplicated.
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Probability a frame is delayed so that later frames overtake it.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Probability a frame has a bit flipped.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Start a partition every this many simulated ms (0: never).
    #[arg(long, default_value_t = 0)]
    partition_every_ms: u64,
    /// Each partition lasts this long, then heals.
    #[arg(long, default_value_t = 0)]
    partition_for_ms: u64,
}

impl NetArgs {
    fn to_config(&self) -> anyhow::Result<NetConfig> {
        let faults = Faults {
            loss: self.loss,
            dup: self.dup,
            reorder: self.reorder,
            corrupt: self.corrupt,
            partition_every_ms: self.partition_every_ms,
            partition_for_ms: self.partition_for_ms,
        };
        Ok(faults.to_config()?)
    }
}

impl RunArgs {
    fn to_config(&self) -> anyhow::Result<SimConfig> {
        ensure!(self.hops >= 1, "--hops must be at least 1");
        ensure!(self.window >= 1, "--window must be at least 1");
        let mut config = SimConfig::new(self.pipe, self.net.to_config()?, self.messages, self.seed);
        config.hops = self.hops;
        config.retries_max = self.retries;
        config.in_flight_max = self.window;
        config.cascade = self.cascade;
        config.secure = self.secure;
        Ok(config)
    }
}

/// Runs `exactly sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimCommand::Sweep(sweep)) => sweep::run(sweep),
        None => run_once(&args.run),
    }
}

fn run_once(args: &RunArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let started = Instant::now();
    let report = run_sim(&config);
    let wall = started.elapsed();
    if args.json {
        println!("{}", report.to_json(wall));
    } else {
        println!("{}", report.to_text(wall));
    }
    ensure!(
        report.completed,
        "the run did not finish within the simulated time limit; replay: {}",
        config.replay_command()
    );
    Ok(())
}
