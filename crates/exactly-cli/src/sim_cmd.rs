//! `exactly sim`: runs messages through pipes over the seeded simulated network and prints
//! the measured reliability R, uniqueness rate UR and the delivery mode they imply;
//! `exactly sim sweep` compares measured R and UR with the analytic formulas over a grid of
//! loss rates and retry limits (table, CSV, SVG).

mod sweep;

use anyhow::{ensure, Context};
use exactly_pipe::PipeMode;
use exactly_sim::{run as run_sim, Faults, NetConfig, SimConfig, SimReport};
use serde_json::json;
use std::time::{Duration, Instant};

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
        println!("{}", report_json(&report, wall));
    } else {
        print_report(&report, wall);
    }
    ensure!(
        report.completed,
        "the run did not finish within the simulated time limit; replay: {}",
        config.replay_command()
    );
    Ok(())
}

fn report_json(report: &SimReport, wall: Duration) -> serde_json::Value {
    let e2e = report.end_to_end;
    let rel = e2e.reliability();
    let hops: Vec<_> = report
        .hops
        .iter()
        .map(|h| {
            let r = h.meter.reliability();
            json!({"sent": h.meter.sent, "received": h.meter.received, "unique": h.meter.unique,
                   "r": r.r, "ur": r.ur, "mode": h.meter.mode().name(),
                   "frames_sent": h.sender.frames_sent, "resends": h.sender.resends,
                   "given_up": h.sender.given_up,
                   "duplicates_suppressed": h.receiver.duplicates_suppressed,
                   "stale_discarded": h.receiver.stale_discarded,
                   "frames_corrupt": h.receiver.frames_corrupt + h.sender.frames_corrupt,
                   "net_lost": h.net.lost, "net_partitioned": h.net.partitioned,
                   "net_duplicated": h.net.duplicated, "net_corrupted": h.net.corrupted,
                   "peak_window_span": h.peaks.window_span, "peak_gap_ids": h.peaks.gap_ids,
                   "peak_reorder_buffered": h.peaks.reorder_buffered})
        })
        .collect();
    json!({
        "pipe": report.config.pipe.name(), "seed": report.config.seed,
        "messages": e2e.sent, "received": e2e.received, "unique": e2e.unique,
        "r": rel.r, "ur": rel.ur, "mode": e2e.mode().name(), "in_order": report.in_order,
        "frames_sent": report.frames_sent(),
        "duplicates_suppressed": report.duplicates_suppressed(),
        "sim_time_ms": report.sim_time_ms, "wall_ms": wall.as_secs_f64() * 1e3,
        "completed": report.completed, "hops": hops,
    })
}

fn print_report(report: &SimReport, wall: Duration) {
    let e2e = report.end_to_end;
    let rel = e2e.reliability();
    let c = &report.config;
    println!(
        "pipe {} x{} hop(s), seed {}: loss {} dup {} reorder {} corrupt {}",
        c.pipe, c.hops, c.seed, c.net.loss, c.net.dup, c.net.reorder, c.net.corrupt
    );
    println!("  R                      {:.6}", rel.r);
    println!("  UR                     {:.6}", rel.ur);
    println!("  mode                   {}", e2e.mode());
    println!("  messages               {}", e2e.sent);
    println!("  received / unique      {} / {}", e2e.received, e2e.unique);
    println!("  in order               {}", report.in_order);
    println!("  frames sent            {}", report.frames_sent());
    println!(
        "  duplicates suppressed  {}",
        report.duplicates_suppressed()
    );
    println!("  simulated time         {} ms", report.sim_time_ms);
    let rate = e2e.sent as f64 / wall.as_secs_f64().max(1e-9);
    println!(
        "  wall time              {:.1} ms ({rate:.0} msg/s)",
        wall.as_secs_f64() * 1e3
    );
    if report.hops.len() > 1 {
        for (i, h) in report.hops.iter().enumerate() {
            let r = h.meter.reliability();
            println!("  hop {i}: R {:.6} UR {:.6} {}", r.r, r.ur, h.meter.mode());
        }
        let product =
            exactly_pipe::Reliability::compose(report.hops.iter().map(|h| h.meter.reliability()));
        println!(
            "  product of hops: R {:.6} UR {:.6} {}",
            product.r,
            product.ur,
            product.mode()
        );
    }
}

/// Parses a comma-separated list (`0,0.1,0.2`).
fn parse_list<T: std::str::FromStr>(s: &str, what: &str) -> anyhow::Result<Vec<T>> {
    s.split(',')
        .map(|item| {
            item.trim()
                .parse()
                .ok()
                .with_context(|| format!("bad {what} {item:?} in {s:?}"))
        })
        .collect()
}
