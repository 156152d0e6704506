//! The bank's audit, run after both endpoints stopped: reads both stores and accounts-a's
//! outgoing topics and compares them with the model of the workload.

use super::{open_store, Layout, Role};
use exactly_core::Offset;
use exactly_endpoint::bank::{CREDITS_TOPIC, INITIAL_BALANCE};
use exactly_endpoint::message::decode_envelope;
use exactly_endpoint::testkit::{
    balances, check_balances, check_downstream, check_inbox, Workload, DEAD_LETTERS_TOPIC,
};
use exactly_endpoint::{MessageId, OutboxEntry, Outcome, Store};
use exactly_log::{Log, LogConfig};
use std::collections::{BTreeMap, HashSet};

/// What the audit found. `errors` empty means every invariant holds.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    pub(crate) debited: u64,
    pub(crate) credited: u64,
    pub(crate) credits_without_debit: u64,
    pub(crate) money_before: i64,
    pub(crate) money_after: i64,
    pub(crate) dead_letters: u64,
    pub(crate) dead_letters_expected: u64,
    pub(crate) duplicates_dropped_a: u64,
    pub(crate) copies_dropped_b: u64,
    pub(crate) errors: Vec<String>,
}

/// Audits the bank in `layout` against `workload`.
pub(crate) fn audit(
    layout: &Layout,
    store: &str,
    schema_prefix: &str,
    workload: &Workload,
) -> anyhow::Result<Audit> {
    let mut a = open_store(store, layout, Role::A, schema_prefix)?;
    let mut b = open_store(store, layout, Role::B, schema_prefix)?;
    let a_log = Log::open_read_only(layout.log_dir(Role::A), LogConfig::default())?;
    let b_log = Log::open_read_only(layout.log_dir(Role::B), LogConfig::default())?;
    let credits = read_topic(&a_log, CREDITS_TOPIC)?;
    let dead = read_topic(&a_log, DEAD_LETTERS_TOPIC)?;
    let mut report = Audit::default();
    let mut errors = Vec::new();
    let downstream: Vec<OutboxEntry> = credits.iter().chain(&dead).cloned().collect();
    if let Err(e) = check_downstream(workload, &downstream) {
        errors.push(format!("accounts-a's outgoing messages: {e}"));
    }
    if let Err(e) = check_inbox(workload, &mut a) {
        errors.push(format!("accounts-a's inbox: {e}"));
    }
    let transfer_ids: Vec<MessageId> = workload.transfers.iter().map(|(id, _)| *id).collect();
    report.debited = processed(&mut a, &transfer_ids)?;
    let credit_ids: Vec<MessageId> = transfer_ids.iter().map(|id| id.derive(0)).collect();
    report.credited = processed(&mut b, &credit_ids)?;
    report.credits_without_debit = b.inbox_stats()?.ids.saturating_sub(report.credited);
    let b_dead = read_topic(&b_log, DEAD_LETTERS_TOPIC)?;
    if !b_dead.is_empty() {
        errors.push(format!("accounts-b dead-lettered {} credits", b_dead.len()));
    }
    let mut all = balances(&mut a).map_err(anyhow::Error::msg)?;
    all.extend(balances(&mut b).map_err(anyhow::Error::msg)?);
    if let Err(e) = check_balances(workload, &all) {
        errors.push(format!("balances: {e}"));
    }
    money(&mut report, workload, &all);
    report.dead_letters = dead.iter().map(|e| e.id).collect::<HashSet<_>>().len() as u64;
    report.dead_letters_expected = workload.expected_dead_letters().len() as u64;
    let distinct: HashSet<MessageId> = workload.deliveries.iter().map(|d| d.message.id).collect();
    report.duplicates_dropped_a = (workload.deliveries.len() - distinct.len()) as u64;
    let distinct_credits: HashSet<MessageId> = credits.iter().map(|e| e.id).collect();
    report.copies_dropped_b = (credits.len() - distinct_credits.len()) as u64;
    let n = workload.transfers.len() as u64;
    if report.debited != n || report.credited != n || report.credits_without_debit != 0 {
        errors.push(format!(
            "debited {}, credited {}, credits without debit {}, of {n} transfers",
            report.debited, report.credited, report.credits_without_debit
        ));
    }
    report.errors = errors;
    Ok(report)
}

fn money(report: &mut Audit, workload: &Workload, balances: &BTreeMap<String, i64>) {
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

fn processed(store: &mut Box<dyn Store>, ids: &[MessageId]) -> anyhow::Result<u64> {
    let mut count = 0;
    for chunk in ids.chunks(10_000) {
        count += store
            .inbox_lookup(chunk)?
            .values()
            .filter(|o| **o == Outcome::Processed)
            .count() as u64;
    }
    Ok(count)
}

/// Every record of partition 0 of `topic`, decoded as outbox entries (log order).
fn read_topic(log: &Log, topic: &str) -> anyhow::Result<Vec<OutboxEntry>> {
    let mut out = Vec::new();
    // To the last stable offset as of now; past aborted batches and markers (a loop that
    // stopped at the first empty read missed everything after an aborted batch).
    for record in log.scan(topic, 0, Offset(0), exactly_log::Isolation::ReadCommitted)? {
        let record = record?;
        let (id, payload) = decode_envelope(&record.value).map_err(anyhow::Error::msg)?;
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
