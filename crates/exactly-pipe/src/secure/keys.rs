//! Static identities: X25519 key pairs (generated and checked by `snow`), their hex form,
//! and the 64-bit ids a receiver de-duplicates a key's incarnations by.

use super::error::SecureError;
use super::wire::NOISE_PARAMS;
use blake2::{Blake2s256, Digest};
use snow::params::{DHChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use std::fmt;

/// Bytes of an X25519 key.
pub const KEY_BYTES: usize = 32;

/// A static public key: who an end is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; KEY_BYTES]);

impl PublicKey {
    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, SecureError> {
        Ok(PublicKey(from_hex(text)?))
    }

    /// The id this key's *legacy incarnation* stands for: the first 8 bytes of BLAKE2s-256
    /// of the key. Sender state directories created before incarnations declared it; a
    /// receiver keeps it unchanged as their table id (see [`PublicKey::table_id`]).
    pub fn sender_id(&self) -> u64 {
        self.hash_id(b"exactly-pipe sender id", &[])
    }

    /// The id a secure receiver de-duplicates by for the incarnation (sender state
    /// directory) `declared` of this key: the pair (authenticated key, declared id) hashed
    /// to 64 bits, so no key can declare its way into another key's de-dup state. The
    /// legacy incarnation ([`PublicKey::sender_id`]) keeps its id, so state journaled before
    /// incarnations still de-duplicates the same sender.
    pub fn table_id(&self, declared: u64) -> u64 {
        if declared == self.sender_id() {
            return declared;
        }
        self.hash_id(b"exactly-pipe incarnation", &declared.to_le_bytes())
    }

    fn hash_id(&self, domain: &[u8], extra: &[u8]) -> u64 {
        let digest = Blake2s256::new()
            .chain_update(domain)
            .chain_update(self.0)
            .chain_update(extra)
            .finalize();
        #[allow(clippy::expect_used)]
        // invariant: a BLAKE2s-256 digest is 32 bytes, so its first 8 always exist.
        let id: &[u8; 8] = digest.first_chunk().expect("a 32-byte digest");
        u64::from_le_bytes(*id)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A static key pair. `Debug` never shows the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticKeypair {
    private: [u8; KEY_BYTES],
    public: PublicKey,
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl StaticKeypair {
    /// A new random key pair (from the operating system's random source, through `snow`).
    pub fn generate() -> Result<Self, SecureError> {
        let keypair = snow::Builder::new(params()?)
            .generate_keypair()
            .map_err(SecureError::noise("generating a key pair"))?;
        Ok(StaticKeypair {
            private: key_array(&keypair.private)?,
            public: PublicKey(key_array(&keypair.public)?),
        })
    }

    /// The key pair of a private key (its public key is derived).
    pub fn from_private(private: [u8; KEY_BYTES]) -> Result<Self, SecureError> {
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .ok_or(SecureError::Unsupported)?;
        dh.set(&private);
        Ok(StaticKeypair {
            private,
            public: PublicKey(key_array(dh.pubkey())?),
        })
    }

    /// Parses a private key of 64 hex digits.
    pub fn from_private_hex(text: &str) -> Result<Self, SecureError> {
        Self::from_private(from_hex(text)?)
    }

    /// The private key as 64 hex digits (for the key file only).
    pub fn private_hex(&self) -> String {
        to_hex(&self.private)
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn private(&self) -> &[u8; KEY_BYTES] {
        &self.private
    }
}

/// The Noise parameters of every secure pipe.
pub(crate) fn params() -> Result<NoiseParams, SecureError> {
    NOISE_PARAMS
        .parse()
        .map_err(SecureError::noise("parsing the Noise parameters"))
}

fn key_array(bytes: &[u8]) -> Result<[u8; KEY_BYTES], SecureError> {
    bytes
        .try_into()
        .map_err(|_| SecureError::KeyLength { len: bytes.len() })
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Result<[u8; KEY_BYTES], SecureError> {
    let text = text.trim();
    let bad = || SecureError::BadHex {
        text: text.chars().take(80).collect(),
    };
    if text.len() != 2 * KEY_BYTES || !text.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; KEY_BYTES];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = text.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_public_is_derived() {
        let pair = StaticKeypair::generate().unwrap();
        let again = StaticKeypair::from_private_hex(&pair.private_hex()).unwrap();
        assert_eq!(again, pair);
        let public = PublicKey::from_hex(&pair.public().to_hex()).unwrap();
        assert_eq!(public, pair.public());
        assert!(PublicKey::from_hex("00zz").is_err());
        assert!(!format!("{pair:?}").contains(&pair.private_hex()));
    }
}
