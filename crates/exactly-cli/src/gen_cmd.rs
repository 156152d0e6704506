//! `exactly gen …`: deterministic input for the built-in jobs, written to the embedded log
//! (by `exactly_engine::generate`) or to a topic on NATS JetStream (by
//! `exactly_nats::generate`); this parses the arguments and prints the summary.

use crate::log_cmd::nats_connect;
use anyhow::Context;
use clap::{Args, Subcommand};
use exactly_engine::generate::{write_generated, GenKind, GenTarget};
use exactly_nats::generate::publish_generated;
use exactly_nats::TopicOptions;
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
    #[arg(long, required_unless_present = "log")]
    dir: Option<PathBuf>,
    /// A NATS JetStream log instead of a directory: `nats://host:port[,host:port…]`.
    #[arg(long, conflicts_with = "dir", value_name = "nats://HOST:PORT[,…]")]
    log: Option<String>,
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
    /// Options of a topic created on NATS (ignored for `--dir`).
    #[command(flatten)]
    nats: TopicOptions,
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
    let (target, kind) = match args.command {
        GenCommand::Transfers(args) => (
            args.target,
            GenKind::Transfers {
                accounts: args.accounts,
            },
        ),
        GenCommand::Words(args) => (
            args.target,
            GenKind::Lines {
                vocabulary: args.vocabulary,
            },
        ),
    };
    kind.check()?; // before connecting, as with the embedded log
    let summary = match &target.log {
        Some(address) => {
            let log = nats_connect(address)?;
            let (topic, partitions) = (&target.topic, target.partitions);
            publish_generated(
                &log,
                topic,
                partitions,
                &target.nats,
                target.count,
                target.seed,
                kind,
            )?
        }
        None => write_generated(&GenTarget::try_from(target)?, kind)?,
    };
    // Through a `Value`: the keys print sorted, as they always have.
    println!("{}", serde_json::to_value(&summary)?);
    Ok(())
}

impl TryFrom<Target> for GenTarget {
    type Error = anyhow::Error;

    fn try_from(target: Target) -> anyhow::Result<Self> {
        Ok(GenTarget {
            dir: target.dir.context("--dir or --log is required")?,
            topic: target.topic,
            partitions: target.partitions,
            count: target.count,
            seed: target.seed,
        })
    }
}
