//! What `exactly demo` prints: one row per guarantee, as a table for a person
//! ([`DemoTable`]'s `Display`) or as JSON lines ([`json_row`]).

use crate::demo::{DemoJob, GuaranteeRun};
use serde_json::json;
use std::fmt;
use std::time::Duration;

/// One guarantee's row as a JSON object.
pub fn json_row(row: &GuaranteeRun, seed: u64) -> serde_json::Value {
    let c = &row.check;
    json!({"guarantee": row.guarantee, "crashes": row.crashes, "runs": row.runs,
           "transfers": c.transfers, "events_expected": c.events_expected,
           "events_applied": c.events_applied, "r": c.r, "ur": c.ur,
           "accounts": c.accounts, "accounts_wrong": c.accounts_wrong,
           "money_total": c.money_total, "exactly_once": c.exactly_once(),
           "transfers_per_sec": row.throughput(), "seed": seed})
}

/// The demo's table: what ran, a row per guarantee, and what the columns mean.
#[derive(Clone, Debug)]
pub struct DemoTable<'a> {
    /// Transfers generated.
    pub transfers: u64,
    /// Accounts.
    pub accounts: u64,
    /// How the job ran.
    pub job: &'a DemoJob,
    /// One row per guarantee.
    pub rows: &'a [GuaranteeRun],
    /// The seed of the input and the kill timing.
    pub seed: u64,
    /// Time of the whole demo.
    pub elapsed: Duration,
}

impl fmt::Display for DemoTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "exactly demo: `balances` over {} transfers between {} accounts, parallelism {}, \
             checkpoints every {} ms, killed with SIGKILL and restarted (seed {})\n",
            self.transfers,
            self.accounts,
            self.job.parallelism,
            self.job.checkpoint_interval_ms,
            self.seed
        )?;
        writeln!(
            f,
            "  {:<14} {:>7} {:>10} {:>9} {:>9} {:>17} {:>15} {:>12}",
            "guarantee",
            "crashes",
            "transfers",
            "R",
            "UR",
            "balances correct",
            "money conserved",
            "transfers/s"
        )?;
        for row in self.rows {
            write_row(f, row)?;
        }
        writeln!(
            f,
            "\n  R: share of transfer halves (debit, credit) applied at least once; UR: share of \
             applications that were not repeats\n  (both from the audit the job writes in the same \
             transaction as its outputs). Throughput includes restarts. {:.1} s in all.\n  \
             at-most-once commits input positions ahead of processing: a crash skips messages.\n  \
             at-least-once writes effects before the checkpoint covering them: a crash repeats \
             them (its state is\n  restored with its positions, so balances stay right; the \
             repeats are in what it wrote out).\n  exactly-once writes each checkpoint's outputs \
             in one transaction, committed once its manifest is durable.",
            self.elapsed.as_secs_f64()
        )
    }
}

fn write_row(f: &mut fmt::Formatter<'_>, row: &GuaranteeRun) -> fmt::Result {
    let c = &row.check;
    let correct = if c.accounts_wrong == 0 {
        "yes".to_string()
    } else {
        format!("no ({} wrong)", c.accounts_wrong)
    };
    let conserved = if c.money_total == 0 {
        "yes".to_string()
    } else {
        format!("no ({:+})", c.money_total)
    };
    writeln!(
        f,
        "  {:<14} {:>7} {:>10} {:>9.6} {:>9.6} {:>17} {:>15} {:>12.0}",
        row.guarantee,
        row.crashes,
        c.transfers,
        c.r.unwrap_or(f64::NAN),
        c.ur.unwrap_or(f64::NAN),
        correct,
        conserved,
        row.throughput()
    )
}
