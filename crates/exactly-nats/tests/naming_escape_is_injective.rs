//! Property: distinct (topic, partition) pairs get distinct stream names and subjects, and
//! every stream name decodes back to its topic and partition (the escaping is injective).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_nats::naming::{
    escape, meta_stream, parse_stream, partition_stream, partition_subject, unescape, StreamRole,
};
use proptest::prelude::*;

fn topic() -> impl Strategy<Value = String> {
    // Heavy on the characters that need escaping and on look-alike suffixes.
    proptest::collection::vec(
        prop_oneof![
            Just("_".to_string()),
            Just(".".to_string()),
            Just("d".to_string()),
            Just("p".to_string()),
            Just("1".to_string()),
            Just("meta".to_string()),
            "[A-Za-z0-9-]",
        ],
        1..12,
    )
    .prop_map(|parts| parts.concat())
    .prop_filter("1..=100 chars", |t| !t.is_empty() && t.len() <= 100)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("EXACTLY_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
    ))]

    #[test]
    fn distinct_inputs_distinct_names(a in topic(), b in topic(), pa in 0u32..20, pb in 0u32..20) {
        prop_assert_eq!(unescape(&escape(&a)), Some(a.clone()));
        prop_assert!(!escape(&a).contains('.'));
        prop_assert_eq!(parse_stream(&partition_stream(&a, pa)), Some(StreamRole::Partition(a.clone(), pa)));
        prop_assert_eq!(parse_stream(&meta_stream(&a)), Some(StreamRole::Meta(a.clone())));
        if (a.clone(), pa) != (b.clone(), pb) {
            prop_assert_ne!(partition_stream(&a, pa), partition_stream(&b, pb));
            prop_assert_ne!(partition_subject(&a, pa), partition_subject(&b, pb));
        }
        if a != b {
            prop_assert_ne!(meta_stream(&a), meta_stream(&b));
        }
        prop_assert_ne!(meta_stream(&a), partition_stream(&b, pb));
    }
}
