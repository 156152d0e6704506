//! `exactly bench kafka`: arguments and printing of the Kafka-protocol benchmark
//! ([`exactly_bench::kafka`]).

use super::{print_json_lines, Progress};
use clap::Args;
use exactly_bench::kafka::KafkaBenchConfig;

/// Arguments of `exactly bench kafka`.
#[derive(Args, Debug)]
pub struct KafkaBenchArgs {
    // What to measure: the flags are `exactly_bench`'s settings.
    #[command(flatten)]
    config: KafkaBenchConfig,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: KafkaBenchArgs) -> anyhow::Result<()> {
    let config = args.config;
    let progress = Progress::new("bench kafka");
    let figures = exactly_bench::kafka::run_kafka_bench(&config, &mut |step| progress.step(step))?;
    drop(progress);
    if args.json {
        return print_json_lines(&figures);
    }
    for figure in &figures {
        println!("{figure}");
    }
    Ok(())
}
