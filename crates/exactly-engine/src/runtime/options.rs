//! How to run a job ([`RunOptions`], [`SinkMode`]) and its live figures ([`JobStatus`]).

use super::dead_letter::BadInputPolicy;
use crate::types::Guarantee;
use exactly_core::{Clock, Storage, Timestamp};
use exactly_log::Log;
use exactly_state::CheckpointStorage;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// How an exactly-once job publishes its outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SinkMode {
    /// One log transaction per checkpoint and sink, prepared before the manifest and
    /// committed after it.
    #[default]
    Transactional,
    /// Outputs written ahead in the manifest, then appended with deterministic ids (the
    /// log's idempotent producer) so a replay is de-duplicated. No transactions.
    Idempotent,
}

/// Where a job's checkpoints (its manifests: the commit points) are stored.
#[derive(Clone, Debug, Default)]
pub enum Checkpoints {
    /// Files in `<state_dir>/checkpoints` on `state_storage` (the embedded default),
    /// keeping the newest `checkpoints_kept`.
    #[default]
    StateDir,
    /// Another store (e.g. PostgreSQL), opened by the caller with its own retention.
    Store(Arc<dyn CheckpointStorage>),
}

/// How to run a job.
#[derive(Clone)]
pub struct RunOptions {
    /// The delivery guarantee.
    pub guarantee: Guarantee,
    /// How exactly-once outputs are published (ignored by the other guarantees).
    pub sink_mode: SinkMode,
    /// Tasks per stage (sources and keyed tasks), 1..=key groups.
    pub parallelism: u32,
    /// Time between checkpoints.
    pub checkpoint_interval_ms: u64,
    /// Also start a checkpoint after this many input records (tests use it to cut
    /// often and at data-dependent points).
    pub checkpoint_every_records: Option<u64>,
    /// Keep running at the end of the input, waiting for more (until `stop`, or until
    /// [`input_ended`](Self::input_ended) is set).
    pub follow: bool,
    /// With `follow`: a flag another thread sets once nothing more will be appended to
    /// the input (a pipeline sets it when the upstream stage has finished). From then on
    /// the job reads its input to the end and stops there as a run without `follow` does
    /// (its last checkpoint closes every window). A source counts the input as read to
    /// its end only after a read that started once it had seen the flag set, so records
    /// committed before the flag was set are never left behind. `None`: follow until
    /// `stop`. Ignored without `follow`.
    pub input_ended: Option<Arc<AtomicBool>>,
    /// Where a job that has no checkpoint yet starts in each input partition: at the first
    /// record at or after this time (ms since the Unix epoch, as the input defines a
    /// record's time: [`Input::position_at`](super::Input::position_at)); `None`: at the
    /// beginning. Once the job has a checkpoint it resumes from it and this is not used.
    pub start_from_time_ms: Option<i64>,
    /// Where checkpoints and the status file live (on `state_storage`).
    pub state_dir: PathBuf,
    /// Storage for checkpoints (the log's own storage in crash tests).
    pub state_storage: Arc<dyn Storage>,
    /// Where checkpoints are stored.
    pub checkpoints: Checkpoints,
    /// Checkpoints kept (by the state-directory store).
    pub checkpoints_kept: usize,
    /// Records read per source partition per poll.
    pub read_batch_records: usize,
    /// What happens to an input record the job's parse step rejects.
    pub on_bad_input: BadInputPolicy,
    /// Set to stop a running job: it takes a last checkpoint and returns.
    pub stop: Arc<AtomicBool>,
    /// Set to stop a running job at once, without a last checkpoint: the run returns
    /// [`RunError::Halted`](super::RunError::Halted) within a few milliseconds, and whatever
    /// it processed since its last checkpoint is replayed by the next run. For a worker
    /// whose lease on the job's task is about to end: a checkpoint taken then could not
    /// commit anyway, and the task must stop touching its outputs before the lease can
    /// have expired.
    pub halt: Arc<AtomicBool>,
    /// Live counters and clocks, for progress and status.
    pub status: Arc<JobStatus>,
    /// The wall clock that stamps what the job writes (outputs, audit records, journal
    /// entries, the status file) and times checkpoints. Default: the system clock.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("guarantee", &self.guarantee)
            .field("parallelism", &self.parallelism)
            .field("checkpoint_interval_ms", &self.checkpoint_interval_ms)
            .field("state_dir", &self.state_dir)
            .field("checkpoints", &self.checkpoints)
            .finish()
    }
}

impl RunOptions {
    /// Whether the end of the input may end the run now: always without `follow`; with
    /// it, once [`input_ended`](Self::input_ended) is set.
    pub(crate) fn may_end(&self) -> bool {
        !self.follow
            || self
                .input_ended
                .as_ref()
                .is_some_and(|ended| ended.load(Ordering::SeqCst))
    }
}

/// `<log dir>/.jobs/<job>`: a name starting with a dot is never taken for a topic.
pub fn default_state_dir(log: &Log, job: &str) -> PathBuf {
    log.dir().join(".jobs").join(job)
}

/// Live figures of a running job (shared with progress displays).
#[derive(Debug)]
pub struct JobStatus {
    /// Input records read by sources.
    pub records_in: AtomicU64,
    /// Output records written by sinks (including ones later aborted).
    pub records_out: AtomicU64,
    /// Dead letters written by sinks (including ones later aborted).
    pub dead_letters: AtomicU64,
    /// Checkpoints completed in this run.
    pub checkpoints: AtomicU64,
    /// Id of the newest complete checkpoint (0: none).
    pub last_checkpoint_id: AtomicU64,
    /// Clock recorded in the newest checkpoint (ms).
    pub last_checkpoint_clock_ms: AtomicI64,
    /// The job's min clock: the least clock over its tasks (ms).
    pub min_clock_ms: AtomicI64,
}

impl Default for JobStatus {
    fn default() -> Self {
        Self {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            last_checkpoint_id: AtomicU64::new(0),
            last_checkpoint_clock_ms: AtomicI64::new(i64::MIN),
            min_clock_ms: AtomicI64::new(i64::MIN),
        }
    }
}

impl JobStatus {
    /// The job's min clock.
    pub fn min_clock(&self) -> Timestamp {
        Timestamp(self.min_clock_ms.load(Ordering::Relaxed))
    }
}
