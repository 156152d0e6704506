//! [`Worker`]: a worker process's main loop — it joins every running job of the catalog
//! (one [`JobDriver`] each, as the catalog watch reports them), leaves cancelled ones,
//! and steps the drivers. Nothing in this loop waits on a database or a server.
//!
//! A worker incarnation has a random 64-bit id, so nothing a dead incarnation left in
//! flight can be mistaken for a new one's (see `docs/cluster.md`).

use crate::catalog::{Catalog, CatalogError};
use crate::catalog_watch::{CatalogEvent, CatalogWatch, WatchConfig};
use crate::driver::{DriverError, JobDriver, LocalTask};
use crate::jobs::JobKinds;
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
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
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
    drivers: BTreeMap<String, JobDriver>,
}

impl Worker {
    /// Checks that the catalog and the data log answer, under a fresh incarnation id.
    pub fn connect(config: WorkerConfig) -> Result<Self, WorkerRunError> {
        Catalog::connect(&config.cluster_url, &config.schema)?;
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
            drivers: BTreeMap::new(),
        })
    }

    /// This incarnation's id.
    pub fn id(&self) -> WorkerId {
        self.id
    }

    /// Runs the jobs of the catalog that `kinds` knows until `stop` is set: then halts
    /// every task (no final checkpoint: leases expire and other workers take the tasks
    /// over) and returns.
    pub fn run(
        &mut self,
        kinds: Arc<dyn JobKinds>,
        stop: &AtomicBool,
    ) -> Result<(), WorkerRunError> {
        let watch =
            CatalogWatch::spawn(self.watch_config(), kinds).map_err(WorkerRunError::Thread)?;
        while !stop.load(Ordering::SeqCst) {
            while let Some(event) = watch.try_event() {
                self.on_event(event)?;
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

    fn watch_config(&self) -> WatchConfig {
        WatchConfig {
            cluster_url: self.config.cluster_url.clone(),
            schema: self.config.schema.clone(),
            nats: self.nats.clone(),
            nats_address: self.config.nats_address.clone(),
            worker: self.id,
            state_dir: self.config.state_dir.clone(),
            topic_options: self.config.topic_options.clone(),
            poll: CATALOG_POLL,
        }
    }

    fn on_event(&mut self, event: CatalogEvent) -> Result<(), WorkerRunError> {
        match event {
            CatalogEvent::Join(ctx) => {
                let job = ctx.plan.spec().name.clone();
                tracing::info!(%job, worker = self.id.0, "joined job");
                let driver = JobDriver::new(Arc::new(*ctx), self.config.cluster.clone()).map_err(
                    |source| WorkerRunError::Driver {
                        job: job.clone(),
                        source,
                    },
                )?;
                self.drivers.insert(job, driver);
            }
            CatalogEvent::Cancel(job) => {
                if let Some(driver) = self.drivers.get_mut(&job) {
                    tracing::info!(%job, "job cancelled: finishing its tasks");
                    driver.cancel();
                }
            }
        }
        Ok(())
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
}
