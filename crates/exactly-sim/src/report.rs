//! A [`SimReport`] for people and for programs: [`SimReport::to_json`] (one object, a row
//! per hop) and [`SimReport::to_text`] (the table `exactly sim` prints). `wall` is the
//! wall-clock time the run took, which the report itself does not know.

use crate::run::SimReport;
use exactly_pipe::Reliability;
use serde_json::{json, Value};
use std::time::Duration;

impl SimReport {
    /// The report as one JSON object: end to end, then each hop's meters and peaks.
    pub fn to_json(&self, wall: Duration) -> Value {
        let e2e = self.end_to_end;
        let rel = e2e.reliability();
        let hops: Vec<_> = self
            .hops
            .iter()
            .map(|h| {
                let r = h.meter.reliability();
                json!({"sent": h.meter.sent, "received": h.meter.received, "unique": h.meter.unique,
                       "r": r.r, "ur": r.ur, "mode": h.meter.mode().name(),
                       "frames_sent": h.sender.frames_sent, "resends": h.sender.resends,
                       "given_up": h.sender.given_up,
                       "duplicates_suppressed": h.receiver.duplicates_suppressed,
                       "stale_discarded": h.receiver.stale_discarded,
                       "frames_corrupt": h.receiver.frames_corrupt + h.sender.frames_corrupt,
                       "net_lost": h.net.lost, "net_partitioned": h.net.partitioned,
                       "net_duplicated": h.net.duplicated, "net_corrupted": h.net.corrupted,
                       "peak_window_span": h.peaks.window_span, "peak_gap_ids": h.peaks.gap_ids,
                       "peak_reorder_buffered": h.peaks.reorder_buffered})
            })
            .collect();
        json!({
            "pipe": self.config.pipe.name(), "seed": self.config.seed,
            "messages": e2e.sent, "received": e2e.received, "unique": e2e.unique,
            "r": rel.r, "ur": rel.ur, "mode": e2e.mode().name(), "in_order": self.in_order,
            "frames_sent": self.frames_sent(),
            "duplicates_suppressed": self.duplicates_suppressed(),
            "sim_time_ms": self.sim_time_ms, "wall_ms": wall.as_secs_f64() * 1e3,
            "completed": self.completed, "hops": hops,
        })
    }

    /// The report as a table, one line per figure (no trailing newline); with several
    /// hops, each hop's R and UR and their product.
    pub fn to_text(&self, wall: Duration) -> String {
        let e2e = self.end_to_end;
        let rel = e2e.reliability();
        let c = &self.config;
        let rate = e2e.sent as f64 / wall.as_secs_f64().max(1e-9);
        let mut lines = vec![
            format!(
                "pipe {} x{} hop(s), seed {}: loss {} dup {} reorder {} corrupt {}",
                c.pipe, c.hops, c.seed, c.net.loss, c.net.dup, c.net.reorder, c.net.corrupt
            ),
            format!("  R                      {:.6}", rel.r),
            format!("  UR                     {:.6}", rel.ur),
            format!("  mode                   {}", e2e.mode()),
            format!("  messages               {}", e2e.sent),
            format!("  received / unique      {} / {}", e2e.received, e2e.unique),
            format!("  in order               {}", self.in_order),
            format!("  frames sent            {}", self.frames_sent()),
            format!("  duplicates suppressed  {}", self.duplicates_suppressed()),
            format!("  simulated time         {} ms", self.sim_time_ms),
            format!(
                "  wall time              {:.1} ms ({rate:.0} msg/s)",
                wall.as_secs_f64() * 1e3
            ),
        ];
        if self.hops.len() > 1 {
            for (i, h) in self.hops.iter().enumerate() {
                let r = h.meter.reliability();
                lines.push(format!(
                    "  hop {i}: R {:.6} UR {:.6} {}",
                    r.r,
                    r.ur,
                    h.meter.mode()
                ));
            }
            let product = Reliability::compose(self.hops.iter().map(|h| h.meter.reliability()));
            lines.push(format!(
                "  product of hops: R {:.6} UR {:.6} {}",
                product.r,
                product.ur,
                product.mode()
            ));
        }
        lines.join("\n")
    }
}
