//! End-to-end latency from the probes of [`super::feed`]: for probe `k` of stream `s`,
//! the time from just before the feeder's publish of the batch holding it (so the input
//! append is included) until the bench first reads, in the job's output, a total of
//! branch `12 + s` of `−k` or below — the first output that reflects it. That spans
//! three hops (route → accounts → branches), each of which publishes a checkpoint's
//! outputs only after the checkpoint has committed (the write-ahead sink), plus the
//! bench's output poll (every [`POLL`]).

use super::feed::{probe_stream, ProbeTimes};
use super::session::{OutputWatch, Session, INPUT_PARTITIONS};
use crate::error::BenchError;
use std::time::{Duration, Instant};

/// Pause between two reads of the output.
pub const POLL: Duration = Duration::from_millis(20);

/// When the output first reflected each probe: `seen[stream][k - 1]`.
pub struct ProbeWatch {
    output: OutputWatch,
    seen: Vec<Vec<Instant>>,
}

impl Default for ProbeWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl ProbeWatch {
    /// A watch of the session's output.
    pub fn new() -> Self {
        ProbeWatch {
            output: OutputWatch::new(),
            seen: vec![Vec::new(); INPUT_PARTITIONS as usize],
        }
    }

    /// Reads the output once, noting the probes reflected for the first time.
    pub fn poll(&mut self, session: &Session) -> Result<(), BenchError> {
        let fresh = self.output.poll(&session.nats)?;
        let now = Instant::now();
        for (branch, total) in fresh {
            let Some(stream) = probe_stream(&branch) else {
                continue;
            };
            let reflected = usize::try_from(-total.min(0)).unwrap_or(usize::MAX);
            if let Some(seen) = self.seen.get_mut(stream as usize) {
                while seen.len() < reflected {
                    seen.push(now);
                }
            }
        }
        Ok(())
    }

    /// Latencies (ms) of the probes sent in `window`, once every one of them is seen;
    /// polls until then, at most `timeout`.
    pub fn latencies_ms(
        &mut self,
        session: &Session,
        sent: &ProbeTimes,
        window: (Instant, Instant),
        timeout: Duration,
    ) -> Result<Vec<f64>, BenchError> {
        let started = Instant::now();
        loop {
            self.poll(session)?;
            let sent = sent.lock().map_err(|_| BenchError::ThreadPanicked)?.clone();
            if let Some(latencies) = self.match_window(&sent, window) {
                return Ok(latencies);
            }
            if started.elapsed() > timeout {
                let seen: Vec<usize> = self.seen.iter().map(Vec::len).collect();
                let sent: Vec<usize> = sent.iter().map(Vec::len).collect();
                return Err(BenchError::Check(format!(
                    "probes not reflected in the output within {timeout:?}: seen {seen:?} of \
                     sent {sent:?} per stream"
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The window's latencies if every probe sent in it has been seen.
    fn match_window(&self, sent: &[Vec<Instant>], window: (Instant, Instant)) -> Option<Vec<f64>> {
        let mut latencies = Vec::new();
        for (sent, seen) in sent.iter().zip(&self.seen) {
            for (k, at) in sent.iter().enumerate() {
                if *at < window.0 || *at > window.1 {
                    continue;
                }
                let seen_at = seen.get(k)?;
                latencies.push(seen_at.saturating_duration_since(*at).as_secs_f64() * 1e3);
            }
        }
        Some(latencies)
    }
}

/// The `q` quantile (0..=1) of `values` by the nearest-rank method; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), Some(50.0));
        assert_eq!(quantile(&values, 0.99), Some(99.0));
        assert_eq!(quantile(&values, 0.0), Some(1.0));
        assert_eq!(quantile(&values, 1.0), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
