//! The sliding replay window of a secure session (the bitmap of RFC 6479, as WireGuard
//! uses it): a datagram network loses and reorders, so transport frames carry their nonce
//! (a per-session counter) and arrive in any order. The window accepts each counter at most
//! once and anything more than [`REPLAY_WINDOW`] below the highest accepted counter never.
//!
//! The check ([`ReplayWindow::is_fresh`]) comes *before* decryption (so a replayed frame
//! costs no AEAD work) and the update ([`ReplayWindow::mark`]) *after* it (so a forged frame
//! that fails authentication cannot move the window).

/// 64-bit words in the bitmap.
const WORDS: usize = 32;
/// Counters at most this far below the highest accepted one are tracked exactly; older
/// ones are refused. The live counters then span at most `WORDS` words of the ring, so no
/// two live counters share a bit.
pub const REPLAY_WINDOW: u64 = ((WORDS - 1) * 64) as u64;

/// Which counters of one session were accepted. Constant size (256 bytes).
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// One above the highest accepted counter (0: none accepted yet).
    next: u64,
    /// Bit `c % 64` of word `(c / 64) % WORDS` is set once counter `c` was accepted.
    bitmap: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// A window that has accepted nothing.
    pub fn new() -> Self {
        ReplayWindow {
            next: 0,
            bitmap: [0; WORDS],
        }
    }

    /// One above the highest counter accepted so far.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Whether `counter` may be accepted: never accepted before and not too old.
    pub fn is_fresh(&self, counter: u64) -> bool {
        if counter >= self.next {
            return true;
        }
        // `counter < next`, so `next >= 1`; the highest accepted counter is `next - 1`.
        if self.next - 1 - counter > REPLAY_WINDOW {
            return false;
        }
        self.word(counter) & bit(counter) == 0
    }

    /// Records `counter` as accepted; returns false (and changes nothing) if it is not
    /// fresh.
    pub fn mark(&mut self, counter: u64) -> bool {
        if !self.is_fresh(counter) {
            return false;
        }
        if counter >= self.next {
            self.advance_to(counter);
        }
        *self.word_mut(counter) |= bit(counter);
        true
    }

    /// Moves the top of the window to `counter`, clearing the words it slides over.
    fn advance_to(&mut self, counter: u64) {
        let new_top = counter / 64;
        // Words up to the old top word hold live bits; the ones after it are reused.
        let first_clear = if self.next == 0 {
            0
        } else {
            (self.next - 1) / 64 + 1
        };
        if new_top.saturating_sub(first_clear) >= WORDS as u64 || self.next == 0 {
            self.bitmap = [0; WORDS];
        } else {
            for word in first_clear..=new_top {
                *self.word_mut(word * 64) = 0;
            }
        }
        self.next = counter.saturating_add(1);
    }

    // `slot` reduces modulo WORDS, the bitmap's length, so the index is always in bounds.
    #[allow(clippy::indexing_slicing)]
    fn word(&self, counter: u64) -> u64 {
        self.bitmap[slot(counter)]
    }

    fn word_mut(&mut self, counter: u64) -> &mut u64 {
        let i = slot(counter);
        // `slot` reduces modulo WORDS, so the index is always in bounds.
        #[allow(clippy::indexing_slicing)]
        &mut self.bitmap[i]
    }
}

fn slot(counter: u64) -> usize {
    ((counter / 64) % WORDS as u64) as usize
}

fn bit(counter: u64) -> u64 {
    1u64 << (counter % 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_counter_once_in_any_order() {
        let mut w = ReplayWindow::new();
        for c in [5, 1, 3, 2, 0, 4] {
            assert!(w.mark(c), "{c} refused");
        }
        for c in 0..6 {
            assert!(!w.mark(c), "{c} accepted twice");
        }
    }

    #[test]
    fn refuses_counters_older_than_the_window() {
        let mut w = ReplayWindow::new();
        assert!(w.mark(10_000));
        assert!(!w.is_fresh(10_000 - REPLAY_WINDOW - 1));
        assert!(w.is_fresh(10_000 - REPLAY_WINDOW));
        assert!(w.mark(10_000 - REPLAY_WINDOW));
    }
}
