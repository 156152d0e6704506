//! [`ResponderChannel`]: the receiving end's side of a secure channel (Noise IK
//! responder), a sans-IO state machine. It answers handshakes from allow-listed sender
//! keys only, opens transport frames into version-1 frames for a [`crate::Receiver`] and
//! seals the receiver's acks back to each sender's latest authenticated address.
//!
//! The sender id a frame declares names an *incarnation* of its authenticated key (one
//! sender state directory); the frame reaches the receiver under the table id of the pair
//! ([`PublicKey::table_id`]), and acks go back under the declared id. Each key holds a
//! bounded number of incarnations ([`Incarnations`]); a frame from one more is answered
//! with a sealed refusal ([`crate::frame::Refusal::IncarnationsFull`]).
//!
//! Nothing is stored for a frame until it is authenticated: an init needs a valid mac1
//! (one hash), under load a valid mac2 (a cookie round trip), then an allow-listed static
//! key and a stamp newer than any seen from that key before its one pending session is
//! kept; a transport frame needs a known index, a fresh counter and a valid AEAD tag.
//! Memory is bounded by the allow-list: at most three sessions and
//! `incarnations_per_key_max` incarnations per allowed key, whatever arrives.

use super::cookie::{self, CookieSecrets};
use super::incarnations::Incarnations;
use super::keys::{params, PublicKey, StaticKeypair};
use super::rate_limit::HandshakeRateLimit;
use super::session::{OpenError, Session};
use super::wire::{
    self, Wire, COOKIE_BYTES, INIT_MAC1_AT, INIT_MAC2_AT, KIND_COOKIE, KIND_RESPONSE,
    NOISE_RESPONSE_BYTES, RESPONSE_BYTES, STAMP_BYTES,
};
use super::{ChannelStats, SecureError};
use crate::frame::{self, FrameKind};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// How a [`ResponderChannel`] runs.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// This end's static key pair (senders are pinned to its public key).
    pub local: StaticKeypair,
    /// The sender keys allowed to connect; every other handshake is refused.
    pub allowed: Vec<PublicKey>,
    /// Handshakes (Diffie-Hellman work) per second before inits need a cookie.
    pub handshakes_per_s_max: u32,
    /// Under load, handshakes per second one source address may start (after a burst of
    /// 5), even with a valid cookie.
    pub handshakes_per_address_per_s: u32,
    /// Frames on a session older than this are refused (the initiator rekeys well before).
    pub session_max_ms: u64,
    /// Incarnations (sender state directories) of one key taken from at once, at least 1;
    /// beyond it a new one is refused ([`crate::frame::Refusal::IncarnationsFull`]).
    pub incarnations_per_key_max: usize,
    /// An incarnation silent for this long gives its slot to a new one of the same key.
    pub incarnation_idle_ms: u64,
}

/// Default of [`ResponderConfig::incarnations_per_key_max`].
pub const INCARNATIONS_PER_KEY_MAX: usize = 16;

impl ResponderConfig {
    /// Defaults: cookies beyond 100 handshakes per second, sessions refused after 6 min,
    /// [`INCARNATIONS_PER_KEY_MAX`] incarnations per key, slots freed after 10 min idle.
    pub fn new(local: StaticKeypair, allowed: Vec<PublicKey>) -> Self {
        ResponderConfig {
            local,
            allowed,
            handshakes_per_s_max: 100,
            handshakes_per_address_per_s: 10,
            session_max_ms: 360_000,
            incarnations_per_key_max: INCARNATIONS_PER_KEY_MAX,
            incarnation_idle_ms: 10 * 60 * 1000,
        }
    }
}

#[derive(Debug)]
struct Peer {
    key: PublicKey,
    pending: Option<Session>,
    current: Option<Session>,
    previous: Option<Session>,
    /// Where its latest authenticated frame came from (acks go there).
    address: Option<SocketAddr>,
    /// The newest handshake stamp accepted from it: older inits are replays.
    last_stamp: u64,
}

/// The responder's side of a secure channel. See the module docs.
pub struct ResponderChannel {
    config: ResponderConfig,
    mac1_key: [u8; 32],
    peers: Vec<Peer>,
    by_key: HashMap<PublicKey, usize>,
    incarnations: Incarnations,
    /// Session index → peer (at most three per peer).
    by_index: HashMap<u32, usize>,
    cookies: CookieSecrets,
    rate: HandshakeRateLimit,
    load_window_ms: u64,
    load_handshakes: u32,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    stats: ChannelStats,
}

impl std::fmt::Debug for ResponderChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderChannel")
            .field("allowed", &self.config.allowed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ResponderChannel {
    /// A responder for `config.allowed` (at least one key).
    pub fn new(config: ResponderConfig, now_ms: u64) -> Result<Self, SecureError> {
        params()?;
        if config.allowed.is_empty() {
            return Err(SecureError::NoAllowedKeys);
        }
        let mut peers = Vec::new();
        let mut by_key = HashMap::new();
        for key in &config.allowed {
            if by_key.contains_key(key) {
                continue;
            }
            by_key.insert(*key, peers.len());
            peers.push(Peer {
                key: *key,
                pending: None,
                current: None,
                previous: None,
                address: None,
                last_stamp: 0,
            });
        }
        let rate = HandshakeRateLimit::new(config.handshakes_per_address_per_s);
        let incarnations = Incarnations::new(
            peers.len(),
            config.incarnations_per_key_max,
            config.incarnation_idle_ms,
        );
        Ok(ResponderChannel {
            mac1_key: cookie::mac1_key(&config.local.public().0),
            config,
            peers,
            by_key,
            incarnations,
            by_index: HashMap::new(),
            cookies: CookieSecrets::new(now_ms),
            rate,
            load_window_ms: now_ms,
            load_handshakes: 0,
            transmits: VecDeque::new(),
            stats: ChannelStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> ChannelStats {
        self.stats
    }

    /// Sessions held (pending, current and previous, over all peers): at most three per
    /// allowed key.
    pub fn sessions_len(&self) -> usize {
        self.by_index.len()
    }

    /// Incarnations currently held for the allowed key `key` (0 for other keys).
    pub fn incarnations_len(&self, key: &PublicKey) -> usize {
        self.by_key
            .get(key)
            .map_or(0, |&peer| self.incarnations.held(peer))
    }

    /// Handles a datagram from `from`; returns the version-1 frame it carried if it was an
    /// authentic transport frame from an allowed sender, its sender id replaced by the
    /// table id of (key, declared incarnation).
    pub fn handle_datagram(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Option<Vec<u8>> {
        match wire::decode(bytes) {
            Some(Wire::Init {
                sender_index,
                noise,
                bytes,
            }) => {
                self.on_init(now_ms, from, sender_index, noise, bytes);
                None
            }
            Some(Wire::Transport {
                receiver_index,
                counter,
                ciphertext,
            }) => self.on_transport(now_ms, from, receiver_index, counter, ciphertext),
            Some(Wire::Response { .. } | Wire::Cookie { .. }) | None => {
                self.stats.frames_unauthenticated += 1;
                None
            }
        }
    }

    /// Whether handshakes this second have reached the limit (inits then need a cookie).
    fn under_load(&mut self, now_ms: u64) -> bool {
        if now_ms.saturating_sub(self.load_window_ms) >= 1_000 {
            self.load_window_ms = now_ms;
            self.load_handshakes = 0;
        }
        self.load_handshakes >= self.config.handshakes_per_s_max
    }

    fn on_init(&mut self, now_ms: u64, from: SocketAddr, index: u32, noise: &[u8], bytes: &[u8]) {
        let (Some(covered1), Some(mac1)) = (
            bytes.get(..INIT_MAC1_AT),
            bytes.get(INIT_MAC1_AT..INIT_MAC2_AT),
        ) else {
            return;
        };
        if !cookie::verify(&self.mac1_key, covered1, mac1) {
            self.stats.frames_unauthenticated += 1;
            return;
        }
        if self.under_load(now_ms) {
            let (covered2, mac2) = bytes.split_at(INIT_MAC2_AT.min(bytes.len()));
            if !self.cookies.check_mac2(now_ms, from, covered2, mac2) {
                let cookie = self.cookies.cookie(now_ms, from);
                let mut reply = wire::header(KIND_COOKIE, index, COOKIE_BYTES);
                reply.extend_from_slice(mac1);
                reply.extend_from_slice(&cookie);
                self.transmits.push_back((from, reply));
                self.stats.cookies_sent += 1;
                return;
            }
            if !self.rate.allow(now_ms, from) {
                self.stats.handshakes_rate_limited += 1;
                return;
            }
        }
        self.load_handshakes += 1;
        self.stats.handshakes_processed += 1;
        match self.respond(now_ms, index, noise) {
            Ok(Some(response)) => self.transmits.push_back((from, response)),
            Ok(None) => self.stats.handshakes_refused += 1,
            Err(error) => {
                tracing::debug!(%error, "secure pipe handshake init dropped");
                self.stats.frames_unauthenticated += 1;
            }
        }
    }

    /// Reads an init and, if it comes from an allowed key with a new stamp, keeps its
    /// session as the peer's pending one and returns the response. `Ok(None)`: refused.
    fn respond(
        &mut self,
        now_ms: u64,
        remote_index: u32,
        noise: &[u8],
    ) -> Result<Option<Vec<u8>>, SecureError> {
        let mut handshake = snow::Builder::new(params()?)
            .local_private_key(self.config.local.private())
            .and_then(|b| b.build_responder())
            .map_err(SecureError::noise("building the responder"))?;
        let mut payload = [0u8; 64];
        let len = handshake
            .read_message(noise, &mut payload)
            .map_err(SecureError::noise("reading the handshake init"))?;
        let remote = handshake
            .get_remote_static()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .map(PublicKey);
        let Some(&peer) = remote.as_ref().and_then(|k| self.by_key.get(k)) else {
            return Ok(None); // not an allowed key
        };
        let stamp = payload
            .get(..len)
            .filter(|_| len == STAMP_BYTES)
            .and_then(|bytes| <[u8; STAMP_BYTES]>::try_from(bytes).ok())
            .map(u64::from_le_bytes);
        let Some(stamp) = stamp else {
            return Ok(None); // an allowed key, but not this protocol's payload
        };
        let Some(p) = self.peers.get_mut(peer) else {
            return Ok(None);
        };
        if stamp <= p.last_stamp {
            return Ok(None); // a replayed (or reordered older) init
        }
        p.last_stamp = stamp;
        let local_index = self.fresh_index();
        let mut noise_out = [0u8; NOISE_RESPONSE_BYTES];
        let written = handshake
            .write_message(&[], &mut noise_out)
            .map_err(SecureError::noise("writing the handshake response"))?;
        let transport = handshake
            .into_stateless_transport_mode()
            .map_err(SecureError::noise("entering transport mode"))?;
        // IK message 2 with an empty payload has a fixed size (see `wire`).
        assert_eq!(written, NOISE_RESPONSE_BYTES, "Noise IK message 2 size");
        let mut response = wire::header(KIND_RESPONSE, local_index, RESPONSE_BYTES);
        response.extend_from_slice(&remote_index.to_le_bytes());
        response.extend_from_slice(&noise_out);
        let session = Session::new(transport, local_index, remote_index, now_ms);
        self.by_index.insert(local_index, peer);
        if let Some(p) = self.peers.get_mut(peer) {
            if let Some(old) = p.pending.replace(session) {
                self.by_index.remove(&old.local_index);
            }
        }
        Ok(Some(response))
    }

    fn fresh_index(&self) -> u32 {
        loop {
            let index: u32 = rand::random();
            if !self.by_index.contains_key(&index) {
                return index;
            }
        }
    }

    fn on_transport(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        index: u32,
        counter: u64,
        ciphertext: &[u8],
    ) -> Option<Vec<u8>> {
        let Some(&peer_at) = self.by_index.get(&index) else {
            self.stats.frames_unauthenticated += 1;
            return None;
        };
        let session_max_ms = self.config.session_max_ms;
        let peer = self.peers.get_mut(peer_at)?;
        let (slot, session) = [
            (Slot::Pending, peer.pending.as_mut()),
            (Slot::Current, peer.current.as_mut()),
            (Slot::Previous, peer.previous.as_mut()),
        ]
        .into_iter()
        .find_map(|(slot, s)| s.filter(|s| s.local_index == index).map(|s| (slot, s)))?;
        if now_ms.saturating_sub(session.created_ms) >= session_max_ms {
            self.stats.frames_unauthenticated += 1;
            return None;
        }
        let inner = match session.open(counter, ciphertext) {
            Ok(inner) => inner,
            Err(OpenError::Replayed) => {
                self.stats.frames_replayed += 1;
                return None;
            }
            Err(OpenError::Forged) => {
                self.stats.frames_unauthenticated += 1;
                return None;
            }
        };
        peer.address = Some(from);
        if slot == Slot::Pending {
            // The initiator used the new keys: they replace the current ones.
            let retired = peer.previous.take();
            peer.previous = peer.current.take();
            peer.current = peer.pending.take();
            if let Some(old) = retired {
                self.by_index.remove(&old.local_index);
            }
        }
        self.stats.frames_opened += 1;
        if inner.is_empty() {
            return None; // keepalive
        }
        let key = peer.key;
        self.admit(now_ms, peer_at, &key, &inner)
    }

    /// The opened frame `inner` of peer `peer_at`, under the table id of its incarnation;
    /// `None` (after sealing a refusal for a data frame) if the incarnation is refused.
    fn admit(
        &mut self,
        now_ms: u64,
        peer_at: usize,
        key: &PublicKey,
        inner: &[u8],
    ) -> Option<Vec<u8>> {
        // Decoding only reads the header and checks the checksum; the receiver applies
        // its own size limit to what is passed on.
        let Ok(decoded) = frame::decode(inner, usize::MAX) else {
            self.stats.inner_sender_mismatch += 1;
            return None;
        };
        let (kind, declared, seq) = (decoded.kind, decoded.sender_id, decoded.seq);
        match self.incarnations.admit(now_ms, peer_at, key, declared) {
            Ok(table_id) if table_id == declared => Some(inner.to_vec()),
            Ok(table_id) => frame::with_sender_id(inner, table_id),
            Err(refusal) => {
                self.stats.incarnations_refused += 1;
                if kind == FrameKind::Data {
                    let mut refused = Vec::new();
                    frame::encode_refused(declared, seq, refusal, &mut refused);
                    self.seal_for(now_ms, peer_at, &refused);
                }
                None
            }
        }
    }

    /// Seals a version-1 frame (an ack) for the sender incarnation whose table id is
    /// `table_id`, under the id it declared; dropped if it has no usable session (the
    /// receiver repeats acks, the sender resends).
    pub fn send_inner(&mut self, now_ms: u64, table_id: u64, inner: &[u8]) {
        let translated = self
            .incarnations
            .lookup(table_id)
            .and_then(|(peer, declared)| {
                let inner = if declared == table_id {
                    Some(inner.to_vec())
                } else {
                    frame::with_sender_id(inner, declared)
                };
                Some((peer, inner?))
            });
        match translated {
            Some((peer, inner)) => self.seal_for(now_ms, peer, &inner),
            None => self.stats.frames_dropped_unsent += 1,
        }
    }

    /// Seals `inner` on peer `peer_at`'s current session to its latest address.
    fn seal_for(&mut self, now_ms: u64, peer_at: usize, inner: &[u8]) {
        let session_max_ms = self.config.session_max_ms;
        let sealed = self.peers.get_mut(peer_at).and_then(|p| {
            let address = p.address?;
            let session = p
                .current
                .as_mut()
                .filter(|s| now_ms.saturating_sub(s.created_ms) < session_max_ms)?;
            Some((address, session.seal(inner)?))
        });
        match sealed {
            Some(frame) => {
                self.stats.frames_sealed += 1;
                self.transmits.push_back(frame);
            }
            None => self.stats.frames_dropped_unsent += 1,
        }
    }

    /// The next datagram to send, with its destination.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Pending,
    Current,
    Previous,
}
