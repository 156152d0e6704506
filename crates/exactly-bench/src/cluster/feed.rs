//! Input at a fixed rate for the latency and recovery measurements, with probes.
//!
//! Ordinary transfers move money between accounts of branches `0..12` only. Each input
//! partition `s` also carries a **probe** every `probe_interval`: a transfer of 1 from
//! the probe account of stream `s`, the only account in branch `12 + s`. So that
//! branch's total in the output is exactly `−k` once the first `k` probes of stream `s`
//! are reflected there (a partition is read in order and every hop is exactly once),
//! which tells, for every probe, when the output first reflected it.

use super::session::{BRANCHES, INPUT, INPUT_PARTITIONS};
use crate::error::{BenchError, Context};
use exactly_engine::jobs::{account_name, branch_of, Transfer};
use exactly_nats::{NatsLog, OutRecord};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often the feeder appends.
const TICK: Duration = Duration::from_millis(10);

/// The branch whose total counts stream `stream`'s probes.
pub fn probe_branch(stream: u32) -> String {
    format!("branch-{:03}", BRANCHES - INPUT_PARTITIONS + stream)
}

/// The stream a probe branch belongs to, if `branch` is one.
pub fn probe_stream(branch: &str) -> Option<u32> {
    (0..INPUT_PARTITIONS).find(|s| probe_branch(*s) == branch)
}

/// The probe account of stream `stream`: the first `probe-<stream>-<n>` in its branch.
fn probe_account(stream: u32) -> String {
    let branch = probe_branch(stream);
    (0..)
        .map(|n| format!("probe-{stream}-{n}"))
        .find(|name| branch_of(name, BRANCHES) == branch)
        .unwrap_or_default()
}

/// `count` ordinary accounts, all outside the probe branches.
fn ordinary_accounts(count: u64) -> Vec<String> {
    let probes: Vec<String> = (0..INPUT_PARTITIONS).map(probe_branch).collect();
    (0..)
        .map(account_name)
        .filter(|name| !probes.contains(&branch_of(name, BRANCHES)))
        .take(count.max(2) as usize)
        .collect()
}

/// When each probe was appended: `sent[stream][k - 1]` is probe `k` of `stream`.
pub type ProbeTimes = Arc<Mutex<Vec<Vec<Instant>>>>;

/// The feeder's settings.
pub struct Feed {
    /// Ordinary transfers per second, all partitions together.
    pub rate_per_sec: u64,
    /// Accounts of the ordinary transfers.
    pub accounts: u64,
    /// Time between two probes of one stream.
    pub probe_interval: Duration,
}

impl Feed {
    /// Appends until `stop` is set, recording each probe's append (send) time in `sent`.
    /// Returns the ordinary transfers appended.
    pub fn run(
        &self,
        nats: &NatsLog,
        stop: &AtomicBool,
        sent: &ProbeTimes,
    ) -> Result<u64, BenchError> {
        let topic = nats.open_topic(INPUT).during("opening the input")?;
        let accounts = ordinary_accounts(self.accounts);
        let probes: Vec<String> = (0..INPUT_PARTITIONS).map(probe_account).collect();
        let mut rng = SmallRng::seed_from_u64(11);
        let (started, mut appended, mut id) = (Instant::now(), 0u64, 0u64);
        let mut next_probe = started;
        while !stop.load(Ordering::SeqCst) {
            let due = (started.elapsed().as_secs_f64() * self.rate_per_sec as f64) as u64;
            let mut batches: Vec<Vec<OutRecord>> =
                (0..INPUT_PARTITIONS).map(|_| Vec::new()).collect();
            for n in appended..due {
                let (from, to) = pair(&mut rng, &accounts);
                let amount = rng.random_range(1..=1000);
                let partition = (n % u64::from(INPUT_PARTITIONS)) as usize;
                if let Some(batch) = batches.get_mut(partition) {
                    batch.push(record(&mut id, from, to, amount)?);
                }
            }
            appended = due.max(appended);
            let now = Instant::now();
            let probing = now >= next_probe;
            if probing {
                for (batch, probe) in batches.iter_mut().zip(&probes) {
                    let (_, to) = pair(&mut rng, &accounts);
                    batch.push(record(&mut id, probe, to, 1)?);
                }
                next_probe += self.probe_interval;
            }
            for (partition, batch) in batches.iter().enumerate() {
                if !batch.is_empty() {
                    nats.publish(&topic, partition as u32, batch, None)
                        .during("appending input")?;
                }
            }
            if probing {
                let mut sent = sent.lock().map_err(|_| BenchError::ThreadPanicked)?;
                sent.resize(INPUT_PARTITIONS as usize, Vec::new());
                sent.iter_mut().for_each(|times| times.push(now));
            }
            std::thread::sleep(TICK.saturating_sub(now.elapsed()));
        }
        Ok(appended)
    }
}

/// Two different accounts of `accounts` (at least two), at random.
fn pair<'a>(rng: &mut SmallRng, accounts: &'a [String]) -> (&'a str, &'a str) {
    let len = accounts.len().max(2);
    let from = rng.random_range(0..len);
    let to = (from + rng.random_range(1..len)) % len;
    let name = |i: usize| accounts.get(i).map_or("", String::as_str);
    (name(from), name(to))
}

/// Transfer `id` (then `id + 1`) as an input record stamped with the wall clock.
fn record(id: &mut u64, from: &str, to: &str, amount: i64) -> Result<OutRecord, BenchError> {
    let transfer = Transfer {
        id: *id,
        from: from.to_string(),
        to: to.to_string(),
        amount,
    };
    *id += 1;
    let now_ms = (SystemTime::now().duration_since(SystemTime::UNIX_EPOCH))
        .map_or(0, |d| d.as_millis() as i64);
    Ok(OutRecord {
        msg_id: format!("feed.{}", transfer.id),
        epoch: None,
        origin: None,
        key: Some(from.as_bytes().to_vec()),
        timestamp_ms: now_ms,
        value: serde_json::to_vec(&transfer).during("encoding a transfer")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_accounts_alone_in_their_branches() {
        for stream in 0..INPUT_PARTITIONS {
            let account = probe_account(stream);
            assert_eq!(branch_of(&account, BRANCHES), probe_branch(stream));
            assert_eq!(probe_stream(&probe_branch(stream)), Some(stream));
        }
        let probes: Vec<String> = (0..INPUT_PARTITIONS).map(probe_branch).collect();
        for account in ordinary_accounts(1000) {
            assert!(
                !probes.contains(&branch_of(&account, BRANCHES)),
                "{account}"
            );
        }
    }
}
