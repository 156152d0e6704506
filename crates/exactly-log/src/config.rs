//! Log settings. Every limit is explicit and checked by [`LogConfig::validate`].

/// When an append is acknowledged relative to `fdatasync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The append returns after its bytes are fsynced (group commit: one sync serves every
    /// append waiting at that moment). Readers see only synced records.
    Immediate,
    /// A background flusher syncs every `n` milliseconds; appends return at once. Readers
    /// see only synced records, so a crash can lose at most the last interval of appends and
    /// never a record that anybody has read.
    Interval(u64),
    /// Never sync except on segment roll and close. Readers see records as soon as they
    /// are written; a crash may lose any of them. For tests and scratch data only.
    None,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "immediate" => Ok(Durability::Immediate),
            "none" => Ok(Durability::None),
            other => match other.strip_prefix("interval:") {
                Some(ms) => ms
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Durability::Interval)
                    .ok_or_else(|| format!("bad interval in '{other}': want interval:MS, MS > 0")),
                None => Err(format!(
                    "unknown durability '{other}': want immediate, interval:MS or none"
                )),
            },
        }
    }
}

/// Largest segment the index format can address (positions are `u32`).
pub const SEGMENT_BYTES_LIMIT: u64 = READ_BATCH_BYTES_MAX as u64;

/// Largest batch a read or a recovery scan accepts: the format's limit (a batch never
/// outgrows its segment), as the `u32` batch lengths are compared against.
pub const READ_BATCH_BYTES_MAX: u32 = 1 << 30;

/// Settings of an embedded log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// When appends are acknowledged.
    pub durability: Durability,
    /// A segment is rolled before it would grow past this size.
    pub segment_bytes_max: u64,
    /// Largest accepted batch (header included); bigger input is rejected before it is
    /// written, and bigger length fields on disk are treated as corruption.
    pub batch_bytes_max: u32,
    /// One sparse index entry per this many bytes of segment.
    pub index_interval_bytes: u32,
    /// Delete the oldest sealed segments while a partition is bigger than this.
    pub retention_bytes: Option<u64>,
    /// Delete sealed segments whose newest record is older than this (event time vs clock).
    pub retention_ms: Option<i64>,
    /// Forget a producer id this long after its last append (wall clock).
    pub producer_expiry_ms: i64,
    /// Most producer ids remembered per partition; a new one beyond it is rejected
    /// (`TooManyProducers`) rather than silently evicting another's de-duplication state.
    pub producers_per_partition_max: usize,
    /// Keep the durable-end evidence file of every partition (see `docs/design.md`,
    /// "Durable-end evidence"): without it recovery cannot tell damage of acknowledged data
    /// in the newest batch from a torn write. Off only to measure its cost (`exactly bench
    /// log`).
    pub durable_end_evidence: bool,
    /// Longest time the evidence file goes without an fsync while appends continue: an OS
    /// crash can take back at most this much of the evidence (never data).
    pub durable_end_sync_interval_ms: u64,
    /// When a transaction's markers are made durable (and so visible to `read_committed`
    /// readers) relative to `commit`/`abort` returning.
    pub marker_sync: MarkerSync,
}

/// When a transaction's markers become durable, and with them visible to `read_committed`
/// readers. The decision recorded in `__transactions` is durable before `commit` returns
/// in every mode: it is the commit point, and recovery writes a lost marker again from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerSync {
    /// Before `commit`/`abort` returns: three fsyncs in a row per commit (data, decision,
    /// markers); a reader sees the transaction as soon as `commit` returned.
    BeforeReturn,
    /// After `commit` returns: a background syncer makes them durable after lingering
    /// `linger_ms`, so that a sync the partition does anyway (usually the producer's next
    /// append) covers them for free. Readers see a commit at most `linger_ms` plus one
    /// fsync after it returned. The default, with 1 ms.
    Trailing {
        /// How long the syncer waits for another sync to cover the markers.
        linger_ms: u64,
    },
    /// Only when something else syncs the partition (a later append or commit, a
    /// snapshot, [`crate::Log::flush`], close): no background thread, so a run is
    /// deterministic (crash-point sweeps). An idle producer's last commit stays invisible
    /// until then.
    WithNextSync,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Immediate,
            segment_bytes_max: 128 << 20,
            batch_bytes_max: 16 << 20,
            index_interval_bytes: 4096,
            retention_bytes: None,
            retention_ms: None,
            producer_expiry_ms: 7 * 24 * 3600 * 1000,
            producers_per_partition_max: 100_000,
            durable_end_evidence: true,
            durable_end_sync_interval_ms: 1_000,
            marker_sync: MarkerSync::Trailing { linger_ms: 1 },
        }
    }
}

impl LogConfig {
    /// The defaults with `durability` and segments rolled at `segment_bytes`; batches are
    /// capped to the segment size, since a batch must fit in a segment.
    pub fn with_segments(durability: Durability, segment_bytes: u64) -> Self {
        let defaults = Self::default();
        Self {
            durability,
            segment_bytes_max: segment_bytes,
            batch_bytes_max: defaults
                .batch_bytes_max
                .min(u32::try_from(segment_bytes).unwrap_or(u32::MAX)),
            ..defaults
        }
    }

    /// Largest batch a *read* or a recovery scan accepts: the format's limit, not
    /// [`LogConfig::batch_bytes_max`]. Appends obey `batch_bytes_max`; data already written
    /// with a larger limit (another command, an earlier run) must stay readable, never be
    /// refused or cut because the limit was lowered. Memory stays bounded: readers never
    /// buffer more than the bytes the file holds.
    pub fn read_batch_bytes_max(&self) -> u32 {
        READ_BATCH_BYTES_MAX
    }

    /// Checks that every limit is within what the formats support.
    pub fn validate(&self) -> Result<(), String> {
        if self.segment_bytes_max < 4096 || self.segment_bytes_max > SEGMENT_BYTES_LIMIT {
            return Err(format!(
                "segment_bytes_max {} must be within 4096..={SEGMENT_BYTES_LIMIT}",
                self.segment_bytes_max
            ));
        }
        if u64::from(self.batch_bytes_max) > self.segment_bytes_max || self.batch_bytes_max < 128 {
            return Err(format!(
                "batch_bytes_max {} must be within 128..=segment_bytes_max",
                self.batch_bytes_max
            ));
        }
        if self.index_interval_bytes == 0 {
            return Err("index_interval_bytes must be > 0".into());
        }
        if self.producers_per_partition_max == 0 {
            return Err("producers_per_partition_max must be > 0".into());
        }
        Ok(())
    }
}
