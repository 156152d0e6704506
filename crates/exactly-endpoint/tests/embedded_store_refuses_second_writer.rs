//! Single writer per endpoint: a second open of the same store directory (a zombie, or an
//! operator's mistake) is refused while the first holds it, and allowed after it closes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, StoreError};

#[test]
fn second_writer_is_refused_then_allowed_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let second = EmbeddedStore::open(dir.path(), EmbeddedOptions::default());
    assert!(
        matches!(second, Err(StoreError::Locked { .. })),
        "{second:?}"
    );
    drop(first);
    EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
}
