//! [`TaskRun`]: one task of a distributed job running on a thread — an engine run over
//! the task's input partitions on JetStream, its outputs published with the tail
//! protocol under the lease epoch, its checkpoints in PostgreSQL fenced by the lease.
//!
//! Both fences use the lease epoch, which rises on every takeover: the checkpoint commit
//! checks the lease in its own transaction (`LeaseFence`), and the JetStream sink refuses
//! to publish where a higher epoch already wrote. So a zombie (paused past its lease,
//! partitioned) can neither commit nor publish anything the new owner would not.
//!
//! A run that fails (a server restarting, PostgreSQL unreachable, a bug) is started
//! again from the last checkpoint under the same epoch after a capped backoff, for as long
//! as the worker holds the lease: the lease, not a retry count, decides when to give up.

use crate::input_select::SelectedPartitions;
use crate::jobs::DistributedJob;
use crate::output_guard::PartitionGuard;
use crate::plan::{JobPlan, TaskPlan};
use exactly_cluster::{Epoch, WorkerId};
use exactly_engine::{
    log_topic, Checkpoints, Guarantee, Input, JobStatus, Output, RunError, RunOptions, RunReport,
    SinkMode, StageTopics,
};
use exactly_nats::{NatsInput, NatsLog, NatsOutput, TopicOptions};
use exactly_postgres::{EpochClaim, LeaseFence, PgCheckpointConfig, PostgresCheckpointStore};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// First pause before a failed run starts again; doubled per failure up to the cap.
const RESTART_DELAY_MIN: Duration = Duration::from_millis(100);
/// Longest pause between runs of a task that keeps failing.
const RESTART_DELAY_MAX: Duration = Duration::from_secs(5);

/// What every task of one job on one worker shares.
pub struct TaskContext {
    /// The data log.
    pub nats: Arc<NatsLog>,
    /// Its address, for messages.
    pub nats_address: String,
    /// The cluster's PostgreSQL (checkpoints and leases).
    pub cluster_url: String,
    /// Schema of the cluster's tables.
    pub schema: String,
    /// The job's layout.
    pub plan: JobPlan,
    /// The job's stages.
    pub job: Arc<dyn DistributedJob>,
    /// This worker incarnation.
    pub worker: WorkerId,
    /// Where task runs keep their status files.
    pub state_dir: PathBuf,
    /// Options of the topics tasks create (replicas, storage).
    pub topic_options: TopicOptions,
}

/// A running task: its flags and thread.
pub struct TaskRun {
    /// The task.
    pub plan: TaskPlan,
    /// The lease epoch it runs under.
    pub epoch: Epoch,
    stop: Arc<AtomicBool>,
    halt: Arc<AtomicBool>,
    status: Arc<JobStatus>,
    last_error: Arc<Mutex<Option<String>>>,
    thread: JoinHandle<()>,
}

impl TaskRun {
    /// Starts `task` at `epoch` on a new thread.
    pub fn start(ctx: Arc<TaskContext>, task: TaskPlan, epoch: Epoch) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let halt = Arc::new(AtomicBool::new(false));
        let status = Arc::new(JobStatus::default());
        let last_error = Arc::new(Mutex::new(None));
        let flags = RunFlags {
            stop: stop.clone(),
            halt: halt.clone(),
            status: status.clone(),
            last_error: last_error.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("task-{}", task.task))
            .spawn(move || run_until_stopped(&ctx, task, epoch, &flags))?;
        Ok(Self {
            plan: task,
            epoch,
            stop,
            halt,
            status,
            last_error,
            thread,
        })
    }

    /// Asks for a final checkpoint and the end of the run (a handover).
    pub fn finish(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the run at once, without a checkpoint (the lease is ending).
    pub fn halt(&self) {
        self.halt.store(true, Ordering::SeqCst);
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Live figures of the current run.
    pub fn status(&self) -> &JobStatus {
        &self.status
    }

    /// The last failure of a run of this task, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

/// The flags and figures a task thread shares with its [`TaskRun`].
struct RunFlags {
    stop: Arc<AtomicBool>,
    halt: Arc<AtomicBool>,
    status: Arc<JobStatus>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl RunFlags {
    fn ended(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.halt.load(Ordering::SeqCst)
    }

    /// Sleeps `delay` in short steps, returning early once stopped or halted.
    fn pause(&self, delay: Duration) {
        let step = Duration::from_millis(10);
        let mut slept = Duration::ZERO;
        while slept < delay && !self.ended() {
            std::thread::sleep(step);
            slept += step;
        }
    }
}

fn run_until_stopped(ctx: &TaskContext, task: TaskPlan, epoch: Epoch, flags: &RunFlags) {
    let name = ctx.plan.task_job_name(&task);
    let mut delay = RESTART_DELAY_MIN;
    loop {
        match run_once(ctx, task, epoch, flags) {
            Ok(report) => {
                tracing::info!(task = %name, epoch = epoch.0, records_in = report.records_in, "task finished");
                return;
            }
            Err(RunError::Halted) => {
                tracing::info!(task = %name, epoch = epoch.0, "task halted");
                return;
            }
            Err(error) => {
                let text = error_chain(&error);
                tracing::warn!(task = %name, epoch = epoch.0, error = %text, "task run failed; starting it again");
                if let Ok(mut slot) = flags.last_error.lock() {
                    *slot = Some(text);
                }
            }
        }
        if flags.ended() {
            return;
        }
        flags.pause(delay);
        delay = (delay * 2).min(RESTART_DELAY_MAX);
        if flags.ended() {
            return;
        }
    }
}

/// `error` and its causes on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn run_once(
    ctx: &TaskContext,
    task: TaskPlan,
    epoch: Epoch,
    flags: &RunFlags,
) -> Result<RunReport, RunError> {
    let name = ctx.plan.task_job_name(&task);
    let inputs = open_inputs(ctx, &task)?;
    let parts: Vec<(&dyn Input, u32)> = (inputs.iter())
        .zip(ctx.plan.inputs(&task))
        .map(|(input, (_, partition))| (input as &dyn Input, partition))
        .collect();
    let input = SelectedPartitions::new(&format!("{name} input"), parts);
    let output_topic = ctx.plan.output(&task);
    let nats_output = NatsOutput::new(
        &ctx.nats,
        &ctx.nats_address,
        &name,
        epoch.0,
        ctx.topic_options.clone(),
    );
    let guarded;
    let output: &dyn Output = if ctx.plan.is_last(task.stage) {
        guarded = PartitionGuard::new(&nats_output, &output_topic, task.unit);
        &guarded
    } else {
        &nats_output
    };
    let options = run_options(ctx, &task, epoch, flags)?;
    let topics = StageTopics {
        input: log_topic(&format!("{name}.input")),
        output: log_topic(&output_topic),
    };
    // Dead letters default to `<sink>.dead-letters`, which the last stage's tasks would
    // share: every task gets its own (one writer per stream).
    let job = (ctx.job)
        .stage_job(task.stage as usize, &topics)
        .named(&name)
        .dead_letters(log_topic(&format!("{name}.dead-letters")));
    job.run_with(&input, output, &options)
}

/// One reader per upstream topic (each over all its partitions; the selection picks).
fn open_inputs<'a>(ctx: &'a TaskContext, task: &TaskPlan) -> Result<Vec<NatsInput<'a>>, RunError> {
    (ctx.plan.inputs(task).iter())
        .map(|(topic, _)| {
            NatsInput::open(&ctx.nats, topic).map_err(|e| RunError::Input {
                input: format!("topic {topic} on {}", ctx.nats_address),
                source: Box::new(e),
            })
        })
        .collect()
}

fn run_options(
    ctx: &TaskContext,
    task: &TaskPlan,
    epoch: Epoch,
    flags: &RunFlags,
) -> Result<RunOptions, RunError> {
    let name = ctx.plan.task_job_name(task);
    let mut config = PgCheckpointConfig::new(&ctx.cluster_url, &ctx.schema, &name);
    config.epoch = EpochClaim::Given(epoch.0);
    config.lease = Some(LeaseFence {
        schema: ctx.schema.clone(),
        job: ctx.plan.spec().name.clone(),
        worker: ctx.worker,
        task: task.task,
        epoch,
    });
    let store = PostgresCheckpointStore::connect(&config)?;
    let mut options = RunOptions::in_state_dir(ctx.state_dir.join(&name), Guarantee::ExactlyOnce);
    options.sink_mode = SinkMode::Idempotent;
    options.follow = true;
    options.checkpoint_interval_ms = ctx.plan.spec().checkpoint_interval_ms;
    options.checkpoints = Checkpoints::Store(Arc::new(store));
    options.stop = flags.stop.clone();
    options.halt = flags.halt.clone();
    options.status = flags.status.clone();
    Ok(options)
}
