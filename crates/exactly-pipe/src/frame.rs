//! The wire format of a pipe: one frame per datagram, checked with CRC32C.
//!
//! ```text
//! offset size field
//!  0     2    magic        0x5850 ("PX"), little-endian like every integer here
//!  2     1    version      1
//!  3     1    kind         1 = data, 2 = ack (list), 3 = ack (range), 4 = refused
//!  4     4    payload_len  bytes after the header
//!  8     8    sender_id    the sending end's id (acks echo the id they confirm for)
//! 16     8    seq          data: the message's sequence number;
//!                          ack: cumulative — every seq below it is confirmed
//! 24     4    crc32c       over bytes 0..24 followed by the payload
//! 28     …    payload      data: the message
//!                          ack (list): payload_len / 8 confirmed seqs (u64)
//!                          ack (range): end u64 | gap_count u64 | gap_count gap seqs |
//!                          pending seqs — every seq in [seq, end) is confirmed except the
//!                          gaps (never received) and the pending (received, not yet
//!                          confirmed by the application)
//!                          refused: reason u64 | a u64 | b u64 (see [`Refusal`]); `seq`
//!                          is the refused data frame's seq
//! ```
//!
//! Kind 4 was added to version 1 without changing the other kinds: a receiver answers a
//! data frame it will not take with it, so the sender stops with an error instead of
//! resending forever. A sender built before it counts the frame as undecodable.
//!
//! A range ack describes the receiver's whole window, so losing one costs nothing: the next
//! one says it again. Receivers without de-dup state (the plain resend pipe) can only list
//! what they confirmed.
//!
//! Decoding never allocates: it checks the declared length against a caller-given maximum
//! *before* looking at the payload, and returns a [`FrameRef`] borrowing the input.

use thiserror::Error;

/// First two bytes of every frame.
pub const MAGIC: u16 = 0x5850;
/// The only frame version this code speaks.
pub const VERSION: u8 = 1;
/// Size of the fixed frame header in bytes.
pub const HEADER_BYTES: usize = 28;
/// Byte offset of the CRC field in the header.
const CRC_OFFSET: usize = 24;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A message from a sender.
    Data,
    /// Confirmations from a receiver, listed one by one.
    Ack,
    /// Confirmations from a receiver as a range with exceptions.
    AckRange,
    /// The receiver will not take this sender's messages (see [`Refusal`]).
    Refused,
}

/// Why a receiver refuses a sender's data frames (the payload of a [`FrameKind::Refused`]
/// frame).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Its sender table holds `senders_max` senders it cannot forget yet (each still has
    /// unconfirmed messages or was heard from recently) and it remembers `floors_max`
    /// forgotten ones: a new sender cannot be taken without risking duplicates.
    #[error(
        "the receiver's sender table is full ({senders_max} active senders, {floors_max} \
         forgotten ones remembered) and none can be forgotten safely"
    )]
    SendersFull {
        /// The receiver's `senders_max`.
        senders_max: u64,
        /// The receiver's `sender_floors_max`.
        floors_max: u64,
    },
    /// The receiver forgot this sender (idle too long) while seqs in `[low, high)` were
    /// partly missing: it can no longer tell which of them it delivered, so it takes
    /// nothing at or above `low` from this sender id again. Seqs below `low` were delivered.
    #[error(
        "the receiver forgot this sender after it was idle with seqs {low}..{high} partly \
         undelivered; it no longer takes seqs from {low} on from this sender id"
    )]
    Evicted {
        /// Every seq below it was delivered.
        low: u64,
        /// One above the highest seq the receiver had seen.
        high: u64,
    },
    /// A secure receiver already keeps `max` incarnations (sender state directories) of
    /// this sender's key and none has been idle long enough to be let go: a new one would
    /// let one key take the sender table from the others.
    #[error(
        "the receiver already keeps {max} incarnations (sender state directories) of this \
         sender's key, all recently active; reuse one of their state directories, or wait \
         until one has been idle long enough"
    )]
    IncarnationsFull {
        /// The receiver's limit of incarnations per key.
        max: u64,
    },
}

impl Refusal {
    fn encode(self) -> [u64; 3] {
        match self {
            Refusal::SendersFull {
                senders_max,
                floors_max,
            } => [1, senders_max, floors_max],
            Refusal::Evicted { low, high } => [2, low, high],
            Refusal::IncarnationsFull { max } => [3, max, 0],
        }
    }

    fn decode(payload: &[u8]) -> Option<Refusal> {
        if payload.len() != REFUSED_PAYLOAD_BYTES {
            return None;
        }
        let (a, b) = (le_u64(payload, 8)?, le_u64(payload, 16)?);
        match le_u64(payload, 0)? {
            1 => Some(Refusal::SendersFull {
                senders_max: a,
                floors_max: b,
            }),
            2 => Some(Refusal::Evicted { low: a, high: b }),
            3 => Some(Refusal::IncarnationsFull { max: a }),
            _ => None,
        }
    }
}

/// Payload size of a refused frame.
const REFUSED_PAYLOAD_BYTES: usize = 24;

impl FrameKind {
    fn code(self) -> u8 {
        match self {
            FrameKind::Data => 1,
            FrameKind::Ack => 2,
            FrameKind::AckRange => 3,
            FrameKind::Refused => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(FrameKind::Data),
            2 => Some(FrameKind::Ack),
            3 => Some(FrameKind::AckRange),
            4 => Some(FrameKind::Refused),
            _ => None,
        }
    }
}

/// A decoded frame borrowing its payload from the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// Data or ack.
    pub kind: FrameKind,
    /// The sending end's id.
    pub sender_id: u64,
    /// Data: the message's sequence number. Ack: every seq below it is confirmed.
    pub seq: u64,
    /// The message (data) or the packed confirmed seqs (ack).
    pub payload: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// The individually confirmed seqs of an ack frame (empty for data frames).
    pub fn acked_seqs(&self) -> impl Iterator<Item = u64> + 'a {
        let payload = if self.kind == FrameKind::Ack {
            self.payload
        } else {
            &[]
        };
        payload.chunks_exact(8).map(chunk_u64)
    }

    /// A refused frame's reason; `None` for other frames. Validated by [`decode`].
    pub fn refusal(&self) -> Option<Refusal> {
        match self.kind {
            FrameKind::Refused => Refusal::decode(self.payload),
            _ => None,
        }
    }

    /// A range ack's `(end, gaps, pending)`; `None` for other frames. Validated by
    /// [`decode`], so the slices are whole seqs.
    pub fn ack_range(&self) -> Option<AckRange<'a>> {
        if self.kind != FrameKind::AckRange {
            return None;
        }
        let end = le_u64(self.payload, 0)?;
        let gap_count = usize::try_from(le_u64(self.payload, 8)?).ok()?;
        let rest = self.payload.get(16..)?;
        let (gaps, pending) = rest.split_at_checked(gap_count.checked_mul(8)?)?;
        Some(AckRange { end, gaps, pending })
    }
}

/// The body of a range ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckRange<'a> {
    /// Seqs in `[cumulative, end)` are described; at and above `end` nothing is said.
    pub end: u64,
    gaps: &'a [u8],
    pending: &'a [u8],
}

fn seqs(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(8).map(chunk_u64)
}

/// One chunk of `chunks_exact(8)` as a little-endian u64.
// `chunks_exact(8)` only yields 8-byte chunks, so the conversion cannot fail.
#[allow(clippy::expect_used)]
fn chunk_u64(c: &[u8]) -> u64 {
    u64::from_le_bytes(c.try_into().expect("chunks_exact(8) yields 8-byte chunks"))
}

impl<'a> AckRange<'a> {
    /// Seqs the receiver never got (sorted).
    pub fn gaps(&self) -> impl Iterator<Item = u64> + 'a {
        seqs(self.gaps)
    }

    /// Seqs received but not yet confirmed by the application (sorted).
    pub fn pending(&self) -> impl Iterator<Item = u64> + 'a {
        seqs(self.pending)
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than a header.
    #[error("frame of {len} bytes is shorter than the {HEADER_BYTES}-byte header")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Wrong magic number: not a pipe frame.
    #[error("bad magic {found:#06x}")]
    BadMagic {
        /// The magic found.
        found: u16,
    },
    /// A version this code does not speak.
    #[error("unsupported frame version {found}")]
    BadVersion {
        /// The version found.
        found: u8,
    },
    /// An unknown frame kind.
    #[error("unknown frame kind {found}")]
    BadKind {
        /// The kind code found.
        found: u8,
    },
    /// The declared payload is larger than allowed; rejected before reading it.
    #[error("payload of {payload_len} bytes exceeds the maximum of {payload_bytes_max}")]
    Oversize {
        /// Declared payload length.
        payload_len: u64,
        /// The configured maximum.
        payload_bytes_max: usize,
    },
    /// The declared payload length disagrees with the bytes received.
    #[error("declared payload of {declared} bytes but {actual} bytes follow the header")]
    LengthMismatch {
        /// Declared payload length.
        declared: usize,
        /// Bytes after the header.
        actual: usize,
    },
    /// An ack payload that is not a whole number of seqs, a range ack whose gap count
    /// exceeds what it lists, or a refused frame without a known reason.
    #[error("malformed ack payload of {payload_len} bytes")]
    BadAckPayload {
        /// Payload length.
        payload_len: usize,
    },
    /// The checksum does not match: the frame was corrupted.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC in the frame.
        stored: u32,
        /// CRC computed over the received bytes.
        computed: u32,
    },
}

impl FrameError {
    /// Whether this error means an oversize frame (as opposed to a corrupted or foreign one).
    pub fn is_oversize(&self) -> bool {
        matches!(self, FrameError::Oversize { .. })
    }
}

/// Appends an encoded frame to `out`. The caller bounds `payload` (senders check it against
/// their configured maximum before calling).
///
/// # Panics
/// If `payload` is 4 GiB or longer: the length field has 32 bits. `Sender::send` refuses
/// such payloads, and acks and refusals are a few KiB.
pub fn encode(kind: FrameKind, sender_id: u64, seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    // Callers bound payloads (see "Panics"): a longer one is a bug in the caller.
    #[allow(clippy::expect_used)]
    let payload_len = u32::try_from(payload.len()).expect("payloads are under 4 GiB");
    out.reserve(HEADER_BYTES + payload.len());
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.push(VERSION);
    out.push(kind.code());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(&sender_id.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    // `start` was `out.len()` before the header was appended, so it is in bounds.
    #[allow(clippy::expect_used)]
    let head = out.get(start..).expect("start is at most out.len()");
    let crc = crc32c::crc32c_append(crc32c::crc32c(head), payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// A copy of the well-formed frame `bytes` with its sender id replaced by `sender_id`
/// (checksum recomputed); `None` if `bytes` is not a frame. Secure receivers use it to
/// translate between the id a sender declares and the id their sender table keeps.
pub fn with_sender_id(bytes: &[u8], sender_id: u64) -> Option<Vec<u8>> {
    let frame = decode(bytes, usize::MAX).ok()?;
    let mut out = Vec::with_capacity(bytes.len());
    encode(frame.kind, sender_id, frame.seq, frame.payload, &mut out);
    Some(out)
}

/// Encodes an ack frame confirming every seq below `cumulative` plus each seq in `seqs`.
pub fn encode_ack(sender_id: u64, cumulative: u64, seqs: &[u64], out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(seqs.len() * 8);
    for seq in seqs {
        payload.extend_from_slice(&seq.to_le_bytes());
    }
    encode(FrameKind::Ack, sender_id, cumulative, &payload, out);
}

/// Encodes a range ack: every seq in `[cumulative, end)` is confirmed except `gaps` and
/// `pending` (each sorted).
pub fn encode_ack_range(
    sender_id: u64,
    cumulative: u64,
    end: u64,
    gaps: &[u64],
    pending: &[u64],
    out: &mut Vec<u8>,
) {
    let mut payload = Vec::with_capacity(16 + 8 * (gaps.len() + pending.len()));
    payload.extend_from_slice(&end.to_le_bytes());
    payload.extend_from_slice(&(gaps.len() as u64).to_le_bytes());
    for seq in gaps.iter().chain(pending) {
        payload.extend_from_slice(&seq.to_le_bytes());
    }
    encode(FrameKind::AckRange, sender_id, cumulative, &payload, out);
}

/// Encodes a refused frame answering `sender_id`'s data frame `seq`.
pub fn encode_refused(sender_id: u64, seq: u64, refusal: Refusal, out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(REFUSED_PAYLOAD_BYTES);
    for v in refusal.encode() {
        payload.extend_from_slice(&v.to_le_bytes());
    }
    encode(FrameKind::Refused, sender_id, seq, &payload, out);
}

/// The `N` bytes at `at`; `None` past the end.
fn bytes_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    bytes_at(bytes, at).map(u16::from_le_bytes)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes_at(bytes, at).map(u32::from_le_bytes)
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes_at(bytes, at).map(u64::from_le_bytes)
}

fn ack_payload_ok(kind: FrameKind, payload: &[u8]) -> bool {
    if kind == FrameKind::Refused {
        return Refusal::decode(payload).is_some();
    }
    if !payload.len().is_multiple_of(8) {
        return false;
    }
    if kind != FrameKind::AckRange {
        return true;
    }
    let listed = (payload.len() as u64 / 8).checked_sub(2);
    let gap_count = le_u64(payload, 8);
    matches!((listed, gap_count), (Some(listed), Some(gaps)) if gaps <= listed)
}

/// Decodes one frame. Checks, in order: header length, magic, version, kind, declared
/// payload length against `payload_bytes_max` (before touching the payload), exact length,
/// checksum.
pub fn decode(bytes: &[u8], payload_bytes_max: usize) -> Result<FrameRef<'_>, FrameError> {
    let (head, payload) = bytes
        .split_at_checked(HEADER_BYTES)
        .ok_or(FrameError::Truncated { len: bytes.len() })?;
    // `head` is exactly HEADER_BYTES long, so every header field is present; a missing one
    // would read as a truncated frame, never as a default.
    let truncated = FrameError::Truncated { len: bytes.len() };
    let magic = le_u16(head, 0).ok_or(truncated.clone())?;
    if magic != MAGIC {
        return Err(FrameError::BadMagic { found: magic });
    }
    // `head` is exactly HEADER_BYTES long (split_at_checked above), so bytes 2 and 3 exist.
    #[allow(clippy::expect_used)]
    let version = head.get(2).copied().expect("header holds the version byte");
    if version != VERSION {
        return Err(FrameError::BadVersion { found: version });
    }
    #[allow(clippy::expect_used)]
    let kind_code = head.get(3).copied().expect("header holds the kind byte");
    let kind = FrameKind::from_code(kind_code).ok_or(FrameError::BadKind { found: kind_code })?;
    let declared = le_u32(head, 4).ok_or(truncated.clone())?;
    let oversize = FrameError::Oversize {
        payload_len: u64::from(declared),
        payload_bytes_max,
    };
    // A length beyond usize is oversize for any `payload_bytes_max`.
    let declared_len = usize::try_from(declared).map_err(|_| oversize.clone())?;
    if declared_len > payload_bytes_max {
        return Err(oversize);
    }
    if declared_len != payload.len() {
        return Err(FrameError::LengthMismatch {
            declared: declared_len,
            actual: payload.len(),
        });
    }
    let stored = le_u32(head, CRC_OFFSET).ok_or(truncated.clone())?;
    // `head` is HEADER_BYTES long and the checksum field lies inside it.
    #[allow(clippy::expect_used)]
    let covered = head
        .get(..CRC_OFFSET)
        .expect("CRC_OFFSET is inside the header");
    let computed = crc32c::crc32c_append(crc32c::crc32c(covered), payload);
    if stored != computed {
        return Err(FrameError::Checksum { stored, computed });
    }
    if kind != FrameKind::Data && !ack_payload_ok(kind, payload) {
        return Err(FrameError::BadAckPayload {
            payload_len: payload.len(),
        });
    }
    Ok(FrameRef {
        kind,
        sender_id: le_u64(head, 8).ok_or(truncated.clone())?,
        seq: le_u64(head, 16).ok_or(truncated)?,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_frame_round_trips() {
        let mut buf = Vec::new();
        encode(FrameKind::Data, 7, 42, b"hello", &mut buf);
        assert_eq!(buf.len(), HEADER_BYTES + 5);
        let frame = decode(&buf, 1024).unwrap();
        assert_eq!(frame.kind, FrameKind::Data);
        assert_eq!(
            (frame.sender_id, frame.seq, frame.payload),
            (7, 42, &b"hello"[..])
        );
    }

    #[test]
    fn ack_frame_round_trips() {
        let mut buf = Vec::new();
        encode_ack(3, 10, &[12, 15], &mut buf);
        let frame = decode(&buf, 1024).unwrap();
        assert_eq!(frame.kind, FrameKind::Ack);
        assert_eq!(frame.seq, 10);
        assert_eq!(frame.acked_seqs().collect::<Vec<_>>(), vec![12, 15]);
    }

    #[test]
    fn range_ack_round_trips_and_bad_counts_are_rejected() {
        let mut buf = Vec::new();
        encode_ack_range(3, 10, 20, &[12, 15], &[17], &mut buf);
        let frame = decode(&buf, 1024).unwrap();
        let range = frame.ack_range().unwrap();
        assert_eq!(range.end, 20);
        assert_eq!(range.gaps().collect::<Vec<_>>(), vec![12, 15]);
        assert_eq!(range.pending().collect::<Vec<_>>(), vec![17]);
        let mut bad = Vec::new();
        let mut payload = 20u64.to_le_bytes().to_vec();
        payload.extend_from_slice(&5u64.to_le_bytes()); // claims 5 gaps, lists none
        encode(FrameKind::AckRange, 3, 10, &payload, &mut bad);
        assert!(matches!(
            decode(&bad, 1024),
            Err(FrameError::BadAckPayload { .. })
        ));
    }

    #[test]
    fn refused_frame_round_trips_and_unknown_reasons_are_rejected() {
        for refusal in [
            Refusal::SendersFull {
                senders_max: 4,
                floors_max: 9,
            },
            Refusal::Evicted { low: 3, high: 7 },
            Refusal::IncarnationsFull { max: 16 },
        ] {
            let mut buf = Vec::new();
            encode_refused(5, 11, refusal, &mut buf);
            let frame = decode(&buf, 1024).unwrap();
            assert_eq!(
                (frame.kind, frame.sender_id, frame.seq),
                (FrameKind::Refused, 5, 11)
            );
            assert_eq!(frame.refusal(), Some(refusal));
        }
        let mut bad = Vec::new();
        encode(FrameKind::Refused, 5, 11, &[9; 24], &mut bad);
        assert!(matches!(
            decode(&bad, 1024),
            Err(FrameError::BadAckPayload { .. })
        ));
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut buf = Vec::new();
        encode(FrameKind::Data, 1, 2, b"payload bytes", &mut buf);
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&bad, 1024).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn oversize_is_rejected_before_the_payload_is_read() {
        let mut buf = Vec::new();
        encode(FrameKind::Data, 1, 2, &[0; 100], &mut buf);
        buf.truncate(HEADER_BYTES); // the payload is not even there
        let err = decode(&buf, 99).unwrap_err();
        assert!(err.is_oversize(), "{err}");
    }

    #[test]
    fn truncated_and_foreign_bytes_are_errors() {
        assert!(matches!(
            decode(&[1, 2, 3], 10),
            Err(FrameError::Truncated { len: 3 })
        ));
        assert!(matches!(
            decode(&[0; 40], 10),
            Err(FrameError::BadMagic { .. })
        ));
    }
}
