//! A simulated hop's secure channel: the sender's [`InitiatorChannel`] and the receiver's
//! [`ResponderChannel`], with keys derived from the run's seed so a run is reproducible.

use exactly_pipe::secure::{
    InitiatorChannel, InitiatorConfig, ResponderChannel, ResponderConfig, StaticKeypair,
};
use std::net::SocketAddr;

/// Simulated secure hops rekey after this many frames, so runs exercise rekeying under
/// faults (real ends rekey after two minutes or 2^40 frames).
pub const REKEY_AFTER_FRAMES: u64 = 2_000;

/// Both ends of one hop's secure channel.
pub struct SecureLink {
    /// The sending end's channel.
    pub initiator: InitiatorChannel,
    /// The receiving end's channel.
    pub responder: ResponderChannel,
    /// The address the responder sees the sender's datagrams come from.
    sender_address: SocketAddr,
    sender_id: u64,
}

impl SecureLink {
    /// A link whose two static keys are derived from `seed`.
    // The default `snow` resolver (compiled in) provides X25519, ChaCha20-Poly1305 and
    // BLAKE2s, and a responder is given one allowed key: construction cannot fail.
    #[allow(clippy::expect_used)]
    pub fn new(seed: u64, hop: u32) -> Self {
        let sender = keypair(seed, 1);
        let receiver = keypair(seed, 2);
        let mut config = InitiatorConfig::new(sender.clone(), receiver.public());
        config.rekey_after_frames = REKEY_AFTER_FRAMES;
        let initiator = InitiatorChannel::new(config).expect("the default resolver works");
        let config = ResponderConfig::new(receiver, vec![sender.public()]);
        let responder = ResponderChannel::new(config, 0).expect("the default resolver works");
        let [a, b] = u16::try_from(hop % 65_536)
            .expect("a remainder of 65,536 fits a u16")
            .to_be_bytes();
        SecureLink {
            initiator,
            responder,
            sender_address: SocketAddr::from(([10, 0, a, b], 7_000)),
            sender_id: sender.public().sender_id(),
        }
    }

    /// The sender id the receiver de-duplicates this hop's sender by.
    pub fn sender_id(&self) -> u64 {
        self.sender_id
    }

    /// A datagram arriving at the receiver: the version-1 frame inside, if authentic.
    pub fn open_at_receiver(&mut self, now_ms: u64, datagram: &[u8]) -> Option<Vec<u8>> {
        self.responder
            .handle_datagram(now_ms, self.sender_address, datagram)
    }
}

// X25519 accepts any 32 bytes as a private key (it clamps them).
#[allow(clippy::expect_used)]
fn keypair(seed: u64, which: u64) -> StaticKeypair {
    let mut private = [0u8; 32];
    for (i, chunk) in private.chunks_mut(8).enumerate() {
        let word = splitmix(seed ^ which.wrapping_mul(0x9E37_79B9) ^ i as u64);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    StaticKeypair::from_private(private).expect("the default resolver provides X25519")
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
