//! Snapshots of the coordinator's table (placeholder: full replay).

use super::coordinator::TxnCoordinator;
use super::error::TxnError;
use super::history;
use super::table::{TxnMetadata, TxnTable};
use crate::log::Log;
use exactly_core::Offset;

/// Records between snapshots.
pub(crate) fn interval(_log: &Log) -> u64 {
    u64::MAX
}

/// Loads the table: returns it and how many records were replayed.
pub(crate) fn load_table(log: &Log) -> Result<(TxnTable, u64), TxnError> {
    let (records, _) = history::read_from(log, Offset(0))?;
    let mut table = TxnTable::new();
    let replayed = records.len() as u64;
    for (_, meta) in records {
        table.replay(meta);
    }
    Ok((table, replayed))
}

/// The recorded decisions, in order.
pub(crate) fn decisions(log: &Log) -> Result<Vec<TxnMetadata>, TxnError> {
    let (records, _) = history::read_from(log, Offset(0))?;
    Ok(records.into_iter().map(|(_, m)| m).collect())
}

/// Writes a snapshot.
pub(crate) fn write(_log: &Log, _coordinator: &TxnCoordinator) -> Result<(), TxnError> {
    Ok(())
}
