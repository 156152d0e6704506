//! One measured cluster: a nats-server of our own (fresh topics), a PostgreSQL schema of
//! its own (dropped at the end), worker processes under CPU quotas, and the distributed
//! `balances-by-branch` job submitted to them; plus reading the job's output as it grows.

use super::workers::{Fleet, WorkerSetup};
use super::ClusterBenchConfig;
use crate::error::{io_error, BenchError, Context};
use exactly_nats::server::NatsServer;
use exactly_nats::{NatsLog, Topic, TopicOptions};
use exactly_worker::status::{job_status, JobStatusView};
use exactly_worker::{BuiltInJobs, Catalog, JobKinds, JobPlan, JobSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Partitions of the input topic (a route task each).
pub const INPUT_PARTITIONS: u32 = 4;
/// Branches of `balances-by-branch` (its `branches` parameter).
pub const BRANCHES: u32 = 16;
/// The job's input and output topics (each session has a server of its own).
pub const INPUT: &str = "transfers";
/// See [`INPUT`].
pub const OUTPUT: &str = "totals";

/// A running cluster under measurement. Dropping it kills the workers, stops the server
/// and drops the schema.
pub struct Session {
    /// The job's name.
    pub job: String,
    /// The job's layout (task names for the checkpoint table).
    pub plan: JobPlan,
    /// Client of the data log.
    pub nats: NatsLog,
    /// The workers.
    pub fleet: Fleet,
    pg_url: String,
    schema: String,
    nats_url: String,
    // Dropped in this order: workers first (above), then the server, then its files.
    server: NatsServer,
    _temp: tempfile::TempDir,
}

impl Session {
    /// Starts a server and `workers` workers; the job `tag` is not submitted yet
    /// ([`Session::submit`]), so a caller can fill the input first. `input` is created
    /// empty with [`INPUT_PARTITIONS`] partitions.
    pub fn start(
        config: &ClusterBenchConfig,
        exe: PathBuf,
        workers: usize,
        tag: &str,
    ) -> Result<Self, BenchError> {
        let temp = tempfile::tempdir().map_err(io_error("creating", &std::env::temp_dir()))?;
        let server = NatsServer::start_single(&temp.path().join("nats"))
            .during("starting nats-server (run . .ci/setup-nats)")?;
        server
            .wait_ready(10_000)
            .during("waiting for nats-server")?;
        let nats = NatsLog::connect(&server.url()).during("connecting to nats-server")?;
        nats.create_topic(INPUT, INPUT_PARTITIONS, TopicOptions::default())
            .during("creating the input topic")?;
        let schema = format!("exactly_bench_{}_{tag}", std::process::id()).replace('-', "_");
        drop_schema(&config.pg_url, &schema)?;
        let spec = job_spec(config, tag);
        let stages = BuiltInJobs
            .build(&spec)
            .during("building the job")?
            .stages();
        let plan = JobPlan::new(&spec, stages).during("laying out the job")?;
        let setup = WorkerSetup {
            exe,
            pg_url: config.pg_url.clone(),
            schema: schema.clone(),
            nats_url: server.url(),
            state_dir: temp.path().join("workers"),
            cpu_quota_cores: config.cpu_quota_cores,
        };
        let fleet = Fleet::start(setup, workers, tag)?;
        Ok(Session {
            job: spec.name.clone(),
            plan,
            nats,
            fleet,
            pg_url: config.pg_url.clone(),
            schema,
            nats_url: server.url(),
            server,
            _temp: temp,
        })
    }

    /// Submits the job (workers see it within their 1 s catalog poll).
    pub fn submit(&self) -> Result<(), BenchError> {
        let mut catalog = Catalog::connect(&self.pg_url, &self.schema).during("the catalog")?;
        catalog
            .submit(self.plan.spec())
            .during("submitting the job")?;
        Ok(())
    }

    /// The job's status as `exactly job status` reads it.
    pub fn status(&self) -> Result<JobStatusView, BenchError> {
        job_status(
            &self.pg_url,
            &self.schema,
            &self.job,
            &BuiltInJobs,
            Some(&self.nats),
        )
        .during("reading the job's status")
    }

    /// A connection to the cluster's PostgreSQL.
    pub fn pg(&self) -> Result<postgres::Client, BenchError> {
        postgres::Client::connect(&self.pg_url, postgres::NoTls).during("connecting to PostgreSQL")
    }

    /// CPU seconds nats-server has used so far, `None` where unreadable.
    pub fn server_cpu_seconds(&self) -> Option<f64> {
        crate::proc_usage::usage(Some(self.server.pid()?)).map(|u| u.cpu_seconds)
    }

    /// The data log's address.
    pub fn server_url(&self) -> String {
        self.nats_url.clone()
    }

    /// The schema of the cluster's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The workers must be gone before their schema is.
        for slot in 0..self.fleet.ids().len() {
            let _ = self.fleet.kill(slot);
        }
        if let Err(error) = drop_schema(&self.pg_url, &self.schema) {
            tracing::warn!(%error, schema = %self.schema, "dropping a bench schema");
        }
    }
}

fn job_spec(config: &ClusterBenchConfig, tag: &str) -> JobSpec {
    JobSpec {
        name: format!("bench-{tag}"),
        kind: "balances-by-branch".into(),
        input: INPUT.into(),
        output: OUTPUT.into(),
        source_partitions: INPUT_PARTITIONS,
        key_groups: config.key_groups,
        checkpoint_interval_ms: config.checkpoint_interval_ms,
        params: BTreeMap::from([("branches".to_string(), BRANCHES.to_string())]),
    }
}

fn drop_schema(url: &str, schema: &str) -> Result<(), BenchError> {
    let mut client =
        postgres::Client::connect(url, postgres::NoTls).during("connecting to PostgreSQL")?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .during("dropping a bench schema")
}

/// The job's output read as it grows: each branch's newest total.
pub struct OutputWatch {
    topic: Option<Topic>,
    next_seq: Vec<u64>,
    /// Each branch's newest total.
    pub last: BTreeMap<String, i128>,
}

/// A `{"key":branch,"value":total}` output record.
#[derive(serde::Deserialize)]
struct Total {
    key: String,
    value: i128,
}

impl Default for OutputWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl OutputWatch {
    /// A watch of [`OUTPUT`] (which the workers create when they join the job).
    pub fn new() -> Self {
        OutputWatch {
            topic: None,
            next_seq: Vec::new(),
            last: BTreeMap::new(),
        }
    }

    /// Reads what was appended since the last call: `(branch, total)` in partition order.
    pub fn poll(&mut self, nats: &NatsLog) -> Result<Vec<(String, i128)>, BenchError> {
        if self.topic.is_none() {
            match nats.open_topic(OUTPUT) {
                Ok(topic) => {
                    self.next_seq = vec![1; topic.partitions() as usize];
                    self.topic = Some(topic);
                }
                Err(exactly_nats::NatsError::TopicNotFound { .. }) => return Ok(Vec::new()),
                Err(error) => return Err(error).during("opening the output topic"),
            }
        }
        let Some(topic) = &self.topic else {
            return Ok(Vec::new());
        };
        let mut fresh = Vec::new();
        for (partition, next) in self.next_seq.iter_mut().enumerate() {
            let partition = partition as u32;
            let state = nats
                .partition_state(topic, partition)
                .during("output state")?;
            if state.last_seq < *next {
                continue;
            }
            let mut reader = nats
                .reader(topic, partition, *next)
                .during("reading output")?;
            loop {
                let batch = reader.next_batch(1024).during("reading output")?;
                if batch.is_empty() {
                    break;
                }
                for record in batch {
                    *next = record.sequence + 1;
                    let total: Total = serde_json::from_slice(&record.value)
                        .during("decoding an output record")?;
                    self.last.insert(total.key.clone(), total.value);
                    fresh.push((total.key, total.value));
                }
            }
        }
        Ok(fresh)
    }
}
