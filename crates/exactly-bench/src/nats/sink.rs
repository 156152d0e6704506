//! One round of the engine's exactly-once sink publishing on JetStream, measured alone:
//! checkpoints of `window` write-ahead outputs each, published by
//! [`NatsOutput::publish_ahead`] — the sink's own code path after a checkpoint commit
//! (tail read, resume after the job's last output by lineage id, pipelined conditional
//! publishes chained on the stream's last sequence). The baseline is the same records
//! published the plain way in the same run (pipelined, a message id each, no
//! expectation): [`super::nats_round`] with one producer.

use super::{unique, Meter, Round};
use crate::error::{BenchError, Context};
use exactly_core::Timestamp;
use exactly_engine::{Guarantee, Manifest, Output, SinkMode, Topology};
use exactly_log::Record;
use exactly_nats::{ClientOptions, NatsLog, NatsOutput, TopicOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// The job name the sink writes under (its lineage ids are `w.<job>.p0.<n>`).
const JOB: &str = "bench-sink";

/// Publishes `config.messages` records of `record_bytes` through the sink, one
/// checkpoint per `config.window` records; latency per checkpoint.
pub(super) fn sink_round(
    url: &str,
    config: &super::NatsBenchConfig,
    record_bytes: usize,
    server_pid: Option<u32>,
) -> Result<Round, BenchError> {
    let options = ClientOptions {
        request_timeout_ms: 60_000, // as the baseline's: a loaded fsync server is slow
        ..ClientOptions::default()
    };
    let log = NatsLog::connect_with(url, options).during("connecting the sink")?;
    let topic = format!("bench.sink.{}.{}", std::process::id(), unique());
    let created = log
        .create_topic(&topic, 1, TopicOptions::default())
        .during("creating the sink's topic")?;
    let output = NatsOutput::new(&log, url, JOB, 1, TopicOptions::default());
    let mut latencies_ms = Vec::new();
    let (mut next, mut checkpoint) = (0u64, 1u64);
    let meter = Meter::start(server_pid);
    let started = Instant::now();
    while next < config.messages {
        let count = (config.messages - next).min(config.window as u64);
        let manifest = checkpoint_of(&topic, checkpoint, next, count, record_bytes);
        let sent = Instant::now();
        let published = output
            .publish_ahead(JOB, &manifest)
            .during("publishing a checkpoint's outputs")?;
        latencies_ms.push(sent.elapsed().as_secs_f64() * 1e3);
        if published != count {
            return Err(BenchError::Check(format!(
                "checkpoint {checkpoint}: {published} of {count} outputs published"
            )));
        }
        next += count;
        checkpoint += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    log.delete_topic(&created)
        .during("deleting the sink's topic")?;
    Ok(Round {
        records_per_sec: config.messages as f64 / elapsed,
        latencies_ms,
        usage: meter.finish(),
    })
}

/// A manifest whose only content is `count` write-ahead outputs to partition 0 of
/// `topic`, the first numbered `base` (what a checkpoint of a job with one output
/// partition carries).
fn checkpoint_of(topic: &str, id: u64, base: u64, count: u64, record_bytes: usize) -> Manifest {
    let records: Vec<Record> = (0..count)
        .map(|_| Record {
            timestamp: Timestamp(0),
            key: None,
            value: vec![b'x'; record_bytes],
        })
        .collect();
    let target = (topic.to_string(), 0);
    Manifest {
        id,
        job: JOB.to_string(),
        topology: Topology {
            kind: "bench-sink".into(),
            input: "none".into(),
            output: topic.to_string(),
            audit: None,
            dead_letters: format!("{topic}.dead-letters"),
            guarantee: Guarantee::ExactlyOnce,
            key_groups: 1,
        },
        parallelism: 1,
        sink_mode: SinkMode::Idempotent,
        clock: Timestamp(0),
        positions: BTreeMap::new(),
        key_groups: BTreeMap::new(),
        sink_transactions: BTreeSet::new(),
        sequences: BTreeMap::from([(target.clone(), base)]),
        write_ahead: BTreeMap::from([(target, records)]),
    }
}
