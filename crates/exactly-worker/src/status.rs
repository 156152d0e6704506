//! What `exactly job status` prints: a job's members, coordinator, and per task its
//! assignee, lease owner, epoch, lease expiry, last checkpoint (id, epoch, clock, age)
//! and lag behind its input's end — read from the stores, never from a worker's memory,
//! so it is right whichever workers are alive.
//!
//! A task's lag is what its last committed checkpoint has not read yet: the sum over its
//! input partitions of the partition's last sequence minus the checkpointed position (a
//! position `p` reads from sequence `p + 1` next). The job's min clock is the least
//! checkpoint clock over its tasks (Gearpump's application clock).

use crate::catalog::{location, Catalog, CatalogEntry, CatalogError, JobState};
use crate::jobs::JobKinds;
use crate::plan::{JobPlan, TaskPlan};
use exactly_cluster::{LeaseTable, TaskId};
use exactly_engine::Manifest;
use exactly_nats::NatsLog;
use exactly_postgres::{PgCheckpointConfig, PgLeaseConfig, PgLeaseStore, PostgresCheckpointStore};
use exactly_state::CheckpointStorage;
use serde::Serialize;

/// A job's status.
#[derive(Clone, Debug, Serialize)]
pub struct JobStatusView {
    /// The job.
    pub job: String,
    /// Its kind.
    pub kind: String,
    /// `running` or `cancelled`.
    pub state: JobState,
    /// The coordinator, if its lease is live.
    pub coordinator: Option<u64>,
    /// The coordinator lease's epoch.
    pub coordinator_epoch: u64,
    /// Live members and how long their membership still runs (ms).
    pub members: Vec<(u64, u64)>,
    /// The published assignment's version.
    pub assignment_version: u64,
    /// One line per task.
    pub tasks: Vec<TaskView>,
    /// The least checkpoint clock over the tasks (ms), if every task has a checkpoint.
    pub min_clock_ms: Option<i64>,
    /// The sum of the tasks' lags, if every lag is known.
    pub lag_records: Option<u64>,
}

/// One task's status.
#[derive(Clone, Debug, Serialize)]
pub struct TaskView {
    /// Task id.
    pub task: u32,
    /// Its engine job.
    pub name: String,
    /// Stage name.
    pub stage: String,
    /// Unit (input partition or key group).
    pub unit: u32,
    /// The worker it is assigned to.
    pub assigned: Option<u64>,
    /// The worker holding its lease (live or not).
    pub owner: Option<u64>,
    /// The lease epoch.
    pub epoch: u64,
    /// Whether the lease is live now.
    pub live: bool,
    /// Milliseconds until the lease expires (negative: expired that long ago).
    pub lease_remaining_ms: i64,
    /// Its newest checkpoint.
    pub checkpoint: Option<CheckpointView>,
    /// Records of its input after its checkpoint; `None` if not known (the data log
    /// unreachable).
    pub lag_records: Option<u64>,
}

/// A task's newest checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct CheckpointView {
    /// Checkpoint id.
    pub id: u64,
    /// Epoch of the writer that committed it.
    pub epoch: u64,
    /// Its clock (ms).
    pub clock_ms: i64,
    /// When it was committed (the server's clock).
    pub written_at: String,
}

/// Why a status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The job cannot be laid out.
    #[error("job {job}: {reason}")]
    Plan {
        /// The job.
        job: String,
        /// Why.
        reason: String,
    },
    /// A store failed.
    #[error("{what} in {location}: {reason}")]
    Store {
        /// What was read.
        what: String,
        /// Where.
        location: String,
        /// Why.
        reason: String,
    },
}

/// Reads job `name`'s status; `nats` (the data log) for the lags, if reachable.
pub fn job_status(
    cluster_url: &str,
    schema: &str,
    name: &str,
    kinds: &dyn JobKinds,
    nats: Option<&NatsLog>,
) -> Result<JobStatusView, StatusError> {
    let entry = Catalog::connect(cluster_url, schema)?.get(name)?;
    let plan = plan_of(&entry, kinds)?;
    let store_error = |what: &str, reason: String| StatusError::Store {
        what: what.to_string(),
        location: location(cluster_url, schema),
        reason,
    };
    let lease_config = PgLeaseConfig::new(cluster_url, schema, name, &plan.task_ids());
    let mut leases = PgLeaseStore::connect(&lease_config)
        .map_err(|e| store_error("the lease table", e.to_string()))?;
    let table = leases
        .snapshot()
        .map_err(|e| store_error("the lease table", e.to_string()))?;
    let (now_ms, has_checkpoints) =
        server_now(cluster_url, schema).map_err(|e| store_error("the clock", e))?;
    let mut tasks = Vec::new();
    for task in plan.tasks() {
        let checkpoint = match has_checkpoints {
            true => newest_checkpoint(cluster_url, schema, &plan, &task)
                .map_err(|e| store_error("checkpoints", e))?,
            // No task has connected its checkpoint store yet: nothing to read.
            false => None,
        };
        let lag = nats.and_then(|nats| lag_of(nats, &plan, &task, checkpoint.as_ref()));
        tasks.push(task_view(&plan, &table, now_ms, task, checkpoint, lag));
    }
    Ok(summarize(&entry, &table, now_ms, tasks))
}

fn plan_of(entry: &CatalogEntry, kinds: &dyn JobKinds) -> Result<JobPlan, StatusError> {
    let plan_error = |reason: String| StatusError::Plan {
        job: entry.spec.name.clone(),
        reason,
    };
    let job = kinds
        .build(&entry.spec)
        .map_err(|e| plan_error(e.to_string()))?;
    JobPlan::new(&entry.spec, job.stages()).map_err(|e| plan_error(e.to_string()))
}

/// The server's clock (ms), and whether the checkpoint tables exist yet (a status is
/// read-only: it never creates them).
fn server_now(url: &str, schema: &str) -> Result<(u64, bool), String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                    to_regclass($1) IS NOT NULL",
            &[&format!("{schema}.checkpoints")],
        )
        .map_err(|e| e.to_string())?;
    Ok((row.get::<_, i64>(0).unsigned_abs(), row.get(1)))
}

/// The task's newest checkpoint, with its manifest's positions.
fn newest_checkpoint(
    url: &str,
    schema: &str,
    plan: &JobPlan,
    task: &TaskPlan,
) -> Result<Option<(CheckpointView, Manifest)>, String> {
    let config = PgCheckpointConfig::new(url, schema, &plan.task_job_name(task));
    let store = PostgresCheckpointStore::open_reader(&config).map_err(|e| e.to_string())?;
    let Some(listed) = store.list().map_err(|e| e.to_string())?.pop() else {
        return Ok(None);
    };
    let restored = store.latest().map_err(|e| e.to_string())?;
    let Some(checkpoint) = restored.checkpoint else {
        return Ok(None);
    };
    let manifest = Manifest::from_checkpoint(&checkpoint).map_err(|e| e.to_string())?;
    let view = CheckpointView {
        id: listed.id,
        epoch: listed.epoch,
        clock_ms: listed.clock_ms,
        written_at: listed.written_at,
    };
    Ok(Some((view, manifest)))
}

fn lag_of(
    nats: &NatsLog,
    plan: &JobPlan,
    task: &TaskPlan,
    checkpoint: Option<&(CheckpointView, Manifest)>,
) -> Option<u64> {
    let mut lag = 0;
    for (index, (topic, partition)) in plan.inputs(task).iter().enumerate() {
        let opened = nats.open_topic(topic).ok()?;
        let last = nats.partition_state(&opened, *partition).ok()?.last_seq;
        let position = checkpoint
            .and_then(|(_, manifest)| manifest.position(index as u32))
            .unwrap_or(0);
        lag += last.saturating_sub(position);
    }
    Some(lag)
}

fn task_view(
    plan: &JobPlan,
    table: &LeaseTable,
    now_ms: u64,
    task: TaskPlan,
    checkpoint: Option<(CheckpointView, Manifest)>,
    lag_records: Option<u64>,
) -> TaskView {
    let lease = table.task(task.task);
    let (assignment, _) = table.assignment();
    TaskView {
        task: task.task.0,
        name: plan.task_job_name(&task),
        stage: plan.stage_name(task.stage).to_string(),
        unit: task.unit,
        assigned: assignment.get(&TaskId(task.task.0)).map(|w| w.0),
        owner: lease.and_then(|l| l.owner).map(|w| w.0),
        epoch: lease.map_or(0, |l| l.epoch.0),
        live: lease.is_some_and(|l| l.is_live(now_ms)),
        lease_remaining_ms: lease.map_or(0, |l| l.expires_at_ms as i64 - now_ms as i64),
        checkpoint: checkpoint.map(|(view, _)| view),
        lag_records,
    }
}

fn summarize(
    entry: &CatalogEntry,
    table: &LeaseTable,
    now_ms: u64,
    tasks: Vec<TaskView>,
) -> JobStatusView {
    let coordinator = table.coordinator();
    let clocks: Option<Vec<i64>> = (tasks.iter())
        .map(|t| t.checkpoint.as_ref().map(|c| c.clock_ms))
        .collect();
    let lags: Option<Vec<u64>> = tasks.iter().map(|t| t.lag_records).collect();
    JobStatusView {
        job: entry.spec.name.clone(),
        kind: entry.spec.kind.clone(),
        state: entry.state,
        coordinator: coordinator
            .holder
            .filter(|_| now_ms < coordinator.expires_at_ms)
            .map(|w| w.0),
        coordinator_epoch: coordinator.epoch.0,
        members: (table.live_members(now_ms).iter())
            .map(|w| (w.0, table.members()[w].saturating_sub(now_ms)))
            .collect(),
        assignment_version: table.assignment().1,
        tasks,
        min_clock_ms: clocks.and_then(|c| c.into_iter().min()),
        lag_records: lags.map(|l| l.iter().sum()),
    }
}
