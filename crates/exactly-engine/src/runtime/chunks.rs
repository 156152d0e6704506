//! Splitting records into appends that stay under the log's batch limit.

use exactly_log::Record;

/// Splits records into runs of at most `bytes_max` bytes (at least one record each).
pub(crate) fn chunks(records: &[Record], bytes_max: usize) -> Vec<&[Record]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, record) in records.iter().enumerate() {
        let size = record.value.len() + record.key.as_ref().map_or(0, Vec::len) + 32;
        if bytes + size > bytes_max && i > start {
            out.extend(records.get(start..i));
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    out.extend(records.get(start..));
    out.retain(|chunk| !chunk.is_empty());
    out
}
