//! `exactly bench endpoint`: what exactly-once processing at an endpoint costs, measured in
//! one run on the same PostgreSQL and the same disk.
//!
//! 1. a naive PostgreSQL outbox: one transaction per message (inbox check + insert, state
//!    upsert, outbox insert, commit), relayed in pages of 1000;
//! 2. `exactly`'s endpoint on PostgreSQL with one message per transaction (what batching
//!    is compared against inside our own code);
//! 3. `exactly`'s batched endpoint on PostgreSQL (`--batch` messages per transaction);
//! 4. `exactly`'s batched endpoint on the embedded store (journal fdatasync per batch),
//!    against the raw fdatasync rate of the same disk;
//! 5. the inbox's cost per retained id (embedded: memory and snapshot bytes; PostgreSQL:
//!    table + index bytes).
//!
//! Every run processes the same kind of workload: bank transfers with 10% duplicated
//! deliveries, through the bank's debit handler, including dispatching the outbox.
//! Configurations are interleaved over `--rounds` rounds; medians are reported.

use super::{median_by, raw_fdatasync_bytes};
use anyhow::Context;
use clap::Args;
use exactly_core::ManualClock;
use exactly_endpoint::bank::{account_key, Credit, Transfer, CREDITS_TOPIC, INITIAL_BALANCE};
use exactly_endpoint::testkit::{bank_workload, Workload, DEAD_LETTERS_TOPIC};
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, InboxStats, OutboxEntry,
    PublishError, Publisher, RetentionPolicy, Store,
};
use exactly_postgres::{drop_schema, PgOptions, PgStore};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `exactly bench endpoint`.
#[derive(Args, Debug)]
pub struct EndpointBenchArgs {
    /// PostgreSQL to measure.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg: String,
    /// Distinct messages for the one-transaction-per-message runs.
    #[arg(long, default_value_t = 2_000)]
    single_messages: u64,
    /// Distinct messages for the batched PostgreSQL run.
    #[arg(long, default_value_t = 50_000)]
    batched_messages: u64,
    /// Distinct messages for the embedded run.
    #[arg(long, default_value_t = 500_000)]
    embedded_messages: u64,
    /// Messages per transaction of the batched runs.
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Directory on the disk to measure (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// One measured run.
#[derive(Clone, Debug)]
struct Run {
    name: &'static str,
    deliveries: u64,
    elapsed: Duration,
    inbox: InboxStats,
    /// Journal bytes written and fdatasynced (embedded store only).
    journal_bytes: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Publishes nowhere: the benchmark measures the endpoint, not a transport.
struct CountingPublisher(u64);

impl Publisher for CountingPublisher {
    fn publish(&mut self, entries: &[OutboxEntry]) -> Result<(), PublishError> {
        self.0 += entries.len() as u64;
        Ok(())
    }
}

/// Runs the endpoint benchmark.
pub fn run(args: EndpointBenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let single = bank_workload(1, args.single_messages, 1000, 0.1, 0);
    let batched = bank_workload(2, args.batched_messages, 1000, 0.1, 0);
    let embedded = bank_workload(3, args.embedded_messages, 1000, 0.1, 0);
    let (mut naive, mut one, mut batch, mut embed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut raw = Vec::new();
    for round in 0..args.rounds.max(1) {
        let tag = format!("{}_{round}", std::process::id());
        naive.push(naive_pg(
            &args.pg,
            &format!("exactly_bench_naive_{tag}"),
            &single,
        )?);
        one.push(endpoint_pg(
            &args.pg,
            &format!("exactly_bench_one_{tag}"),
            &single,
            1,
            "exactly endpoint, PostgreSQL, 1 msg/txn",
        )?);
        batch.push(endpoint_pg(
            &args.pg,
            &format!("exactly_bench_batch_{tag}"),
            &batched,
            args.batch,
            "exactly endpoint, PostgreSQL, batched",
        )?);
        let run = endpoint_embedded(
            &dir.join(format!("embedded-{round}")),
            &embedded,
            args.batch,
        )?;
        // The physical limit for the same I/O pattern: one write + fdatasync per commit
        // of the commit's average size.
        let commits = run.deliveries.div_ceil(args.batch.max(1) as u64).max(1);
        let block = usize::try_from(run.journal_bytes / commits)
            .unwrap_or(4096)
            .max(4096);
        let (bytes, elapsed) = raw_fdatasync_bytes(&dir, block, Duration::from_secs(1))?;
        raw.push(bytes as f64 / elapsed.as_secs_f64());
        embed.push(run);
    }
    let medians: Vec<Run> = [naive, one, batch, embed]
        .into_iter()
        .filter_map(|r| median_by(r, Run::rate))
        .collect();
    let raw_bytes_per_s = median_by(raw, |r| *r).unwrap_or(0.0);
    report(&args, &medians, raw_bytes_per_s);
    Ok(())
}

fn report(args: &EndpointBenchArgs, runs: &[Run], raw_bytes_per_s: f64) {
    let rate = |i: usize| runs.get(i).map_or(0.0, Run::rate);
    let naive = rate(0);
    for run in runs {
        let per_id = |bytes: u64| bytes as f64 / run.inbox.ids.max(1) as f64;
        if args.json {
            let line = json!({"name": run.name, "deliveries": run.deliveries, "seconds": run.elapsed.as_secs_f64(),
                "messages_per_s": run.rate(), "vs_naive": run.rate() / naive.max(1e-9),
                "inbox_ids": run.inbox.ids, "inbox_memory_bytes_per_id": per_id(run.inbox.memory_bytes),
                "inbox_disk_bytes_per_id": per_id(run.inbox.disk_bytes)});
            println!("{line}");
        } else {
            println!(
                "{:<44} {:>9} msg/s  {:>6.2}× naive   inbox {:>8} ids: {:>5.1} B/id memory, {:>5.1} B/id disk",
                run.name, run.rate().round(), run.rate() / naive.max(1e-9), run.inbox.ids,
                per_id(run.inbox.memory_bytes), per_id(run.inbox.disk_bytes)
            );
        }
    }
    let journal = runs
        .get(3)
        .map_or(0.0, |r| r.journal_bytes as f64 / r.elapsed.as_secs_f64());
    let of_raw = 100.0 * journal / raw_bytes_per_s.max(1e-9);
    if args.json {
        let line = json!({"name": "embedded journal vs raw write+fdatasync, same block size",
            "journal_bytes_per_s": journal, "raw_bytes_per_s": raw_bytes_per_s, "percent_of_raw": of_raw});
        println!("{line}");
    } else {
        println!(
            "{:<44} {:>6.1} MB/s journal, raw write+fdatasync of the same blocks {:.1} MB/s: {of_raw:.0}% of raw",
            "embedded journal (physical limit)",
            journal / 1e6,
            raw_bytes_per_s / 1e6
        );
    }
}

fn endpoint_config() -> EndpointConfig {
    EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 4096,
    }
}

/// Processes and dispatches the whole workload; returns the elapsed time.
fn drive<S: Store>(
    workload: &Workload,
    store: S,
    batch: usize,
) -> anyhow::Result<(Duration, InboxStats, S)> {
    let mut endpoint = Endpoint::new(
        workload.debit_handler(batch),
        store,
        endpoint_config(),
        Arc::new(ManualClock::new(0)),
    );
    let mut publisher = CountingPublisher(0);
    let started = Instant::now();
    for chunk in workload.deliveries.chunks(batch.max(1)) {
        endpoint.process(chunk)?;
        endpoint.dispatch(&mut publisher)?;
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(
        publisher.0 == workload.transfers.len() as u64,
        "published {} of {} credits",
        publisher.0,
        workload.transfers.len()
    );
    let inbox = endpoint.store().inbox_stats()?;
    Ok((elapsed, inbox, endpoint.into_store()))
}

fn endpoint_pg(
    url: &str,
    schema: &str,
    workload: &Workload,
    batch: usize,
    name: &'static str,
) -> anyhow::Result<Run> {
    let options = PgOptions {
        retention: RetentionPolicy::KeepAll,
        ..PgOptions::default()
    };
    let store =
        PgStore::connect(url, schema, options).with_context(|| format!("PostgreSQL at {url}"))?;
    let result = drive(workload, store, batch);
    drop_schema(url, schema)?;
    let (elapsed, inbox, _) = result?;
    Ok(Run {
        name,
        deliveries: workload.deliveries.len() as u64,
        elapsed,
        inbox,
        journal_bytes: 0,
    })
}

fn endpoint_embedded(
    dir: &std::path::Path,
    workload: &Workload,
    batch: usize,
) -> anyhow::Result<Run> {
    let options = EmbeddedOptions {
        retention: RetentionPolicy::KeepAll,
        journal_bytes_max: 1 << 40,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(dir, options)?;
    let (elapsed, inbox, store) = drive(workload, store, batch)?;
    // The journal limit is above what one run writes, so its length is all it wrote.
    let journal_bytes = store.journal_len_bytes();
    drop(store);
    std::fs::remove_dir_all(dir)?;
    Ok(Run {
        name: "exactly endpoint, embedded, batched",
        deliveries: workload.deliveries.len() as u64,
        elapsed,
        inbox,
        journal_bytes,
    })
}

/// The textbook outbox: every message its own transaction, relayed in pages.
fn naive_pg(url: &str, schema: &str, workload: &Workload) -> anyhow::Result<Run> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .with_context(|| format!("PostgreSQL at {url}"))?;
    client.batch_execute(&format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.inbox (id bytea PRIMARY KEY);
         CREATE TABLE {schema}.state (key bytea PRIMARY KEY, value bigint NOT NULL);
         CREATE TABLE {schema}.outbox (seq bigserial PRIMARY KEY, id bytea NOT NULL, topic text NOT NULL,
             key bytea NOT NULL, payload bytea NOT NULL);"
    ))?;
    let result = naive_loop(&mut client, schema, workload);
    let size = client.query_one(&format!("SELECT pg_total_relation_size('{schema}.inbox'), (SELECT count(*) FROM {schema}.inbox)"), &[]);
    drop(client);
    drop_schema(url, schema)?;
    let elapsed = result?;
    let row = size?;
    let inbox = InboxStats {
        ids: row.get::<_, i64>(1) as u64,
        memory_bytes: 0,
        disk_bytes: row.get::<_, i64>(0) as u64,
    };
    Ok(Run {
        name: "naive outbox, PostgreSQL, 1 msg/txn",
        deliveries: workload.deliveries.len() as u64,
        elapsed,
        inbox,
        journal_bytes: 0,
    })
}

fn naive_loop(
    client: &mut postgres::Client,
    s: &str,
    workload: &Workload,
) -> anyhow::Result<Duration> {
    let seen = client.prepare(&format!("SELECT 1 FROM {s}.inbox WHERE id = $1"))?;
    let record = client.prepare(&format!("INSERT INTO {s}.inbox (id) VALUES ($1)"))?;
    let debit = client.prepare(&format!(
        "INSERT INTO {s}.state (key, value) VALUES ($1, $2::int8 - $3::int8)
         ON CONFLICT (key) DO UPDATE SET value = {s}.state.value - $3::int8 RETURNING value"
    ))?;
    let enqueue = client.prepare(&format!(
        "INSERT INTO {s}.outbox (id, topic, key, payload) VALUES ($1, $2, $3, $4)"
    ))?;
    let page = client.prepare(&format!(
        "SELECT seq FROM {s}.outbox ORDER BY seq LIMIT 1000"
    ))?;
    let mark = client.prepare(&format!("DELETE FROM {s}.outbox WHERE seq <= $1"))?;
    let started = Instant::now();
    for (i, delivery) in workload.deliveries.iter().enumerate() {
        let message = &delivery.message;
        let mut tx = client.transaction()?;
        if tx.query_opt(&seen, &[&&message.id.0[..]])?.is_none() {
            let t: Transfer = serde_json::from_slice(&message.payload)?;
            tx.execute(&record, &[&&message.id.0[..]])?;
            let balance: i64 = tx
                .query_one(
                    &debit,
                    &[&account_key(&t.from), &INITIAL_BALANCE, &t.amount],
                )?
                .get(0);
            let credit = Credit {
                transfer: message.id.to_hex(),
                from: t.from,
                to: t.to.clone(),
                amount: t.amount,
                debit_balance_after: balance,
            };
            let payload = serde_json::to_vec(&credit)?;
            tx.execute(
                &enqueue,
                &[
                    &&message.id.derive(0).0[..],
                    &CREDITS_TOPIC,
                    &t.to.as_bytes(),
                    &payload,
                ],
            )?;
        }
        tx.commit()?;
        if i % 1000 == 999 || i + 1 == workload.deliveries.len() {
            relay(client, &page, &mark)?;
        }
    }
    Ok(started.elapsed())
}

fn relay(
    client: &mut postgres::Client,
    page: &postgres::Statement,
    mark: &postgres::Statement,
) -> anyhow::Result<()> {
    loop {
        let rows = client.query(page, &[])?;
        let Some(last) = rows.last().map(|r| r.get::<_, i64>(0)) else {
            return Ok(());
        };
        client.execute(mark, &[&last])?;
    }
}
