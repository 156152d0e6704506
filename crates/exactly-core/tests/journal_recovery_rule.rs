//! The journal recovery rule against a naive oracle that knows what was done to the bytes
//! (which record a flip hit, where a cut fell) instead of decoding them: a damaged record is
//! a torn tail only when it is the last record and lies at or beyond the durable claim;
//! a damaged earlier record is refused naming the next record; damage below the claim is
//! refused; a file shorter than the claim is refused. Exhaustive over small journals
//! (every bit flip, every cut, every claim at a record boundary), then proptest.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use exactly_core::framing::{self, FrameKind};
use exactly_core::journal::{self, FramedRecords, RecoveryError};
use proptest::prelude::*;
use std::path::Path;

const KIND: FrameKind = FrameKind {
    magic: *b"EXTJ",
    version: 1,
    body_bytes_max: 1024,
};

/// What the oracle expects.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// All `records` kept, `valid_bytes` long, `torn_bytes` cut.
    Kept {
        records: usize,
        valid_bytes: u64,
        torn_bytes: u64,
    },
    DamageBeforeValid {
        position: u64,
        valid_at: u64,
    },
    DamagedDurable {
        position: u64,
    },
    ShorterThanDurable,
}

/// What was done to the journal.
#[derive(Clone, Copy, Debug)]
enum Mutation {
    None,
    /// Keep the first `n` bytes.
    Cut(usize),
    /// Flip one bit.
    Flip(usize),
    /// Append `n` garbage bytes (never a valid frame: they do not start with the magic).
    Garbage(usize),
}

fn build(bodies: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>) {
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    for body in bodies {
        starts.push(bytes.len() as u64);
        framing::encode_into(&KIND, body, &mut bytes).unwrap();
    }
    (bytes, starts)
}

fn oracle(starts: &[u64], len: u64, mutation: Mutation, claim: u64) -> Expected {
    let end_of = |i: usize| starts.get(i + 1).copied().unwrap_or(len);
    let whole = starts.len();
    // The damaged record, and whether whole records follow it in the file.
    let (new_len, damaged) = match mutation {
        Mutation::None => (len, None),
        Mutation::Garbage(n) => (len + n as u64, Some((len, false))),
        Mutation::Cut(n) => {
            let n = n as u64;
            // The record the cut falls inside (a cut on a boundary damages nothing).
            let hit = (0..whole).find(|&i| starts[i] < n && n < end_of(i));
            (n, hit.map(|i| (starts[i], false)))
        }
        Mutation::Flip(bit) => {
            let byte = (bit / 8) as u64;
            let hit = (0..whole).find(|&i| starts[i] <= byte && byte < end_of(i));
            (len, hit.map(|i| (starts[i], i + 1 < whole)))
        }
    };
    if new_len < claim {
        return Expected::ShorterThanDurable;
    }
    let kept_before = |position: u64| (0..whole).filter(|&i| end_of(i) <= position).count();
    match damaged {
        None => Expected::Kept {
            records: kept_before(new_len),
            valid_bytes: new_len,
            torn_bytes: 0,
        },
        Some((position, true)) => {
            let next = (0..whole).find(|&i| starts[i] > position);
            Expected::DamageBeforeValid {
                position,
                valid_at: starts[next.unwrap()],
            }
        }
        Some((position, false)) if position < claim => Expected::DamagedDurable { position },
        Some((position, false)) => Expected::Kept {
            records: kept_before(position),
            valid_bytes: position,
            torn_bytes: new_len - position,
        },
    }
}

fn apply(bytes: &[u8], mutation: Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match mutation {
        Mutation::None => {}
        Mutation::Cut(n) => out.truncate(n),
        Mutation::Flip(bit) => out[bit / 8] ^= 1 << (bit % 8),
        Mutation::Garbage(n) => out.extend((0..n).map(|i| (i as u8).wrapping_mul(31) | 0x80)),
    }
    out
}

fn actual(bytes: &[u8], claim: u64, bodies: &[Vec<u8>]) -> Expected {
    let mut seen = Vec::new();
    let path = Path::new("/j/journal");
    match journal::recover(path, bytes, &FramedRecords { kind: KIND }, claim, |r| {
        seen.push(bytes[r].to_vec())
    }) {
        Ok(recovery) => {
            assert_eq!(
                seen[..],
                bodies[..seen.len()],
                "kept records are the originals"
            );
            Expected::Kept {
                records: seen.len(),
                valid_bytes: recovery.valid_bytes,
                torn_bytes: recovery.torn.map_or(0, |t| t.bytes_removed),
            }
        }
        Err(e) => {
            assert!(e.to_string().contains("/j/journal"), "names the file: {e}");
            match e {
                RecoveryError::DamageBeforeValid {
                    position, valid_at, ..
                } => Expected::DamageBeforeValid { position, valid_at },
                RecoveryError::DamagedDurable { position, .. } => {
                    Expected::DamagedDurable { position }
                }
                RecoveryError::ShorterThanDurable { .. } => Expected::ShorterThanDurable,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn check(bodies: &[Vec<u8>], mutation: Mutation, claim: u64) {
    let (bytes, starts) = build(bodies);
    let expected = oracle(&starts, bytes.len() as u64, mutation, claim);
    let got = actual(&apply(&bytes, mutation), claim, bodies);
    assert_eq!(
        got, expected,
        "mutation {mutation:?}, claim {claim}, starts {starts:?}"
    );
}

fn small_journal(sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(r, &n)| (0..n).map(|i| (r * 17 + i * 3) as u8 & 0x7f).collect())
        .collect()
}

#[test]
fn exhaustive_small_journals() {
    for sizes in [&[][..], &[0], &[3], &[1, 5], &[4, 0, 2]] {
        let bodies = small_journal(sizes);
        let (bytes, starts) = build(&bodies);
        let mut claims: Vec<u64> = starts.clone();
        claims.push(0);
        claims.push(bytes.len() as u64);
        let mut mutations = vec![Mutation::None, Mutation::Garbage(1), Mutation::Garbage(20)];
        mutations.extend((0..=bytes.len()).map(Mutation::Cut));
        mutations.extend((0..bytes.len() * 8).map(Mutation::Flip));
        for &claim in &claims {
            for &mutation in &mutations {
                check(&bodies, mutation, claim);
            }
        }
    }
}

#[test]
fn the_rule_alone() {
    use exactly_core::journal::{judge, Verdict};
    assert_eq!(judge(10, None, 10), Verdict::TornTail);
    assert_eq!(judge(9, None, 10), Verdict::DamagedDurable);
    assert_eq!(judge(9, Some(30), 10), Verdict::DamageBeforeValid(30));
    assert_eq!(judge(50, Some(60), 10), Verdict::DamageBeforeValid(60));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_journals_and_damage(
        bodies in proptest::collection::vec(proptest::collection::vec(0u8..0x80, 0..40), 0..8),
        kind in 0u8..4,
        at in any::<proptest::sample::Index>(),
        claim_at in any::<proptest::sample::Index>(),
    ) {
        let (bytes, starts) = build(&bodies);
        let len = bytes.len();
        let mutation = match kind {
            0 => Mutation::Cut(at.index(len + 1)),
            1 if len > 0 => Mutation::Flip(at.index(len * 8)),
            2 => Mutation::Garbage(1 + at.index(50)),
            _ => Mutation::None,
        };
        let mut claims = starts.clone();
        claims.push(0);
        claims.push(len as u64);
        let claim = claims[claim_at.index(claims.len())];
        let expected = oracle(&starts, len as u64, mutation, claim);
        let got = actual(&apply(&bytes, mutation), claim, &bodies);
        prop_assert_eq!(got, expected, "mutation {:?} claim {}", mutation, claim);
    }
}
