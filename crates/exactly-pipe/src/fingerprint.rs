//! A fingerprint of every message a durable sender has accepted, so a restart can check
//! that it resumes the *same* input rather than skip the first messages of a different one.
//!
//! A hash chain (64-bit FNV-1a over each payload's length and bytes, chained) over the
//! messages in seq order, plus checkpoints — the chain's value after every `every`-th
//! message — to locate the first difference. At most [`CHECKPOINTS_MAX`] checkpoints are
//! kept: past that, every other one is dropped and `every` doubles, so memory stays bounded
//! (512 KiB) and only the precision of the reported range degrades (16 messages up to a
//! million messages).

use thiserror::Error;

/// Checkpoint spacing of a new fingerprint, in messages.
const EVERY_INITIAL: u64 = 16;
/// Checkpoints kept at most.
pub const CHECKPOINTS_MAX: usize = 65_536;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Why an input does not match the messages a sender state already accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeMismatch {
    /// The input has fewer messages than the state already accepted.
    #[error(
        "the input has {input_len} messages but this sender state already accepted {accepted}"
    )]
    InputShorter {
        /// Messages accepted by the state (its next seq).
        accepted: u64,
        /// Messages in the input.
        input_len: u64,
    },
    /// The input differs from what was accepted; the first difference is in the seq range.
    #[error(
        "the input differs from the messages this sender state already accepted: the first \
         difference is among seqs {first_seq}..={last_seq}"
    )]
    InputDiffers {
        /// Lowest seq that may differ (every seq below it matches).
        first_seq: u64,
        /// Highest seq of the range holding the first difference.
        last_seq: u64,
    },
    /// Part of the accepted messages predates fingerprints (a state written by an older
    /// version) and cannot be checked; only `from_seq` onwards was.
    #[error("messages below seq {from_seq} were accepted before fingerprints were kept")]
    Unverifiable {
        /// The first seq covered by the fingerprint.
        from_seq: u64,
    },
}

/// The fingerprint of the messages `from_seq..next_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    from_seq: u64,
    next_seq: u64,
    chain: u64,
    every: u64,
    /// `checkpoints[k]`: the chain after message `from_seq + (k + 1) * every - 1`.
    checkpoints: Vec<u64>,
}

fn fold(chain: u64, payload: &[u8]) -> u64 {
    let len = (payload.len() as u64).to_le_bytes();
    len.iter()
        .chain(payload)
        .fold(chain, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl Fingerprint {
    /// An empty fingerprint whose first message will be `from_seq`.
    pub(crate) fn starting_at(from_seq: u64) -> Self {
        Fingerprint {
            from_seq,
            next_seq: from_seq,
            chain: FNV_OFFSET,
            every: EVERY_INITIAL,
            checkpoints: Vec::new(),
        }
    }

    /// The seq the next folded message must have.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Folds in the message with seq [`Fingerprint::next_seq`].
    pub(crate) fn push(&mut self, payload: &[u8]) {
        self.chain = fold(self.chain, payload);
        self.next_seq += 1;
        if (self.next_seq - self.from_seq).is_multiple_of(self.every) {
            self.checkpoints.push(self.chain);
            if self.checkpoints.len() > CHECKPOINTS_MAX {
                self.checkpoints = self
                    .checkpoints
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .copied()
                    .collect();
                self.every *= 2;
            }
        }
    }

    /// `from_seq | next_seq | chain | every | checkpoints…` (u64 LE each).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.from_seq, self.next_seq, self.chain, self.every]
            .iter()
            .chain(&self.checkpoints)
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Parses [`Fingerprint::encode`]'s bytes; `None` if malformed.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(8) {
            return None;
        }
        let every = u64_at(bytes, 24)?;
        let fp = Fingerprint {
            from_seq: u64_at(bytes, 0)?,
            next_seq: u64_at(bytes, 8)?,
            chain: u64_at(bytes, 16)?,
            every,
            checkpoints: bytes
                .get(32..)?
                .chunks_exact(8)
                .filter_map(|c| u64_at(c, 0))
                .collect(),
        };
        let span = fp.next_seq.checked_sub(fp.from_seq)?;
        (every > 0 && span / every == fp.checkpoints.len() as u64).then_some(fp)
    }

    /// Checks that `input` starts with exactly the messages folded in so far.
    pub(crate) fn check<T: AsRef<[u8]>>(&self, input: &[T]) -> Result<(), ResumeMismatch> {
        if (input.len() as u64) < self.next_seq {
            return Err(ResumeMismatch::InputShorter {
                accepted: self.next_seq,
                input_len: input.len() as u64,
            });
        }
        let mut chain = FNV_OFFSET;
        let mut block_start = self.from_seq;
        let mut checkpoints = self.checkpoints.iter();
        for (seq, message) in
            (self.from_seq..self.next_seq).zip(input.iter().skip(self.from_seq as usize))
        {
            chain = fold(chain, message.as_ref());
            let done = seq + 1;
            if !(done - self.from_seq).is_multiple_of(self.every) {
                continue;
            }
            if checkpoints.next() != Some(&chain) {
                return Err(ResumeMismatch::InputDiffers {
                    first_seq: block_start,
                    last_seq: seq,
                });
            }
            block_start = done;
        }
        if chain != self.chain {
            return Err(ResumeMismatch::InputDiffers {
                first_seq: block_start,
                last_seq: self.next_seq.saturating_sub(1),
            });
        }
        if self.from_seq > 0 {
            return Err(ResumeMismatch::Unverifiable {
                from_seq: self.from_seq,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(n: u64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect()
    }

    fn fingerprint_of(input: &[Vec<u8>]) -> Fingerprint {
        let mut fp = Fingerprint::starting_at(0);
        input.iter().for_each(|m| fp.push(m));
        fp
    }

    #[test]
    fn same_input_and_longer_input_match() {
        let input = messages(100);
        let fp = fingerprint_of(&input[..70]);
        assert_eq!(fp.check(&input), Ok(()));
        assert_eq!(fp.check(&input[..70]), Ok(()));
        let mut bytes = Vec::new();
        fp.encode(&mut bytes);
        assert_eq!(Fingerprint::decode(&bytes), Some(fp));
    }

    #[test]
    fn the_range_holding_the_first_difference_is_reported() {
        let input = messages(100);
        let fp = fingerprint_of(&input[..70]);
        for changed in [0u64, 15, 16, 40, 63, 64, 69] {
            let mut other = input.clone();
            other[changed as usize] = b"{\"other\":true}".to_vec();
            match fp.check(&other) {
                Err(ResumeMismatch::InputDiffers {
                    first_seq,
                    last_seq,
                }) => {
                    assert!(
                        (first_seq..=last_seq).contains(&changed) && last_seq - first_seq < 16,
                        "changed {changed}: {first_seq}..={last_seq}"
                    );
                }
                other => panic!("changed {changed}: {other:?}"),
            }
        }
        assert_eq!(
            fp.check(&input[..69]),
            Err(ResumeMismatch::InputShorter {
                accepted: 70,
                input_len: 69
            })
        );
    }

    #[test]
    fn checkpoints_stay_bounded() {
        let mut fp = Fingerprint::starting_at(0);
        for i in 0..(EVERY_INITIAL * CHECKPOINTS_MAX as u64 * 2 + 5) {
            fp.push(&i.to_le_bytes());
        }
        assert!(fp.checkpoints.len() <= CHECKPOINTS_MAX);
        assert_eq!(fp.every, EVERY_INITIAL * 2);
        let input: Vec<[u8; 8]> = (0..fp.next_seq).map(u64::to_le_bytes).collect();
        assert_eq!(fp.check(&input), Ok(()));
    }
}
