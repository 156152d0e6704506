//! One consumer group's membership protocol as a pure state machine: calls take the time
//! and return what to answer; nothing here waits or does I/O. The handlers in this folder
//! wait (for a rebalance round to complete, for the leader's assignment) by calling again
//! when [`super::Groups`] signals a change.
//!
//! The broker does not compute assignments: the leader (the first member to join) gets
//! every member's subscription and sends back the assignment, which the broker relays —
//! so range, round-robin and cooperative-sticky all work as the clients implement them.

use crate::codes;
use bytes::Bytes;
use std::collections::BTreeMap;

/// How long a round started on an empty group waits for more members (Kafka's
/// `group.initial.rebalance.delay.ms` is 3 s; shorter here, capped by the rebalance
/// timeout).
pub const INITIAL_REBALANCE_DELAY_MS: i64 = 1_000;

/// Where the group is in its protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No members.
    Empty,
    /// Members are (re)joining; the round completes when all have joined or at `deadline_ms`.
    Joining {
        /// When members that have not rejoined are dropped.
        deadline_ms: i64,
        /// The earliest the round may complete (a short wait for more members).
        not_before_ms: i64,
    },
    /// The round completed; waiting for the leader's assignment.
    Syncing,
    /// Assignments handed out.
    Stable,
}

/// One member.
#[derive(Clone, Debug)]
pub struct Member {
    /// Protocols (assignor name, subscription metadata) in the member's preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// The member is dropped after this long without a heartbeat.
    pub session_timeout_ms: i64,
    /// How long a round waits for this member to rejoin.
    pub rebalance_timeout_ms: i64,
    /// Last sign of life.
    pub last_seen_ms: i64,
    /// Joined the current round.
    pub joined: bool,
    /// The answer to its join, once the round completes (taken by the waiting join).
    pub join_result: Option<JoinResult>,
    /// Its assignment in the current generation.
    pub assignment: Option<Bytes>,
}

/// What a completed round tells a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResult {
    /// The new generation.
    pub generation: i32,
    /// The chosen assignor.
    pub protocol: String,
    /// The leader's member id.
    pub leader: String,
    /// Every member with its subscription (only for the leader).
    pub members: Vec<(String, Bytes)>,
}

/// The state of a group.
#[derive(Clone, Debug)]
pub struct Group {
    /// Current phase.
    pub phase: Phase,
    /// Generation of the last completed round.
    pub generation: i32,
    /// `protocol_type` all members share (`consumer`).
    pub protocol_type: Option<String>,
    /// The assignor chosen for the generation.
    pub protocol: Option<String>,
    /// The leader.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
}

/// A join request's parameters.
#[derive(Clone, Debug)]
pub struct Join {
    /// The member id (already assigned).
    pub member_id: String,
    /// `consumer` for consumers.
    pub protocol_type: String,
    /// Assignors and subscriptions.
    pub protocols: Vec<(String, Bytes)>,
    /// Session timeout.
    pub session_timeout_ms: i64,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i64,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            phase: Phase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
        }
    }
}

impl Group {
    /// A member joins (or rejoins); starts a round if none is running.
    pub fn join(&mut self, join: Join, now_ms: i64) -> Result<(), i16> {
        if let Some(kind) = &self.protocol_type {
            if !self.members.is_empty() && *kind != join.protocol_type {
                return Err(codes::INCONSISTENT_GROUP_PROTOCOL);
            }
        }
        // Kafka refuses a member that names no assignor: nothing could be chosen for it.
        if join.protocols.is_empty() {
            return Err(codes::INCONSISTENT_GROUP_PROTOCOL);
        }
        let shares_protocol = self.members.is_empty()
            || join.protocols.iter().any(|(name, _)| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            });
        if !shares_protocol {
            return Err(codes::INCONSISTENT_GROUP_PROTOCOL);
        }
        self.protocol_type = Some(join.protocol_type.clone());
        let member = self.members.entry(join.member_id).or_insert(Member {
            protocols: Vec::new(),
            session_timeout_ms: join.session_timeout_ms,
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            last_seen_ms: now_ms,
            joined: false,
            join_result: None,
            assignment: None,
        });
        member.protocols = join.protocols;
        member.session_timeout_ms = join.session_timeout_ms;
        member.rebalance_timeout_ms = join.rebalance_timeout_ms;
        member.last_seen_ms = now_ms;
        member.joined = true;
        member.join_result = None;
        if !matches!(self.phase, Phase::Joining { .. }) {
            self.start_round(now_ms, join.rebalance_timeout_ms);
        }
        self.advance(now_ms);
        Ok(())
    }

    fn start_round(&mut self, now_ms: i64, rebalance_timeout_ms: i64) {
        let was_empty = matches!(self.phase, Phase::Empty) || self.generation == 0;
        let longest = self.members.values().map(|m| m.rebalance_timeout_ms).max();
        let timeout = match longest {
            Some(longest) => longest,
            // No member (yet): the caller's timeout is the only one there is.
            None => rebalance_timeout_ms,
        };
        let wait = match was_empty {
            true => INITIAL_REBALANCE_DELAY_MS.min(timeout),
            false => 0,
        };
        self.phase = Phase::Joining {
            deadline_ms: now_ms + timeout,
            not_before_ms: now_ms + wait,
        };
        for member in self.members.values_mut() {
            member.assignment = None;
        }
    }

    /// Completes a round whose members have all joined (or whose deadline passed), and
    /// drops members whose session expired. Call whenever time passes.
    pub fn advance(&mut self, now_ms: i64) {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now_ms - m.last_seen_ms > m.session_timeout_ms)
            // A member waiting in JoinGroup is alive: its request is its heartbeat.
            .filter(|(_, m)| !(m.joined && matches!(self.phase, Phase::Joining { .. })))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove(&id, now_ms);
        }
        let Phase::Joining {
            deadline_ms,
            not_before_ms,
        } = self.phase
        else {
            return;
        };
        let all_joined = self.members.values().all(|m| m.joined);
        if !(now_ms >= deadline_ms || (all_joined && now_ms >= not_before_ms)) {
            return;
        }
        self.members.retain(|_, m| m.joined);
        self.complete_round();
    }

    fn complete_round(&mut self) {
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.leader = None;
            self.protocol = None;
            return;
        }
        self.generation = self.generation.wrapping_add(1).max(1);
        let leader = match &self.leader {
            Some(leader) if self.members.contains_key(leader) => leader.clone(),
            _ => {
                // The emptiness check above returned for an empty group.
                #[allow(clippy::expect_used)]
                let first = self.members.keys().next().expect("members is not empty");
                first.clone()
            }
        };
        // An explicit match, not `unwrap_or_default`: the empty name is a decision.
        #[allow(clippy::manual_unwrap_or_default)]
        let protocol = match self.choose_protocol(&leader) {
            Some(protocol) => protocol,
            // Only when a member rejoined naming other assignors than the rest: the round
            // completes with no protocol, which its members answer by rejoining.
            None => String::new(),
        };
        let subscriptions: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let chosen = m.protocols.iter().find(|(name, _)| *name == protocol);
                let metadata = match chosen {
                    Some((_, metadata)) => metadata.clone(),
                    // No protocol was chosen (see above): no subscription to relay.
                    None => Bytes::new(),
                };
                (id.clone(), metadata)
            })
            .collect();
        for (id, member) in self.members.iter_mut() {
            member.joined = false;
            member.join_result = Some(JoinResult {
                generation: self.generation,
                protocol: protocol.clone(),
                leader: leader.clone(),
                members: match *id == leader {
                    true => subscriptions.clone(),
                    false => Vec::new(),
                },
            });
        }
        self.leader = Some(leader);
        self.protocol = Some(protocol);
        self.phase = Phase::Syncing;
    }

    /// The leader's most preferred assignor that every member supports (`join` refuses
    /// members sharing none, so one exists unless a member rejoined with other ones).
    fn choose_protocol(&self, leader: &str) -> Option<String> {
        let leader = self.members.get(leader)?;
        leader
            .protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned()
    }

    /// Takes a member's join answer once its round completed (`Ok(None)`: still waiting).
    pub fn take_join_result(
        &mut self,
        member_id: &str,
        now_ms: i64,
    ) -> Result<Option<JoinResult>, i16> {
        let member = self
            .members
            .get_mut(member_id)
            .ok_or(codes::UNKNOWN_MEMBER_ID)?;
        member.last_seen_ms = now_ms;
        Ok(member.join_result.take())
    }

    fn check(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if !self.members.contains_key(member_id) {
            return Err(codes::UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation {
            return Err(codes::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// SyncGroup: the leader hands in assignments; everyone gets theirs once the leader
    /// has (`Ok(None)`: still waiting for the leader).
    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> Result<Option<Bytes>, i16> {
        self.check(member_id, generation)?;
        if let Some(member) = self.members.get_mut(member_id) {
            member.last_seen_ms = now_ms;
        }
        match self.phase {
            Phase::Joining { .. } => return Err(codes::REBALANCE_IN_PROGRESS),
            Phase::Empty => return Err(codes::UNKNOWN_MEMBER_ID),
            Phase::Syncing if self.leader.as_deref() == Some(member_id) => {
                for member in self.members.values_mut() {
                    member.assignment = Some(Bytes::new());
                }
                for (id, assignment) in assignments {
                    if let Some(member) = self.members.get_mut(&id) {
                        member.assignment = Some(assignment);
                    }
                }
                self.phase = Phase::Stable;
            }
            Phase::Syncing | Phase::Stable => {}
        }
        Ok(self
            .members
            .get(member_id)
            .and_then(|m| m.assignment.clone()))
    }

    /// Heartbeat: keeps the session; tells members when to rejoin.
    pub fn heartbeat(&mut self, member_id: &str, generation: i32, now_ms: i64) -> Result<(), i16> {
        let member = self
            .members
            .get_mut(member_id)
            .ok_or(codes::UNKNOWN_MEMBER_ID)?;
        member.last_seen_ms = now_ms;
        if matches!(self.phase, Phase::Joining { .. }) {
            return Err(codes::REBALANCE_IN_PROGRESS);
        }
        self.check(member_id, generation)
    }

    /// Validates an offset commit from a member (`generation` −1: a commit outside any
    /// group membership, allowed only while the group has no members).
    pub fn check_commit(
        &mut self,
        member_id: &str,
        generation: i32,
        now_ms: i64,
    ) -> Result<(), i16> {
        if generation < 0 && member_id.is_empty() {
            return match self.members.is_empty() {
                true => Ok(()),
                false => Err(codes::UNKNOWN_MEMBER_ID),
            };
        }
        self.check(member_id, generation)?;
        if let Some(member) = self.members.get_mut(member_id) {
            member.last_seen_ms = now_ms;
        }
        match self.phase {
            Phase::Joining { .. } => Err(codes::REBALANCE_IN_PROGRESS),
            _ => Ok(()),
        }
    }

    /// A member leaves (or its session expired): the others rebalance.
    pub fn remove(&mut self, member_id: &str, now_ms: i64) -> bool {
        if self.members.remove(member_id).is_none() {
            return false;
        }
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.leader = None;
            return true;
        }
        if !matches!(self.phase, Phase::Joining { .. }) {
            self.start_round(now_ms, 0);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(id: &str) -> Join {
        Join {
            member_id: id.into(),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"sub"))],
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 5_000,
        }
    }

    #[test]
    fn two_members_join_sync_and_rebalance_when_one_leaves() -> Result<(), i16> {
        let mut group = Group::default();
        group.join(join("a"), 0)?;
        group.join(join("b"), 10)?;
        assert_eq!(
            group.take_join_result("a", 0)?,
            None,
            "waits for the initial delay"
        );
        group.advance(INITIAL_REBALANCE_DELAY_MS + 10);
        let a = group.take_join_result("a", 0)?.ok_or(-100i16)?;
        let b = group.take_join_result("b", 0)?.ok_or(-100i16)?;
        assert_eq!((a.generation, a.members.len(), b.members.len()), (1, 2, 0));
        assert_eq!(
            group.sync("b", 1, vec![], 1_100)?,
            None,
            "waits for the leader"
        );
        let assigned = vec![
            ("a".into(), Bytes::from_static(b"A")),
            ("b".into(), Bytes::from_static(b"B")),
        ];
        assert_eq!(
            group.sync("a", 1, assigned, 1_100)?,
            Some(Bytes::from_static(b"A"))
        );
        assert_eq!(
            group.sync("b", 1, vec![], 1_100)?,
            Some(Bytes::from_static(b"B"))
        );
        group.heartbeat("a", 1, 1_200)?;
        assert!(group.remove("b", 1_300));
        assert_eq!(
            group.heartbeat("a", 1, 1_400),
            Err(codes::REBALANCE_IN_PROGRESS)
        );
        group.join(join("a"), 1_500)?;
        let a = group.take_join_result("a", 0)?.ok_or(-100i16)?;
        assert_eq!((a.generation, a.members.len()), (2, 1));
        Ok(())
    }

    #[test]
    fn a_silent_member_is_dropped_at_the_deadline() -> Result<(), i16> {
        let mut group = Group::default();
        group.join(join("a"), 0)?;
        group.join(join("b"), 0)?;
        group.advance(INITIAL_REBALANCE_DELAY_MS);
        group.take_join_result("a", 0)?;
        group.take_join_result("b", 0)?;
        group.join(join("a"), 2_000)?; // b never rejoins
        group.advance(2_000 + 5_000);
        assert_eq!(
            group.take_join_result("b", 0),
            Err(codes::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(
            group.take_join_result("a", 0)?.map(|r| r.generation),
            Some(2)
        );
        Ok(())
    }
}
