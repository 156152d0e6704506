//! `exactly nats …`: checks of a NATS JetStream log that the embedded log does not need.
//! `verify` reads a topic with a fresh reader and counts records by lineage id (the
//! message id), not by JetStream's de-duplication state; it exits non-zero on any
//! duplicate or gap.

use crate::log_cmd::nats_connect;
use anyhow::bail;
use clap::{Args, Subcommand};
use exactly_nats::consume::{audit_topic, TopicAudit};
use serde_json::json;

/// Arguments of `exactly nats`.
#[derive(Args, Debug)]
pub struct NatsArgs {
    #[command(subcommand)]
    command: NatsCommand,
}

#[derive(Subcommand, Debug)]
enum NatsCommand {
    /// Count a topic's records by lineage id: duplicates and gaps; non-zero exit on any.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// `nats://host:port[,host:port…]`.
    #[arg(long, value_name = "nats://HOST:PORT[,…]")]
    log: String,
    /// The topic to verify.
    #[arg(long)]
    topic: String,
}

/// Runs `exactly nats …`.
pub fn run(args: NatsArgs) -> anyhow::Result<()> {
    match args.command {
        NatsCommand::Verify(args) => verify(&args),
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let log = nats_connect(&args.log)?;
    let topic = log.open_topic(&args.topic)?;
    let TopicAudit {
        report,
        retention_truncated: truncated,
    } = audit_topic(&log, &topic)?;
    println!(
        "{}",
        json!({"topic": args.topic, "records": report.records, "duplicates": report.duplicates,
               "gaps": report.gaps, "without_id": report.without_id,
               "retention_truncated": truncated, "producers": report.producers,
               "exact": report.is_exact()})
    );
    if !report.is_exact() {
        bail!(
            "topic '{}': {} duplicate(s), {} gap(s), {} record(s) without a lineage id",
            args.topic,
            report.duplicates,
            report.gaps,
            report.without_id
        );
    }
    Ok(())
}
