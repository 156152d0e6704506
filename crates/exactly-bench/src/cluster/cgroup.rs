//! A CPU quota for one worker process: a cgroup v1 `cpu` group of its own with
//! `cpu.cfs_quota_us` / `cpu.cfs_period_us`, created by the bench and removed by it.
//!
//! Why a quota and not pinning: the machine has 2 cores and the bench runs up to 3
//! workers beside nats-server and PostgreSQL, so a core per worker is impossible; an
//! equal quota gives every worker the same CPU whatever the count, which is what a
//! per-worker throughput needs.

use crate::error::BenchError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the cgroup v1 `cpu` controller is mounted.
pub const CPU_CGROUP_ROOT: &str = "/sys/fs/cgroup/cpu";
/// The CFS period every group gets (the kernel's default, 100 ms).
const PERIOD_US: u64 = 100_000;

/// A `cpu` cgroup with a quota, removed when dropped (after its processes have ended).
pub struct CpuGroup {
    path: PathBuf,
}

impl CpuGroup {
    /// Creates group `name` limited to `cores` of CPU (e.g. 0.5: 50 ms per 100 ms).
    /// Fails with [`BenchError::CpuQuota`] when cgroups are not writable here.
    pub fn create(name: &str, cores: f64) -> Result<Self, BenchError> {
        if !(cores > 0.0 && cores <= 64.0) {
            return Err(BenchError::Settings(format!(
                "a CPU quota of {cores} cores: expected more than 0"
            )));
        }
        let path = Path::new(CPU_CGROUP_ROOT).join(name);
        if let Err(source) = std::fs::create_dir(&path) {
            if source.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(quota_error(&path, source));
            }
        }
        let group = CpuGroup { path };
        let quota_us = (cores * PERIOD_US as f64).round() as u64;
        group.write("cpu.cfs_period_us", &PERIOD_US.to_string())?;
        group.write("cpu.cfs_quota_us", &quota_us.to_string())?;
        Ok(group)
    }

    /// Moves process `pid` (all its threads) into the group.
    pub fn add(&self, pid: u32) -> Result<(), BenchError> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// Seconds the group's processes were held back by the quota so far
    /// (`throttled_time` of `cpu.stat`), `None` if unreadable.
    pub fn throttled_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(self.path.join("cpu.stat")).ok()?;
        let line = stat.lines().find(|l| l.starts_with("throttled_time "))?;
        let nanos: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(nanos as f64 / 1e9)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), BenchError> {
        let path = self.path.join(file);
        std::fs::write(&path, value).map_err(|source| quota_error(&path, source))
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A process just killed may take a moment to leave the group; an rmdir of a
        // group that still has members fails with EBUSY.
        for _ in 0..50 {
            match std::fs::remove_dir(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => return,
            }
        }
        tracing::warn!(path = %self.path.display(), "could not remove a bench cgroup");
    }
}

fn quota_error(path: &Path, source: std::io::Error) -> BenchError {
    BenchError::CpuQuota {
        path: path.to_path_buf(),
        source,
    }
}
