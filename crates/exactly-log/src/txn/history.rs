//! `__transactions` on disk: appending state records (durably, or lazily where recovery
//! repairs a loss) and reading them back in order.

use super::error::TxnError;
use super::offsets_snapshot;
use super::table::TxnMetadata;
use super::topics::{OFFSETS_TOPIC, SNAPSHOT_FILE_NAME, TRANSACTIONS_TOPIC};
use crate::batch::Record;
use crate::log::Log;
use exactly_core::{Offset, Timestamp};

/// Creates an internal topic (one partition) if it does not exist yet. A new
/// `__transactions` or `__consumer_offsets` starts without a snapshot: one left behind by
/// a removed one describes other records.
pub(crate) fn internal_topic(log: &Log, name: &str) -> Result<(), TxnError> {
    if log.partition_count(name).is_some() {
        return Ok(());
    }
    let snapshot_file = match name {
        TRANSACTIONS_TOPIC => Some(SNAPSHOT_FILE_NAME),
        OFFSETS_TOPIC => Some(offsets_snapshot::FILE_NAME),
        _ => None,
    };
    if let Some(file) = snapshot_file {
        let path = log.dir().join(file);
        let stale = log.storage().exists(&path).and_then(|exists| match exists {
            true => log.storage().remove_file(&path),
            false => Ok(()),
        });
        stale.map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "removing a stale coordinator snapshot failed");
            TxnError::SnapshotIo {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
    }
    log.create_topic(name, 1)?;
    Ok(())
}

/// Appends a state change without waiting for it to be durable. Concurrent records of
/// many ids then share one fsync in [`sync`] (the partition's group commit).
pub(crate) fn append(log: &Log, meta: &TxnMetadata) -> Result<(), TxnError> {
    internal_topic(log, TRANSACTIONS_TOPIC)?;
    let record = Record {
        timestamp: Timestamp(log.now_ms()),
        key: Some(meta.transactional_id.as_bytes().to_vec()),
        // An empty value here used to be written (and fsynced) as the new state of the
        // id, which the next open then refused as corrupt.
        value: serde_json::to_vec(meta).map_err(|e| TxnError::Encode {
            what: "transaction state",
            key: meta.transactional_id.clone(),
            reason: e.to_string(),
        })?,
    };
    log.append_internal_lazily(TRANSACTIONS_TOPIC, 0, &[record])
        .inspect_err(|e| {
            tracing::warn!(
                topic = TRANSACTIONS_TOPIC,
                id = %meta.transactional_id,
                error = %e,
                "appending a transaction state record failed"
            );
        })?;
    Ok(())
}

/// Makes every state record appended so far durable (one fsync for all of them).
pub(crate) fn sync(log: &Log) -> Result<(), TxnError> {
    log.flush_partition(TRANSACTIONS_TOPIC, 0)
        .inspect_err(|e| {
            tracing::error!(
                topic = TRANSACTIONS_TOPIC,
                dir = %log.dir().display(),
                error = %e,
                "syncing transaction state failed"
            );
        })?;
    Ok(())
}

/// Durably records a state change.
pub(crate) fn record(log: &Log, meta: &TxnMetadata) -> Result<(), TxnError> {
    append(log, meta)?;
    sync(log)
}

/// Every record of `__transactions` from `from` on, in order, with its offset; and the
/// offset after the last one.
pub(crate) fn read_from(
    log: &Log,
    from: Offset,
) -> Result<(Vec<(Offset, TxnMetadata)>, Offset), TxnError> {
    let mut history = Vec::new();
    let mut next = from;
    if log.partition_count(TRANSACTIONS_TOPIC).is_none() {
        return Ok((history, next));
    }
    let scan = log.scan(
        TRANSACTIONS_TOPIC,
        0,
        from,
        crate::Isolation::ReadUncommitted,
    )?;
    next = scan.end();
    for record in scan {
        let record = record?;
        let meta: TxnMetadata =
            serde_json::from_slice(&record.value).map_err(|e| TxnError::CorruptState {
                offset: record.offset.0,
                reason: e.to_string(),
            })?;
        history.push((record.offset, meta));
    }
    Ok((history, next))
}

/// Benchmarks only: appends the state records `transactions` committed one-partition
/// transactions write (partition added, commit decided, commit completed), spread over
/// `ids` transactional ids, without their data or markers, then syncs once. Builds a
/// long history fast: the real path syncs three times per transaction.
pub(crate) fn append_synthetic_commits(
    log: &Log,
    transactions: u64,
    ids: u64,
) -> Result<(), TxnError> {
    use super::table::TxnState;
    use super::topics::FIRST_ALLOCATED_PRODUCER_ID;
    internal_topic(log, TRANSACTIONS_TOPIC)?;
    let ids = ids.max(1);
    let now = log.now_ms();
    let mut records = Vec::with_capacity(999);
    for t in 0..transactions {
        let id = t % ids;
        // Epochs cycle below the headroom a real id would switch producer ids at.
        let epoch = ((t / ids) % 60_000) as u16 + 1;
        let mut meta = TxnMetadata {
            transactional_id: format!("bench-{id}"),
            producer_id: FIRST_ALLOCATED_PRODUCER_ID + id,
            epoch,
            state: TxnState::Ongoing,
            partitions: [("bench".to_string(), 0)].into_iter().collect(),
            timeout_ms: 60_000,
            started_ms: now,
            txn_epoch: Some(epoch),
        };
        for state in [
            TxnState::Ongoing,
            TxnState::PrepareCommit,
            TxnState::CompleteCommit,
        ] {
            meta.state = state;
            if state == TxnState::CompleteCommit {
                meta.partitions.clear();
            }
            records.push(Record {
                timestamp: Timestamp(now),
                key: Some(meta.transactional_id.as_bytes().to_vec()),
                value: serde_json::to_vec(&meta).map_err(|e| TxnError::Encode {
                    what: "transaction state",
                    key: meta.transactional_id.clone(),
                    reason: e.to_string(),
                })?,
            });
        }
        if records.len() >= 999 {
            log.append_internal_lazily(TRANSACTIONS_TOPIC, 0, &records)?;
            records.clear();
        }
    }
    if !records.is_empty() {
        log.append_internal_lazily(TRANSACTIONS_TOPIC, 0, &records)?;
    }
    sync(log)
}
