//! A job on JetStream that rides out transient failures instead of exiting on them.
//!
//! A NATS server restarting, a cluster electing a new stream leader or a request timing
//! out fails the run that met it ([`NatsJobError::is_transient`] says which failures a
//! new attempt may cure). [`run_job_restarting`] then starts the job again in the same
//! process, after a capped exponential backoff: the new run restores the last checkpoint
//! and resumes after the last output it finds at each sink partition's tail — exactly the
//! recovery of a restarted process, so nothing is lost or doubled by restarting, and a
//! supervisor is not needed for a server's restart.
//!
//! The new run keeps the failed run's **epoch**: the failed run's threads have all ended
//! when it returns, so the process is still the only writer under that epoch, and its
//! own outputs at a tail are recognised by lineage id. Claiming a new epoch instead would
//! be a takeover: a zombie (a process paused while another instance took the job over)
//! whose first error after resuming is a timeout would take the job back. Keeping the
//! epoch, it is fenced at its next checkpoint commit or tail read, which is permanent.
//!
//! The attempts are bounded ([`ReconnectPolicy::attempts_max`] consecutive failed runs)
//! and counted again from one after a run that committed a checkpoint: a job that makes
//! progress between outages keeps running; one that cannot reach its server for long
//! fails with the last error. A run asked to stop ([`RunOptions::stop`]) is never
//! started again.

use crate::job_run::{run_job, NatsJobError};
use crate::{NatsError, TopicOptions};
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_engine::{Job, RunError, RunOptions, RunReport};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What [`run_job_restarting`] reports on the way.
pub trait RestartObserver {
    /// Run `attempt` failed transiently with `error`; the next starts after `delay`.
    fn restarting(
        &mut self,
        error: &NatsJobError,
        delay: Duration,
        attempt: u32,
        attempts_max: u32,
    ) {
        tracing::warn!("{}", restart_message(error, delay, attempt, attempts_max));
    }
}

/// The one-line account of a restart: the failure with its causes, the delay, the attempt.
pub fn restart_message(
    error: &NatsJobError,
    delay: Duration,
    attempt: u32,
    attempts_max: u32,
) -> String {
    format!(
        "{error} ({}); starting the job again from its last checkpoint in {} ms \
         (attempt {attempt}/{attempts_max})",
        error_chain(error),
        delay.as_millis()
    )
}

/// The default observer: a warning through `tracing`.
impl RestartObserver for () {}

/// Runs `job` on the server(s) at `address` under `epoch` like [`run_job`], starting it
/// again (same epoch) after a transient failure (see the module documentation). Returns
/// the report of the run that finished, or the error that ended the attempts: a permanent
/// one at once, a transient one once `policy` is spent.
pub fn run_job_restarting(
    job: &Job,
    address: &str,
    epoch: u64,
    options: &RunOptions,
    topic_options: &TopicOptions,
    policy: &ReconnectPolicy,
    observer: &mut dyn RestartObserver,
) -> Result<RunReport, NatsJobError> {
    let mut failures = 0u32;
    loop {
        let checkpoint_before = options.status.last_checkpoint_id.load(Ordering::Relaxed);
        let error = match run_job(job, address, epoch, options, topic_options) {
            Ok(report) => return Ok(report),
            Err(error) => error,
        };
        if !error.is_transient() || options.stop.load(Ordering::Relaxed) {
            return Err(error);
        }
        if options.status.last_checkpoint_id.load(Ordering::Relaxed) > checkpoint_before {
            failures = 0; // The run made progress: this outage is a new one.
        }
        failures += 1;
        if failures >= policy.attempts_max {
            return Err(error);
        }
        let delay = policy.delay(failures);
        observer.restarting(&error, delay, failures, policy.attempts_max);
        if !sleep_unless_stopped(options, delay) {
            return Err(error);
        }
    }
}

impl NatsJobError {
    /// Whether a new run may cure this failure: the server or the network failed or was
    /// slow (see [`NatsError::is_transient`]) — not a bad argument, a missing topic, a
    /// fenced writer, damaged data or a checkpoint store that gave up (it retries on its
    /// own first).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { source, .. } | Self::Input { source, .. } => source.is_transient(),
            Self::Run { source, .. } => run_error_is_transient(source),
            Self::Io { .. } | Self::Locked(_) | Self::BadEpoch { .. } => false,
        }
    }
}

/// Whether `error` is a transient NATS failure of the job's input or outputs.
fn run_error_is_transient(error: &RunError) -> bool {
    match error {
        RunError::Input { source, .. } | RunError::Output { source, .. } => source
            .downcast_ref::<NatsError>()
            .is_some_and(NatsError::is_transient),
        _ => false,
    }
}

/// Sleeps `delay` in short steps; `false` if the job was asked to stop meanwhile.
fn sleep_unless_stopped(options: &RunOptions, delay: Duration) -> bool {
    const STEP: Duration = Duration::from_millis(50);
    let until = Instant::now() + delay;
    loop {
        if options.stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep(STEP.min(until - now));
    }
}

/// The causes of `error`, innermost last, for a one-line warning.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_failure(source: NatsError) -> NatsJobError {
        NatsJobError::Run {
            job: "balances".to_string(),
            epoch: 3,
            source: Box::new(RunError::Output {
                what: "publishing".to_string(),
                output: "nats://127.0.0.1:4222".to_string(),
                source: Box::new(source),
            }),
        }
    }

    #[test]
    fn a_timeout_is_worth_a_new_run_and_a_fenced_writer_is_not() {
        let timeout = NatsError::Timeout {
            operation: "publish".to_string(),
            timeout_ms: 5000,
        };
        assert!(run_failure(timeout).is_transient());
        let fenced = NatsError::Fenced {
            stream: "out-0".to_string(),
            epoch: 3,
            tail_epoch: 4,
            tail_sequence: 10,
        };
        assert!(!run_failure(fenced).is_transient());
        let bad_input = NatsJobError::Run {
            job: "balances".to_string(),
            epoch: 3,
            source: Box::new(RunError::BadInput {
                topic: "transfers".to_string(),
                partition: 0,
                offset: 7,
                reason: "not JSON".to_string(),
            }),
        };
        assert!(!bad_input.is_transient());
    }
}
