//! A small hand-written SVG plot: x = loss, y = rate in [0, 1]; one colour per retry limit;
//! analytic R solid and UR dashed, measured R as circles and UR as squares. Writing to a `String` cannot fail, so
//! the `writeln!` results are ignored.

use crate::sweep::SweepPoint;
use exactly_pipe::Reliability;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 480.0;
const MARGIN: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn x_of(loss: f64, loss_max: f64) -> f64 {
    MARGIN + loss / loss_max * (WIDTH - 2.0 * MARGIN)
}

fn y_of(rate: f64) -> f64 {
    HEIGHT - MARGIN - rate.clamp(0.0, 1.0) * (HEIGHT - 2.0 * MARGIN)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the SVG plot of `points` for the given retry limits; `analytic(loss, retries)`
/// gives the curves, sampled at 101 loss values from 0 to the largest loss.
pub fn plot(
    title: &str,
    points: &[SweepPoint],
    retries: &[u32],
    analytic: impl Fn(f64, u32) -> Reliability,
) -> String {
    let loss_max = points
        .iter()
        .map(|p| p.loss)
        .fold(0.0f64, f64::max)
        .max(0.05);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    axes(&mut s, loss_max);
    for (i, n) in retries.iter().enumerate() {
        let colour = COLOURS
            .get(i % COLOURS.len())
            .expect("a remainder of the length indexes the palette");
        let mut series: Vec<&SweepPoint> = points.iter().filter(|p| p.retries == *n).collect();
        series.sort_by(|a, b| a.loss.total_cmp(&b.loss));
        // The analytic curves, sampled finely (the measured points may be sparse).
        let curve: Vec<(f64, Reliability)> = (0..=100)
            .map(|k| {
                let loss = loss_max * f64::from(k) / 100.0;
                (loss, analytic(loss, *n))
            })
            .collect();
        line(&mut s, &curve, loss_max, colour, |r| r.r, "");
        line(
            &mut s,
            &curve,
            loss_max,
            colour,
            |r| r.ur,
            r#" stroke-dasharray="6 4""#,
        );
        for p in &series {
            let (x, yr, yu) = (
                x_of(p.loss, loss_max),
                y_of(p.measured.r),
                y_of(p.measured.ur),
            );
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{yr:.1}" r="3.5" fill="{colour}"/>"#
            );
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="none" stroke="{colour}"/>"#,
                x - 3.5,
                yu - 3.5
            );
        }
        let ly = MARGIN + 16.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{ly:.1}" fill="{colour}">retries {n}</text>"#,
            WIDTH - MARGIN - 150.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" fill="black">solid R, dashed UR (seed); ● R, □ UR (measured)</text>"#,
        MARGIN + 10.0,
        HEIGHT - MARGIN - 10.0
    );
    s.push_str("</svg>\n");
    s
}

fn axes(s: &mut String, loss_max: f64) {
    let (x0, y0, x1, y1) = (MARGIN, HEIGHT - MARGIN, WIDTH - MARGIN, MARGIN);
    let _ = writeln!(
        s,
        r#"<path d="M{x0} {y1} L{x0} {y0} L{x1} {y0}" stroke="black" fill="none"/>"#
    );
    for i in 0..=5 {
        let rate = f64::from(i) / 5.0;
        let y = y_of(rate);
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{rate:.1}</text>"#,
            x0 - 6.0,
            y + 4.0
        );
        let loss = loss_max * rate;
        let x = x_of(loss, loss_max);
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{loss:.2}</text>"#,
            y0 + 18.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">loss probability</text>"#,
        WIDTH / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">R, UR</text>"#,
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
}

fn line(
    s: &mut String,
    curve: &[(f64, Reliability)],
    loss_max: f64,
    colour: &str,
    f: impl Fn(&Reliability) -> f64,
    extra: &str,
) {
    let pts: Vec<String> = curve
        .iter()
        .map(|(loss, r)| format!("{:.1},{:.1}", x_of(*loss, loss_max), y_of(f(r))))
        .collect();
    if pts.len() > 1 {
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}"{extra}/>"#,
            pts.join(" ")
        );
    }
}
