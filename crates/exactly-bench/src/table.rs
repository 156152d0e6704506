//! The results of `exactly bench …` as the text tables it prints (one figure per line,
//! aligned columns), so a program gets the same table as the command line.
//! [`LogFigure`], [`NatsFigure`], [`NatsJobFigure`] and [`KafkaFigure`] display as one line without its
//! newline; [`EndpointReport`], [`PipeReport`] and [`EngineTable`] as whole tables, each
//! line ending with a newline.

use crate::endpoint::EndpointReport;
use crate::engine::{EngineBenchConfig, EngineReport};
use crate::kafka::KafkaFigure;
use crate::log::LogFigure;
use crate::nats::{NatsFigure, NatsJobFigure};
use crate::pipe::PipeReport;
use std::fmt;

impl fmt::Display for LogFigure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = match (&self.ratio, &self.ratio_against) {
            (Some(r), Some(against)) => format!("{:>6.1}% of {against}", r * 100.0),
            _ => String::new(),
        };
        let per_sync = self
            .bytes_per_sync
            .map_or(String::new(), |b| format!("{:>9.0} B/sync", b));
        write!(
            f,
            "{:<44} {:>9.1} MB/s {:>12.0} rec/s {per_sync:>14}   {ratio}",
            self.name, self.mb_per_sec, self.records_per_sec
        )
    }
}

impl fmt::Display for NatsFigure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = match (self.ratio_to_log, self.ratio_to_publish) {
            (Some(r), _) => format!("{r:>6.2}x the log"),
            (None, Some(r)) => format!("{r:>6.2}x plain publish"),
            (None, None) => String::new(),
        };
        let cpu = match (self.own_cpu_seconds, self.server_cpu_seconds) {
            (Some(own), Some(server)) => format!("cpu {own:.2}+{server:.2} s"),
            (Some(own), None) => format!("cpu {own:.2} s"),
            (None, _) => "cpu ?".to_string(),
        };
        let rss = self
            .rss_mib
            .map_or("rss ?".to_string(), |mib| format!("rss {mib:.0} MiB"));
        write!(
            f,
            "{:<48} {:>10.0} rec/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {cpu}  {rss}  {ratio}",
            self.bench, self.records_per_sec, self.p50_ms, self.p99_ms
        )
    }
}

impl fmt::Display for NatsJobFigure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ratios = Vec::new();
        if let Some(r) = self.ratio_to_at_least_once {
            ratios.push(format!("{r:.2}x at-least-once"));
        }
        if let Some(r) = self.ratio_to_embedded {
            ratios.push(format!("{r:.3}x embedded"));
        }
        write!(
            f,
            "{:<48} {:>10.0} rec/s  {}",
            self.bench,
            self.records_per_sec,
            ratios.join(", ")
        )
    }
}

impl fmt::Display for KafkaFigure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = match (self.ratio_to_baseline, self.target, self.meets_target) {
            (Some(ratio), Some(target), Some(met)) => {
                let verdict = if met { "met" } else { "NOT met" };
                format!("{ratio:>5.2}x baseline ({target}: {verdict})")
            }
            _ => "baseline".to_string(),
        };
        write!(
            f,
            "{:<8} {:<80} {:>9.0} rec/s {:>7.1} MiB/s  {ratio}",
            self.bench, self.system, self.records_per_sec, self.mib_per_sec
        )
    }
}

impl fmt::Display for EndpointReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for run in &self.runs {
            writeln!(
                f,
                "{:<44} {:>9} msg/s  {:>6.2}× naive   inbox {:>8} ids: {:>5.1} B/id memory, {:>5.1} B/id disk",
                run.name, run.messages_per_s.round(), run.vs_naive, run.inbox_ids,
                run.inbox_memory_bytes_per_id, run.inbox_disk_bytes_per_id
            )?;
        }
        let j = &self.journal;
        writeln!(
            f,
            "{:<44} {:>6.1} MB/s journal, raw write+fdatasync of the same {} B blocks {:.1} MB/s: {:.0}% of raw",
            "embedded journal (physical limit)",
            j.journal_bytes_per_s / 1e6,
            j.block_bytes,
            j.raw_bytes_per_s / 1e6,
            j.percent_of_raw
        )
    }
}

impl fmt::Display for PipeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<72} {:>12} {:>9} {:>8} {:>10} {:>9}  note",
            "measurement", "msg/s", "MiB/s", "vs raw", "CPU us/msg", "vs plain"
        )?;
        let percent = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{:.0}%", x * 100.0));
        for r in &self.rows {
            let cpu = r
                .cpu_us_per_message
                .map_or("-".to_owned(), |x| format!("{x:.2}"));
            writeln!(
                f,
                "{:<72} {:>12.0} {:>9.1} {:>8} {:>10} {:>9}  {}",
                r.name,
                r.messages_per_s,
                r.mib_per_s,
                percent(r.ratio_to_raw),
                cpu,
                percent(r.ratio_to_plaintext),
                r.note
            )?;
        }
        Ok(())
    }
}

/// `bench engine`'s report with the configuration it ran (the input's size is printed
/// in the title).
pub struct EngineTable<'a> {
    /// What was asked for.
    pub config: &'a EngineBenchConfig,
    /// What was measured.
    pub report: &'a EngineReport,
}

impl EngineReport {
    /// The report as `bench engine`'s table, with the `config` it ran.
    pub fn table<'a>(&'a self, config: &'a EngineBenchConfig) -> EngineTable<'a> {
        EngineTable {
            config,
            report: self,
        }
    }
}

impl fmt::Display for EngineTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (config, report) = (self.config, self.report);
        let p = report.parallelism;
        writeln!(
            f,
            "exactly bench engine: balances over {} transfers (~{:.0} B records), {} accounts, parallelism {p}, checkpoints every 1 s, median of {} rounds",
            config.transfers, report.record_bytes, config.accounts, report.rounds
        )?;
        for v in &report.variants {
            let rounds: Vec<String> = v
                .rounds_events_per_sec
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect();
            writeln!(
                f,
                "  {:<14} {:>10} events in {:>6.2} s = {:>9.0} events/s ({} checkpoints; rounds {})",
                v.variant,
                v.records,
                v.seconds,
                v.events_per_sec,
                v.checkpoints,
                rounds.join(", ")
            )?;
        }
        let (eo, alo, pass) = (
            report.exactly_once_per_sec,
            report.at_least_once_per_sec,
            report.pass_through_per_sec,
        );
        writeln!(
            f,
            "  medians: exactly-once {eo:.0}/s, at-least-once {alo:.0}/s, pass-through {pass:.0}/s"
        )?;
        writeln!(
            f,
            "  exactly-once / at-least-once = {:.1}%  (goal ≥ 90%); exactly-once / pass-through = {:.1}%",
            100.0 * report.eo_vs_alo,
            100.0 * eo / pass.max(1e-9)
        )?;
        writeln!(
            f,
            "  exactly-once with the idempotent sink: {:.0}/s = {:.1}% of at-least-once",
            report.exactly_once_idempotent_per_sec,
            100.0 * report.exactly_once_idempotent_per_sec / alo.max(1e-9)
        )?;
        let l = &report.limits;
        writeln!(
            f,
            "  limits on one core: read {:.0}/s ({:.0} MB/s of {} B), JSON parse {:.0}/s, hash-map aggregation {:.0}/s => bare job {:.0}/s",
            l.read_per_sec,
            l.read_bytes_per_sec / 1e6,
            l.input_bytes,
            l.parse_per_sec,
            l.aggregate_per_sec,
            l.bare_per_sec
        )?;
        writeln!(
            f,
            "  exactly-once / bare limit (one core) = {:.1}% (goal >= 50%); / bare limit x parallelism {p} = {:.1}%",
            100.0 * report.eo_vs_bare,
            100.0 * eo / (l.bare_per_sec * f64::from(p)).max(1e-9)
        )?;
        if let Some(r) = &report.recovery {
            writeln!(
                f,
                "  recovery after kill -9 with {} keys: log open {} ms, back to processing {} ms after restart (checkpoint {:?}; goal < 1000 ms)",
                r.keys, r.log_open_ms, r.back_to_processing_ms, r.restored_checkpoint
            )?;
        }
        Ok(())
    }
}
