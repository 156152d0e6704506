//! The typed fast path of the `balances` parse: a transfer in the exact form its writer
//! (`serde_json` over [`Transfer`](crate::jobs::Transfer)) produces,
//! `{"id":1,"from":"a","to":"b","amount":5}`, read in one pass without a general JSON
//! parser and without copying.
//!
//! It accepts a strict subset of what `serde_json` accepts, with the same meaning: the
//! fields in that order, no whitespace, account names of printable ASCII (no escapes),
//! integers without a sign (the amount may have one), fraction, exponent or leading
//! zero, nothing after the closing brace. Anything else — other field orders, spaces,
//! escapes, floats, bad input — returns `None` and the caller falls back to `serde_json`,
//! which then decides: the fast path never accepts a record the general parser refuses,
//! nor reads one differently (checked by the test `transfer_fast_parse_agrees_with_serde`).
//! A leaf module.

/// The fields `balances` reads from a transfer, borrowed from the record's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferFields<'a> {
    /// Transfer id.
    pub id: u64,
    /// Debited account: printable ASCII (so valid UTF-8).
    pub from: &'a [u8],
    /// Credited account: printable ASCII (so valid UTF-8).
    pub to: &'a [u8],
    /// Amount moved.
    pub amount: i64,
}

/// Parses `value` if it is a transfer in its writer's exact form; `None` otherwise (not an
/// error: the general parser decides those).
pub fn parse_canonical(value: &[u8]) -> Option<TransferFields<'_>> {
    let mut cursor = Cursor { rest: value };
    cursor.literal(b"{\"id\":")?;
    let id = cursor.unsigned()?;
    cursor.literal(b",\"from\":")?;
    let from = cursor.string()?;
    cursor.literal(b",\"to\":")?;
    let to = cursor.string()?;
    cursor.literal(b",\"amount\":")?;
    let amount = cursor.signed()?;
    cursor.literal(b"}")?;
    if !cursor.rest.is_empty() {
        return None;
    }
    Some(TransferFields {
        id,
        from,
        to,
        amount,
    })
}

/// What is left to read.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(expected)?;
        Some(())
    }

    /// Digits of a JSON integer (no leading zero unless it is `0`), as `u64`; one pass.
    fn unsigned(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        let mut len = 0;
        for &byte in self.rest {
            if !byte.is_ascii_digit() {
                break;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
            len += 1;
        }
        let leading_zero = len > 1 && self.rest.first() == Some(&b'0');
        if len == 0 || leading_zero {
            return None;
        }
        self.rest = self.rest.get(len..)?;
        Some(value)
    }

    /// An optionally negative JSON integer that fits `i64`.
    fn signed(&mut self) -> Option<i64> {
        let negative = self.rest.first() == Some(&b'-');
        if negative {
            self.rest = self.rest.get(1..)?;
        }
        let magnitude = i128::from(self.unsigned()?);
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value).ok()
    }

    /// A JSON string of printable ASCII, borrowed; one pass, and no UTF-8 validation
    /// needed (ASCII is UTF-8).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.literal(b"\"")?;
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))?;
        let (body, rest) = self.rest.split_at(end);
        // Stopped at an escape (a backslash), a raw control character or a non-ASCII byte:
        // the general parser decides (it unescapes, refuses, or validates the UTF-8).
        if rest.first() != Some(&b'"') {
            return None;
        }
        self.rest = rest.get(1..)?;
        Some(body)
    }
}
