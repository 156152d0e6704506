//! `exactly log consume`: records as JSON lines (or raw bytes, or a table; see
//! `exactly_kafka::render`), by offset or by time, optionally following the tail.

use anyhow::{bail, Context};
use clap::Args;
use exactly_core::{Offset, Timestamp};
use exactly_kafka::render::{OutputFormat, PrintingSink, RecordPrinter};
use exactly_log::consume::{consume, ConsumeOptions, Start};
use exactly_log::existing::open_existing_read_only;
use exactly_log::Isolation;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `exactly log consume`.
#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Log directory.
    #[arg(long, required_unless_present = "log")]
    pub(crate) dir: Option<PathBuf>,
    /// A NATS JetStream log instead of a directory: `nats://host:port[,host:port…]`
    /// (offsets are stream sequences, the first is 1).
    #[arg(long, conflicts_with = "dir", value_name = "nats://HOST:PORT[,…]")]
    pub(crate) log: Option<String>,
    /// Topic to read.
    #[arg(long)]
    pub(crate) topic: String,
    /// Only this partition (default: all, one after the other).
    #[arg(long)]
    pub(crate) partition: Option<u32>,
    /// Start at this offset.
    #[arg(long, conflicts_with = "from_time")]
    pub(crate) from_offset: Option<u64>,
    /// Start at the first record with timestamp ≥ MS (on NATS: the first record the server
    /// stored at or after MS).
    #[arg(long)]
    pub(crate) from_time: Option<i64>,
    /// Stop after this many records.
    #[arg(long)]
    pub(crate) max: Option<u64>,
    /// read-committed (default: committed transactions only) or read-uncommitted.
    #[arg(long, default_value = "read-committed", value_parser = parse_isolation)]
    isolation: Isolation,
    /// Keep waiting for new records (also those another process appends).
    #[arg(long)]
    pub(crate) follow: bool,
    /// json: one object per line, JSON values as JSON, text as strings, binary as
    /// `value_hex`; raw: the value's bytes (as kcat); table: columns for a person.
    #[arg(long, value_enum, default_value = "json")]
    pub(crate) format: OutputFormat,
    /// With `--format raw`: print the key and this delimiter before each value (kcat's
    /// `-K`; `\t`, `\n` understood).
    #[arg(long)]
    pub(crate) key_delimiter: Option<String>,
    /// With `--format raw`: end each record with this instead of a newline (kcat's `-D`).
    #[arg(long)]
    pub(crate) delimiter: Option<String>,
}

impl ConsumeArgs {
    /// The printer the format flags ask for.
    pub(crate) fn printer(&self) -> anyhow::Result<RecordPrinter> {
        if self.format != OutputFormat::Raw
            && (self.key_delimiter.is_some() || self.delimiter.is_some())
        {
            bail!("--key-delimiter and --delimiter apply to --format raw only");
        }
        Ok(RecordPrinter::new(
            self.format,
            self.key_delimiter.as_deref(),
            self.delimiter.as_deref(),
        ))
    }
}

fn parse_isolation(text: &str) -> Result<Isolation, String> {
    match text {
        "read-committed" => Ok(Isolation::ReadCommitted),
        "read-uncommitted" => Ok(Isolation::ReadUncommitted),
        other => Err(format!(
            "unknown isolation '{other}': want read-committed or read-uncommitted"
        )),
    }
}

/// Runs `exactly log consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let dir = args.dir.as_deref().context("--dir or --log is required")?;
    let log = open_existing_read_only(dir)?;
    let start = match (args.from_offset, args.from_time) {
        (Some(offset), _) => Start::Offset(Offset(offset)),
        (None, Some(ms)) => Start::Time(Timestamp(ms)),
        (None, None) => Start::Earliest,
    };
    let options = ConsumeOptions {
        topic: args.topic.clone(),
        partition: args.partition,
        start,
        max: args.max,
        isolation: args.isolation,
        follow: args.follow,
    };
    let mut sink = PrintingSink {
        topic: &args.topic,
        printer: args.printer()?,
        out: BufWriter::new(std::io::stdout().lock()),
    };
    consume(&log, &options, &mut sink)?;
    let _ = sink.out.flush();
    Ok(())
}
