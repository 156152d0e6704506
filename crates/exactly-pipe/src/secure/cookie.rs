//! Bounded pre-authentication work (as WireGuard does it): every handshake init carries
//! `mac1`, a keyed BLAKE2s under the responder's *public* key, so frames from anyone who
//! does not even know whom they talk to are dropped after one hash. Under load, the
//! responder answers inits with a **cookie** — a MAC of the initiator's address under a
//! secret that rotates every two minutes — instead of doing Diffie-Hellman; the initiator
//! repeats its init with `mac2` keyed by that cookie, which proves it receives at the
//! address it claims. A flood from spoofed addresses then costs the responder one hash per
//! frame and no state.

use super::wire::MAC_BYTES;
use blake2::digest::consts::U16;
use blake2::digest::{KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};
use std::net::SocketAddr;

/// How long a cookie secret is used before it is replaced (the previous one stays valid
/// for one more period).
pub const COOKIE_SECRET_MS: u64 = 120_000;

type Mac128 = Blake2sMac<U16>;

/// The key of `mac1` for a responder's public key.
pub fn mac1_key(responder_public: &[u8; 32]) -> [u8; 32] {
    Blake2s256::new()
        .chain_update(b"exactly-pipe mac1")
        .chain_update(responder_public)
        .finalize()
        .into()
}

/// A 16-byte keyed BLAKE2s of `data` (`key` at most 32 bytes).
pub fn mac(key: &[u8], data: &[u8]) -> [u8; MAC_BYTES] {
    let mut out = [0u8; MAC_BYTES];
    // Keys here are 16 or 32 bytes, within BLAKE2s's 1..=32-byte key range.
    if let Ok(mut m) = <Mac128 as KeyInit>::new_from_slice(key) {
        m.update(data);
        out.copy_from_slice(&m.finalize().into_bytes());
    }
    out
}

/// Whether `tag` is the MAC of `data` under `key` (compared in constant time).
pub fn verify(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match <Mac128 as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

/// The responder's rotating cookie secrets.
#[derive(Clone)]
pub struct CookieSecrets {
    current: [u8; 32],
    previous: [u8; 32],
    rotated_ms: u64,
}

impl std::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSecrets").finish_non_exhaustive()
    }
}

impl CookieSecrets {
    /// Fresh random secrets.
    pub fn new(now_ms: u64) -> Self {
        CookieSecrets {
            current: rand::random(),
            previous: rand::random(),
            rotated_ms: now_ms,
        }
    }

    fn rotate(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.rotated_ms) >= COOKIE_SECRET_MS {
            self.previous = self.current;
            self.current = rand::random();
            self.rotated_ms = now_ms;
        }
    }

    /// The cookie of `from` now.
    pub fn cookie(&mut self, now_ms: u64, from: SocketAddr) -> [u8; MAC_BYTES] {
        self.rotate(now_ms);
        mac(&self.current, &address_bytes(from))
    }

    /// Whether `mac2` over `covered` was made with a current or previous cookie of `from`.
    pub fn check_mac2(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        covered: &[u8],
        mac2: &[u8],
    ) -> bool {
        self.rotate(now_ms);
        let address = address_bytes(from);
        [self.current, self.previous]
            .iter()
            .any(|secret| verify(&mac(secret, &address), covered, mac2))
    }
}

/// The bytes of an address a cookie (or a rate-limit bucket) is bound to.
pub(crate) fn address_bytes(from: SocketAddr) -> Vec<u8> {
    let mut out = match from.ip() {
        std::net::IpAddr::V4(ip) => ip.octets().to_vec(),
        std::net::IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    out.extend_from_slice(&from.port().to_le_bytes());
    out
}
