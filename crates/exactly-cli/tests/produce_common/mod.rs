//! The input of the `log produce` kill loops (embedded and NATS): keyed and keyless
//! records, and where each must land, computed by the test from the partitioner alone.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use exactly_log::partition_for_key;
use std::io::Write;
use std::path::Path;

/// Partitions of the produced topic.
pub const PARTITIONS: u32 = 3;

/// Input: keyed and keyless records; returns the expected values per partition.
pub fn write_input(path: &Path, records: usize) -> Vec<Vec<String>> {
    let mut expected = vec![Vec::new(); PARTITIONS as usize];
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..records {
        let value = format!("record-{i}");
        if i % 5 == 0 {
            writeln!(file, r#"{{"value":"{value}","timestamp":{i}}}"#).unwrap();
            // Keyless records go round-robin by their position in the input.
            expected[i % PARTITIONS as usize].push(value);
        } else {
            let key = format!("key-{}", i % 97);
            writeln!(
                file,
                r#"{{"key":"{key}","value":"{value}","timestamp":{i}}}"#
            )
            .unwrap();
            expected[partition_for_key(key.as_bytes(), PARTITIONS) as usize].push(value);
        }
    }
    file.flush().unwrap();
    expected
}
