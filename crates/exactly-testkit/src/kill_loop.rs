//! [`KillLoop`]: runs a command again and again, sending SIGKILL to each run at a seeded
//! random moment, until enough kills have landed while it was running; bounded in runs.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::ops::Range;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// Why a kill loop stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum KillLoopError {
    /// The child could not be started.
    #[error("starting the child: {0}")]
    Spawn(#[source] std::io::Error),
    /// Waiting for, or killing, the child failed.
    #[error("waiting for or killing the child: {0}")]
    Wait(#[source] std::io::Error),
    /// The run that was let finish failed.
    #[error("the final run failed ({status}): {stderr}")]
    Failed {
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error (if the command captured it).
        stderr: String,
    },
}

/// What a kill loop did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KillReport {
    /// SIGKILLs that landed while a run was still going.
    pub kills: u32,
    /// Runs started (including the last one).
    pub runs: u32,
    /// Time spent in the runs (killed ones and the last one).
    pub wall: Duration,
}

/// A bounded kill -9 loop of one command, driven by a seed so that a failure replays.
pub struct KillLoop {
    kills: u32,
    runs_max: u32,
    rng: SmallRng,
    delay: Box<dyn FnMut(&mut SmallRng) -> Duration>,
    poll: Duration,
}

impl KillLoop {
    /// A loop that wants `kills` kills, with kill moments drawn from `seed`; by default
    /// each run is killed 40–300 ms after it started and at most `10 × kills` runs start.
    pub fn new(kills: u32, seed: u64) -> Self {
        Self {
            kills,
            runs_max: kills.saturating_mul(10).max(1),
            rng: SmallRng::seed_from_u64(seed),
            delay: Box::new(|rng| Duration::from_millis(rng.random_range(40..300))),
            poll: Duration::from_millis(5),
        }
    }

    /// Starts at most `runs_max` runs in the kill phase.
    pub fn runs_max(mut self, runs_max: u32) -> Self {
        self.runs_max = runs_max;
        self
    }

    /// Kills each run a uniformly drawn number of milliseconds in `range` after it started.
    pub fn delay_ms(self, range: Range<u64>) -> Self {
        self.delay(move |rng| Duration::from_millis(rng.random_range(range.clone())))
    }

    /// Kills each run `delay(rng)` after it started.
    pub fn delay(mut self, delay: impl FnMut(&mut SmallRng) -> Duration + 'static) -> Self {
        self.delay = Box::new(delay);
        self
    }

    /// How often a run is checked for having exited (default 5 ms).
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The kill phase alone: starts `command()` again and again, each run killed after
    /// its delay unless it exited first, until `kills` kills landed mid-run or `runs_max`
    /// runs started. A run that exits by itself does not stop the loop.
    pub fn kill_runs(
        &mut self,
        mut command: impl FnMut() -> Command,
    ) -> Result<KillReport, KillLoopError> {
        let mut report = KillReport::default();
        while report.kills < self.kills && report.runs < self.runs_max {
            report.runs += 1;
            let started = Instant::now();
            let mut child = command().spawn().map_err(KillLoopError::Spawn)?;
            let delay = (self.delay)(&mut self.rng);
            if wait_or_kill_reaping(&mut child, delay, self.poll)? {
                report.kills += 1;
            }
            report.wall += started.elapsed();
        }
        Ok(report)
    }

    /// The demo's loop: each run is killed after its delay while fewer than `kills` have
    /// landed; the first run that exits by itself, or the run after the last kill, is let
    /// finish, and its output is returned (it must succeed). `on_run` is called before
    /// each run with what happened so far (for progress).
    pub fn run_to_completion(
        &mut self,
        mut command: impl FnMut() -> Command,
        mut on_run: impl FnMut(&KillReport),
    ) -> Result<Finished, KillLoopError> {
        let mut report = KillReport::default();
        loop {
            report.runs += 1;
            on_run(&report);
            let started = Instant::now();
            let mut child = command().spawn().map_err(KillLoopError::Spawn)?;
            if report.kills < self.kills && report.runs <= self.runs_max {
                let delay = (self.delay)(&mut self.rng);
                if wait_or_kill_reaping(&mut child, delay, self.poll)? {
                    report.kills += 1;
                    report.wall += started.elapsed();
                    continue;
                }
            }
            let output = child.wait_with_output().map_err(KillLoopError::Wait)?;
            report.wall += started.elapsed();
            if !output.status.success() {
                return Err(KillLoopError::Failed {
                    status: output.status,
                    stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
                });
            }
            return Ok(Finished { report, output });
        }
    }
}

/// The outcome of [`KillLoop::run_to_completion`].
#[derive(Debug)]
pub struct Finished {
    /// What the loop did.
    pub report: KillReport,
    /// The output of the run that finished.
    pub output: Output,
}

impl std::ops::Deref for Finished {
    type Target = KillReport;
    fn deref(&self) -> &KillReport {
        &self.report
    }
}

/// Kills and reaps a child after an error, so no process is left behind (best effort: the
/// error being reported matters more than a failure to clean up).
fn reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Waits or kills, cleaning up the child when that fails.
fn wait_or_kill_reaping(
    child: &mut Child,
    delay: Duration,
    poll: Duration,
) -> Result<bool, KillLoopError> {
    wait_or_kill_every(child, delay, poll).inspect_err(|_| reap(child))
}

/// Waits `delay`; kills the child with SIGKILL if it is still running. Returns whether it
/// was killed (false: it had already exited; its status is then collected).
pub fn wait_or_kill(child: &mut Child, delay: Duration) -> std::io::Result<bool> {
    wait_or_kill_every(child, delay, Duration::from_millis(5)).map_err(|e| match e {
        KillLoopError::Spawn(e) | KillLoopError::Wait(e) => e,
        KillLoopError::Failed { status, .. } => std::io::Error::other(status.to_string()),
    })
}

fn wait_or_kill_every(
    child: &mut Child,
    delay: Duration,
    poll: Duration,
) -> Result<bool, KillLoopError> {
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().map_err(KillLoopError::Wait)?.is_some() {
            return Ok(false);
        }
        std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
    }
    if child.try_wait().map_err(KillLoopError::Wait)?.is_some() {
        return Ok(false);
    }
    child.kill().map_err(KillLoopError::Wait)?; // SIGKILL on Unix
    child.wait().map_err(KillLoopError::Wait)?;
    Ok(true)
}
