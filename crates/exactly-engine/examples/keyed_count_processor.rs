//! A custom keyed job: a `PersistentTask` (Gearpump's `CountProcessor`, grown a little)
//! that keeps, per user, how many pages they viewed and how many distinct pages. The
//! engine keeps one state per key, checkpoints it with the job and restores it on the next
//! run, so a second run over more input continues from the checkpointed counts instead of
//! starting again or counting the first input twice.
//!
//! Run: `cargo run -p exactly-engine --example keyed_count_processor` (exits non-zero if a
//! user's last count differs from the count computed directly from the input).

use exactly_core::{Offset, Timestamp};
use exactly_engine::{
    log_topic, Guarantee, Job, JobStatus, PersistentTask, RunOptions, SourceRecord,
};
use exactly_log::{Isolation, Log, LogConfig, Record};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const USERS: u64 = 7;
const PAGES: u64 = 13;

/// What the task keeps per user (restored from checkpoints).
#[derive(Default, Serialize, Deserialize)]
struct ViewState {
    views: u64,
    pages: BTreeSet<String>,
}

/// What it emits per view: the user's running totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ViewSummary {
    views: u64,
    distinct_pages: u64,
}

#[derive(Clone)]
struct ViewCounter;

impl PersistentTask for ViewCounter {
    type Key = String;
    type In = (String, String); // (user, page)
    type State = ViewState;
    type Out = (String, ViewSummary);

    fn process(
        &mut self,
        user: &String,
        (_, page): (String, String),
        _: Timestamp,
        state: &mut ViewState,
        out: &mut Vec<(String, ViewSummary)>,
    ) {
        state.views += 1;
        state.pages.insert(page);
        out.push((
            user.clone(),
            ViewSummary {
                views: state.views,
                distinct_pages: state.pages.len() as u64,
            },
        ));
    }
}

fn job() -> Job {
    Job::new("page-views")
        .source(log_topic("views"))
        .try_flat_map(|record: SourceRecord| {
            // "user page": anything else is bad input (the run fails on it, nothing skipped).
            let text = std::str::from_utf8(&record.value).map_err(|e| e.to_string())?;
            let (user, page) = text.split_once(' ').ok_or("want \"user page\"")?;
            Ok::<_, String>([(user.to_string(), page.to_string())])
        })
        .key_by(|(user, _)| user.clone())
        .process(ViewCounter)
        .sink(log_topic("view-totals"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogConfig::default())?;
    log.create_topic("views", 3)?;
    let job = job();
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = 2;
    options.checkpoint_every_records = Some(100);

    let mut reference: BTreeMap<String, ViewState> = BTreeMap::new();
    for (run, views) in [(1, 600u64), (2, 400u64)] {
        append_views(&log, run * 10_000, views, &mut reference)?;
        // The status counts one run (the report's counts come from it).
        options.status = Arc::new(JobStatus::default());
        let report = job.run(&log, &options)?;
        println!("run {run}: {} records in", report.records_in);
        if report.records_in != views {
            return Err(format!(
                "run {run} read {} records, expected {views}",
                report.records_in
            )
            .into());
        }
    }

    let got = last_summaries(&log, "view-totals")?;
    let want: BTreeMap<String, ViewSummary> = reference
        .into_iter()
        .map(|(user, state)| {
            let summary = ViewSummary {
                views: state.views,
                distinct_pages: state.pages.len() as u64,
            };
            (user, summary)
        })
        .collect();
    if got != want {
        return Err(format!("job says {got:?}\nreference says {want:?}").into());
    }
    println!(
        "ok: {} users, counts restored across runs exactly",
        got.len()
    );
    Ok(())
}

/// Appends `count` deterministic views (routed by user, as a producer would) and counts
/// them into `reference`: the oracle the job's output is compared with.
fn append_views(
    log: &Log,
    first: u64,
    count: u64,
    reference: &mut BTreeMap<String, ViewState>,
) -> Result<(), Box<dyn std::error::Error>> {
    for n in first..first + count {
        let (user, page) = (
            format!("user-{}", n % USERS),
            format!("/page/{}", (n * 7) % PAGES),
        );
        let state = reference.entry(user.clone()).or_default();
        state.views += 1;
        state.pages.insert(page.clone());
        let partition = exactly_log::partition_for_key(user.as_bytes(), 3);
        let record = Record {
            timestamp: Timestamp(n as i64),
            key: Some(user.clone().into_bytes()),
            value: format!("{user} {page}").into_bytes(),
        };
        log.append("views", partition, &[record], None)?;
    }
    Ok(())
}

/// The last committed `{"key":user,"value":summary}` per user, read with read_committed.
fn last_summaries(
    log: &Log,
    topic: &str,
) -> Result<BTreeMap<String, ViewSummary>, Box<dyn std::error::Error>> {
    #[derive(Deserialize)]
    struct Output {
        key: String,
        value: ViewSummary,
    }
    let mut last = BTreeMap::new();
    let partitions = log.partition_count(topic).ok_or("no output topic")?;
    for partition in 0..partitions {
        let end = log.partition_info(topic, partition)?.last_stable_offset;
        let mut from = Offset(0);
        while from < end {
            let batch = log.read_with(topic, partition, from, 1_000, Isolation::ReadCommitted)?;
            for record in &batch.records {
                let output: Output = serde_json::from_slice(&record.value)?;
                last.insert(output.key, output.value);
            }
            from = batch.next_offset;
        }
    }
    Ok(last)
}
