//! A worker process's life: starting an incarnation, crashing, freezing and resuming,
//! its link partitioned, and the heal that ends every fault.

use super::{Process, World};
use crate::cluster::event::Fault;
use crate::cluster::ClusterSimError;
use exactly_cluster::{WorkerCore, WorkerId};
use std::collections::BTreeMap;

impl World<'_> {
    pub(super) fn fault(&mut self, slot: usize, fault: Fault) -> Result<(), ClusterSimError> {
        if self.healed {
            return Ok(());
        }
        match fault {
            Fault::Crash => self.crash(slot),
            Fault::Restart => {
                if self.current(slot).is_none() {
                    self.spawn(slot)?;
                }
            }
            Fault::Pause => self.pause(slot),
            Fault::Resume => self.resume(slot)?,
            Fault::PartitionStart | Fault::PartitionEnd => {
                if let Some(s) = self.slots.get_mut(slot) {
                    s.partitioned = fault == Fault::PartitionStart;
                    self.counts.partitions += u64::from(s.partitioned);
                }
            }
        }
        Ok(())
    }

    /// Starts a new incarnation in `slot` with a fresh worker id, and ticks it.
    pub(super) fn spawn(&mut self, slot: usize) -> Result<(), ClusterSimError> {
        let worker = WorkerId(self.next_worker);
        self.next_worker += 1;
        let Some(s) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        let now_local_ms = s.clock.local_at(self.now_ms);
        let core = WorkerCore::new(
            self.config.cluster.clone(),
            worker,
            &self.tasks,
            now_local_ms,
        )?;
        s.process = Some(Process {
            core,
            worker,
            running: BTreeMap::new(),
            tick_at_ms: None,
        });
        s.paused = false;
        s.inbox.clear();
        self.input(slot, worker, |core, now| core.tick(now))
    }

    fn crash(&mut self, slot: usize) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        if let Some(process) = s.process.take() {
            self.counts.crashes += 1;
            s.paused = false;
            s.inbox.clear();
            self.audit.died(process.worker);
        }
    }

    fn pause(&mut self, slot: usize) {
        let Some(worker) = self.current(slot) else {
            return;
        };
        if let Some(s) = self.slots.get_mut(slot).filter(|s| !s.paused) {
            s.paused = true;
            self.counts.pauses += 1;
            self.audit.froze(worker);
        }
    }

    /// The process runs again: first a tick (its monotonic clock jumped; expired leases
    /// are fenced), then it counts as running again, then what reached it while frozen.
    fn resume(&mut self, slot: usize) -> Result<(), ClusterSimError> {
        let Some(worker) = self.current(slot) else {
            return Ok(());
        };
        let inbox = match self.slots.get_mut(slot).filter(|s| s.paused) {
            Some(s) => {
                s.paused = false;
                std::mem::take(&mut s.inbox)
            }
            None => return Ok(()),
        };
        let fenced_before = self.counts.self_fenced;
        self.input(slot, worker, |core, now| core.tick(now))?;
        self.counts.zombies_fenced += self.counts.self_fenced - fenced_before;
        self.audit.thawed(self.now_ms, worker);
        for event in inbox {
            self.handle(event)?;
        }
        Ok(())
    }

    /// Faults stop: partitions end, frozen processes resume, dead ones restart.
    pub(super) fn heal(&mut self) -> Result<(), ClusterSimError> {
        self.healed = true;
        for slot in 0..self.slots.len() {
            if let Some(s) = self.slots.get_mut(slot) {
                s.partitioned = false;
            }
            if self.current(slot).is_none() {
                self.spawn(slot)?;
            } else {
                self.resume(slot)?;
            }
        }
        Ok(())
    }
}
