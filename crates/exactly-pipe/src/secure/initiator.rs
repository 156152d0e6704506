//! [`InitiatorChannel`]: the sending end's side of a secure channel (Noise IK initiator),
//! a sans-IO state machine. It wraps the version-1 frames a [`crate::Sender`] produces into
//! transport frames, runs the handshake (retried on loss), follows cookie replies, rekeys,
//! and opens the responder's transport frames back into version-1 acks.

use super::cookie::{self, COOKIE_SECRET_MS};
use super::keys::{params, PublicKey, StaticKeypair};
use super::session::{OpenError, Session};
use super::wire::{
    self, Wire, INIT_BYTES, INIT_MAC1_AT, INIT_MAC2_AT, INNER_BYTES_MAX, KIND_INIT, MAC_BYTES,
    NOISE_INIT_BYTES,
};
use super::{ChannelStats, SecureError};
use snow::HandshakeState;
use std::collections::VecDeque;

/// How an [`InitiatorChannel`] runs.
#[derive(Clone, Debug)]
pub struct InitiatorConfig {
    /// This end's static key pair.
    pub local: StaticKeypair,
    /// The responder's public key: the only one this end talks to (pinned).
    pub responder: PublicKey,
    /// A handshake without an answer for this long is started again (new ephemeral key).
    pub handshake_timeout_ms: u64,
    /// After sending a message, no authenticated frame from the responder for this long
    /// means the session may be gone (the responder restarted): a new handshake starts.
    pub reply_timeout_ms: u64,
    /// A session is replaced by a new handshake once it is this old ...
    pub rekey_after_ms: u64,
    /// ... or has sealed this many frames.
    pub rekey_after_frames: u64,
    /// Frames waiting for a session at most (older ones are dropped; the sender resends).
    pub queue_frames_max: usize,
    /// Bytes of frames waiting for a session at most.
    pub queue_bytes_max: usize,
    /// Wall-clock milliseconds at `now_ms = 0`: the handshake stamp (which the responder
    /// requires to grow) is `clock_base_ms + now_ms`, so it keeps growing across restarts.
    pub clock_base_ms: u64,
}

impl InitiatorConfig {
    /// Defaults: handshake retried after 250 ms, rekey after 2 minutes or 2^40 frames.
    pub fn new(local: StaticKeypair, responder: PublicKey) -> Self {
        InitiatorConfig {
            local,
            responder,
            handshake_timeout_ms: 250,
            reply_timeout_ms: 1_000,
            rekey_after_ms: 120_000,
            rekey_after_frames: 1 << 40,
            queue_frames_max: 4_096,
            queue_bytes_max: 4 << 20,
            clock_base_ms: 0,
        }
    }
}

struct Outstanding {
    handshake: HandshakeState,
    index: u32,
    started_ms: u64,
    frame: Vec<u8>,
}

/// The initiator's side of a secure channel. See the module docs.
pub struct InitiatorChannel {
    config: InitiatorConfig,
    mac1_key: [u8; 32],
    outstanding: Option<Outstanding>,
    current: Option<Session>,
    previous: Option<Session>,
    cookie: Option<([u8; MAC_BYTES], u64)>,
    queue: VecDeque<Vec<u8>>,
    queue_bytes: usize,
    transmits: VecDeque<Vec<u8>>,
    last_stamp: u64,
    awaiting_reply_since_ms: Option<u64>,
    stats: ChannelStats,
}

impl std::fmt::Debug for InitiatorChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorChannel")
            .field("responder", &self.config.responder)
            .field("current", &self.current)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl InitiatorChannel {
    /// A channel with no session yet; the first frame starts the handshake.
    pub fn new(config: InitiatorConfig) -> Result<Self, SecureError> {
        params()?; // fail early, not at the first frame
        Ok(InitiatorChannel {
            mac1_key: cookie::mac1_key(&config.responder.0),
            config,
            outstanding: None,
            current: None,
            previous: None,
            cookie: None,
            queue: VecDeque::new(),
            queue_bytes: 0,
            transmits: VecDeque::new(),
            last_stamp: 0,
            awaiting_reply_since_ms: None,
            stats: ChannelStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> ChannelStats {
        self.stats
    }

    /// Whether a session is established.
    pub fn is_established(&self) -> bool {
        self.current.is_some()
    }

    /// Seals a version-1 frame for the responder (queued while no session is usable).
    pub fn send_inner(&mut self, now_ms: u64, inner: &[u8]) {
        if inner.len() > INNER_BYTES_MAX {
            // Senders cap payloads at `wire::PAYLOAD_BYTES_MAX`; nothing larger can be sealed.
            self.stats.frames_dropped_unsent += 1;
            return;
        }
        self.expire_or_rekey(now_ms);
        if let Some(session) = self.current.as_mut() {
            if let Some(frame) = session.seal(inner) {
                self.stats.frames_sealed += 1;
                self.transmits.push_back(frame);
                self.awaiting_reply_since_ms.get_or_insert(now_ms);
                return;
            }
        }
        self.enqueue(inner);
        if self.outstanding.is_none() {
            self.start_handshake(now_ms);
        }
    }

    fn enqueue(&mut self, inner: &[u8]) {
        self.queue.push_back(inner.to_vec());
        self.queue_bytes += inner.len();
        while self.queue.len() > self.config.queue_frames_max
            || self.queue_bytes > self.config.queue_bytes_max
        {
            let Some(dropped) = self.queue.pop_front() else {
                break;
            };
            self.queue_bytes -= dropped.len();
            self.stats.frames_dropped_unsent += 1;
        }
    }

    /// Drops a session too old to use and starts a rekey when one is due.
    fn expire_or_rekey(&mut self, now_ms: u64) {
        let reject_after_ms = self.config.rekey_after_ms.saturating_mul(3);
        if let Some(session) = &self.current {
            let age_ms = now_ms.saturating_sub(session.created_ms);
            if age_ms >= reject_after_ms || !session.can_seal() {
                self.current = None;
            }
        }
        let due = self.current.as_ref().is_some_and(|s| {
            now_ms.saturating_sub(s.created_ms) >= self.config.rekey_after_ms
                || s.frames_sealed() >= self.config.rekey_after_frames
        });
        if due && self.outstanding.is_none() {
            self.start_handshake(now_ms);
        }
    }

    fn start_handshake(&mut self, now_ms: u64) {
        match self.build_init(now_ms) {
            Ok(outstanding) => {
                self.stats.handshakes_started += 1;
                self.transmits.push_back(outstanding.frame.clone());
                self.outstanding = Some(outstanding);
            }
            // Only a broken crypto backend fails here; the next frame sent tries again.
            Err(error) => {
                tracing::warn!(%error, "starting a secure pipe handshake failed");
                self.stats.handshake_errors += 1;
            }
        }
    }

    fn build_init(&mut self, now_ms: u64) -> Result<Outstanding, SecureError> {
        let mut handshake = snow::Builder::new(params()?)
            .local_private_key(self.config.local.private())
            .and_then(|b| b.remote_public_key(&self.config.responder.0))
            .and_then(|b| b.build_initiator())
            .map_err(SecureError::noise("building the initiator"))?;
        let stamp = self
            .config
            .clock_base_ms
            .saturating_add(now_ms)
            .max(self.last_stamp + 1);
        self.last_stamp = stamp;
        let index: u32 = rand::random();
        let mut noise = [0u8; NOISE_INIT_BYTES];
        let written = handshake
            .write_message(&stamp.to_le_bytes(), &mut noise)
            .map_err(SecureError::noise("writing the handshake init"))?;
        // IK message 1 with an 8-byte payload has a fixed size (see `wire`).
        assert_eq!(written, NOISE_INIT_BYTES, "Noise IK message 1 size");
        let mut frame = wire::header(KIND_INIT, index, INIT_BYTES);
        frame.extend_from_slice(&noise);
        let mac1 = cookie::mac(&self.mac1_key, &frame);
        frame.extend_from_slice(&mac1);
        frame.extend_from_slice(&[0; MAC_BYTES]);
        self.apply_cookie(now_ms, &mut frame);
        Ok(Outstanding {
            handshake,
            index,
            started_ms: now_ms,
            frame,
        })
    }

    /// Sets mac2 from a cookie received less than a cookie period ago.
    fn apply_cookie(&self, now_ms: u64, frame: &mut [u8]) {
        let Some((cookie, received_ms)) = self.cookie else {
            return;
        };
        if now_ms.saturating_sub(received_ms) >= COOKIE_SECRET_MS {
            return;
        }
        let (covered, slot) = frame.split_at_mut(INIT_MAC2_AT.min(frame.len()));
        if slot.len() == MAC_BYTES {
            slot.copy_from_slice(&cookie::mac(&cookie, covered));
        }
    }

    /// Handles a datagram from the responder; returns the version-1 frame it carried (an
    /// ack), if it was an authentic transport frame with content.
    pub fn handle_datagram(&mut self, now_ms: u64, bytes: &[u8]) -> Option<Vec<u8>> {
        match wire::decode(bytes) {
            Some(Wire::Response {
                sender_index,
                receiver_index,
                noise,
            }) => {
                self.on_response(now_ms, sender_index, receiver_index, noise);
                None
            }
            Some(Wire::Cookie {
                receiver_index,
                echo,
                cookie,
            }) => {
                self.on_cookie(now_ms, receiver_index, echo, cookie);
                None
            }
            Some(Wire::Transport {
                receiver_index,
                counter,
                ciphertext,
            }) => self.on_transport(receiver_index, counter, ciphertext),
            Some(Wire::Init { .. }) | None => {
                self.stats.frames_unauthenticated += 1;
                None
            }
        }
    }

    fn on_response(&mut self, now_ms: u64, sender_index: u32, receiver_index: u32, noise: &[u8]) {
        let Some(mut outstanding) = self.outstanding.take_if(|o| o.index == receiver_index) else {
            self.stats.frames_unauthenticated += 1;
            return;
        };
        let mut payload = [0u8; 64];
        let read = outstanding.handshake.read_message(noise, &mut payload);
        let transport = read.and_then(|_| outstanding.handshake.into_stateless_transport_mode());
        let Ok(transport) = transport else {
            // Forged or corrupted: the handshake state is spent; the timeout starts anew.
            self.stats.frames_unauthenticated += 1;
            return;
        };
        self.stats.handshakes_completed += 1;
        let session = Session::new(transport, receiver_index, sender_index, now_ms);
        self.previous = self.current.replace(session);
        self.awaiting_reply_since_ms = None;
        // A keepalive confirms the session to the responder even if nothing is queued.
        self.seal_current(&[]);
        while let Some(inner) = self.queue.pop_front() {
            self.queue_bytes -= inner.len();
            self.seal_current(&inner);
        }
    }

    fn seal_current(&mut self, inner: &[u8]) {
        if let Some(frame) = self.current.as_mut().and_then(|s| s.seal(inner)) {
            self.stats.frames_sealed += 1;
            self.transmits.push_back(frame);
        }
    }

    fn on_cookie(&mut self, now_ms: u64, receiver_index: u32, echo: &[u8], cookie: &[u8]) {
        let Some(outstanding) = self.outstanding.as_mut() else {
            return;
        };
        let mac1 = outstanding.frame.get(INIT_MAC1_AT..INIT_MAC2_AT);
        if outstanding.index != receiver_index || mac1 != Some(echo) {
            self.stats.frames_unauthenticated += 1;
            return;
        }
        let Ok(cookie) = <[u8; MAC_BYTES]>::try_from(cookie) else {
            return;
        };
        self.stats.cookies_received += 1;
        self.cookie = Some((cookie, now_ms));
        // The responder did no work on the init: the same one, with mac2, goes again.
        let mut frame = std::mem::take(&mut outstanding.frame);
        self.apply_cookie(now_ms, &mut frame);
        self.transmits.push_back(frame.clone());
        if let Some(outstanding) = self.outstanding.as_mut() {
            outstanding.frame = frame;
        }
    }

    fn on_transport(&mut self, index: u32, counter: u64, ciphertext: &[u8]) -> Option<Vec<u8>> {
        let session = [self.current.as_mut(), self.previous.as_mut()]
            .into_iter()
            .flatten()
            .find(|s| s.local_index == index);
        let Some(session) = session else {
            self.stats.frames_unauthenticated += 1;
            return None;
        };
        match session.open(counter, ciphertext) {
            Ok(inner) => {
                self.awaiting_reply_since_ms = None;
                self.stats.frames_opened += 1;
                (!inner.is_empty()).then_some(inner)
            }
            Err(OpenError::Replayed) => {
                self.stats.frames_replayed += 1;
                None
            }
            Err(OpenError::Forged) => {
                self.stats.frames_unauthenticated += 1;
                None
            }
        }
    }

    /// Restarts an unanswered handshake, or starts one when the responder went silent.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if let Some(o) = &self.outstanding {
            if now_ms
                >= o.started_ms
                    .saturating_add(self.config.handshake_timeout_ms)
            {
                self.outstanding = None;
                // Nobody waits for a session (a rekey can start again at the next frame).
                if !self.queue.is_empty() || self.awaiting_reply_since_ms.is_some() {
                    self.start_handshake(now_ms);
                }
            }
        }
        if let Some(since) = self.awaiting_reply_since_ms {
            if now_ms >= since.saturating_add(self.config.reply_timeout_ms) {
                self.awaiting_reply_since_ms = Some(now_ms);
                if self.outstanding.is_none() {
                    self.start_handshake(now_ms);
                }
            }
        }
        // Rekeys start from `send_inner`: an idle channel does not handshake.
    }

    /// When [`InitiatorChannel::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        let handshake = self.outstanding.as_ref().map(|o| {
            o.started_ms
                .saturating_add(self.config.handshake_timeout_ms)
        });
        let reply = self
            .awaiting_reply_since_ms
            .map(|since| since.saturating_add(self.config.reply_timeout_ms));
        handshake.into_iter().chain(reply).min()
    }

    /// The next datagram to send to the responder.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }
}
