//! `bench endpoint`: what exactly-once processing at an endpoint costs, measured in one
//! run on the same PostgreSQL and the same disk.
//!
//! 1. a naive PostgreSQL outbox: one transaction per message (inbox check + insert, state
//!    upsert, outbox insert, commit), relayed in pages of 1000;
//! 2. `exactly`'s endpoint on PostgreSQL with one message per transaction (what batching
//!    is compared against inside our own code);
//! 3. `exactly`'s batched endpoint on PostgreSQL (`batch` messages per transaction);
//! 4. `exactly`'s batched endpoint on the embedded store (journal fdatasync per batch),
//!    against raw write + fdatasync of the same bytes per commit, measured right after it;
//! 5. the inbox's cost per retained id (embedded: memory and snapshot bytes; PostgreSQL:
//!    table + index bytes).
//!
//! Every run processes the same kind of workload: bank transfers with 10% duplicated
//! deliveries, through the bank's debit handler, including dispatching the outbox.
//! Configurations are interleaved over `rounds` rounds; medians are reported.

mod naive;

use crate::disk::raw_fdatasync_bytes;
use crate::error::{io_error, BenchError, Context};
use crate::stats::{median, median_by};
use exactly_core::ManualClock;
use exactly_endpoint::testkit::{bank_workload, Workload, DEAD_LETTERS_TOPIC};
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, InboxStats, OutboxEntry,
    PublishError, Publisher, RetentionPolicy, Store,
};
use exactly_postgres::{drop_schema, PgOptions, PgStore};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of the endpoint benchmark.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct EndpointBenchConfig {
    /// PostgreSQL to measure.
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")
    )]
    pub pg: String,
    /// Distinct messages for the one-transaction-per-message runs.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 2_000))]
    pub single_messages: u64,
    /// Distinct messages for the batched PostgreSQL run.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 50_000))]
    pub batched_messages: u64,
    /// Distinct messages for the embedded run.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 500_000))]
    pub embedded_messages: u64,
    /// Messages per transaction of the batched runs.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 4096))]
    pub batch: usize,
    /// Interleaved rounds; medians are reported.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub rounds: usize,
    /// Directory on the disk to measure (default: a temporary directory).
    #[cfg_attr(feature = "clap", arg(long))]
    pub dir: Option<PathBuf>,
}

impl Default for EndpointBenchConfig {
    fn default() -> Self {
        Self {
            pg: "postgres://postgres@127.0.0.1:5432/test".into(),
            single_messages: 2_000,
            batched_messages: 50_000,
            embedded_messages: 500_000,
            batch: 4096,
            rounds: 3,
            dir: None,
        }
    }
}

/// One configuration's median run.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointRun {
    /// What was measured.
    pub name: &'static str,
    /// Deliveries processed (duplicates included).
    pub deliveries: u64,
    /// Duration of the median run.
    pub seconds: f64,
    /// Deliveries per second.
    pub messages_per_s: f64,
    /// `messages_per_s` divided by the naive outbox's.
    pub vs_naive: f64,
    /// Message ids the inbox retains at the end.
    pub inbox_ids: u64,
    /// Inbox memory per retained id (embedded store; 0 for PostgreSQL).
    pub inbox_memory_bytes_per_id: f64,
    /// Inbox disk bytes per retained id.
    pub inbox_disk_bytes_per_id: f64,
    /// Deliveries per second of every round, in round order.
    pub rounds_messages_per_s: Vec<f64>,
}

/// The embedded journal's bandwidth against raw write + fdatasync of its block size.
#[derive(Clone, Debug, Serialize)]
pub struct JournalVsRaw {
    /// What was compared.
    pub name: &'static str,
    /// Journal bytes per commit (the raw baseline's block size), median round.
    pub block_bytes: u64,
    /// Journal bytes written and fdatasynced per second, median round.
    pub journal_bytes_per_s: f64,
    /// Raw write + fdatasync of `block_bytes` blocks, bytes per second, median round.
    pub raw_bytes_per_s: f64,
    /// `journal_bytes_per_s` as a percentage of `raw_bytes_per_s`.
    pub percent_of_raw: f64,
}

/// Everything `bench endpoint` measured.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointReport {
    /// Naive outbox, endpoint 1 msg/txn, batched PostgreSQL, batched embedded.
    pub runs: Vec<EndpointRun>,
    /// The embedded journal against the disk.
    pub journal: JournalVsRaw,
}

/// One measured round.
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

/// Runs the benchmark. `progress` is told what is being measured.
pub fn run(
    config: &EndpointBenchConfig,
    progress: &dyn Fn(&str),
) -> Result<EndpointReport, BenchError> {
    if config.rounds == 0 || config.batch == 0 {
        return Err(BenchError::Settings(
            "rounds and batch must be positive".into(),
        ));
    }
    let parent = std::env::temp_dir();
    let temp = tempfile::tempdir().map_err(io_error("creating a directory in", &parent))?;
    let dir = config
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
    let single = bank_workload(1, config.single_messages, 1000, 0.1, 0);
    let batched = bank_workload(2, config.batched_messages, 1000, 0.1, 0);
    let embedded = bank_workload(3, config.embedded_messages, 1000, 0.1, 0);
    let (mut naive, mut one, mut batch, mut embed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut raw, mut journal, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..config.rounds {
        let tag = format!("{}_{round}", std::process::id());
        progress(&format!("round {}: naive outbox", round + 1));
        let schema = format!("exactly_bench_naive_{tag}");
        let (elapsed, inbox) = naive::naive_pg(&config.pg, &schema, &single)?;
        naive.push(Run {
            name: "naive outbox, PostgreSQL, 1 msg/txn",
            deliveries: single.deliveries.len() as u64,
            elapsed,
            inbox,
            journal_bytes: 0,
        });
        progress(&format!("round {}: endpoint, 1 msg/txn", round + 1));
        let schema = format!("exactly_bench_one_{tag}");
        let name = "exactly endpoint, PostgreSQL, 1 msg/txn";
        one.push(endpoint_pg(&config.pg, &schema, &single, 1, name)?);
        progress(&format!("round {}: endpoint, batched", round + 1));
        let schema = format!("exactly_bench_batch_{tag}");
        let name = "exactly endpoint, PostgreSQL, batched";
        batch.push(endpoint_pg(
            &config.pg,
            &schema,
            &batched,
            config.batch,
            name,
        )?);
        progress(&format!("round {}: embedded endpoint", round + 1));
        let store_dir = dir.join(format!("embedded-{round}"));
        let run = endpoint_embedded(&store_dir, &embedded, config.batch)?;
        // The physical limit for the same I/O pattern: one write + fdatasync per commit
        // of the commit's average size, for as long as the run took.
        let commits = run.deliveries.div_ceil(config.batch as u64).max(1);
        let block = (run.journal_bytes / commits).max(1);
        progress(&format!("round {}: raw fdatasync, {block} B", round + 1));
        let budget = run
            .elapsed
            .clamp(Duration::from_millis(500), Duration::from_secs(5));
        let (bytes, elapsed) = raw_fdatasync_bytes(&dir, block as usize, budget)?;
        raw.push(bytes as f64 / elapsed.as_secs_f64().max(1e-9));
        journal.push(run.journal_bytes as f64 / run.elapsed.as_secs_f64().max(1e-9));
        blocks.push(block as f64);
        embed.push(run);
    }
    let mut runs = Vec::new();
    let mut naive_rate = None;
    for results in [naive, one, batch, embed] {
        let rounds: Vec<f64> = results.iter().map(Run::rate).collect();
        let run = median_by(results, Run::rate)
            .ok_or_else(|| BenchError::Settings("no rounds measured".into()))?;
        let naive = *naive_rate.get_or_insert(run.rate());
        runs.push(summary(&run, naive, rounds));
    }
    let no_rounds = || BenchError::Settings("no rounds measured".into());
    let raw_bytes_per_s = median(&raw).ok_or_else(no_rounds)?;
    let journal_bytes_per_s = median(&journal).ok_or_else(no_rounds)?;
    let journal = JournalVsRaw {
        name: "embedded journal vs raw write+fdatasync, same block size",
        block_bytes: median(&blocks).ok_or_else(no_rounds)? as u64,
        journal_bytes_per_s,
        raw_bytes_per_s,
        percent_of_raw: 100.0 * journal_bytes_per_s / raw_bytes_per_s.max(1e-9),
    };
    Ok(EndpointReport { runs, journal })
}

fn summary(run: &Run, naive_rate: f64, rounds: Vec<f64>) -> EndpointRun {
    let per_id = |bytes: u64| bytes as f64 / run.inbox.ids.max(1) as f64;
    EndpointRun {
        name: run.name,
        deliveries: run.deliveries,
        seconds: run.elapsed.as_secs_f64(),
        messages_per_s: run.rate(),
        vs_naive: run.rate() / naive_rate.max(1e-9),
        inbox_ids: run.inbox.ids,
        inbox_memory_bytes_per_id: per_id(run.inbox.memory_bytes),
        inbox_disk_bytes_per_id: per_id(run.inbox.disk_bytes),
        rounds_messages_per_s: rounds,
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
) -> Result<(Duration, InboxStats, S), BenchError> {
    let mut endpoint = Endpoint::new(
        workload.debit_handler(batch),
        store,
        endpoint_config(),
        Arc::new(ManualClock::new(0)),
    );
    let mut publisher = CountingPublisher(0);
    let started = Instant::now();
    for chunk in workload.deliveries.chunks(batch.max(1)) {
        endpoint.process(chunk).during("processing")?;
        endpoint.dispatch(&mut publisher).during("dispatching")?;
    }
    let elapsed = started.elapsed();
    if publisher.0 != workload.transfers.len() as u64 {
        return Err(BenchError::Check(format!(
            "published {} of {} credits",
            publisher.0,
            workload.transfers.len()
        )));
    }
    let inbox = endpoint
        .store()
        .inbox_stats()
        .during("reading inbox stats")?;
    Ok((elapsed, inbox, endpoint.into_store()))
}

fn endpoint_pg(
    url: &str,
    schema: &str,
    workload: &Workload,
    batch: usize,
    name: &'static str,
) -> Result<Run, BenchError> {
    let options = PgOptions {
        retention: RetentionPolicy::KeepAll,
        ..PgOptions::default()
    };
    let store = PgStore::connect(url, schema, options).during("connecting to PostgreSQL")?;
    let result = drive(workload, store, batch);
    drop_schema(url, schema).during("dropping the schema")?;
    let (elapsed, inbox, _) = result?;
    Ok(Run {
        name,
        deliveries: workload.deliveries.len() as u64,
        elapsed,
        inbox,
        journal_bytes: 0,
    })
}

fn endpoint_embedded(dir: &Path, workload: &Workload, batch: usize) -> Result<Run, BenchError> {
    let options = EmbeddedOptions {
        retention: RetentionPolicy::KeepAll,
        journal_bytes_max: 1 << 40,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(dir, options).during("opening the embedded store")?;
    let (elapsed, inbox, store) = drive(workload, store, batch)?;
    // The journal limit is above what one run writes, so its length is all it wrote.
    let journal_bytes = store.journal_len_bytes();
    drop(store);
    std::fs::remove_dir_all(dir).map_err(io_error("removing", dir))?;
    Ok(Run {
        name: "exactly endpoint, embedded, batched",
        deliveries: workload.deliveries.len() as u64,
        elapsed,
        inbox,
        journal_bytes,
    })
}
