//! [`CatalogWatch`]: the job catalog polled on a thread of its own, and each new job
//! prepared there (its plan built, its topics created), so that a PostgreSQL or NATS
//! that hangs — a cut network holds a TCP connection for minutes — never stalls the
//! worker's main loop, which must keep ticking its cores to fence itself on time.

use crate::catalog::{Catalog, CatalogEntry, CatalogError, JobState};
use crate::jobs::JobKinds;
use crate::plan::JobPlan;
use crate::task_run::TaskContext;
use exactly_cluster::WorkerId;
use exactly_nats::{NatsLog, TopicOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

/// What the watch tells the main loop.
pub enum CatalogEvent {
    /// A running job this worker has not joined, ready to run.
    Join(Box<TaskContext>),
    /// A joined job was cancelled.
    Cancel(String),
}

/// What the watch needs to prepare jobs.
pub struct WatchConfig {
    /// PostgreSQL of the cluster (never printed).
    pub cluster_url: String,
    /// Schema of the cluster's tables.
    pub schema: String,
    /// The data log and its address.
    pub nats: Arc<NatsLog>,
    /// Its address, for messages.
    pub nats_address: String,
    /// This worker incarnation.
    pub worker: WorkerId,
    /// Where task runs keep their status files.
    pub state_dir: std::path::PathBuf,
    /// Options of the topics it creates.
    pub topic_options: TopicOptions,
    /// Time between two reads of the catalog.
    pub poll: Duration,
}

/// The main loop's side of the watch thread.
pub struct CatalogWatch {
    events: Receiver<CatalogEvent>,
}

impl CatalogWatch {
    /// Starts the thread; it ends when the watch is dropped.
    pub fn spawn(config: WatchConfig, kinds: Arc<dyn JobKinds>) -> std::io::Result<Self> {
        let (sender, events) = mpsc::channel();
        std::thread::Builder::new()
            .name("catalog-watch".into())
            .spawn(move || watch(&config, kinds.as_ref(), &sender))?;
        Ok(Self { events })
    }

    /// The next event, if one is waiting.
    pub fn try_event(&self) -> Option<CatalogEvent> {
        self.events.try_recv().ok()
    }
}

fn watch(config: &WatchConfig, kinds: &dyn JobKinds, events: &Sender<CatalogEvent>) {
    let mut catalog: Option<Catalog> = None;
    let mut joined = BTreeSet::new();
    // Jobs this worker cannot run, with why: reported once per reason.
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    loop {
        match list(config, &mut catalog) {
            Ok(entries) => {
                for entry in entries {
                    let event = decide(config, kinds, &entry, &mut joined, &mut refused);
                    if let Some(event) = event {
                        if events.send(event).is_err() {
                            return; // The worker is gone.
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading the job catalog; trying again");
                catalog = None;
            }
        }
        std::thread::sleep(config.poll);
    }
}

fn list(
    config: &WatchConfig,
    catalog: &mut Option<Catalog>,
) -> Result<Vec<CatalogEntry>, CatalogError> {
    let open = match catalog.take() {
        Some(open) => open,
        None => Catalog::connect(&config.cluster_url, &config.schema)?,
    };
    let open = catalog.insert(open);
    open.list()
}

fn decide(
    config: &WatchConfig,
    kinds: &dyn JobKinds,
    entry: &CatalogEntry,
    joined: &mut BTreeSet<String>,
    refused: &mut BTreeMap<String, String>,
) -> Option<CatalogEvent> {
    let name = entry.spec.name.clone();
    match entry.state {
        JobState::Cancelled if joined.remove(&name) => Some(CatalogEvent::Cancel(name)),
        JobState::Running if !joined.contains(&name) => match prepare(config, kinds, entry) {
            Ok(ctx) => {
                refused.remove(&name);
                joined.insert(name);
                Some(CatalogEvent::Join(Box::new(ctx)))
            }
            Err(reason) => {
                if refused.insert(name.clone(), reason.clone()).as_ref() != Some(&reason) {
                    tracing::warn!(job = %name, %reason, "cannot run job (trying again)");
                }
                None
            }
        },
        _ => None,
    }
}

/// The job's plan and topics (every topic between stages and the output, with one
/// partition per key group).
fn prepare(
    config: &WatchConfig,
    kinds: &dyn JobKinds,
    entry: &CatalogEntry,
) -> Result<TaskContext, String> {
    let job = kinds.build(&entry.spec).map_err(|e| e.to_string())?;
    let plan = JobPlan::new(&entry.spec, job.stages()).map_err(|e| e.to_string())?;
    let groups = entry.spec.key_groups;
    let mut topics = plan.inner_topics();
    topics.push(entry.spec.output.clone());
    for topic in topics {
        let created = (config.nats)
            .create_topic(&topic, groups, config.topic_options.clone())
            .map_err(|e| format!("creating topic {topic}: {e}"))?;
        if created.partitions() != groups {
            return Err(format!(
                "topic {topic} has {} partitions; the job needs {groups}",
                created.partitions()
            ));
        }
    }
    Ok(TaskContext {
        nats: config.nats.clone(),
        nats_address: config.nats_address.clone(),
        cluster_url: config.cluster_url.clone(),
        schema: config.schema.clone(),
        plan,
        job,
        worker: config.worker,
        state_dir: config.state_dir.clone(),
        topic_options: config.topic_options.clone(),
    })
}
