//! `topic.json`: a topic's metadata (its partition count), the commit point of its
//! creation. Version 2 carries a CRC32C of its fields: without it a flipped bit in the
//! partition count read as another valid count (`1` → `3`), and a writer then created the
//! missing partitions silently, changing where every key goes.

use serde::{Deserialize, Serialize};

/// File name of the metadata in a topic's directory.
pub(crate) const FILE_NAME: &str = "topic.json";
const VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
struct TopicMeta {
    version: u32,
    partitions: u32,
    /// CRC32C of `version` and `partitions` (little endian); absent in version 1.
    #[serde(default)]
    crc32c: Option<u32>,
}

fn checksum(version: u32, partitions: u32) -> u32 {
    let mut bytes = version.to_le_bytes().to_vec();
    bytes.extend_from_slice(&partitions.to_le_bytes());
    crc32c::crc32c(&bytes)
}

/// The bytes of `topic.json` for a topic of `partitions` partitions.
pub(crate) fn encode(partitions: u32) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&TopicMeta {
        version: VERSION,
        partitions,
        crc32c: Some(checksum(VERSION, partitions)),
    })
}

/// The partition count in `bytes`, or why they are not valid metadata. Version 1 (no
/// checksum) is still read; version 2 must carry a matching checksum.
pub(crate) fn decode(bytes: &[u8], partitions_max: u32) -> Result<u32, String> {
    let meta: TopicMeta =
        serde_json::from_slice(bytes).map_err(|e| format!("topic metadata does not parse: {e}"))?;
    match (meta.version, meta.crc32c) {
        (1, None) => {}
        (VERSION, Some(crc)) if crc == checksum(meta.version, meta.partitions) => {}
        (VERSION, _) => return Err("topic metadata checksum mismatch".to_string()),
        (version, _) => return Err(format!("unknown topic metadata version {version}")),
    }
    if meta.partitions == 0 || meta.partitions > partitions_max {
        return Err(format!("partition count {} out of range", meta.partitions));
    }
    Ok(meta.partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bit_flip_of_the_metadata_is_refused() {
        let bytes = encode(4).unwrap();
        assert_eq!(decode(&bytes, 10_000), Ok(4));
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&flipped, 10_000).is_err(),
                "flip of bit {bit} accepted"
            );
        }
        assert_eq!(decode(br#"{"version":1,"partitions":3}"#, 10_000), Ok(3));
    }
}
