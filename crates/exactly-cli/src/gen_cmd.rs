//! `exactly gen …`: deterministic input for the built-in jobs, written to the embedded log
//! (by `exactly_engine::generate`; this parses the arguments and prints the summary).

use clap::{Args, Subcommand};
use exactly_engine::generate::{write_lines, write_transfers, GenTarget};
use std::path::PathBuf;

/// Arguments of `exactly gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(subcommand)]
    command: GenCommand,
}

#[derive(Subcommand, Debug)]
enum GenCommand {
    /// Transfers `{"id","from","to","amount"}` keyed by the debited account; ids continue
    /// after the records already in the topic, so running it again adds new transfers.
    Transfers(TransfersArgs),
    /// Lines of words for `exactly run wordcount`.
    Words(WordsArgs),
}

#[derive(Args, Debug)]
struct Target {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Topic (created if missing).
    #[arg(long)]
    topic: String,
    /// Partitions when the topic is created.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Records to write.
    #[arg(long)]
    count: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
struct TransfersArgs {
    #[command(flatten)]
    target: Target,
    /// Number of accounts (≥ 2).
    #[arg(long, default_value_t = 1000)]
    accounts: u64,
}

#[derive(Args, Debug)]
struct WordsArgs {
    #[command(flatten)]
    target: Target,
    /// Distinct words.
    #[arg(long, default_value_t = 1000)]
    vocabulary: u64,
}

/// Runs `exactly gen …`.
pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let summary = match args.command {
        GenCommand::Transfers(args) => write_transfers(&args.target.into(), args.accounts)?,
        GenCommand::Words(args) => write_lines(&args.target.into(), args.vocabulary)?,
    };
    // Through a `Value`: the keys print sorted, as they always have.
    println!("{}", serde_json::to_value(&summary)?);
    Ok(())
}

impl From<Target> for GenTarget {
    fn from(target: Target) -> Self {
        GenTarget {
            dir: target.dir,
            topic: target.topic,
            partitions: target.partitions,
            count: target.count,
            seed: target.seed,
        }
    }
}
