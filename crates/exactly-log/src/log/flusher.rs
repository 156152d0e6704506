//! The interval flusher: under `Durability::Interval`, a thread that syncs every partition
//! every interval until the log is closed or dropped.

use super::LogInner;
use crate::error::OpenError;
use crate::partition::{lock, Partition};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// The running flusher thread and its stop signal.
pub(super) struct Flusher {
    pub(super) stop: Arc<(Mutex<bool>, Condvar)>,
    pub(super) thread: Option<JoinHandle<()>>,
}

/// Starts the interval flusher. Failing to start it is an error: without it an
/// `Interval` log never synced, yet kept acknowledging appends.
pub(super) fn spawn_flusher(inner: &Arc<LogInner>, interval_ms: u64) -> Result<Flusher, OpenError> {
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let weak: Weak<LogInner> = Arc::downgrade(inner);
    let stop_flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("exactly-log-flusher".into())
        .spawn(move || loop {
            let (flag, signal) = &*stop_flag;
            let guard = lock(flag);
            let (guard, _) = signal
                .wait_timeout(guard, Duration::from_millis(interval_ms))
                .unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
            drop(guard);
            let Some(inner) = weak.upgrade() else { return };
            let partitions: Vec<Arc<Partition>> = {
                let topics = inner.topics.read().unwrap_or_else(|e| e.into_inner());
                topics
                    .values()
                    .flat_map(|t| t.partitions.iter().cloned())
                    .collect()
            };
            // A failed sync trips the fail-stop inside `flush`; nothing more to do here.
            for partition in partitions {
                let _ = partition.flush();
            }
        })
        .map_err(|source| OpenError::Io {
            path: inner.dir.clone(),
            source,
        })?;
    Ok(Flusher {
        stop,
        thread: Some(thread),
    })
}
