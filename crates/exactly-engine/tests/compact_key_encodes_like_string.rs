//! `CompactKey` against `String` as the oracle: for texts around the inline limit (empty,
//! 1, 21, 22, 23 and 40 bytes, ASCII and not), its postcard and JSON encodings are the
//! `String`'s byte for byte, each decodes as the other, its group bytes are the text's
//! UTF-8, equal texts give equal keys whichever constructor built them, and `from_ascii`
//! refuses anything that is not ASCII.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_engine::compact_key::{CompactKey, INLINE_BYTES_MAX};
use exactly_engine::GroupKey;

fn texts() -> Vec<String> {
    let mut texts = vec![String::new(), "a".into(), "acct-0000001".into()];
    for len in [
        INLINE_BYTES_MAX - 1,
        INLINE_BYTES_MAX,
        INLINE_BYTES_MAX + 1,
        40,
    ] {
        texts.push("x".repeat(len));
    }
    texts.push("caf\u{e9}".into());
    texts.push("\u{e9}".repeat(11)); // 22 bytes, not ASCII
    texts.push("\u{1F600}".repeat(6)); // 24 bytes
    texts.push("quote\"back\\slash\nnewline".into());
    texts
}

#[test]
fn compact_key_encodes_like_string() {
    for text in texts() {
        let key = CompactKey::new(&text);
        assert_eq!(key.as_str(), text);
        assert_eq!(key.group_bytes().as_ref(), text.as_bytes());
        let postcard_string = postcard::to_allocvec(&text).unwrap();
        assert_eq!(
            postcard::to_allocvec(&key).unwrap(),
            postcard_string,
            "{text:?}"
        );
        let json_string = serde_json::to_vec(&text).unwrap();
        assert_eq!(serde_json::to_vec(&key).unwrap(), json_string, "{text:?}");
        assert_eq!(
            postcard::from_bytes::<CompactKey>(&postcard_string).unwrap(),
            key
        );
        assert_eq!(
            serde_json::from_slice::<CompactKey>(&json_string).unwrap(),
            key
        );
        match CompactKey::from_ascii(text.as_bytes()) {
            Some(ascii) => {
                assert!(text.is_ascii(), "{text:?} accepted as ASCII");
                assert_eq!(ascii, key, "{text:?}");
            }
            None => assert!(!text.is_ascii(), "{text:?} refused as ASCII"),
        }
        for other in texts() {
            assert_eq!(CompactKey::new(&other) == key, other == text);
        }
    }
}
