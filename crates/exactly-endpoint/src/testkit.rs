//! Shared by the crash tests of every store (embedded here, PostgreSQL in
//! `exactly-postgres`) and by the CLI: a seeded bank workload with duplicated and bad
//! deliveries, a driver that crashes the endpoint at the protocol's three points, and a
//! checker that compares the result with a model of "each transfer once".

use crate::bank::{
    account_key, account_of_key, transfer_id, Accounts, Credit, CreditHandler, DebitHandler,
    Transfer, CREDITS_TOPIC, INITIAL_BALANCE,
};
use crate::id::DEAD_LETTER_INDEX;
use crate::message::{encode_envelope, Delivery, Message, OutboxEntry, Position};
use crate::runtime::{Endpoint, EndpointConfig, PublishError, Publisher};
use crate::store::{Store, StoreError};
use crate::MessageId;
use exactly_core::ManualClock;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Source topic of the workload.
pub const TRANSFERS_TOPIC: &str = "transfers";
/// Dead-letter topic of the workload.
pub const DEAD_LETTERS_TOPIC: &str = "dead-letters";

/// A seeded stream of transfer deliveries.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Every delivery, duplicates included, with positions `1..=len` on partition 0.
    pub deliveries: Vec<Delivery>,
    /// The distinct valid transfers in first-delivery order.
    pub transfers: Vec<(MessageId, Transfer)>,
    /// Ids the bad messages were created with. Those with an envelope keep theirs; a
    /// record without one is known by its position instead, so use
    /// [`Workload::expected_dead_letters`] for what must be dead-lettered.
    pub bad: Vec<MessageId>,
    /// Accounts of `accounts-a`.
    pub accounts_a: Accounts,
    /// Accounts of `accounts-b`.
    pub accounts_b: Accounts,
}

/// A transfer as JSON.
#[allow(clippy::expect_used)] // A struct of two strings and an integer always serializes.
fn transfer_json(transfer: &Transfer) -> Vec<u8> {
    serde_json::to_vec(transfer).expect("a transfer serializes")
}

/// Builds a workload: `transfers` transfers between `accounts` accounts per side, each
/// delivered again later with probability `dup`, and `bad` bad messages (unparseable,
/// unknown account, malformed envelope) mixed in.
pub fn bank_workload(seed: u64, transfers: u64, accounts: u32, dup: f64, bad: u64) -> Workload {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (accounts_a, accounts_b) = (Accounts::new("a", accounts), Accounts::new("b", accounts));
    let mut logical: Vec<(Message, Option<String>)> = Vec::new();
    let mut valid = Vec::new();
    let mut bad_ids = Vec::new();
    let bad_every = (transfers / bad.max(1)).max(1);
    for n in 0..transfers {
        let t = Transfer {
            from: accounts_a.name(rng.random_range(0..accounts)),
            to: accounts_b.name(rng.random_range(0..accounts)),
            amount: rng.random_range(1..=500),
        };
        let id = transfer_id(n);
        logical.push((message(id, transfer_json(&t)), None));
        valid.push((id, t));
        if bad > 0 && n % bad_every == bad_every - 1 && (bad_ids.len() as u64) < bad {
            let (msg, malformed) = bad_message(&mut rng, n, bad_ids.len());
            bad_ids.push(msg.id);
            logical.push((msg, malformed));
        }
    }
    let deliveries = interleave_duplicates(&mut rng, logical, dup);
    Workload {
        deliveries,
        transfers: valid,
        bad: bad_ids,
        accounts_a,
        accounts_b,
    }
}

fn message(id: MessageId, payload: Vec<u8>) -> Message {
    Message {
        id,
        key: Vec::new(),
        payload,
        timestamp_ms: 0,
    }
}

fn bad_message(rng: &mut SmallRng, n: u64, index: usize) -> (Message, Option<String>) {
    let id = MessageId::from_name(&format!("bad-{n}"));
    match index % 3 {
        0 => (message(id, b"{not json".to_vec()), None),
        1 => {
            let t = Transfer {
                from: "zz-9".into(),
                to: "b-0".into(),
                amount: rng.random_range(1..=9),
            };
            (message(id, transfer_json(&t)), None)
        }
        // A record without an envelope: its id is its position, set when it is placed.
        _ => (
            message(id, b"garbage".to_vec()),
            Some("no envelope".to_string()),
        ),
    }
}

/// Places each logical message, and a later copy of it with probability `dup`.
fn interleave_duplicates(
    rng: &mut SmallRng,
    logical: Vec<(Message, Option<String>)>,
    dup: f64,
) -> Vec<Delivery> {
    let mut order: Vec<(Message, Option<String>)> = Vec::new();
    let mut pending: Vec<(Message, Option<String>)> = Vec::new();
    for item in logical {
        if rng.random_bool(dup.clamp(0.0, 1.0)) {
            pending.push(item.clone());
        }
        order.push(item);
        if !pending.is_empty() && rng.random_bool(0.5) {
            let copy = pending.swap_remove(rng.random_range(0..pending.len()));
            order.push(copy);
        }
    }
    order.extend(pending);
    order
        .into_iter()
        .enumerate()
        .map(|(offset, (mut message, malformed))| {
            if malformed.is_some() {
                // A record without an envelope is known by its position: every copy is a
                // record of its own, dead-lettered on its own.
                message.id = MessageId::from_position(TRANSFERS_TOPIC, 0, offset as u64);
            }
            Delivery {
                message,
                malformed,
                position: Position {
                    topic: TRANSFERS_TOPIC.into(),
                    partition: 0,
                    next_offset: offset as u64 + 1,
                },
            }
        })
        .collect()
}

impl Workload {
    /// The same workload read from a source topic named `topic` (a transport whose topic
    /// names carry a run prefix): positions name it, and a record without an envelope is
    /// known by its position there.
    pub fn on_source_topic(mut self, topic: &str) -> Self {
        for delivery in &mut self.deliveries {
            let offset = delivery.position.next_offset - 1;
            if delivery.malformed.is_some() {
                delivery.message.id = MessageId::from_position(topic, 0, offset);
            }
            delivery.position.topic = topic.to_string();
        }
        self
    }

    /// Ids the dead-letter topic must hold (one per distinct bad message).
    pub fn expected_dead_letters(&self) -> HashSet<MessageId> {
        let malformed = self.deliveries.iter().filter(|d| d.malformed.is_some());
        let bad: HashSet<MessageId> = self.bad.iter().copied().collect();
        let rejected = self
            .deliveries
            .iter()
            .filter(|d| bad.contains(&d.message.id));
        malformed
            .chain(rejected)
            .map(|d| d.message.id.derive(DEAD_LETTER_INDEX))
            .collect()
    }

    /// Model: the credits `accounts-a` must send, in order, one per valid transfer.
    pub fn expected_credits(&self) -> Vec<(MessageId, Credit)> {
        let mut balances: HashMap<String, i64> = HashMap::new();
        self.transfers
            .iter()
            .map(|(id, t)| {
                let balance = balances.entry(t.from.clone()).or_insert(INITIAL_BALANCE);
                *balance -= t.amount;
                let credit = Credit {
                    transfer: id.to_hex(),
                    from: t.from.clone(),
                    to: t.to.clone(),
                    amount: t.amount,
                    debit_balance_after: *balance,
                };
                (id.derive(0), credit)
            })
            .collect()
    }

    /// Model: balances after every transfer applied once (only touched accounts).
    pub fn expected_balances(&self) -> BTreeMap<String, i64> {
        let mut balances = BTreeMap::new();
        for (_, t) in &self.transfers {
            *balances.entry(t.from.clone()).or_insert(INITIAL_BALANCE) -= t.amount;
            *balances.entry(t.to.clone()).or_insert(INITIAL_BALANCE) += t.amount;
        }
        balances
    }

    /// The debit handler for this workload.
    pub fn debit_handler(&self, batch_max: usize) -> DebitHandler {
        DebitHandler {
            local: self.accounts_a.clone(),
            remote: self.accounts_b.clone(),
            batch_max,
        }
    }

    /// The credit handler for this workload.
    pub fn credit_handler(&self, batch_max: usize) -> CreditHandler {
        CreditHandler {
            local: self.accounts_b.clone(),
            batch_max,
        }
    }
}

/// A publisher that appends to a vector: the downstream topic, which survives crashes.
#[derive(Debug, Default)]
pub struct VecPublisher {
    /// Everything published, copies included.
    pub published: Vec<OutboxEntry>,
}

impl Publisher for VecPublisher {
    fn publish(&mut self, entries: &[OutboxEntry]) -> Result<(), PublishError> {
        self.published.extend_from_slice(entries);
        Ok(())
    }
}

/// Where the protocol driver stops the endpoint, as a crash would.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// The handler ran but the transaction never committed.
    BeforeCommit,
    /// Committed; the outbox was not published.
    AfterCommitBeforePublish,
    /// Published; the outbox was not marked.
    AfterPublishBeforeMark,
}

/// All three points.
pub const CRASH_POINTS: [CrashPoint; 3] = [
    CrashPoint::BeforeCommit,
    CrashPoint::AfterCommitBeforePublish,
    CrashPoint::AfterPublishBeforeMark,
];

/// The committed position of the workload's source in `store`.
pub fn committed_offset<S: Store>(store: &mut S) -> Result<usize, StoreError> {
    Ok(store
        .positions()?
        .iter()
        .find(|p| p.topic == TRANSFERS_TOPIC && p.partition == 0)
        .map_or(0, |p| p.next_offset as usize))
}

fn endpoint<S: Store>(
    workload: &Workload,
    store: S,
    batch_max: usize,
) -> Endpoint<DebitHandler, S> {
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 7,
    };
    Endpoint::new(
        workload.debit_handler(batch_max),
        store,
        config,
        Arc::new(ManualClock::new(0)),
    )
}

/// Runs `workload` through `accounts-a`, reopening the store with `open` after each
/// simulated crash; crashes at a random [`CrashPoint`] in about one step of three, at most
/// `crashes` times. Returns the downstream topic and the crashes made.
pub fn run_with_crash_points<S: Store>(
    workload: &Workload,
    seed: u64,
    crashes: usize,
    open: &mut dyn FnMut() -> Result<S, StoreError>,
) -> Result<(VecPublisher, Vec<CrashPoint>), String> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let mut downstream = VecPublisher::default();
    let mut made = Vec::new();
    let batch_max = rng.random_range(1..=8);
    loop {
        let mut store = open().map_err(|e| format!("open: {e}"))?;
        let from = committed_offset(&mut store).map_err(|e| e.to_string())?;
        let mut ep = endpoint(workload, store, batch_max);
        ep.dispatch(&mut downstream)
            .map_err(|e| format!("dispatch on start: {e}"))?;
        if from >= workload.deliveries.len() {
            return Ok((downstream, made));
        }
        let take = rng.random_range(1..=batch_max * 3);
        let chunk = workload
            .deliveries
            .get(from..(from + take).min(workload.deliveries.len()))
            .expect("from < len (checked above) and the end is clamped to len");
        let crash = (made.len() < crashes && rng.random_bool(0.35))
            .then(|| CRASH_POINTS.get(rng.random_range(0..3)).copied())
            .flatten();
        step(ep, chunk, crash, &mut downstream)?;
        made.extend(crash);
    }
}

/// One step of the driver: process `chunk`, then stop where `crash` says (dropping the
/// endpoint is the crash: nothing after that point happens).
fn step<S: Store>(
    mut ep: Endpoint<DebitHandler, S>,
    chunk: &[Delivery],
    crash: Option<CrashPoint>,
    downstream: &mut VecPublisher,
) -> Result<(), String> {
    if crash == Some(CrashPoint::BeforeCommit) {
        // The handler runs and the transaction is rolled back: what a crash before the
        // commit leaves behind.
        ep.dry_run(chunk).map_err(|e| format!("dry run: {e}"))?;
        return Ok(());
    }
    ep.process(chunk).map_err(|e| format!("process: {e}"))?;
    match crash {
        Some(CrashPoint::AfterCommitBeforePublish) => Ok(()),
        Some(CrashPoint::AfterPublishBeforeMark) => {
            ep.publish_pending(downstream)
                .map_err(|e| format!("publish: {e}"))?;
            Ok(())
        }
        _ => ep
            .dispatch(downstream)
            .map(|_| ())
            .map_err(|e| format!("dispatch: {e}")),
    }
}

/// What the checker counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Distinct transfers applied on both sides.
    pub transfers: u64,
    /// Copies in the downstream topic beyond the first (dropped by the receiving inbox).
    pub downstream_copies: u64,
    /// Distinct dead letters.
    pub dead_letters: u64,
}

/// Checks `accounts-a`'s store and its downstream topic against the model, then feeds the
/// downstream (copies included) to an `accounts-b` over `b_store` and checks the whole bank:
/// every transfer debited once and credited once, credits in the debits' order, money
/// conserved, bad messages dead-lettered once each.
pub fn check_bank<A: Store, B: Store>(
    workload: &Workload,
    a_store: &mut A,
    downstream: &[OutboxEntry],
    b_store: B,
) -> Result<CheckReport, String> {
    let credits = check_downstream(workload, downstream)?;
    check_inbox(workload, a_store)?;
    let mut b = Endpoint::new(
        workload.credit_handler(64),
        b_store,
        EndpointConfig::default(),
        Arc::new(ManualClock::new(0)),
    );
    let deliveries = credit_deliveries(downstream);
    let report = b
        .process(&deliveries)
        .map_err(|e| format!("accounts-b: {e}"))?;
    if report.processed != credits || report.dead_lettered != 0 {
        return Err(format!(
            "accounts-b processed {} credits (dead-lettered {}), expected {credits}",
            report.processed, report.dead_lettered
        ));
    }
    let mut all = balances(a_store)?;
    all.extend(balances(b.store())?);
    check_balances(workload, &all)?;
    let distinct: HashSet<MessageId> = downstream.iter().map(|e| e.id).collect();
    Ok(CheckReport {
        transfers: credits,
        downstream_copies: (downstream.len() - distinct.len()) as u64,
        dead_letters: workload.expected_dead_letters().len() as u64,
    })
}

/// First copies of the credits must be exactly the model's credits, in order; dead letters
/// exactly the bad messages.
pub fn check_downstream(workload: &Workload, downstream: &[OutboxEntry]) -> Result<u64, String> {
    let mut seen = HashSet::new();
    let mut credits = Vec::new();
    let mut dead = HashSet::new();
    for entry in downstream.iter().filter(|e| seen.insert(e.id)) {
        match entry.topic.as_str() {
            CREDITS_TOPIC => credits.push((
                entry.id,
                serde_json::from_slice::<Credit>(&entry.payload).map_err(|e| e.to_string())?,
            )),
            DEAD_LETTERS_TOPIC => {
                dead.insert(entry.id);
            }
            other => return Err(format!("message to unexpected topic {other}")),
        }
    }
    let expected = workload.expected_credits();
    if credits != expected {
        let at = match credits.iter().zip(&expected).position(|(a, b)| a != b) {
            Some(at) => at,
            // One is a prefix of the other: they differ where the shorter one ends.
            None => credits.len().min(expected.len()),
        };
        return Err(format!("credits differ from the model at index {at}: {} sent, {} expected; got {:?}, expected {:?}", credits.len(), expected.len(), credits.get(at), expected.get(at)));
    }
    if dead != workload.expected_dead_letters() {
        return Err(format!(
            "{} distinct dead letters, expected {}",
            dead.len(),
            workload.expected_dead_letters().len()
        ));
    }
    Ok(credits.len() as u64)
}

/// Every delivered id must be in the inbox (processed or dead-lettered).
pub fn check_inbox<S: Store>(workload: &Workload, store: &mut S) -> Result<(), String> {
    let ids: Vec<MessageId> = workload.deliveries.iter().map(|d| d.message.id).collect();
    let found = store.inbox_lookup(&ids).map_err(|e| e.to_string())?;
    match ids.iter().find(|id| !found.contains_key(id)) {
        Some(missing) => Err(format!("inbox lacks {missing}")),
        None => Ok(()),
    }
}

fn credit_deliveries(downstream: &[OutboxEntry]) -> Vec<Delivery> {
    downstream
        .iter()
        .filter(|e| e.topic == CREDITS_TOPIC)
        .enumerate()
        .map(|(i, e)| Delivery {
            message: Message {
                id: e.id,
                key: e.key.clone(),
                payload: e.payload.clone(),
                timestamp_ms: 0,
            },
            malformed: None,
            position: Position {
                topic: CREDITS_TOPIC.into(),
                partition: 0,
                next_offset: i as u64 + 1,
            },
        })
        .collect()
}

/// Account balances stored in `store`.
pub fn balances<S: Store>(store: &mut S) -> Result<BTreeMap<String, i64>, String> {
    let mut out = BTreeMap::new();
    for (key, value) in store.state_entries().map_err(|e| e.to_string())? {
        let account =
            account_of_key(&key).ok_or_else(|| format!("unexpected state key {key:?}"))?;
        let balance = <i64 as crate::StateValue>::decode(&value)?;
        out.insert(account.to_string(), balance);
    }
    Ok(out)
}

/// Balances must equal the model's (each valid transfer once) and money is conserved.
pub fn check_balances(workload: &Workload, balances: &BTreeMap<String, i64>) -> Result<(), String> {
    let expected = workload.expected_balances();
    if let Some((account, want)) = expected
        .iter()
        .find(|(a, want)| balances.get(*a) != Some(want))
    {
        return Err(format!(
            "account {account}: balance {:?}, expected {want}",
            balances.get(account)
        ));
    }
    if let Some(extra) = balances.keys().find(|a| !expected.contains_key(*a)) {
        return Err(format!(
            "account {extra} changed but no transfer touches it"
        ));
    }
    let delta: i64 = balances.values().map(|b| b - INITIAL_BALANCE).sum();
    if delta != 0 {
        return Err(format!("money not conserved: total changed by {delta}"));
    }
    debug_assert!(balances
        .keys()
        .all(|k| expected.contains_key(k) || account_key(k).is_empty()));
    Ok(())
}

/// Envelope bytes of a delivery, as a transport record value (malformed ones raw).
pub fn record_value(delivery: &Delivery) -> Vec<u8> {
    match delivery.malformed {
        Some(_) => delivery.message.payload.clone(),
        None => encode_envelope(delivery.message.id, &delivery.message.payload),
    }
}

/// The incoming id a published credit or dead letter came from (its payload names it).
fn parent_of(entry: &OutboxEntry) -> Option<MessageId> {
    let value: serde_json::Value = serde_json::from_slice(&entry.payload).ok()?;
    let hex = value
        .get("transfer")
        .or_else(|| value.get("id"))?
        .as_str()?;
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(MessageId(id))
}

/// Dispatch only after a durable commit: right after a crash, every message already
/// published must come from a message the recovered inbox remembers.
pub fn check_published_were_committed<S: Store>(
    store: &mut S,
    downstream: &[OutboxEntry],
) -> Result<(), String> {
    let parents: Vec<MessageId> = downstream.iter().filter_map(parent_of).collect();
    if parents.len() != downstream.len() {
        return Err("a published message names no parent".into());
    }
    let found = store.inbox_lookup(&parents).map_err(|e| e.to_string())?;
    match parents.iter().find(|id| !found.contains_key(id)) {
        Some(lost) => Err(format!(
            "{lost} was published but its commit did not survive the crash"
        )),
        None => Ok(()),
    }
}
