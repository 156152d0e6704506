//! Names and constants of the transaction coordinator's internal topics (a leaf: the write
//! scope names these topics without depending on the coordinator).

/// Internal topic holding transaction state.
pub const TRANSACTIONS_TOPIC: &str = "__transactions";
/// Internal topic holding consumer-group positions.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Producer ids the coordinator allocates start here.
pub const FIRST_ALLOCATED_PRODUCER_ID: u64 = 1 << 62;
/// Default transaction timeout.
pub const DEFAULT_TXN_TIMEOUT_MS: i64 = 60_000;
/// File name of the coordinator's snapshot in the log directory (a dot name: never a
/// topic).
pub const SNAPSHOT_FILE_NAME: &str = ".transactions.snapshot";
