//! A running job's metrics, through the `metrics` facade (recorded once the program has
//! installed a recorder, e.g. `exactly --metrics ADDR run …`).
//!
//! The coordinator publishes them from the figures the run already keeps ([`JobStatus`],
//! the tasks' clocks): at every completed checkpoint and at most every
//! [`PUBLISH_INTERVAL_MS`] in between, so the tasks' hot loops never touch a metric.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `exactly_engine_records_in_total`, `…_records_out_total` | counter | job |
//! | `exactly_engine_dead_letters_total` | counter | job |
//! | `exactly_engine_checkpoints_total` | counter | job |
//! | `exactly_engine_checkpoint_seconds` (barrier injected → committed) | histogram | job |
//! | `exactly_engine_checkpoint_state_bytes` (the last checkpoint's state) | gauge | job |
//! | `exactly_engine_checkpoint_age_seconds` (since the last one committed) | gauge | job |
//! | `exactly_engine_min_clock_ms` (the least clock over the tasks) | gauge | job |
//! | `exactly_engine_task_clock_ms` | gauge | job, task |

use super::options::JobStatus;
use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};

/// The longest the published figures lag the run's own between checkpoints.
pub const PUBLISH_INTERVAL_MS: i64 = 250;

/// Checkpoints whose start is remembered for the duration histogram: more in flight than
/// this is not a state the coordinator reaches (it injects the next barrier only after the
/// previous manifest is written), and forgetting one only loses a sample.
const CHECKPOINTS_IN_FLIGHT_MAX: usize = 16;

/// Describes the engine's metrics to the installed recorder (the `# HELP` lines).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "exactly_engine_records_in_total",
        Unit::Count,
        "Input records read by the job's sources."
    );
    describe_counter!(
        "exactly_engine_records_out_total",
        Unit::Count,
        "Output records written by the job's sinks (aborted ones included)."
    );
    describe_counter!(
        "exactly_engine_dead_letters_total",
        Unit::Count,
        "Dead letters written by the job's sinks."
    );
    describe_counter!(
        "exactly_engine_checkpoints_total",
        Unit::Count,
        "Checkpoints committed in this run."
    );
    describe_histogram!(
        "exactly_engine_checkpoint_seconds",
        Unit::Seconds,
        "From a checkpoint's barrier to its commit."
    );
    describe_gauge!(
        "exactly_engine_checkpoint_state_bytes",
        Unit::Bytes,
        "State bytes of the last committed checkpoint."
    );
    describe_gauge!(
        "exactly_engine_checkpoint_age_seconds",
        Unit::Seconds,
        "Time since the last checkpoint committed."
    );
    describe_gauge!(
        "exactly_engine_min_clock_ms",
        Unit::Milliseconds,
        "The job's min clock: the least clock over its tasks."
    );
    describe_gauge!(
        "exactly_engine_task_clock_ms",
        Unit::Milliseconds,
        "A task's clock."
    );
}

/// One run's metric handles.
pub(crate) struct RunMeters {
    records_in: Counter,
    records_out: Counter,
    dead_letters: Counter,
    checkpoints: Counter,
    checkpoint_seconds: Histogram,
    checkpoint_state_bytes: Gauge,
    checkpoint_age_seconds: Gauge,
    min_clock_ms: Gauge,
    task_clock_ms: Vec<Gauge>,
    /// (manifest id, when its barrier was injected), oldest first.
    started: VecDeque<(u64, i64)>,
    last_commit_ms: Option<i64>,
    last_publish_ms: i64,
}

impl RunMeters {
    /// Registers the handles of `job` with `tasks` tasks.
    pub fn new(job: &str, tasks: usize) -> Self {
        let labels = [("job", job.to_string())];
        let task_clock_ms = (0..tasks)
            .map(|task| {
                let labels = [("job", job.to_string()), ("task", task.to_string())];
                gauge!("exactly_engine_task_clock_ms", &labels)
            })
            .collect();
        Self {
            records_in: counter!("exactly_engine_records_in_total", &labels),
            records_out: counter!("exactly_engine_records_out_total", &labels),
            dead_letters: counter!("exactly_engine_dead_letters_total", &labels),
            checkpoints: counter!("exactly_engine_checkpoints_total", &labels),
            checkpoint_seconds: histogram!("exactly_engine_checkpoint_seconds", &labels),
            checkpoint_state_bytes: gauge!("exactly_engine_checkpoint_state_bytes", &labels),
            checkpoint_age_seconds: gauge!("exactly_engine_checkpoint_age_seconds", &labels),
            min_clock_ms: gauge!("exactly_engine_min_clock_ms", &labels),
            task_clock_ms,
            started: VecDeque::new(),
            last_commit_ms: None,
            last_publish_ms: i64::MIN,
        }
    }

    /// A checkpoint's barrier went out at `now_ms`.
    pub fn checkpoint_started(&mut self, manifest_id: u64, now_ms: i64) {
        if self.started.len() == CHECKPOINTS_IN_FLIGHT_MAX {
            self.started.pop_front();
        }
        self.started.push_back((manifest_id, now_ms));
    }

    /// Checkpoint `manifest_id` committed at `now_ms`, its state `state_bytes` long.
    pub fn checkpoint_committed(&mut self, manifest_id: u64, state_bytes: u64, now_ms: i64) {
        self.checkpoints.increment(1);
        self.checkpoint_state_bytes.set(state_bytes as f64);
        while let Some(&(id, started_ms)) = self.started.front() {
            if id > manifest_id {
                break;
            }
            self.started.pop_front();
            if id == manifest_id {
                let took_ms = now_ms.saturating_sub(started_ms).max(0);
                self.checkpoint_seconds.record(took_ms as f64 / 1000.0);
            }
        }
        self.last_commit_ms = Some(now_ms);
    }

    /// Publishes the run's figures if [`PUBLISH_INTERVAL_MS`] passed since the last time
    /// (or `force`).
    pub fn publish(
        &mut self,
        status: &JobStatus,
        task_clocks: &[AtomicI64],
        now_ms: i64,
        force: bool,
    ) {
        if !force && now_ms.saturating_sub(self.last_publish_ms) < PUBLISH_INTERVAL_MS {
            return;
        }
        self.last_publish_ms = now_ms;
        self.records_in
            .absolute(status.records_in.load(Ordering::Relaxed));
        self.records_out
            .absolute(status.records_out.load(Ordering::Relaxed));
        self.dead_letters
            .absolute(status.dead_letters.load(Ordering::Relaxed));
        let clocks = task_clocks.iter().map(|c| c.load(Ordering::Relaxed));
        let mut min_clock = None::<i64>;
        for (gauge, clock) in self.task_clock_ms.iter().zip(clocks) {
            // A task that has seen nothing yet sits at i64::MIN: not a clock to show.
            if clock != i64::MIN {
                gauge.set(clock as f64);
            }
            min_clock = Some(min_clock.map_or(clock, |m| m.min(clock)));
        }
        if let Some(min_clock) = min_clock.filter(|c| *c != i64::MIN) {
            self.min_clock_ms.set(min_clock as f64);
        }
        if let Some(committed_ms) = self.last_commit_ms {
            let age_ms = now_ms.saturating_sub(committed_ms).max(0);
            self.checkpoint_age_seconds.set(age_ms as f64 / 1000.0);
        }
    }
}
