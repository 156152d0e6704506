//! [`JobDriver`]: one worker's part in one job — the sans-IO [`WorkerCore`] driven by the
//! monotonic clock, its requests carried to PostgreSQL by a [`StoreLink`], its `Start`,
//! `Stop` and `FinalCheckpoint` actions performed on [`TaskRun`]s.
//!
//! The driver ticks the core before anything else on every step, so self-fencing happens
//! on time: a `Stop` halts the run (no last checkpoint: the lease may be ending), a
//! `FinalCheckpoint` asks the run to finish with a checkpoint and reports back once its
//! thread has ended (whether the checkpoint committed or not: the next owner restores the
//! last committed one either way).

use crate::store_link::StoreLink;
use crate::task_run::{TaskContext, TaskRun};
use exactly_cluster::{Action, ClusterConfig, Epoch, TaskId, WorkerCore, WorkerError};
use exactly_postgres::PgLeaseConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A worker's part in one job.
pub struct JobDriver {
    core: WorkerCore,
    link: StoreLink,
    ctx: Arc<TaskContext>,
    started: Instant,
    running: BTreeMap<TaskId, TaskRun>,
    /// Tasks handing over: final checkpoint asked for, waiting for the thread to end.
    finishing: BTreeMap<TaskId, Epoch>,
    /// Runs told to stop whose threads have not ended yet.
    stopping: Vec<TaskRun>,
    cancelling: bool,
}

/// One task's line in a worker's view.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LocalTask {
    /// The task id.
    pub task: u32,
    /// Its engine job (`<job>_<stage>_<unit>`).
    pub name: String,
    /// The lease epoch it runs under.
    pub epoch: u64,
    /// Input records read by the current run.
    pub records_in: u64,
    /// Checkpoints committed by the current run.
    pub checkpoints: u64,
    /// The last failure of a run, if any.
    pub last_error: Option<String>,
}

impl JobDriver {
    /// Joins the job `ctx` describes with `config`'s timings.
    pub fn new(ctx: Arc<TaskContext>, config: ClusterConfig) -> Result<Self, DriverError> {
        let tasks = ctx.plan.task_ids();
        let lease =
            PgLeaseConfig::new(&ctx.cluster_url, &ctx.schema, &ctx.plan.spec().name, &tasks);
        let stale_after = Duration::from_millis(config.retry_interval_ms);
        let link = StoreLink::spawn(lease, stale_after).map_err(DriverError::Thread)?;
        let core = WorkerCore::new(config, ctx.worker, &tasks, 0)?;
        Ok(Self {
            core,
            link,
            ctx,
            started: Instant::now(),
            running: BTreeMap::new(),
            finishing: BTreeMap::new(),
            stopping: Vec::new(),
            cancelling: false,
        })
    }

    /// Milliseconds of the monotonic clock since the driver started.
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// One round: tick, feed answers and finished handovers, perform the actions.
    pub fn step(&mut self) -> Result<(), DriverError> {
        self.core.tick(self.now_ms())?;
        self.perform_actions()?;
        while let Some((id, response)) = self.link.try_answer() {
            self.core.on_response(self.now_ms(), id, response)?;
            self.perform_actions()?;
        }
        self.report_finished_handovers()?;
        self.stopping.retain(|run| !run.is_finished());
        Ok(())
    }

    /// When the core next needs a step (local ms since the driver started) — the caller
    /// may step more often.
    pub fn next_deadline(&self) -> Duration {
        let due = self.core.next_deadline_local_ms();
        Duration::from_millis(due.saturating_sub(self.now_ms()))
    }

    /// Stops starting tasks and finishes the running ones with a final checkpoint (the
    /// job was cancelled); [`is_idle`](Self::is_idle) once they have ended.
    pub fn cancel(&mut self) {
        self.cancelling = true;
        for run in self.running.values() {
            run.finish();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelling(&self) -> bool {
        self.cancelling
    }

    /// Halts every run at once (the worker is exiting).
    pub fn halt_all(&mut self) {
        for run in self.running.values().chain(&self.stopping) {
            run.halt();
        }
    }

    /// Whether no task thread of this job is left.
    pub fn is_idle(&self) -> bool {
        self.running.values().all(TaskRun::is_finished) && self.stopping.is_empty()
    }

    /// The tasks running here.
    pub fn local_tasks(&self) -> Vec<LocalTask> {
        (self.running.values())
            .map(|run| LocalTask {
                task: run.plan.task.0,
                name: self.ctx.plan.task_job_name(&run.plan),
                epoch: run.epoch.0,
                records_in: run
                    .status()
                    .records_in
                    .load(std::sync::atomic::Ordering::Relaxed),
                checkpoints: run
                    .status()
                    .checkpoints
                    .load(std::sync::atomic::Ordering::Relaxed),
                last_error: run.last_error(),
            })
            .collect()
    }

    fn perform_actions(&mut self) -> Result<(), DriverError> {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Send { id, request } => self.link.send(id, request),
                Action::Start { task, epoch } => self.start(task, epoch)?,
                Action::Stop {
                    task,
                    epoch,
                    reason,
                } => {
                    tracing::info!(job = %self.ctx.plan.spec().name, task = task.0, epoch = epoch.0, ?reason, "task stopped");
                    self.finishing.remove(&task);
                    if let Some(run) = self.running.remove(&task) {
                        run.halt();
                        self.stopping.push(run);
                    }
                }
                Action::FinalCheckpoint { task, epoch } => {
                    if let Some(run) = self.running.get(&task) {
                        run.finish();
                    }
                    self.finishing.insert(task, epoch);
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, task: TaskId, epoch: Epoch) -> Result<(), DriverError> {
        if self.cancelling {
            return Ok(()); // The lease runs out by itself; the job is being cancelled.
        }
        // The core only starts tasks of its own list, which is the plan's.
        let Some(plan) = self.ctx.plan.task(task) else {
            return Err(DriverError::UnknownTask(task));
        };
        tracing::info!(job = %self.ctx.plan.spec().name, task = task.0, epoch = epoch.0, "task started");
        let run = TaskRun::start(self.ctx.clone(), plan, epoch).map_err(DriverError::Thread)?;
        if let Some(previous) = self.running.insert(task, run) {
            // Not expected (the core stops a task before it starts it again); halting
            // the old run keeps one run per task here, and its epoch fences it anyway.
            previous.halt();
            self.stopping.push(previous);
        }
        Ok(())
    }

    fn report_finished_handovers(&mut self) -> Result<(), DriverError> {
        let done: Vec<(TaskId, Epoch)> = (self.finishing.iter())
            .filter(|(task, _)| self.running.get(task).is_none_or(TaskRun::is_finished))
            .map(|(task, epoch)| (*task, *epoch))
            .collect();
        for (task, epoch) in done {
            self.finishing.remove(&task);
            self.core.on_final_checkpoint(self.now_ms(), task, epoch)?;
            self.perform_actions()?;
        }
        Ok(())
    }
}

/// Why a job driver cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The core was driven wrongly (a bug here) or configured wrongly.
    #[error(transparent)]
    Core(#[from] WorkerError),
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
    /// The core started a task the plan does not have (a bug).
    #[error("task {0} is not in the job's plan")]
    UnknownTask(TaskId),
}
