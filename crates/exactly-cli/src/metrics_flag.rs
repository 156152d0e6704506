//! `exactly --metrics ADDR …`: serves the libraries' metrics as Prometheus text over HTTP
//! (`curl ADDR/metrics`) while the command runs. The recorder is installed before the
//! command opens anything, so every handle the libraries register records (see
//! `exactly_log::meters`, `exactly_engine::runtime::meters`, `exactly_endpoint::meters`).

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::net::SocketAddr;

/// Histogram buckets for every `…_seconds` metric: from a fast fsync (0.5 ms) to a slow
/// checkpoint (10 s).
const SECONDS_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder and its HTTP listener on `addr`, and describes the
/// metrics of every library (their `# HELP` lines).
pub fn install(addr: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .context("configuring the metrics histograms")?
        .install()
        .with_context(|| format!("serving metrics on {addr}"))?;
    exactly_log::meters::describe();
    exactly_engine::runtime::meters::describe();
    exactly_endpoint::meters::describe();
    Ok(())
}
