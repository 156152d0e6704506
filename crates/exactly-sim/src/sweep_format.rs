//! The sweep for people and programs: a table, JSON lines, the SVG plot against the
//! analytic curves, and the comma-separated lists a sweep is asked for in.

use crate::plot::plot;
use crate::sweep::{analytic_for, SweepConfig, SweepPoint};
use exactly_pipe::PipeMode;
use serde_json::{json, Value};
use std::str::FromStr;

/// An item of a comma-separated list that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad {what} {item:?} in {list:?}")]
pub struct BadListItem {
    /// What the items are (`loss`, `retry limit`).
    pub what: String,
    /// The item.
    pub item: String,
    /// The whole list.
    pub list: String,
}

/// Parses a comma-separated list (`0,0.1,0.2`) of `what`s.
pub fn parse_list<T: FromStr>(list: &str, what: &str) -> Result<Vec<T>, BadListItem> {
    list.split(',')
        .map(|item| {
            item.trim().parse().map_err(|_| BadListItem {
                what: what.to_string(),
                item: item.to_string(),
                list: list.to_string(),
            })
        })
        .collect()
}

/// The points as a table with a header line, measured next to analytic values (no
/// trailing newline).
pub fn table(points: &[SweepPoint]) -> String {
    let mut lines = vec![format!(
        "{:>6} {:>7} {:>10} {:>10} {:>10} {:>10}  mode",
        "loss", "retries", "R", "R seed", "UR", "UR seed"
    )];
    for p in points {
        lines.push(format!(
            "{:>6.3} {:>7} {:>10.6} {:>10.6} {:>10.6} {:>10.6}  {}",
            p.loss,
            p.retries,
            p.measured.r,
            p.analytic.r,
            p.measured.ur,
            p.analytic.ur,
            p.measured.mode().name()
        ));
    }
    lines.join("\n")
}

/// Each point of a sweep of `pipe` as one JSON object.
pub fn json_lines(pipe: PipeMode, points: &[SweepPoint]) -> Vec<Value> {
    points
        .iter()
        .map(|p| {
            json!({"pipe": pipe.name(), "loss": p.loss, "retries": p.retries,
                "r": p.measured.r, "r_analytic": p.analytic.r, "ur": p.measured.ur,
                "ur_analytic": p.analytic.ur, "mode": p.measured.mode().name()})
        })
        .collect()
}

/// The SVG plot of the sweep `config` made: measured points against the analytic curves.
pub fn plot_sweep(config: &SweepConfig, points: &[SweepPoint]) -> String {
    let title = format!(
        "{} pipe: measured R, UR (points) vs analytic (lines)",
        config.pipe
    );
    let curve = |loss, n| analytic_for(config.pipe, loss, config.dup, n);
    plot(&title, points, &config.retries, curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_or_name_the_bad_item() {
        assert_eq!(
            parse_list::<u32>("0, 1,4", "retry limit"),
            Ok(vec![0, 1, 4])
        );
        let error = parse_list::<f64>("0,x", "loss").expect_err("x is no loss");
        assert_eq!(error.to_string(), "bad loss \"x\" in \"0,x\"");
    }

    #[test]
    fn an_empty_sweep_is_the_header_alone() {
        assert_eq!(table(&[]).lines().count(), 1);
        assert!(json_lines(PipeMode::Resend, &[]).is_empty());
    }
}
