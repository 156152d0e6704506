//! `plot` draws one circle (measured R) and one square (measured UR) per point and two
//! analytic curves (R solid, UR dashed) per retry limit, and escapes the title.

use exactly_pipe::{PipeMode, Reliability};
use exactly_sim::{analytic_for, plot, SweepPoint};

#[test]
fn plot_draws_points_and_curves() {
    let points: Vec<SweepPoint> = [(0.1, 0), (0.3, 0), (0.1, 3), (0.3, 3), (0.5, 3)]
        .into_iter()
        .map(|(loss, retries)| SweepPoint {
            loss,
            retries,
            measured: Reliability { r: 0.9, ur: 1.0 },
            analytic: analytic_for(PipeMode::Resend, loss, 0.0, retries),
        })
        .collect();
    let curve = |loss, n| analytic_for(PipeMode::Resend, loss, 0.0, n);
    let svg = plot("R & UR <sweep>", &points, &[0, 3], curve);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<circle").count(), 5);
    assert_eq!(
        svg.matches("<rect x=").count(),
        5,
        "one measured UR square per point"
    );
    assert_eq!(svg.matches("<polyline").count(), 4);
    assert_eq!(svg.matches("stroke-dasharray").count(), 2);
    assert!(svg.contains("R &amp; UR &lt;sweep&gt;"), "{svg}");
    assert!(svg.contains(">retries 0<") && svg.contains(">retries 3<"));
}
