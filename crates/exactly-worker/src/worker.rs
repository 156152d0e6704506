//! [`Worker`]: a worker process's main loop — it polls the job catalog, joins every
//! running job (one [`JobDriver`] each), leaves cancelled ones, and steps the drivers.
//!
//! A worker incarnation has a random 64-bit id, so nothing a dead incarnation left in
//! flight can be mistaken for a new one's (see `docs/cluster.md`).

use crate::catalog::{Catalog, CatalogEntry, CatalogError, JobState};
use crate::driver::{DriverError, JobDriver, LocalTask};
use crate::jobs::JobKinds;
use crate::plan::JobPlan;
use crate::spec::SpecError;
use crate::task_run::TaskContext;
use exactly_cluster::{ClusterConfig, WorkerId};
use exactly_nats::{NatsError, NatsLog, TopicOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the catalog is read for new and cancelled jobs.
pub const CATALOG_POLL: Duration = Duration::from_secs(1);
/// Longest sleep between two steps of the drivers (they also step when due).
const STEP_MAX: Duration = Duration::from_millis(20);
/// How long an exiting worker waits for its halted runs to end.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// PostgreSQL of the cluster (catalog, leases, checkpoints). Never printed.
    pub cluster_url: String,
    /// Schema of the cluster's tables.
    pub schema: String,
    /// NATS address(es) of the data log.
    pub nats_address: String,
    /// Where task runs keep their status files.
    pub state_dir: PathBuf,
    /// Options of the topics the worker creates (replicas, storage).
    pub topic_options: TopicOptions,
    /// Lease and interval settings.
    pub cluster: ClusterConfig,
}

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerRunError {
    /// The catalog could not be opened at start.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The data log could not be reached at start.
    #[error("connecting to the data log at {address}")]
    Nats {
        /// The address.
        address: String,
        /// Why.
        source: NatsError,
    },
    /// A job driver failed (a bug or a bad configuration).
    #[error("job {job}")]
    Driver {
        /// The job.
        job: String,
        /// Why.
        source: DriverError,
    },
}

/// A worker process.
pub struct Worker {
    id: WorkerId,
    config: WorkerConfig,
    nats: Arc<NatsLog>,
    catalog: Option<Catalog>,
    drivers: BTreeMap<String, JobDriver>,
    /// Jobs this worker cannot run (unknown kind, bad shape): reported once each.
    refused: BTreeMap<String, String>,
}

impl Worker {
    /// Connects to the catalog and the data log under a fresh incarnation id.
    pub fn connect(config: WorkerConfig) -> Result<Self, WorkerRunError> {
        let catalog = Catalog::connect(&config.cluster_url, &config.schema)?;
        let nats =
            NatsLog::connect(&config.nats_address).map_err(|source| WorkerRunError::Nats {
                address: config.nats_address.clone(),
                source,
            })?;
        // Zero is avoided only to keep ids readable in status output.
        let id = WorkerId(rand::random::<u64>().max(1));
        Ok(Self {
            id,
            config,
            nats: Arc::new(nats),
            catalog: Some(catalog),
            drivers: BTreeMap::new(),
            refused: BTreeMap::new(),
        })
    }

    /// This incarnation's id.
    pub fn id(&self) -> WorkerId {
        self.id
    }

    /// Runs until `stop` is set: then halts every task (no final checkpoint: leases
    /// expire and other workers take the tasks over) and returns.
    pub fn run(&mut self, kinds: &dyn JobKinds, stop: &AtomicBool) -> Result<(), WorkerRunError> {
        let mut next_poll = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if Instant::now() >= next_poll {
                self.poll_catalog(kinds);
                next_poll = Instant::now() + CATALOG_POLL;
            }
            let mut sleep = STEP_MAX;
            for (job, driver) in &mut self.drivers {
                driver.step().map_err(|source| WorkerRunError::Driver {
                    job: job.clone(),
                    source,
                })?;
                sleep = sleep.min(driver.next_deadline());
            }
            self.drivers
                .retain(|_, d| !(d.is_cancelling() && d.is_idle()));
            std::thread::sleep(sleep.max(Duration::from_millis(1)));
        }
        self.exit();
        Ok(())
    }

    /// The tasks running here, by job.
    pub fn local_tasks(&self) -> BTreeMap<String, Vec<LocalTask>> {
        (self.drivers.iter())
            .map(|(job, driver)| (job.clone(), driver.local_tasks()))
            .collect()
    }

    fn exit(&mut self) {
        for driver in self.drivers.values_mut() {
            driver.halt_all();
        }
        let deadline = Instant::now() + EXIT_WAIT;
        while Instant::now() < deadline && !self.drivers.values().all(JobDriver::is_idle) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn poll_catalog(&mut self, kinds: &dyn JobKinds) {
        let entries = match self.list_jobs() {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, "reading the job catalog; trying again");
                self.catalog = None;
                return;
            }
        };
        for entry in entries {
            let name = entry.spec.name.clone();
            match (entry.state, self.drivers.get_mut(&name)) {
                (JobState::Cancelled, Some(driver)) => driver.cancel(),
                (JobState::Running, None) => self.join(kinds, &entry),
                _ => {}
            }
        }
    }

    fn list_jobs(&mut self) -> Result<Vec<CatalogEntry>, CatalogError> {
        if self.catalog.is_none() {
            self.catalog = Some(Catalog::connect(
                &self.config.cluster_url,
                &self.config.schema,
            )?);
        }
        match self.catalog.as_mut() {
            Some(catalog) => catalog.list(),
            None => Ok(Vec::new()),
        }
    }

    fn join(&mut self, kinds: &dyn JobKinds, entry: &CatalogEntry) {
        let name = entry.spec.name.clone();
        match self.prepare(kinds, entry) {
            Ok(driver) => {
                tracing::info!(job = %name, worker = self.id.0, "joined job");
                self.refused.remove(&name);
                self.drivers.insert(name, driver);
            }
            Err(reason) => {
                if self.refused.insert(name.clone(), reason.clone()).as_ref() != Some(&reason) {
                    tracing::warn!(job = %name, %reason, "cannot run job (trying again)");
                }
            }
        }
    }

    /// The job's plan and topics, and a driver for it.
    fn prepare(&self, kinds: &dyn JobKinds, entry: &CatalogEntry) -> Result<JobDriver, String> {
        let job = kinds.build(&entry.spec).map_err(|e| e.to_string())?;
        let plan = JobPlan::new(&entry.spec, job.stages()).map_err(|e: SpecError| e.to_string())?;
        let groups = entry.spec.key_groups;
        let mut topics = plan.inner_topics();
        topics.push(entry.spec.output.clone());
        for topic in topics {
            let created = self
                .nats
                .create_topic(&topic, groups, self.config.topic_options.clone());
            let created = created.map_err(|e| format!("creating topic {topic}: {e}"))?;
            if created.partitions() != groups {
                return Err(format!(
                    "topic {topic} has {} partitions; the job needs {groups}",
                    created.partitions()
                ));
            }
        }
        let ctx = TaskContext {
            nats: self.nats.clone(),
            nats_address: self.config.nats_address.clone(),
            cluster_url: self.config.cluster_url.clone(),
            schema: self.config.schema.clone(),
            plan,
            job,
            worker: self.id,
            state_dir: self.config.state_dir.clone(),
            topic_options: self.config.topic_options.clone(),
        };
        JobDriver::new(Arc::new(ctx), self.config.cluster.clone()).map_err(|e| e.to_string())
    }
}
