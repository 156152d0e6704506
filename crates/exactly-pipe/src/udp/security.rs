//! How the UDP ends protect their frames: a secure channel (the default of `exactly pipe`)
//! or, explicitly, plaintext.

use crate::secure::{PublicKey, StaticKeypair};

/// How a UDP sender protects its frames.
#[derive(Clone, Debug)]
pub enum SenderSecurity {
    /// Plaintext version-1 frames: anyone on the path can read, forge and replay them.
    Insecure,
    /// A Noise IK channel to the receiver whose public key is pinned.
    Noise {
        /// This sender's static key pair (its identity: the receiver de-duplicates by it and
        /// the state directory's sender id together).
        local: StaticKeypair,
        /// The receiver's public key.
        receiver: PublicKey,
    },
}

/// How a UDP receiver protects its frames.
#[derive(Clone, Debug)]
pub enum ReceiverSecurity {
    /// Plaintext version-1 frames from anyone.
    Insecure,
    /// Noise IK channels from allow-listed senders only.
    Noise {
        /// This receiver's static key pair.
        local: StaticKeypair,
        /// The sender public keys allowed in.
        allowed: Vec<PublicKey>,
    },
}

/// Milliseconds since the Unix epoch (handshake stamps must grow across restarts).
pub(crate) fn wall_clock_ms() -> u64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since_epoch) => saturating_ms(since_epoch),
        // A clock set before 1970: stamps then start at 0 and grow with the process's own
        // time. A receiver that saw newer stamps from this key refuses them (a stale stamp
        // is what a replay looks like), so a wrong clock can delay a handshake, never make
        // a replay pass.
        Err(_) => 0,
    }
}

/// `duration` in whole milliseconds; beyond u64 (584 million years) it saturates.
pub(crate) fn saturating_ms(duration: std::time::Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(duration.subsec_millis()))
}
