//! [`CompactKey`]: a text key kept inline when it is short, so that the items of a keyed
//! job carry their key without a heap allocation each and keyed state compares keys
//! without following a pointer. Its encodings are a `String`'s (a string in postcard
//! snapshots and in JSON outputs; its UTF-8 bytes as group bytes), so state and outputs
//! written with `String` keys read back as `CompactKey`s and the other way round.
//! A leaf module (it uses only [`GroupKey`]).

use crate::types::GroupKey;
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;

/// Longest key kept inline, in bytes (the type is 24 bytes, like a `String`).
pub const INLINE_BYTES_MAX: usize = 22;

/// A UTF-8 key: inline up to [`INLINE_BYTES_MAX`] bytes, boxed beyond. Each text has one
/// representation (short ones are always inline, with zeroed spare bytes), so the derived
/// equality and hash are those of the text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CompactKey(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; INLINE_BYTES_MAX],
    },
    Boxed(Box<str>),
}

impl CompactKey {
    /// The key `text`.
    pub fn new(text: &str) -> Self {
        let source = text.as_bytes();
        let mut bytes = [0u8; INLINE_BYTES_MAX];
        match bytes.get_mut(..source.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(source);
                // `source.len()` fits: it is at most INLINE_BYTES_MAX here.
                let len = source.len() as u8;
                CompactKey(Repr::Inline { len, bytes })
            }
            None => CompactKey(Repr::Boxed(text.into())),
        }
    }

    /// The key made of ASCII `bytes`; `None` if any byte is not ASCII (cheaper than
    /// validating UTF-8 for callers that already know they hold ASCII).
    pub fn from_ascii(bytes: &[u8]) -> Option<Self> {
        if !bytes.is_ascii() {
            return None;
        }
        let mut inline = [0u8; INLINE_BYTES_MAX];
        match inline.get_mut(..bytes.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(bytes);
                // `bytes.len()` fits: it is at most INLINE_BYTES_MAX here.
                let len = bytes.len() as u8;
                Some(CompactKey(Repr::Inline { len, bytes: inline }))
            }
            None => {
                let text = std::str::from_utf8(bytes).ok()?;
                Some(CompactKey(Repr::Boxed(text.into())))
            }
        }
    }

    /// The key's UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .expect("`new` and `from_ascii` keep `len` within the array"),
            Repr::Boxed(text) => text.as_bytes(),
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { .. } => std::str::from_utf8(self.as_bytes())
                .expect("`new` copies a whole `&str`, `from_ascii` ASCII: valid UTF-8"),
            Repr::Boxed(text) => text,
        }
    }
}

impl From<&str> for CompactKey {
    fn from(text: &str) -> Self {
        CompactKey::new(text)
    }
}

impl std::fmt::Display for CompactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl GroupKey for CompactKey {
    fn group_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl Serialize for CompactKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CompactKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = CompactKey;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<CompactKey, E> {
        Ok(CompactKey::new(text))
    }
}
