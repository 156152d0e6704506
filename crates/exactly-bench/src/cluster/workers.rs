//! `exactly worker` child processes, each in its own CPU-quota group ([`CpuGroup`]),
//! known by the incarnation id it prints when it joins; killed and reaped when dropped.

use super::cgroup::CpuGroup;
use crate::error::{net_error, BenchError};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a worker may take to connect and print its id.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where workers connect and how they run.
#[derive(Clone, Debug)]
pub struct WorkerSetup {
    /// The `exactly` binary.
    pub exe: PathBuf,
    /// PostgreSQL of the cluster.
    pub pg_url: String,
    /// Schema of the cluster's tables.
    pub schema: String,
    /// The data log.
    pub nats_url: String,
    /// Where workers keep their task status files.
    pub state_dir: PathBuf,
    /// CPU cores each worker may use.
    pub cpu_quota_cores: f64,
}

/// One worker slot: its CPU group and the process running in it now.
struct Slot {
    group: CpuGroup,
    child: Option<Child>,
    /// The running incarnation's id.
    id: u64,
}

/// Worker processes, slot by slot.
pub struct Fleet {
    setup: WorkerSetup,
    slots: Vec<Slot>,
}

impl Fleet {
    /// Starts `count` workers, each in a CPU group of its own named after `tag`.
    pub fn start(setup: WorkerSetup, count: usize, tag: &str) -> Result<Self, BenchError> {
        let mut fleet = Fleet {
            setup,
            slots: Vec::new(),
        };
        for slot in 0..count {
            let name = format!("exactly-bench-{}-{tag}-w{slot}", std::process::id());
            let group = CpuGroup::create(&name, fleet.setup.cpu_quota_cores)?;
            fleet.slots.push(Slot {
                group,
                child: None,
                id: 0,
            });
            fleet.respawn(slot)?;
        }
        Ok(fleet)
    }

    /// The incarnation ids of the running workers, slot by slot.
    pub fn ids(&self) -> Vec<u64> {
        self.slots.iter().map(|s| s.id).collect()
    }

    /// Kills slot `slot`'s worker with SIGKILL and reaps it.
    pub fn kill(&mut self, slot: usize) -> Result<(), BenchError> {
        if let Some(mut child) = self.slots.get_mut(slot).and_then(|s| s.child.take()) {
            child.kill().map_err(net_error("killing a worker"))?;
            child.wait().map_err(net_error("reaping a worker"))?;
        }
        Ok(())
    }

    /// Starts a new incarnation in slot `slot` (killing the old one if it runs).
    pub fn respawn(&mut self, slot: usize) -> Result<(), BenchError> {
        self.kill(slot)?;
        let state = self.setup.state_dir.join(format!("worker-{slot}"));
        let mut child = spawn(&self.setup, &state)?;
        let Some(entry) = self.slots.get_mut(slot) else {
            return Err(BenchError::Settings(format!("no worker slot {slot}")));
        };
        let joined = entry
            .group
            .add(child.id())
            .and_then(|()| joined_id(&mut child));
        match joined {
            Ok(id) => {
                entry.id = id;
                entry.child = Some(child);
                Ok(())
            }
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(error)
            }
        }
    }

    /// CPU seconds used so far by the running workers, and seconds the quota held them
    /// back (per slot, summed); `None` where unreadable.
    pub fn cpu(&self) -> (Option<f64>, Option<f64>) {
        let used = (self.slots.iter())
            .map(|s| crate::proc_usage::usage(Some(s.child.as_ref()?.id())).map(|u| u.cpu_seconds))
            .sum();
        let throttled = self.slots.iter().map(|s| s.group.throttled_seconds()).sum();
        (used, throttled)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for slot in 0..self.slots.len() {
            let _ = self.kill(slot);
        }
    }
}

fn spawn(setup: &WorkerSetup, state: &Path) -> Result<Child, BenchError> {
    Command::new(&setup.exe)
        .args([
            "worker",
            "--cluster",
            &setup.pg_url,
            "--schema",
            &setup.schema,
        ])
        .args(["--log", &setup.nats_url])
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(net_error("starting exactly worker"))
}

/// Waits for the worker's `worker <id> joined` line; afterwards its standard error is
/// drained on a thread (warnings are kept out of the bench's output, and a full pipe
/// would block the worker).
fn joined_id(child: &mut Child) -> Result<u64, BenchError> {
    let Some(stderr) = child.stderr.take() else {
        return Err(BenchError::Check("worker without standard error".into()));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                let id = (line.strip_prefix("worker "))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok());
                if let Some(id) = id {
                    sent = tx.send(id).is_ok();
                } else {
                    tracing::warn!(%line, "worker before joining");
                }
            }
        }
    });
    rx.recv_timeout(JOIN_TIMEOUT).map_err(|_| {
        BenchError::Check(format!(
            "a worker did not join within {JOIN_TIMEOUT:?} (is PostgreSQL or NATS down?)"
        ))
    })
}
