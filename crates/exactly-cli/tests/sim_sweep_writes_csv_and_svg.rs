//! `exactly sim sweep` writes a CSV whose measured R follows the seed's `1 − p^(n+1)` and
//! an SVG plotting measured points against the analytic curves.

use std::process::Command;

#[test]
fn sim_sweep_writes_csv_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, svg) = (dir.path().join("sweep.csv"), dir.path().join("sweep.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args([
            "sim",
            "sweep",
            "--losses",
            "0.1,0.3,0.5",
            "--retries",
            "0,2",
        ])
        .args(["--messages", "20000", "--csv"])
        .arg(&csv)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), 1 + 6, "{table}");

    let csv = std::fs::read_to_string(csv).unwrap();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let (r, r_seed): (f64, f64) = (row[2].parse().unwrap(), row[3].parse().unwrap());
        assert!(
            (r - r_seed).abs() < 0.02,
            "measured {r} vs seed {r_seed} in {row:?}"
        );
    }
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<circle").count(),
        6,
        "one measured R point per row"
    );
    assert_eq!(
        svg.matches("<polyline").count(),
        4,
        "R and UR curves per retry limit"
    );
}
