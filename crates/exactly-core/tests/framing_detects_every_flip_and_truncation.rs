//! The frame format, property-tested: any body round-trips; any single-bit flip anywhere in
//! a frame and any truncation of it are detected (never decoded as a frame); a frame of
//! another version is refused as such. Seeds are printed by proptest on failure.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use exactly_core::framing::{self, FrameError, FrameKind, HEADER_BYTES};
use proptest::prelude::*;

const KIND: FrameKind = FrameKind {
    magic: *b"EXTS",
    version: 7,
    body_bytes_max: 4096,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let bytes = framing::encode(&KIND, &body).unwrap();
        prop_assert_eq!(bytes.len(), HEADER_BYTES + body.len());
        prop_assert_eq!(framing::decode_whole(&KIND, &bytes).unwrap(), &body[..]);
        // Trailing bytes (the next record of a journal) do not disturb the frame.
        let mut more = bytes.clone();
        more.extend_from_slice(&body);
        let decoded = framing::decode(&KIND, &more).unwrap();
        prop_assert_eq!(decoded.body, &body[..]);
        prop_assert_eq!(decoded.frame_bytes, bytes.len());
    }

    #[test]
    fn every_single_bit_flip_is_detected(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        bit in any::<proptest::sample::Index>(),
    ) {
        let bytes = framing::encode(&KIND, &body).unwrap();
        let bit = bit.index(bytes.len() * 8);
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let result = framing::decode(&KIND, &flipped);
        prop_assert!(result.is_err(), "flip of bit {} decoded: {:?}", bit, result);
        // A flipped version is damage (CRC), never taken for another version.
        if (32..64).contains(&bit) {
            let is_crc_mismatch = matches!(result, Err(FrameError::CrcMismatch { .. }));
            prop_assert!(is_crc_mismatch, "{:?}", result);
        }
    }

    #[test]
    fn every_truncation_is_detected(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<proptest::sample::Index>(),
    ) {
        let bytes = framing::encode(&KIND, &body).unwrap();
        let cut = cut.index(bytes.len());
        let result = framing::decode(&KIND, &bytes[..cut]);
        let expected_kind = if cut < HEADER_BYTES {
            matches!(result, Err(FrameError::Truncated { .. }))
        } else {
            matches!(result, Err(FrameError::LengthBeyondFile { .. }))
        };
        prop_assert!(expected_kind, "cut at {}: {:?}", cut, result);
    }
}

#[test]
fn every_flip_of_a_small_frame_exhaustively() {
    for body_len in 0..24usize {
        let body: Vec<u8> = (0..body_len).map(|i| (i * 37 + 5) as u8).collect();
        let bytes = framing::encode(&KIND, &body).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                framing::decode(&KIND, &flipped).is_err(),
                "body {body_len} bytes, bit {bit}"
            );
        }
        for cut in 0..bytes.len() {
            assert!(framing::decode(&KIND, &bytes[..cut]).is_err());
        }
    }
}

#[test]
fn unknown_versions_and_other_kinds_are_refused_not_guessed() {
    let newer = FrameKind { version: 8, ..KIND };
    let bytes = framing::encode(&newer, b"from the future").unwrap();
    assert_eq!(
        framing::decode(&KIND, &bytes),
        Err(FrameError::UnknownVersion {
            found: 8,
            supported: 7
        })
    );
    assert_eq!(framing::peek_version(KIND.magic, &bytes), Ok(8));
    let other = FrameKind {
        magic: *b"EXOT",
        ..KIND
    };
    let bytes = framing::encode(&other, b"another file kind").unwrap();
    assert!(matches!(
        framing::decode(&KIND, &bytes),
        Err(FrameError::BadMagic { .. })
    ));
    // A garbage length is refused before anything is read or allocated.
    let mut huge = framing::encode(&KIND, b"x").unwrap();
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        framing::decode(&KIND, &huge),
        Err(FrameError::TooLarge { .. })
    ));
}
