//! [`Incarnations`]: which incarnations (sender state directories) of each allowed key a
//! [`super::ResponderChannel`] currently takes frames from, bounded per key.
//!
//! A sender state directory keeps a random 64-bit id for its life and declares it in every
//! frame, inside the encryption (so only the key's holder can declare one). The receiver
//! de-duplicates by [`PublicKey::table_id`] of (authenticated key, declared id): a new
//! state directory under the same key is a new sender, never a duplicate of the old one.
//!
//! Each key may hold at most `per_key_max` incarnations at once; a new one takes the slot
//! of the least recently heard one if that one was silent for `idle_ms`, and is refused
//! otherwise ([`Refusal::IncarnationsFull`]), so one key cannot fill the receiver's sender
//! table. Forgetting an incarnation here loses nothing: its table id is a pure function of
//! the key and the declared id, so if it comes back its de-dup state is found again.
//! Nothing is kept before a frame is authenticated, so unauthenticated peers cost no slot.

use super::keys::PublicKey;
use crate::frame::Refusal;
use std::collections::HashMap;

/// One incarnation of a key.
#[derive(Clone, Copy, Debug)]
struct Incarnation {
    declared: u64,
    table_id: u64,
    last_ms: u64,
}

/// The incarnations taken from, per allowed key (by the key's index in the responder).
#[derive(Debug)]
pub(crate) struct Incarnations {
    per_key_max: usize,
    idle_ms: u64,
    per_peer: Vec<Vec<Incarnation>>,
    /// Table id → (peer, declared id), to address acks.
    by_table_id: HashMap<u64, (usize, u64)>,
}

impl Incarnations {
    /// Room for `peers` keys, `per_key_max` (at least 1) incarnations each.
    pub(crate) fn new(peers: usize, per_key_max: usize, idle_ms: u64) -> Self {
        Incarnations {
            per_key_max: per_key_max.max(1),
            idle_ms,
            per_peer: vec![Vec::new(); peers],
            by_table_id: HashMap::new(),
        }
    }

    /// The table id of incarnation `declared` of `key` (peer `peer`), admitting it if it is
    /// new and there is room; refused when the key already holds `per_key_max` recently
    /// active incarnations.
    pub(crate) fn admit(
        &mut self,
        now_ms: u64,
        peer: usize,
        key: &PublicKey,
        declared: u64,
    ) -> Result<u64, Refusal> {
        let per_key_max = self.per_key_max;
        let idle_ms = self.idle_ms;
        let Some(held) = self.per_peer.get_mut(peer) else {
            // Peers are indexed by the responder, which sized this table for all of them.
            return Err(Refusal::IncarnationsFull { max: 0 });
        };
        if let Some(known) = held.iter_mut().find(|i| i.declared == declared) {
            known.last_ms = known.last_ms.max(now_ms);
            return Ok(known.table_id);
        }
        if held.len() >= per_key_max {
            let oldest = held
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| i.last_ms)
                .filter(|(_, i)| now_ms.saturating_sub(i.last_ms) >= idle_ms)
                .map(|(at, _)| at);
            let Some(oldest) = oldest else {
                return Err(Refusal::IncarnationsFull {
                    max: per_key_max as u64,
                });
            };
            let gone = held.swap_remove(oldest);
            self.by_table_id.remove(&gone.table_id);
        }
        let table_id = key.table_id(declared);
        held.push(Incarnation {
            declared,
            table_id,
            last_ms: now_ms,
        });
        self.by_table_id.insert(table_id, (peer, declared));
        Ok(table_id)
    }

    /// The peer and declared id of table id `table_id`, if it is held.
    pub(crate) fn lookup(&self, table_id: u64) -> Option<(usize, u64)> {
        self.by_table_id.get(&table_id).copied()
    }

    /// Incarnations held for peer `peer`.
    pub(crate) fn held(&self, peer: usize) -> usize {
        self.per_peer.get(peer).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_limit_until_one_is_idle() {
        let key = PublicKey([7; 32]);
        let mut table = Incarnations::new(1, 2, 1_000);
        let a = table.admit(0, 0, &key, 11).unwrap();
        let b = table.admit(10, 0, &key, 12).unwrap();
        assert_ne!(a, b);
        assert_eq!(table.admit(20, 0, &key, 11), Ok(a), "known ones stay");
        assert_eq!(
            table.admit(500, 0, &key, 13),
            Err(Refusal::IncarnationsFull { max: 2 })
        );
        // 12 was last heard at 10: idle for 1000 ms at 1010, so 13 takes its slot.
        let c = table.admit(1_010, 0, &key, 13).unwrap();
        assert_eq!(table.lookup(c), Some((0, 13)));
        assert_eq!(table.lookup(b), None);
        assert_eq!(table.held(0), 2);
        // Forgetting loses nothing: 12 comes back under the same table id.
        assert_eq!(table.admit(5_000, 0, &key, 12), Ok(b));
    }
}
