//! Parsing a `balances` input record into the debit and credit it makes: `serde_json`
//! alone for the check (an oracle independent of the job), the typed fast path first for
//! the job itself.

use crate::compact_key::CompactKey;
use serde::Deserialize;
use std::borrow::Cow;

/// A transfer as read from the input: account names are borrowed from the record when
/// they hold no JSON escape and owned when they do (`"caf\u00e9"`, `"a\"b"`) — a
/// borrowed `&str` cannot hold an unescaped string, and refusing those would drop valid
/// input.
#[derive(Deserialize)]
struct TransferRef<'a> {
    #[allow(dead_code)]
    id: u64,
    #[serde(borrow)]
    from: Cow<'a, str>,
    #[serde(borrow)]
    to: Cow<'a, str>,
    amount: i64,
}

/// Parses a `balances` input record: the debit and credit it makes, or why it is not a
/// transfer. `serde_json` alone, never the job's fast path ([`parse_transfer_compact`]):
/// the check ([`super::check_balances`]) is an oracle independent of the job it checks.
pub fn parse_transfer(value: &[u8]) -> Result<[(String, i128); 2], String> {
    let t = serde_json::from_slice::<TransferRef<'_>>(value).map_err(|e| e.to_string())?;
    let amount = i128::from(t.amount);
    Ok([(t.from.into_owned(), -amount), (t.to.into_owned(), amount)])
}

/// [`parse_transfer`] with [`CompactKey`] accounts (no allocation for names of up to
/// [`INLINE_BYTES_MAX`](crate::compact_key::INLINE_BYTES_MAX) bytes): what `balances` runs.
pub fn parse_transfer_compact(value: &[u8]) -> Result<[(CompactKey, i128); 2], String> {
    // The writer's exact form is read by the typed fast path; every other form (and every
    // error) is `serde_json`'s to decide.
    let fast = crate::transfer_json::parse_canonical(value).and_then(|t| {
        let from = CompactKey::from_ascii(t.from)?;
        Some((from, CompactKey::from_ascii(t.to)?, t.amount))
    });
    let (from, to, amount) = match fast {
        Some(fields) => fields,
        None => {
            let t = serde_json::from_slice::<TransferRef<'_>>(value).map_err(|e| e.to_string())?;
            (CompactKey::new(&t.from), CompactKey::new(&t.to), t.amount)
        }
    };
    let amount = i128::from(amount);
    Ok([(from, -amount), (to, amount)])
}
