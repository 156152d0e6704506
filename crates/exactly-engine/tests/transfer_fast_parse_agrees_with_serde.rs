//! The typed fast path of the `balances` parse (`transfer_json::parse_canonical`) against
//! `serde_json` as the oracle, on random transfers as their writer encodes them and on
//! random damage to those (spaces, deleted, replaced and duplicated bytes, escapes,
//! trailing bytes): whenever the fast path reads a record, `serde_json` reads the same
//! fields from it; the writer's form with printable-ASCII names is always read by the
//! fast path; and
//! `parse_transfer` (`serde_json` alone: the check's parse) accepts exactly what
//! `serde_json` accepts, with the same debit and credit, and so does
//! `parse_transfer_compact` (fast path, then fallback: what `balances` runs) with the same
//! accounts as `CompactKey`s.
//!
//! Seeds: `EXACTLY_SEED` pins one, `EXACTLY_SEEDS=n` runs `0..n` (default 4); a failure
//! prints its seed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{parse_transfer, parse_transfer_compact, Transfer};
use exactly_engine::transfer_json::parse_canonical;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CASES_PER_SEED: usize = 20_000;
/// Bytes that matter to JSON, and a few that do not.
const INTERESTING: &[u8] = b" \t\n\"\\{}[]:,-+.eE0123456789aZ\x00\x1f\x7f\xc3\xa9\xff";

fn random_name(rng: &mut SmallRng) -> String {
    // Half are names as the generator writes them, half are built to hit the edges.
    if rng.random_bool(0.5) {
        return format!("acct-{:07}", rng.random_range(0..10_000_000u64));
    }
    let pieces = [
        "acct-",
        "0",
        "9",
        "\"",
        "\\",
        "\u{e9}",
        "\u{1F600}",
        "\n",
        "\u{1}",
        " ",
        "x",
    ];
    let len = rng.random_range(0..8);
    (0..len)
        .map(|_| pieces[rng.random_range(0..pieces.len())])
        .collect()
}

fn random_transfer(rng: &mut SmallRng) -> Transfer {
    let edge = [0, 1, -1, i64::MAX, i64::MIN, 1000];
    let amount = match rng.random_range(0..3) {
        0 => edge[rng.random_range(0..edge.len())],
        _ => rng.random(),
    };
    let id = match rng.random_range(0..3) {
        0 => [0, 1, u64::MAX][rng.random_range(0..3)],
        _ => rng.random(),
    };
    Transfer {
        id,
        from: random_name(rng),
        to: random_name(rng),
        amount,
    }
}

fn damage(rng: &mut SmallRng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=bytes.len());
        let byte = INTERESTING[rng.random_range(0..INTERESTING.len())];
        match rng.random_range(0..5) {
            0 => bytes.insert(at, byte),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => bytes[at] = byte,
            3 => {
                let end = rng.random_range(at..=bytes.len());
                let piece = bytes[at..end].to_vec();
                bytes.splice(at..at, piece);
            }
            _ => bytes.push(byte),
        }
    }
}

fn check(bytes: &[u8], context: &str) {
    let oracle = serde_json::from_slice::<Transfer>(bytes);
    if let Some(fast) = parse_canonical(bytes) {
        let t = oracle
            .as_ref()
            .unwrap_or_else(|e| panic!("{context}: fast path read what serde refuses ({e})"));
        assert_eq!(
            (fast.id, fast.from, fast.to, fast.amount),
            (t.id, t.from.as_bytes(), t.to.as_bytes(), t.amount),
            "{context}"
        );
    }
    let compact = parse_transfer_compact(bytes)
        .map(|halves| halves.map(|(account, amount)| (account.as_str().to_string(), amount)));
    assert_eq!(
        compact.ok(),
        parse_transfer(bytes).ok(),
        "{context}: compact keys"
    );
    match (parse_transfer(bytes), oracle) {
        (Ok(halves), Ok(t)) => {
            let amount = i128::from(t.amount);
            assert_eq!(halves, [(t.from, -amount), (t.to, amount)], "{context}");
        }
        (Err(_), Err(_)) => {}
        (ours, oracle) => panic!("{context}: parse_transfer {ours:?} but serde {oracle:?}"),
    }
}

#[test]
fn transfer_fast_parse_agrees_with_serde() {
    for seed in common::sim::seeds(4) {
        let result = std::panic::catch_unwind(|| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut fast_hits = 0;
            for case in 0..CASES_PER_SEED {
                let transfer = random_transfer(&mut rng);
                let canonical = serde_json::to_vec(&transfer).unwrap();
                let context = format!("seed {seed} case {case}");
                check(&canonical, &context);
                let plain = |s: &str| {
                    s.bytes()
                        .all(|b| b != b'"' && b != b'\\' && (0x20..0x80).contains(&b))
                };
                if plain(&transfer.from) && plain(&transfer.to) {
                    assert!(
                        parse_canonical(&canonical).is_some(),
                        "{context}: the writer's form {} was not read by the fast path",
                        String::from_utf8_lossy(&canonical)
                    );
                    fast_hits += 1;
                }
                let mut damaged = canonical;
                damage(&mut rng, &mut damaged);
                check(&damaged, &format!("{context} damaged"));
            }
            assert!(
                fast_hits > CASES_PER_SEED / 10,
                "seed {seed}: too few plain cases"
            );
        });
        if let Err(panic) = result {
            eprintln!("FAILED with seed {seed} (rerun with EXACTLY_SEED={seed})");
            std::panic::resume_unwind(panic);
        }
    }
}
