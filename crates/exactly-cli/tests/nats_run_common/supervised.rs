//! `exactly run balances --follow` kept running through faults, as a supervisor would:
//! started again whenever it exits (with `--follow` it only exits on an error), each
//! run's standard error kept in its own file and printed when it exits.

use super::run_balances;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The supervised job.
pub struct Supervised {
    url: String,
    dir: PathBuf,
    extra: Vec<String>,
    child: Child,
    runs: u32,
}

impl Supervised {
    /// Most runs: a fault may fail a run, and runs started while a server is down fail
    /// at once (one per [`Self::RESTART_PAUSE`]); more means the job cannot recover.
    const RUNS_MAX: u32 = 30;
    /// Pause before starting a failed job again.
    const RESTART_PAUSE: Duration = Duration::from_secs(1);

    /// Starts `run balances --follow <extra>` on `url`, its state in `dir/state`.
    pub fn start(url: &str, dir: &Path, extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn(url, dir, &extra, 0);
        Supervised {
            url: url.to_string(),
            dir: dir.to_path_buf(),
            extra,
            child,
            runs: 1,
        }
    }

    /// Starts the job again whenever it exits during the next `period`.
    pub fn watch_for(&mut self, period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                let last = self.runs - 1;
                let stderr = std::fs::read_to_string(stderr_path(&self.dir, last))
                    .unwrap_or_else(|e| format!("(no standard error: {e})"));
                println!("run {last} exited ({status}): {}", stderr.trim());
                assert!(self.runs < Self::RUNS_MAX, "the job does not recover");
                std::thread::sleep(Self::RESTART_PAUSE);
                self.child = spawn(&self.url, &self.dir, &self.extra, self.runs);
                self.runs += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The standard error of the current run so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(stderr_path(&self.dir, self.runs - 1))
            .unwrap_or_else(|e| format!("(no standard error: {e})"))
    }

    /// SIGKILL (exactly once needs no clean stop); returns how often it was restarted.
    pub fn stop(mut self) -> u32 {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.runs - 1
    }
}

fn stderr_path(dir: &Path, run: u32) -> PathBuf {
    dir.join(format!("run-{run}.stderr"))
}

fn spawn(url: &str, dir: &Path, extra: &[String], run: u32) -> Child {
    let stderr = File::create(stderr_path(dir, run)).unwrap();
    run_balances(url, &dir.join("state"), 2)
        .arg("--follow")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}
