//! `exactly worker`: a worker process of a distributed-jobs cluster (see
//! `exactly-worker` and `docs/cluster.md`). It runs until killed; a killed worker's tasks
//! move to the other workers once its leases expire (6 s with the defaults).

use anyhow::Context;
use clap::Args;
use exactly_nats::TopicOptions;
use exactly_worker::{BuiltInJobs, Worker, WorkerConfig};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Where a cluster keeps its tables unless told otherwise.
pub const CLUSTER_SCHEMA_DEFAULT: &str = "exactly_cluster";

/// The cluster a command talks to.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// PostgreSQL of the cluster: job catalog, leases, checkpoints (never printed).
    #[arg(long, value_name = "postgres://…")]
    pub cluster: String,
    /// Schema of the cluster's tables.
    #[arg(long, default_value = CLUSTER_SCHEMA_DEFAULT)]
    pub schema: String,
    /// The data log: `nats://host:port[,host:port…]`.
    #[arg(long, value_name = "nats://HOST:PORT[,…]")]
    pub log: String,
}

/// Arguments of `exactly worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Where task runs keep their status files (default: a directory under the system's
    /// temporary directory).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Options of the topics the worker creates (between stages, and the output).
    #[command(flatten)]
    topics: TopicOptions,
}

/// Runs `exactly worker` until the process is killed.
pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let state_dir = match args.state_dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("exactly-worker-{}", std::process::id())),
    };
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let config = WorkerConfig {
        cluster_url: args.cluster.cluster,
        schema: args.cluster.schema,
        nats_address: args.cluster.log,
        state_dir,
        topic_options: args.topics,
        cluster: Default::default(),
    };
    let mut worker = Worker::connect(config)?;
    eprintln!("worker {:016x} joined", worker.id().0);
    let never = AtomicBool::new(false);
    worker.run(std::sync::Arc::new(BuiltInJobs), &never)?;
    Ok(())
}
