//! Watching a running job from another thread: [`StatusWatch`] hands a one-line summary
//! of the job's [`JobStatus`] (records in and out, checkpoints, min clock) to a function
//! at a fixed interval until it is stopped — a progress display without touching the run.

use crate::runtime::JobStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

impl JobStatus {
    /// `<job>: <n> records in, <n> out, <n> checkpoints, min clock <ms>`.
    pub fn summary_line(&self, job: &str) -> String {
        format!(
            "{job}: {} records in, {} out, {} checkpoints, min clock {}",
            self.records_in.load(Ordering::Relaxed),
            self.records_out.load(Ordering::Relaxed),
            self.checkpoints.load(Ordering::Relaxed),
            self.min_clock_ms.load(Ordering::Relaxed),
        )
    }
}

/// A thread that reports a job's status every interval; stopped by [`StatusWatch::stop`]
/// or when dropped.
pub struct StatusWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StatusWatch {
    /// Calls `on_tick` with `status`'s [`JobStatus::summary_line`] for job `job` every
    /// `every`, first right away.
    pub fn start(
        status: Arc<JobStatus>,
        job: &str,
        every: Duration,
        mut on_tick: impl FnMut(String) + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, job) = (Arc::clone(&stop), job.to_string());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                on_tick(status.summary_line(&job));
                std::thread::sleep(every);
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits for it (at most one interval).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in `on_tick` ended the watch early; the job is not affected.
            let _ = thread.join();
        }
    }
}

impl Drop for StatusWatch {
    fn drop(&mut self) {
        self.halt();
    }
}
