//! `exactly bench pipe`: arguments and printing of the pipe benchmark
//! ([`exactly_bench::pipe`]).

use super::{print_json_lines, Progress};
use exactly_bench::pipe::PipeBenchConfig;

/// Arguments of `exactly bench pipe`.
#[derive(clap::Args, Debug)]
pub struct PipeBenchArgs {
    /// Messages per UDP measurement.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Message payload size.
    #[arg(long, default_value_t = 1024)]
    message_bytes: usize,
    /// Pipe sender window (1 KiB frames: larger windows overflow the default loopback
    /// socket buffer and turn into loss).
    #[arg(long, default_value_t = 128)]
    window: u64,
    /// Pipe first resend timeout (fast retransmit and ack repeats recover most losses
    /// sooner; the timer is the last resort).
    #[arg(long, default_value_t = 20)]
    resend_timeout_ms: u64,
    /// Messages per simulator measurement.
    #[arg(long, default_value_t = 1_000_000)]
    sim_messages: u64,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: PipeBenchArgs) -> anyhow::Result<()> {
    let config = PipeBenchConfig {
        messages: args.messages,
        message_bytes: args.message_bytes,
        window: args.window,
        resend_timeout_ms: args.resend_timeout_ms,
        sim_messages: args.sim_messages,
        rounds: args.rounds,
    };
    let progress = Progress::new("bench pipe");
    let report = exactly_bench::pipe::run(&config, &|step| progress.step(step))?;
    drop(progress);
    if args.json {
        return print_json_lines(&report.rows);
    }
    println!(
        "{:<52} {:>12} {:>9} {:>8}  note",
        "measurement", "msg/s", "MiB/s", "vs raw"
    );
    for r in &report.rows {
        let ratio = r
            .ratio_to_raw
            .map_or("-".to_owned(), |x| format!("{:.0}%", x * 100.0));
        println!(
            "{:<52} {:>12.0} {:>9.1} {:>8}  {}",
            r.name, r.messages_per_s, r.mib_per_s, ratio, r.note
        );
    }
    Ok(())
}
