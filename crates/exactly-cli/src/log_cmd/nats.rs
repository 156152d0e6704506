//! `exactly log … --log nats://…`: the same commands on NATS JetStream (a topic is one
//! stream per partition, offsets are stream sequences starting at 1; see `docs/nats.md`).

use super::consume::ConsumeArgs;
use anyhow::{bail, Context};
use exactly_kafka::render::ConsumedRecord;
use exactly_nats::consume::{read_partitions, ReadPlan, Start};
use exactly_nats::{NatsLog, StoredRecord, TopicOptions};
use serde_json::json;
use std::io::{BufWriter, LineWriter, Write};
use std::ops::ControlFlow;

/// Connects to `address` (`nats://host:port[,…]`).
pub(crate) fn connect(address: &str) -> anyhow::Result<NatsLog> {
    NatsLog::connect(address).with_context(|| format!("connecting to {address}"))
}

/// `exactly log create --log …`.
pub(crate) fn create(
    address: &str,
    topic: &str,
    partitions: u32,
    options: &TopicOptions,
) -> anyhow::Result<()> {
    let log = connect(address)?;
    let created = log.create_topic(topic, partitions, options.clone())?;
    println!(
        "{}",
        json!({"created": topic, "partitions": created.partitions(), "log": address,
               "options": created.meta().options})
    );
    Ok(())
}

/// `exactly log describe --log …`: per partition its first and next sequence (as the
/// embedded log's start and end offsets), record count and the topic's options.
pub(crate) fn describe(address: &str, only: Option<&str>) -> anyhow::Result<()> {
    // Through a `Value`: the keys print sorted, as they always have.
    for row in exactly_nats::describe::describe(&connect(address)?, only)? {
        println!("{}", serde_json::to_value(row)?);
    }
    Ok(())
}

/// How often `consume --follow` looks for new records when none came.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `exactly log consume --log …`: records as the embedded log prints them; the offset is
/// the stream sequence (the first is 1). Reads each partition to its end as of the call,
/// or, with `--follow`, keeps reading them as records arrive.
pub(crate) fn consume(address: &str, args: ConsumeArgs) -> anyhow::Result<()> {
    let log = connect(address)?;
    let topic = log.open_topic(&args.topic)?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) if p >= topic.partitions() => bail!(
            "topic '{}' has {} partitions; {p} does not exist",
            args.topic,
            topic.partitions()
        ),
        Some(p) => vec![p],
        None => (0..topic.partitions()).collect(),
    };
    let mut printer = args.printer()?;
    // Following, each record is shown as it arrives (a line at a time); otherwise
    // buffered.
    let mut out: Box<dyn Write> = if args.follow {
        Box::new(LineWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    };
    let mut print = |partition: u32, record: &StoredRecord| {
        let record = ConsumedRecord {
            topic: &args.topic,
            partition,
            offset: record.sequence,
            timestamp_ms: record.timestamp_ms,
            key: record.key.as_deref(),
            stored_value: &record.value,
        };
        match printer.write(&mut out, &record) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()), // The reader went away (a closed pipe).
        }
    };
    let start = match (args.from_offset, args.from_time) {
        (Some(sequence), _) => Start::Sequence(sequence),
        (None, Some(time_ms)) => Start::Time(time_ms),
        (None, None) => Start::First,
    };
    let plan = ReadPlan {
        partitions: &partitions,
        start,
        max: args.max,
        follow_poll: args.follow.then_some(FOLLOW_POLL),
    };
    read_partitions(&log, &topic, &plan, &mut print)?;
    let _ = out.flush();
    Ok(())
}
