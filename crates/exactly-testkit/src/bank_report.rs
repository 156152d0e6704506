//! The report of one bank run ([`crate::bank_run`]) as `exactly endpoint bank` prints it:
//! one JSON object ([`BankReport::to_json`]) or a table with a line per violation and the
//! verdict ([`BankReport::to_text`]).

use crate::bank::BankRuns;
use crate::bank_run::BankOutcome;
use crate::bank_serve::Transport;
use exactly_postgres::StoreChoice;
use serde_json::{json, Value};

/// Width of the name column of the table.
const NAME_WIDTH: usize = 52;

/// One finished run with what it was asked to do.
#[derive(Clone, Debug)]
pub struct BankReport<'a> {
    /// Seed of the workload and the kill timing.
    pub seed: u64,
    /// The endpoints' store.
    pub store: &'a StoreChoice,
    /// What carried the messages.
    pub transport: &'a Transport,
    /// Distinct valid transfers in the workload.
    pub transfers: usize,
    /// Deliveries fed to accounts-a (duplicates and bad messages included).
    pub deliveries: usize,
    /// What the run found.
    pub outcome: &'a BankOutcome,
}

impl BankReport<'_> {
    /// The report as one JSON object (`ok`, the run's figures, `child_failures`, `errors`).
    pub fn to_json(&self) -> Value {
        let (runs, audit) = (&self.outcome.runs, &self.outcome.audit);
        json!({
            "ok": self.outcome.ok(), "seed": self.seed,
            "store": if self.store.is_embedded() { "embedded" } else { "postgres" },
            "transport": match self.transport { Transport::Embedded => "embedded", Transport::Nats(_) => "nats" },
            "transfers": self.transfers, "deliveries": self.deliveries,
            "kills": runs.kills, "restarts": runs.restarts, "wall_s": runs.wall.as_secs_f64(),
            "debited_once": audit.debited, "credited_once": audit.credited,
            "credits_without_debit": audit.credits_without_debit,
            "money_before": audit.money_before, "money_after": audit.money_after,
            "dead_letters": audit.dead_letters, "dead_letters_expected": audit.dead_letters_expected,
            "duplicates_dropped_a": audit.duplicates_dropped_a, "copies_dropped_b": audit.copies_dropped_b,
            "child_failures": runs.child_failures, "errors": audit.errors,
        })
    }

    /// The report as a table, then a `VIOLATION:` line per failure, then the verdict (no
    /// trailing newline).
    pub fn to_text(&self) -> String {
        let mut lines: Vec<String> = self
            .rows()
            .into_iter()
            .map(|(name, value)| format!("{name:<NAME_WIDTH$} {value}"))
            .collect();
        let runs: &BankRuns = &self.outcome.runs;
        for failure in runs.child_failures.iter().chain(&self.outcome.audit.errors) {
            lines.push(format!("VIOLATION: {failure}"));
        }
        lines.push(
            match self.outcome.ok() {
                true => "exactly once: OK",
                false => "exactly once: FAILED",
            }
            .to_string(),
        );
        lines.join("\n")
    }

    /// The table's rows: name, value.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let (runs, audit) = (&self.outcome.runs, &self.outcome.audit);
        let n = self.transfers;
        vec![
            ("seed", self.seed.to_string()),
            ("store", self.store.as_arg().to_string()),
            ("transport", self.transport.as_arg().to_string()),
            ("transfers (distinct, valid)", n.to_string()),
            (
                "deliveries to accounts-a (with duplicates and bad)",
                self.deliveries.to_string(),
            ),
            ("SIGKILLs of endpoint processes", runs.kills.to_string()),
            ("restarts", runs.restarts.to_string()),
            (
                "debited exactly once at accounts-a",
                format!("{}/{n}", audit.debited),
            ),
            (
                "credited exactly once at accounts-b",
                format!("{}/{n}", audit.credited),
            ),
            (
                "credits without their debit",
                audit.credits_without_debit.to_string(),
            ),
            (
                "money before → after",
                format!("{} → {}", audit.money_before, audit.money_after),
            ),
            (
                "dead letters (distinct / expected)",
                format!("{} / {}", audit.dead_letters, audit.dead_letters_expected),
            ),
            (
                "duplicate deliveries dropped by accounts-a's inbox",
                audit.duplicates_dropped_a.to_string(),
            ),
            (
                "republished credits dropped by accounts-b's inbox",
                audit.copies_dropped_b.to_string(),
            ),
            ("wall time", format!("{:.1} s", runs.wall.as_secs_f64())),
        ]
    }
}
