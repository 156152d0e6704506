//! A short `bench log` run: every figure is a median over the rounds (each round's figure
//! is kept), each plain durable append is compared with raw write + fdatasync of the bytes
//! per sync it made, and reads are reported hot and cold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_bench::log::{run, LogBenchConfig};

#[test]
fn figures_are_medians_and_baselines_match_the_block_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogBenchConfig {
        seconds: 0.05,
        dir: Some(dir.path().to_path_buf()),
        batch_bytes: 64 << 10,
        rounds: 3,
    };
    let report = run(&config, &|_| {}).unwrap();
    let figure = |name: &str| {
        report
            .figures
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no figure {name:?} in {:#?}", report.figures))
    };
    for f in &report.figures {
        assert!(f.mb_per_sec.is_finite() && f.mb_per_sec >= 0.0, "{f:?}");
    }
    let raw = figure("raw write+fdatasync, 1 MiB blocks");
    assert_eq!(raw.rounds_mb_per_sec.len(), 3);
    let mut sorted = raw.rounds_mb_per_sec.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(raw.mb_per_sec, sorted[1], "the median round, not the best");

    for name in ["append 100 B x1 plain", "append 1024 B x8 plain"] {
        let append = figure(name);
        assert_eq!(append.rounds_mb_per_sec.len(), 3, "{append:?}");
        let against = append.ratio_against.clone().unwrap();
        assert_eq!(
            against,
            format!("raw write+fdatasync, same bytes per sync as {name}")
        );
        let baseline = figure(&against);
        let (block, per_sync) = (
            baseline.bytes_per_sync.unwrap(),
            append.bytes_per_sync.unwrap(),
        );
        // Same order of size: the baseline's block is some round's bytes per sync.
        assert!(
            block > per_sync / 4.0 && block < per_sync * 4.0,
            "{name}: raw block {block} B vs {per_sync} B per sync"
        );
        let ratio = append.ratio.unwrap();
        assert!((ratio - append.mb_per_sec / baseline.mb_per_sec).abs() < 1e-9);
    }
    let idempotent = figure("append 100 B x1 idempotent");
    assert_eq!(idempotent.ratio_against.as_deref(), Some("non-idempotent"));

    let hot = figure("sequential read, 1 KiB records, hot");
    let cold = figure("sequential read, 1 KiB records, cold");
    // Each round reads back what that round wrote; the medians may come from different rounds.
    assert!(hot.records > 0 && cold.records > 0);
    assert_eq!(hot.rounds_mb_per_sec.len(), 3);
    assert_eq!(cold.rounds_mb_per_sec.len(), 3);
    assert_eq!(cold.ratio_against.as_deref(), Some("sequential read, hot"));
}
