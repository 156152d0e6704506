//! Handshake work per source address, once the responder is under load: a cookie proves
//! that a peer receives at its address, not that it is welcome, so a peer that collects
//! cookies at its real address could still keep the responder at its global handshake
//! limit and crowd out everyone else. Each address therefore gets a small token bucket
//! (as WireGuard rate-limits per source IP). The buckets are a fixed table indexed by a
//! keyed hash of the address — constant memory whatever the number of addresses; two
//! addresses sharing a bucket share its budget.

use super::cookie;
use std::net::SocketAddr;

/// Buckets in the table.
const BUCKETS: usize = 1_024;
/// Handshakes an address may start in a burst.
const BURST: u64 = 5;

/// Per-address handshake budgets. 16 KiB.
#[derive(Clone)]
pub struct HandshakeRateLimit {
    key: [u8; 32],
    /// Milliseconds between handshakes of one address once its burst is spent.
    interval_ms: u64,
    /// (credit in ms, time of the last refill) per bucket.
    buckets: Vec<(u64, u64)>,
}

impl std::fmt::Debug for HandshakeRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeRateLimit")
            .field("interval_ms", &self.interval_ms)
            .finish_non_exhaustive()
    }
}

impl HandshakeRateLimit {
    /// At most `per_s` handshakes per second per address (after a burst of 5).
    pub fn new(per_s: u32) -> Self {
        let interval_ms = 1_000 / u64::from(per_s.max(1));
        HandshakeRateLimit {
            key: rand::random(),
            interval_ms: interval_ms.max(1),
            buckets: vec![(BURST * interval_ms.max(1), 0); BUCKETS],
        }
    }

    /// Whether `from` may have a handshake processed now (and charges it if so).
    pub fn allow(&mut self, now_ms: u64, from: SocketAddr) -> bool {
        let [a, b, ..] = cookie::mac(&self.key, &cookie::address_bytes(from));
        let index = usize::from(u16::from_le_bytes([a, b])) % BUCKETS;
        let (interval_ms, cap_ms) = (self.interval_ms, BURST * self.interval_ms);
        let Some((credit_ms, last_ms)) = self.buckets.get_mut(index) else {
            return false;
        };
        *credit_ms = (*credit_ms + now_ms.saturating_sub(*last_ms)).min(cap_ms);
        *last_ms = now_ms.max(*last_ms);
        if *credit_ms < interval_ms {
            return false;
        }
        *credit_ms -= interval_ms;
        true
    }
}
