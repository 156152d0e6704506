//! [`Manifest`]: what one checkpoint of a job records — where its input resumes, its
//! key-group states, its clock, the sink transactions it covers, its idempotent producer's
//! sequences and write-ahead outputs, and the job's topology. The commit point of a
//! checkpoint is the durable write of its manifest.
//!
//! This is the only place a manifest is encoded or decoded. The checkpoint file framing
//! (magic, container version, checksum) is [`exactly_state::CheckpointStore`]'s; a manifest
//! rides in the container as metadata `manifest_version` plus one postcard-encoded body.
//!
//! Versions: 3 (written and read) is the typed body; 2 (read only) is the older layout of
//! string maps (metadata fields, `topic/partition` positions, `kg/…` states, `out/…` and
//! `seq/…` write-ahead entries), read strictly — a missing or malformed field is an error,
//! never a default. Any other version is refused with [`RunError::ManifestVersion`].

use super::blob::{Blob, BlobRef};
use super::error::RunError;
use super::options::SinkMode;
use super::topology::Topology;
use exactly_core::Timestamp;
use exactly_log::Record;
use exactly_state::{Checkpoint, SnapshotError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The manifest version this build writes.
pub const MANIFEST_VERSION: u32 = 3;
/// The versions this build reads, as the error message names them.
const VERSIONS_READ: &str = "3 or 2";
/// Metadata key of the version.
const VERSION_KEY: &str = "manifest_version";
/// State name of the version-3 body.
const BODY_KEY: &str = "manifest";

/// `(topic, partition)` of an output.
pub type Target = (String, u32);

/// One checkpoint of a job, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Manifest id: increases over the job's life, never reused.
    pub id: u64,
    /// The job's name.
    pub job: String,
    /// What the job reads and writes and how.
    pub topology: Topology,
    /// Tasks per stage when it was written.
    pub parallelism: u32,
    /// How outputs were published.
    pub sink_mode: SinkMode,
    /// The least timestamp any message after the cut may carry (the job's watermark).
    pub clock: Timestamp,
    /// Input partition → next offset to read.
    pub positions: BTreeMap<u32, u64>,
    /// Key group → its state snapshot (groups without state are absent).
    pub key_groups: BTreeMap<u32, Vec<u8>>,
    /// Transactional ids of the sink transactions this checkpoint commits.
    pub sink_transactions: BTreeSet<String>,
    /// Output partition → the sequence of this checkpoint's first write-ahead output (of
    /// the job's idempotent producer); carried for every partition ever written ahead.
    pub sequences: BTreeMap<Target, u64>,
    /// Output partition → outputs written ahead, published after the manifest is durable.
    pub write_ahead: BTreeMap<Target, Vec<Record>>,
}

/// A record written ahead: `(timestamp, key, value)`.
type Row = (i64, Option<Vec<u8>>, Vec<u8>);

/// A row of a version-3 body as read (byte strings, see `blob.rs`).
type RowIn = (i64, Option<Blob>, Blob);
/// A row of a version-3 body as written, borrowed from the manifest.
type RowOut<'a> = (i64, Option<BlobRef<'a>>, BlobRef<'a>);

/// The version-3 body as read. Every field is required: a body missing one does not
/// decode. Its fields and their order are [`BodyV3Out`]'s.
#[derive(Deserialize)]
struct BodyV3 {
    id: u64,
    job: String,
    topology: Topology,
    parallelism: u32,
    sink_mode: SinkMode,
    clock: i64,
    positions: Vec<(u32, u64)>,
    key_groups: Vec<(u32, Blob)>,
    sink_transactions: Vec<String>,
    sequences: Vec<(String, u32, u64)>,
    write_ahead: Vec<(String, u32, Vec<RowIn>)>,
}

/// The version-3 body as written, borrowing the manifest's states and outputs (no copy).
#[derive(Serialize)]
struct BodyV3Out<'a> {
    id: u64,
    job: &'a str,
    topology: &'a Topology,
    parallelism: u32,
    sink_mode: SinkMode,
    clock: i64,
    positions: Vec<(u32, u64)>,
    key_groups: Vec<(u32, BlobRef<'a>)>,
    sink_transactions: Vec<&'a str>,
    sequences: Vec<(&'a str, u32, u64)>,
    write_ahead: Vec<(&'a str, u32, Vec<RowOut<'a>>)>,
}

fn rows(records: &[Record]) -> Vec<RowOut<'_>> {
    records
        .iter()
        .map(|r| {
            let key = r.key.as_deref().map(BlobRef);
            (r.timestamp.0, key, BlobRef(&r.value))
        })
        .collect()
}

fn records_v2(rows: Vec<Row>) -> Vec<Record> {
    rows.into_iter()
        .map(|(timestamp, key, value)| Record {
            timestamp: Timestamp(timestamp),
            key,
            value,
        })
        .collect()
}

fn records(rows: Vec<RowIn>) -> Vec<Record> {
    rows.into_iter()
        .map(|(timestamp, key, value)| Record {
            timestamp: Timestamp(timestamp),
            key: key.map(|k| k.0),
            value: value.0,
        })
        .collect()
}

impl Manifest {
    /// The checkpoint (container contents) holding this manifest.
    pub fn to_checkpoint(&self) -> Result<Checkpoint, RunError> {
        let body = BodyV3Out {
            id: self.id,
            job: &self.job,
            topology: &self.topology,
            parallelism: self.parallelism,
            sink_mode: self.sink_mode,
            clock: self.clock.0,
            positions: self.positions.iter().map(|(p, o)| (*p, *o)).collect(),
            key_groups: self
                .key_groups
                .iter()
                .map(|(g, s)| (*g, BlobRef(s)))
                .collect(),
            sink_transactions: self.sink_transactions.iter().map(String::as_str).collect(),
            sequences: self
                .sequences
                .iter()
                .map(|((t, p), s)| (t.as_str(), *p, *s))
                .collect(),
            write_ahead: self
                .write_ahead
                .iter()
                .map(|((t, p), r)| (t.as_str(), *p, rows(r)))
                .collect(),
        };
        let bytes = postcard::to_allocvec(&body).map_err(|e| RunError::Encode {
            what: "the manifest",
            source: SnapshotError::Encode(e.to_string()),
        })?;
        Ok(Checkpoint {
            id: self.id,
            clock: self.clock,
            positions: BTreeMap::new(),
            states: BTreeMap::from([(BODY_KEY.to_string(), bytes)]),
            metadata: BTreeMap::from([(VERSION_KEY.to_string(), MANIFEST_VERSION.to_string())]),
        })
    }

    /// The manifest `checkpoint` holds: version 3, or version 2 read strictly; any other
    /// version is refused.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self, RunError> {
        let found = checkpoint.metadata.get(VERSION_KEY);
        let manifest = match found.map(String::as_str) {
            Some("3") => Self::decode_v3(checkpoint)?,
            Some("2") => Self::decode_v2(checkpoint)?,
            _ => {
                return Err(RunError::ManifestVersion {
                    id: checkpoint.id,
                    found: found.cloned(),
                    supported: VERSIONS_READ,
                })
            }
        };
        if manifest.id != checkpoint.id || manifest.clock != checkpoint.clock {
            return Err(invalid(
                checkpoint.id,
                format!(
                    "its manifest names checkpoint {} at clock {}, the file {} at clock {}",
                    manifest.id, manifest.clock.0, checkpoint.id, checkpoint.clock.0
                ),
            ));
        }
        Ok(manifest)
    }

    fn decode_v3(checkpoint: &Checkpoint) -> Result<Self, RunError> {
        let bytes = checkpoint
            .states
            .get(BODY_KEY)
            .ok_or_else(|| invalid(checkpoint.id, "its manifest body is missing".into()))?;
        let body: BodyV3 = postcard::from_bytes(bytes).map_err(|e| {
            invalid(
                checkpoint.id,
                format!("its manifest body does not decode: {e}"),
            )
        })?;
        Ok(Self {
            id: body.id,
            job: body.job,
            topology: body.topology,
            parallelism: body.parallelism,
            sink_mode: body.sink_mode,
            clock: Timestamp(body.clock),
            positions: body.positions.into_iter().collect(),
            key_groups: body.key_groups.into_iter().map(|(g, s)| (g, s.0)).collect(),
            sink_transactions: body.sink_transactions.into_iter().collect(),
            sequences: body
                .sequences
                .into_iter()
                .map(|(t, p, s)| ((t, p), s))
                .collect(),
            write_ahead: body
                .write_ahead
                .into_iter()
                .map(|(t, p, r)| ((t, p), records(r)))
                .collect(),
        })
    }

    /// Version 2: string maps. Every field it always wrote must be there and parse.
    fn decode_v2(checkpoint: &Checkpoint) -> Result<Self, RunError> {
        let id = checkpoint.id;
        let field = |name: &str| {
            checkpoint
                .metadata
                .get(name)
                .ok_or_else(|| invalid(id, format!("its version-2 manifest has no {name}")))
        };
        let number = |name: &str| -> Result<u32, RunError> {
            field(name)?
                .parse()
                .map_err(|e| invalid(id, format!("its {name} does not parse: {e}")))
        };
        let topology: Topology = serde_json::from_str(field("topology")?)
            .map_err(|e| invalid(id, format!("its topology does not decode: {e}")))?;
        let sink_mode = match field("sink_mode")?.as_str() {
            "transactional" => SinkMode::Transactional,
            "idempotent" => SinkMode::Idempotent,
            other => return Err(invalid(id, format!("its sink_mode {other:?} is unknown"))),
        };
        let source = field("source")?;
        let mut positions = BTreeMap::new();
        for (name, offset) in &checkpoint.positions {
            let partition = name
                .strip_prefix(source.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| invalid(id, format!("its position {name:?} is not of {source}")))?;
            positions.insert(partition, *offset);
        }
        let mut key_groups = BTreeMap::new();
        let mut write_ahead = BTreeMap::new();
        for (name, bytes) in &checkpoint.states {
            if let Some(group) = name.strip_prefix("kg/") {
                let group = group
                    .parse()
                    .map_err(|e| invalid(id, format!("its state {name:?}: {e}")))?;
                key_groups.insert(group, bytes.clone());
            } else if let Some(target) = parse_target(name, "out/") {
                let rows: Vec<Row> = postcard::from_bytes(bytes)
                    .map_err(|e| RunError::WriteAhead(SnapshotError::Decode(e.to_string())))?;
                write_ahead.insert(target, records_v2(rows));
            } else {
                return Err(invalid(id, format!("its state {name:?} is unknown")));
            }
        }
        let mut sequences = BTreeMap::new();
        for (name, value) in &checkpoint.metadata {
            if let Some(target) = parse_target(name, "seq/") {
                let base = value
                    .parse()
                    .map_err(|e| invalid(id, format!("its {name} does not parse: {e}")))?;
                sequences.insert(target, base);
            }
        }
        if let Some(target) = write_ahead.keys().find(|t| !sequences.contains_key(*t)) {
            return Err(invalid(
                id,
                format!("its write-ahead outputs of {target:?} have no base sequence"),
            ));
        }
        Ok(Self {
            id,
            job: field("job")?.clone(),
            topology,
            parallelism: number("parallelism")?,
            sink_mode,
            clock: checkpoint.clock,
            positions,
            key_groups,
            sink_transactions: field("sinks")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            sequences,
            write_ahead,
        })
    }

    /// Where input partition `partition` resumes, if the manifest records it.
    pub fn position(&self, partition: u32) -> Option<u64> {
        self.positions.get(&partition).copied()
    }

    /// The sequences after this manifest's write-ahead outputs: where the next
    /// manifest's outputs start, per partition.
    pub fn sequences_after(&self) -> BTreeMap<Target, u64> {
        let mut next = self.sequences.clone();
        for (target, records) in &self.write_ahead {
            *next.entry(target.clone()).or_insert(0) += records.len() as u64;
        }
        next
    }
}

fn invalid(id: u64, reason: String) -> RunError {
    RunError::IncompatibleCheckpoint { id, reason }
}

fn parse_target(name: &str, prefix: &str) -> Option<Target> {
    let rest = name.strip_prefix(prefix)?;
    let (topic, partition) = rest.rsplit_once('/')?;
    Some((topic.to_string(), partition.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Guarantee;

    fn manifest() -> Manifest {
        Manifest {
            id: 7,
            job: "j".into(),
            topology: Topology {
                kind: "k".into(),
                input: "in".into(),
                output: "out".into(),
                audit: Some("audit".into()),
                dead_letters: "out.dead-letters".into(),
                guarantee: Guarantee::ExactlyOnce,
                key_groups: 4,
            },
            parallelism: 2,
            sink_mode: SinkMode::Idempotent,
            clock: Timestamp(123),
            positions: BTreeMap::from([(0, 5), (1, 9)]),
            key_groups: BTreeMap::from([(3, vec![1, 2, 3])]),
            sink_transactions: BTreeSet::from(["j.sink.0.1".to_string()]),
            sequences: BTreeMap::from([(("out".to_string(), 1), 40)]),
            write_ahead: BTreeMap::from([(
                ("out".to_string(), 1),
                vec![Record {
                    timestamp: Timestamp(5),
                    key: Some(b"k".to_vec()),
                    value: b"v".to_vec(),
                }],
            )]),
        }
    }

    #[test]
    fn version_3_round_trips() {
        let m = manifest();
        let checkpoint = m.to_checkpoint().expect("encodes");
        assert_eq!(checkpoint.metadata[VERSION_KEY], "3");
        assert_eq!(Manifest::from_checkpoint(&checkpoint).expect("decodes"), m);
        assert_eq!(
            m.sequences_after(),
            BTreeMap::from([(("out".to_string(), 1), 41)])
        );
    }

    /// The body as it was written before byte strings (`blob.rs`): `Vec<u8>` fields, which
    /// serde encodes as sequences of `u8`.
    #[derive(Serialize)]
    struct BodyV3AsSequences {
        id: u64,
        job: String,
        topology: Topology,
        parallelism: u32,
        sink_mode: SinkMode,
        clock: i64,
        positions: Vec<(u32, u64)>,
        key_groups: Vec<(u32, Vec<u8>)>,
        sink_transactions: Vec<String>,
        sequences: Vec<(String, u32, u64)>,
        write_ahead: Vec<(String, u32, Vec<Row>)>,
    }

    #[test]
    fn version_3_bytes_are_unchanged_by_byte_strings() {
        let mut m = manifest();
        // Long enough for a multi-byte length varint.
        m.key_groups
            .insert(9, (0..=255u8).cycle().take(1000).collect());
        let old = BodyV3AsSequences {
            id: m.id,
            job: m.job.clone(),
            topology: m.topology.clone(),
            parallelism: m.parallelism,
            sink_mode: m.sink_mode,
            clock: m.clock.0,
            positions: m.positions.iter().map(|(p, o)| (*p, *o)).collect(),
            key_groups: m.key_groups.iter().map(|(g, s)| (*g, s.clone())).collect(),
            sink_transactions: m.sink_transactions.iter().cloned().collect(),
            sequences: m
                .sequences
                .iter()
                .map(|((t, p), s)| (t.clone(), *p, *s))
                .collect(),
            write_ahead: m
                .write_ahead
                .iter()
                .map(|((t, p), r)| {
                    let rows = r
                        .iter()
                        .map(|r| (r.timestamp.0, r.key.clone(), r.value.clone()))
                        .collect();
                    (t.clone(), *p, rows)
                })
                .collect(),
        };
        let old_bytes = postcard::to_allocvec(&old).expect("encodes");
        let checkpoint = m.to_checkpoint().expect("encodes");
        assert_eq!(checkpoint.states[BODY_KEY], old_bytes);
        assert_eq!(Manifest::from_checkpoint(&checkpoint).expect("decodes"), m);
    }

    #[test]
    fn unknown_versions_and_damaged_bodies_are_errors() {
        let mut checkpoint = manifest().to_checkpoint().expect("encodes");
        checkpoint
            .metadata
            .insert(VERSION_KEY.to_string(), "4".to_string());
        assert!(matches!(
            Manifest::from_checkpoint(&checkpoint),
            Err(RunError::ManifestVersion { found: Some(v), .. }) if v == "4"
        ));
        checkpoint.metadata.clear();
        assert!(matches!(
            Manifest::from_checkpoint(&checkpoint),
            Err(RunError::ManifestVersion { found: None, .. })
        ));
        let mut checkpoint = manifest().to_checkpoint().expect("encodes");
        let body = checkpoint.states.get_mut(BODY_KEY).expect("a body");
        body.truncate(body.len() / 2);
        assert!(matches!(
            Manifest::from_checkpoint(&checkpoint),
            Err(RunError::IncompatibleCheckpoint { .. })
        ));
    }

    #[test]
    fn a_version_2_manifest_missing_a_field_is_an_error() {
        let m = manifest();
        let mut checkpoint = Checkpoint {
            id: m.id,
            clock: m.clock,
            positions: BTreeMap::from([("in/0".to_string(), 5)]),
            states: BTreeMap::new(),
            metadata: BTreeMap::from([
                (VERSION_KEY.to_string(), "2".to_string()),
                (
                    "topology".to_string(),
                    serde_json::to_string(&m.topology).expect("encodes"),
                ),
                ("sink_mode".to_string(), "transactional".to_string()),
                ("job".to_string(), "j".to_string()),
                ("source".to_string(), "in".to_string()),
                ("parallelism".to_string(), "1".to_string()),
                ("sinks".to_string(), "j.sink.0.1".to_string()),
            ]),
        };
        let decoded = Manifest::from_checkpoint(&checkpoint).expect("complete");
        assert_eq!(decoded.positions, BTreeMap::from([(0, 5)]));
        checkpoint.metadata.remove("sinks");
        match Manifest::from_checkpoint(&checkpoint) {
            Err(RunError::IncompatibleCheckpoint { reason, .. }) => {
                assert!(reason.contains("sinks"), "{reason}")
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
