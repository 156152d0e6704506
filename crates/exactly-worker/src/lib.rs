//! `exactly-worker`: distributed jobs on real processes. Any number of `exactly worker`
//! processes on any hosts share the tasks of the jobs in a cluster's catalog: PostgreSQL
//! holds the catalog, the membership, the task leases and every task's checkpoints;
//! NATS JetStream holds the data. The protocol deciding who runs what is the sans-IO core
//! of `exactly-cluster` (see `docs/cluster.md`); this crate performs its actions.
//!
//! A job is a chain of stages ([`DistributedJob`]), each an ordinary engine job. Stage 0
//! has a task per input partition, every later stage a task per key group; each task is
//! one engine run over its partitions with its own checkpoints, fenced by its lease epoch
//! both where it commits (PostgreSQL) and where it publishes (the JetStream tail).
//!
//! # Layout
//! - [`spec`]: [`JobSpec`], what `exactly job submit` stores, and its checks;
//! - [`plan`]: [`JobPlan`], tasks and topic names (pure);
//! - [`jobs`]: [`DistributedJob`], [`JobKinds`] and the built-in kinds;
//! - [`catalog`]: [`Catalog`], the jobs of a cluster in PostgreSQL;
//! - [`catalog_watch`]: the catalog polled, and new jobs prepared, off the main loop;
//! - [`input_select`]: partitions of several topics read as one input;
//! - [`output_guard`]: the last stage's task writes only its own output partition;
//! - [`task_run`]: one task running on a thread, restarted while its lease lasts;
//! - [`store_link`]: a job's lease store on its own thread;
//! - [`driver`]: [`JobDriver`], the worker core of one job and its actions;
//! - [`worker`]: [`Worker`], the process's main loop;
//! - [`status`]: what `exactly job status` and `exactly cluster status` print.
//!
//! # Example
//! ```no_run
//! use exactly_worker::{BuiltInJobs, Worker, WorkerConfig};
//! use std::sync::atomic::AtomicBool;
//! use std::sync::Arc;
//!
//! let config = WorkerConfig {
//!     cluster_url: "postgres://postgres@127.0.0.1/test".into(),
//!     schema: "exactly_cluster".into(),
//!     nats_address: "nats://127.0.0.1:4222".into(),
//!     state_dir: std::env::temp_dir().join("exactly-worker"),
//!     topic_options: Default::default(),
//!     cluster: Default::default(),
//! };
//! let mut worker = Worker::connect(config)?;
//! let stop = AtomicBool::new(false); // set it (e.g. from a signal handler) to leave
//! worker.run(Arc::new(BuiltInJobs), &stop)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod catalog;
pub mod catalog_watch;
pub mod driver;
pub mod input_select;
pub mod jobs;
pub mod output_guard;
pub mod plan;
pub mod spec;
pub mod status;
pub mod store_link;
pub mod task_run;
pub mod worker;

pub use catalog::{Catalog, CatalogEntry, CatalogError, JobState, Submitted};
pub use driver::{DriverError, JobDriver, LocalTask};
pub use jobs::{BuiltInJobs, DistributedJob, JobKinds, BUILT_IN_KINDS};
pub use plan::{JobPlan, TaskPlan};
pub use spec::{JobSpec, SpecError};
pub use worker::{Worker, WorkerConfig, WorkerRunError};
