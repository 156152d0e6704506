//! One secure session: the transport keys of one completed handshake, its send counter
//! (the explicit AEAD nonce) and its replay window.

use super::replay::ReplayWindow;
use super::wire::{self, KIND_TRANSPORT, TAG_BYTES, TRANSPORT_HEADER_BYTES};
use snow::StatelessTransportState;

/// A session stops sending at this counter (far below the nonce space, as WireGuard's
/// "reject after messages").
pub const COUNTER_MAX: u64 = 1 << 60;

/// Why a transport frame was not opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Its counter was accepted before, or is older than the replay window.
    Replayed,
    /// Authentication failed (forged, corrupted, or another session's).
    Forged,
}

/// The keys and counters of one completed handshake.
pub struct Session {
    transport: StatelessTransportState,
    /// The index the peer puts on frames it sends us.
    pub local_index: u32,
    /// The index we put on frames we send it.
    pub remote_index: u32,
    send_counter: u64,
    replay: ReplayWindow,
    /// When the handshake completed.
    pub created_ms: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("local_index", &self.local_index)
            .field("remote_index", &self.remote_index)
            .field("send_counter", &self.send_counter)
            .field("created_ms", &self.created_ms)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session over `transport`.
    pub fn new(
        transport: StatelessTransportState,
        local_index: u32,
        remote_index: u32,
        created_ms: u64,
    ) -> Self {
        Session {
            transport,
            local_index,
            remote_index,
            send_counter: 0,
            replay: ReplayWindow::new(),
            created_ms,
        }
    }

    /// Frames sealed so far.
    pub fn frames_sealed(&self) -> u64 {
        self.send_counter
    }

    /// Whether the session may still seal (its counter is below [`COUNTER_MAX`]).
    pub fn can_seal(&self) -> bool {
        self.send_counter < COUNTER_MAX
    }

    /// Encrypts `inner` into a transport frame; `None` once the counter is exhausted or
    /// the frame would exceed Noise's 65,535-byte message limit.
    pub fn seal(&mut self, inner: &[u8]) -> Option<Vec<u8>> {
        if !self.can_seal() {
            return None;
        }
        let counter = self.send_counter;
        let mut out = wire::header(
            KIND_TRANSPORT,
            self.remote_index,
            TRANSPORT_HEADER_BYTES + inner.len() + TAG_BYTES,
        );
        out.extend_from_slice(&counter.to_le_bytes());
        let start = out.len();
        out.resize(start + inner.len() + TAG_BYTES, 0);
        let body = out.get_mut(start..)?;
        let written = self.transport.write_message(counter, inner, body).ok()?;
        out.truncate(start + written);
        self.send_counter += 1;
        Some(out)
    }

    /// Decrypts a transport frame's ciphertext sealed with `counter`; the counter is
    /// checked against the replay window before, and recorded only after, authentication.
    pub fn open(&mut self, counter: u64, ciphertext: &[u8]) -> Result<Vec<u8>, OpenError> {
        if !self.replay.is_fresh(counter) {
            return Err(OpenError::Replayed);
        }
        let mut plain = vec![0u8; ciphertext.len()];
        let len = self
            .transport
            .read_message(counter, ciphertext, &mut plain)
            .map_err(|_| OpenError::Forged)?;
        plain.truncate(len);
        // Authenticated: only now may the counter move the window.
        self.replay.mark(counter);
        Ok(plain)
    }
}
