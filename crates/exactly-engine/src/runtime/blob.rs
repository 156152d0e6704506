//! Byte strings in postcard bodies, written with one copy instead of one call per byte.
//!
//! Serde encodes a `Vec<u8>` as a sequence of `u8`, which postcard writes as a varint
//! length and then every byte on its own — one serializer call per byte, the largest cost of
//! writing a checkpoint with a big state. Postcard writes a *byte string* as the same
//! varint length followed by the same bytes, so [`BlobRef`] (writing) and [`Blob`]
//! (reading, from either form) change no byte of a manifest: old and new manifests read
//! alike (checked by `manifest.rs`'s tests).

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Bytes to write as a byte string.
pub(crate) struct BlobRef<'a>(pub &'a [u8]);

impl Serialize for BlobRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Bytes read from a byte string (or a sequence of `u8`, the same bytes in postcard).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Blob(pub Vec<u8>);

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_byte_buf(BlobVisitor)
    }
}

struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Blob;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Blob, E> {
        Ok(Blob(bytes.to_vec()))
    }

    fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Blob, E> {
        Ok(Blob(bytes))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
        let capacity = match seq.size_hint() {
            // A capacity hint only: bounded, so a damaged length cannot reserve gigabytes.
            Some(len) => len.min(1 << 20),
            None => 0,
        };
        let mut bytes = Vec::with_capacity(capacity);
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(Blob(bytes))
    }
}
