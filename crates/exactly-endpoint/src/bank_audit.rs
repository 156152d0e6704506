//! The audit of one run of the two-endpoint bank, after both endpoints stopped: both
//! stores and accounts-a's outgoing messages compared with the model of the workload —
//! every transfer applied exactly once on both sides, money conserved, no credit without
//! its debit, bad messages dead-lettered. Where the outgoing messages are read from (the
//! endpoints' own logs: [`read_outbox_topic`]; NATS JetStream: `exactly-nats`) is the
//! caller's.

use crate::bank::INITIAL_BALANCE;
use crate::message::decode_envelope;
use crate::testkit::{balances, check_balances, check_downstream, check_inbox, Workload};
use crate::{MessageId, OutboxEntry, Outcome, Store, StoreError};
use exactly_core::Offset;
use exactly_log::{Isolation, Log, ReadError};
use std::collections::{BTreeMap, HashSet};

/// Ids looked up in the inbox per query.
const LOOKUP_CHUNK_IDS: usize = 10_000;

/// What the audit found. `errors` empty means every invariant holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BankAudit {
    /// Transfers processed exactly once at accounts-a.
    pub debited: u64,
    /// Credits processed exactly once at accounts-b.
    pub credited: u64,
    /// Ids in accounts-b's inbox that are not the credit of a transfer.
    pub credits_without_debit: u64,
    /// Money in all accounts before the run.
    pub money_before: i64,
    /// Money in all accounts after the run.
    pub money_after: i64,
    /// Distinct messages dead-lettered by accounts-a.
    pub dead_letters: u64,
    /// Bad messages in the workload (each must be dead-lettered).
    pub dead_letters_expected: u64,
    /// Duplicate deliveries to accounts-a (dropped by its inbox).
    pub duplicates_dropped_a: u64,
    /// Copies of credits published again (dropped by accounts-b's inbox).
    pub copies_dropped_b: u64,
    /// Every invariant that does not hold, in words.
    pub errors: Vec<String>,
}

/// Everything the endpoints published, read back after the run.
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// accounts-a's credits topic, in order.
    pub credits: Vec<OutboxEntry>,
    /// accounts-a's dead letters, in order.
    pub dead_letters_a: Vec<OutboxEntry>,
    /// accounts-b's dead letters (there must be none).
    pub dead_letters_b: Vec<OutboxEntry>,
    /// Whether the outbox was published with a protocol that stores each message once
    /// (NATS JetStream's tail protocol): then a copy in the credits topic is an error too.
    pub stored_once: bool,
}

/// Why the audit could not read what it checks.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored balance could not be read.
    #[error("{0}")]
    Balances(String),
    /// An outgoing topic could not be read.
    #[error("reading topic {topic}")]
    Read {
        /// The topic.
        topic: String,
        /// Why.
        source: ReadError,
    },
    /// An outgoing record is not an envelope.
    #[error("record {offset} of topic {topic}: {reason}")]
    Envelope {
        /// The topic.
        topic: String,
        /// The record's offset.
        offset: u64,
        /// Why it does not decode.
        reason: String,
    },
}

/// Audits accounts-a's store `a`, accounts-b's store `b` and what they `published`
/// against `workload`.
pub fn audit<A: Store, B: Store>(
    workload: &Workload,
    a: &mut A,
    b: &mut B,
    published: &Published,
) -> Result<BankAudit, AuditError> {
    let mut report = BankAudit::default();
    let mut errors = Vec::new();
    let downstream: Vec<OutboxEntry> = published
        .credits
        .iter()
        .chain(&published.dead_letters_a)
        .cloned()
        .collect();
    if let Err(e) = check_downstream(workload, &downstream) {
        errors.push(format!("accounts-a's outgoing messages: {e}"));
    }
    if let Err(e) = check_inbox(workload, a) {
        errors.push(format!("accounts-a's inbox: {e}"));
    }
    let transfer_ids: Vec<MessageId> = workload.transfers.iter().map(|(id, _)| *id).collect();
    report.debited = processed(a, &transfer_ids)?;
    let credit_ids: Vec<MessageId> = transfer_ids.iter().map(|id| id.derive(0)).collect();
    report.credited = processed(b, &credit_ids)?;
    report.credits_without_debit = b.inbox_stats()?.ids.saturating_sub(report.credited);
    if !published.dead_letters_b.is_empty() {
        errors.push(format!(
            "accounts-b dead-lettered {} credits",
            published.dead_letters_b.len()
        ));
    }
    let mut all = balances(a).map_err(AuditError::Balances)?;
    all.extend(balances(b).map_err(AuditError::Balances)?);
    if let Err(e) = check_balances(workload, &all) {
        errors.push(format!("balances: {e}"));
    }
    report.errors = errors;
    money(&mut report, workload, &all);
    count_copies(&mut report, workload, published);
    let n = workload.transfers.len() as u64;
    if report.debited != n || report.credited != n || report.credits_without_debit != 0 {
        report.errors.push(format!(
            "debited {}, credited {}, credits without debit {}, of {n} transfers",
            report.debited, report.credited, report.credits_without_debit
        ));
    }
    Ok(report)
}

/// Dead letters, and the copies each inbox dropped.
fn count_copies(report: &mut BankAudit, workload: &Workload, published: &Published) {
    let dead: HashSet<MessageId> = published.dead_letters_a.iter().map(|e| e.id).collect();
    report.dead_letters = dead.len() as u64;
    report.dead_letters_expected = workload.expected_dead_letters().len() as u64;
    let distinct: HashSet<MessageId> = workload.deliveries.iter().map(|d| d.message.id).collect();
    report.duplicates_dropped_a = (workload.deliveries.len() - distinct.len()) as u64;
    let credits = &published.credits;
    let distinct_credits: HashSet<MessageId> = credits.iter().map(|e| e.id).collect();
    report.copies_dropped_b = (credits.len() - distinct_credits.len()) as u64;
    // With the tail protocol the stream itself must hold each credit once, whatever the
    // kills (the inbox is the second line, not the first).
    if published.stored_once && report.copies_dropped_b > 0 {
        report.errors.push(format!(
            "the credits stream holds {} copies of credits already stored",
            report.copies_dropped_b
        ));
    }
}

/// Money before and after; an error if it is not conserved.
fn money(report: &mut BankAudit, workload: &Workload, balances: &BTreeMap<String, i64>) {
    let accounts = i64::from(workload.accounts_a.count) + i64::from(workload.accounts_b.count);
    report.money_before = accounts * INITIAL_BALANCE;
    report.money_after =
        report.money_before + balances.values().map(|b| b - INITIAL_BALANCE).sum::<i64>();
    if report.money_after != report.money_before {
        report.errors.push(format!(
            "money not conserved: {} → {}",
            report.money_before, report.money_after
        ));
    }
}

/// How many of `ids` the store's inbox holds as processed.
fn processed<S: Store>(store: &mut S, ids: &[MessageId]) -> Result<u64, StoreError> {
    let mut count = 0;
    for chunk in ids.chunks(LOOKUP_CHUNK_IDS) {
        count += store
            .inbox_lookup(chunk)?
            .values()
            .filter(|o| **o == Outcome::Processed)
            .count() as u64;
    }
    Ok(count)
}

/// Every committed record of partition 0 of `topic` in `log`, decoded as outbox entries
/// (log order; `seq` is the offset).
pub fn read_outbox_topic(log: &Log, topic: &str) -> Result<Vec<OutboxEntry>, AuditError> {
    let read_error = |source| AuditError::Read {
        topic: topic.to_string(),
        source,
    };
    let mut out = Vec::new();
    // To the last stable offset as of now; past aborted batches and markers (a loop that
    // stopped at the first empty read missed everything after an aborted batch).
    let scan = log
        .scan(topic, 0, Offset(0), Isolation::ReadCommitted)
        .map_err(read_error)?;
    for record in scan {
        let record = record.map_err(read_error)?;
        let (id, payload) =
            decode_envelope(&record.value).map_err(|reason| AuditError::Envelope {
                topic: topic.to_string(),
                offset: record.offset.0,
                reason,
            })?;
        out.push(OutboxEntry {
            seq: record.offset.0,
            id,
            topic: topic.to_string(),
            key: record.key.unwrap_or_default(),
            payload: payload.to_vec(),
        });
    }
    Ok(out)
}
