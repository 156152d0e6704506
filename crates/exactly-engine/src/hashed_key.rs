//! A key with the hash its group was computed from, so that keyed state looks it up
//! without hashing it again: the source hashes each key once (`xxh3` of its group bytes,
//! which also picks its key group), and the task's map reuses that hash. A leaf module
//! (it uses only [`GroupKey`]).

use crate::types::GroupKey;
use std::hash::{BuildHasher, Hash, Hasher};

/// The hash of a key: `xxh3` of its group bytes (the same hash [`key_group`] reduces to a
/// group).
///
/// [`key_group`]: crate::key_group::key_group
pub(crate) fn key_hash<K: GroupKey>(key: &K) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&key.group_bytes())
}

/// A key and its [`key_hash`]. Equal keys have equal hashes, so comparing the hash first
/// changes no equality, only skips most key comparisons.
#[derive(Clone, Debug)]
pub(crate) struct HashedKey<K> {
    pub hash: u64,
    pub key: K,
}

impl<K: GroupKey> HashedKey<K> {
    /// Hashes `key` (for keys that did not come through a source: restored state).
    pub fn new(key: K) -> Self {
        Self {
            hash: key_hash(&key),
            key,
        }
    }
}

impl<K: PartialEq> PartialEq for HashedKey<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<K: Eq> Eq for HashedKey<K> {}

impl<K> Hash for HashedKey<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Builds [`PrehashedHasher`]s: maps keyed by [`HashedKey`] use its hash as is.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

/// Passes a [`HashedKey`]'s hash through (it is already `xxh3`, well mixed in every bit).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `HashedKey` is hashed with this hasher, and it writes one u64; anything else
        // still hashes correctly, just slower.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
}
