//! Zigzag varints of the Kafka record format (pure).

/// Reads a zigzag varint of at most 64 bits from the front of `rest`.
pub fn take_varlong(rest: &mut &[u8]) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, tail) = rest.split_first()?;
        *rest = tail;
        raw |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

/// Reads a zigzag varint that must fit 32 bits.
pub fn take_varint(rest: &mut &[u8]) -> Option<i32> {
    take_varlong(rest).and_then(|v| i32::try_from(v).ok())
}

/// Appends `value` as a zigzag varint.
pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7F) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes() {
        for value in [
            0,
            1,
            -1,
            63,
            -64,
            300,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            put_varlong(&mut out, value);
            let mut rest = out.as_slice();
            assert_eq!(take_varlong(&mut rest), Some(value));
            assert!(rest.is_empty());
        }
    }
}
