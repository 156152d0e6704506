//! `sweep` runs one simulation per (retry limit, loss) pair in retry-major order; on the
//! resend pipe the measured R stays near the analytic `1 − p^(n+1)`, and the CSV has one
//! row per point.

use exactly_pipe::PipeMode;
use exactly_sim::{csv, sweep, SweepConfig, SweepError};

#[test]
fn sweep_measures_near_analytic() {
    let seed = 7;
    println!("seed {seed}");
    let config = SweepConfig {
        pipe: PipeMode::Resend,
        losses: vec![0.1, 0.4],
        retries: vec![0, 2],
        dup: 0.0,
        messages: 20_000,
        seed,
        window: 1,
    };
    let points = sweep(&config).expect("valid sweep");
    let grid: Vec<(u32, f64)> = points.iter().map(|p| (p.retries, p.loss)).collect();
    assert_eq!(grid, vec![(0, 0.1), (0, 0.4), (2, 0.1), (2, 0.4)]);
    for p in &points {
        let expected = 1.0 - p.loss.powi(p.retries as i32 + 1);
        assert!((p.analytic.r - expected).abs() < 1e-12, "{p:?}");
        assert!(
            (p.measured.r - p.analytic.r).abs() < 0.02,
            "measured {p:?} (seed {seed})"
        );
    }
    let table = csv(&points);
    assert_eq!(table.lines().count(), 1 + points.len());
    assert!(table.starts_with("loss,retries,r,r_analytic,ur,ur_analytic,mode\n"));

    let bad = SweepConfig {
        losses: vec![0.1, 1.0],
        ..config
    };
    assert_eq!(sweep(&bad), Err(SweepError::Loss(1.0)));
}
