//! Criterion micro-benchmarks of the log's CPU paths (no fsync): batch encoding and
//! checking, the idempotent-producer check, and append + read on simulated storage.
//! Disk-bound figures come from `exactly bench log`, which measures the disk in the same run.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use exactly_core::{
    ManualClock, Offset, ProducerEpoch, ProducerId, Sequence, SimStorage, Timestamp,
};
use exactly_log::batch::{check_batch, decode_records, EncodedBatch};
use exactly_log::producer::ProducerTable;
use exactly_log::{Durability, Log, LogConfig, ProducerStamp, Record};
use std::sync::Arc;

fn records(count: usize, value_bytes: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record {
            timestamp: Timestamp(i as i64),
            key: Some(format!("key-{i}").into_bytes()),
            value: vec![7; value_bytes],
        })
        .collect()
}

fn stamp(sequence: u64) -> ProducerStamp {
    ProducerStamp {
        producer_id: ProducerId(1),
        epoch: ProducerEpoch(0),
        base_sequence: Sequence(sequence),
    }
}

fn batch_codec(c: &mut Criterion) {
    let input = records(1000, 100);
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("encode+seal 1000 x 100 B", |b| {
        b.iter(|| {
            let mut batch = EncodedBatch::encode(&input, Some(stamp(0)), 0, 16 << 20).unwrap();
            batch.seal(Offset(0)).len()
        })
    });
    let mut batch = EncodedBatch::encode(&input, Some(stamp(0)), 0, 16 << 20).unwrap();
    let bytes = batch.seal(Offset(0)).to_vec();
    group.bench_function("check+decode 1000 x 100 B", |b| {
        let mut out = Vec::with_capacity(1000);
        b.iter(|| {
            out.clear();
            let header = check_batch(&bytes, 16 << 20).unwrap();
            decode_records(&header, &bytes, &mut out).unwrap();
            out.len()
        })
    });
    group.finish();
}

fn producer_check(c: &mut Criterion) {
    let mut table = ProducerTable::default();
    let mut batch = EncodedBatch::encode(&records(10, 10), Some(stamp(0)), 0, 1 << 20).unwrap();
    let header = batch.header(Offset(0));
    batch.seal(Offset(0));
    table.record(&header, 0);
    c.bench_function("producer check (retry of the last batch)", |b| {
        b.iter(|| table.check(stamp(0), 10, 1000))
    });
}

fn append_and_read(c: &mut Criterion) {
    let config = LogConfig {
        durability: Durability::None,
        segment_bytes_max: 64 << 20,
        ..LogConfig::default()
    };
    let input = records(1000, 100);
    let mut group = c.benchmark_group("log on SimStorage");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("append 10 x 1000 x 100 B idempotent", |b| {
        b.iter_batched(
            || {
                let log = Log::open_with(
                    Arc::new(SimStorage::new(1)),
                    Arc::new(ManualClock::new(0)),
                    "/log",
                    config.clone(),
                )
                .unwrap();
                log.create_topic("t", 1).unwrap();
                log
            },
            |log| {
                for i in 0..10u64 {
                    log.append("t", 0, &input, Some(stamp(i * 1000))).unwrap();
                }
                log
            },
            BatchSize::PerIteration,
        )
    });
    let log = Log::open_with(
        Arc::new(SimStorage::new(1)),
        Arc::new(ManualClock::new(0)),
        "/log",
        config.clone(),
    )
    .unwrap();
    log.create_topic("t", 1).unwrap();
    for i in 0..100u64 {
        log.append("t", 0, &input, Some(stamp(i * 1000))).unwrap();
    }
    group.throughput(Throughput::Elements(1000));
    group.bench_function("read 1000 x 100 B", |b| {
        let mut offset = 0u64;
        b.iter(|| {
            let read = log.read("t", 0, Offset(offset), 1000).unwrap();
            offset = (offset + 1000) % 100_000;
            read.len()
        })
    });
    group.finish();
}

criterion_group!(benches, batch_codec, producer_check, append_and_read);
criterion_main!(benches);
