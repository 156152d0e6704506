//! Running a [`Pipeline`]: repartition topics created if missing, then a thread per stage,
//! each an ordinary [`Job::run`](crate::Job::run) with its own options.
//!
//! - Stage 0 runs with the caller's `follow`, `input_ended`, `stop` and start time.
//! - Every later stage follows its input until its upstream stage has returned
//!   ([`RunOptions::input_ended`]), then reads it to the end and stops. When a stage
//!   returns its last checkpoint is committed, so everything it wrote is visible to the
//!   next stage's read-committed reads before the next stage is told its input ended.
//!   Stopping the pipeline (the caller's `stop`) therefore stops stage 0 at a checkpoint,
//!   and each later stage after it has drained what its upstream committed.
//! - A stage that fails (or panics) stops every stage; the first failure is the
//!   pipeline's error, naming the stage.

use super::spec::{Pipeline, PipelineError, PipelineStage};
use crate::runtime::{default_state_dir, Checkpoints, JobStatus, RunError, RunOptions, RunReport};
use exactly_log::Log;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// One stage's run.
#[derive(Clone, Debug)]
pub struct StageReport {
    /// The stage.
    pub stage: String,
    /// Its job.
    pub job: String,
    /// Its run's report.
    pub report: RunReport,
    /// Its run's live figures, final.
    pub status: Arc<JobStatus>,
}

/// A pipeline's run: every stage's report, upstream first.
#[derive(Clone, Debug, Default)]
pub struct PipelineReport {
    /// Per stage.
    pub stages: Vec<StageReport>,
}

/// How a stage's thread ended.
enum Ended {
    Ran(Result<RunReport, RunError>),
    Panicked(String),
}

/// Per stage: its options and the flags the pipeline sets.
struct StageRun {
    options: RunOptions,
    /// Set when the upstream stage returned (`None` for stage 0).
    input_ended: Option<Arc<AtomicBool>>,
}

impl Pipeline {
    /// Runs every stage on `log` in its own thread until the pipeline is done: without
    /// `follow`, stage 0 stops at the end of its input and each later stage once its
    /// upstream stage stopped and it read its input to the end; with `follow`, until
    /// `options.stop` is set (then stage by stage, as above). Each stage resumes from its
    /// own newest checkpoint.
    ///
    /// `options` is a template: each stage runs with it but with its own state directory
    /// (`<log dir>/.jobs/<stage job>`), status and stop flag; only stage 0 uses the
    /// template's `stop` (set by the pipeline too when a stage fails), `follow`,
    /// `input_ended` and start time. Checkpoints must be in the state directories (a
    /// checkpoint store holds one job's).
    pub fn run(&self, log: &Log, options: &RunOptions) -> Result<PipelineReport, PipelineError> {
        if !matches!(options.checkpoints, Checkpoints::StateDir) {
            return Err(PipelineError::InvalidOptions(
                "a pipeline keeps its stages' checkpoints in their state directories".into(),
            ));
        }
        self.validate()?;
        self.create_repartition_topics(log)?;
        let runs: Vec<StageRun> = (0..self.stages.len())
            .map(|index| self.stage_run(log, options, index))
            .collect();
        let ended = self.run_stages(log, &runs);
        self.report(ended, &runs)
    }

    fn create_repartition_topics(&self, log: &Log) -> Result<(), PipelineError> {
        for topic in self.repartition_topics() {
            if log.partition_count(&topic).is_none() {
                (log.create_topic(&topic, self.repartition_partitions))
                    .map_err(|source| PipelineError::Topic { topic, source })?;
            }
        }
        Ok(())
    }

    fn stage_run(&self, log: &Log, template: &RunOptions, index: usize) -> StageRun {
        let mut options = template.clone();
        let job = self.stages.get(index).map_or("", |stage| stage.job.name());
        options.state_dir = default_state_dir(log, job);
        options.status = Arc::new(JobStatus::default());
        if index == 0 {
            return StageRun {
                options,
                input_ended: None,
            };
        }
        let input_ended = Arc::new(AtomicBool::new(false));
        options.stop = Arc::new(AtomicBool::new(false));
        options.follow = true;
        options.input_ended = Some(input_ended.clone());
        // A start time names a time of the pipeline's input, not of a repartition topic.
        options.start_from_time_ms = None;
        StageRun {
            options,
            input_ended: Some(input_ended),
        }
    }

    /// Runs the stages' threads; returns how each ended, in the order they ended.
    fn run_stages(&self, log: &Log, runs: &[StageRun]) -> Vec<(usize, Ended)> {
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::scope(|scope| {
            for (index, (stage, run)) in self.stages.iter().zip(runs).enumerate() {
                let done = done_tx.clone();
                let name = format!("stage-{}", stage.name);
                let body = move || {
                    let ended =
                        match catch_unwind(AssertUnwindSafe(|| stage.job.run(log, &run.options))) {
                            Ok(result) => Ended::Ran(result),
                            Err(panic) => Ended::Panicked(panic_message(panic.as_ref())),
                        };
                    let _ = done.send((index, ended));
                };
                if let Err(error) = std::thread::Builder::new()
                    .name(name)
                    .spawn_scoped(scope, body)
                {
                    let _ = done_tx.send((index, Ended::Panicked(format!("no thread: {error}"))));
                }
            }
            drop(done_tx);
            let mut ended = Vec::new();
            for (index, how) in done_rx {
                match &how {
                    Ended::Ran(Ok(_)) => {
                        // Its last checkpoint is committed: the next stage may drain and stop.
                        let next = runs.get(index + 1).and_then(|r| r.input_ended.as_ref());
                        next.inspect(|flag| flag.store(true, Ordering::SeqCst));
                    }
                    Ended::Ran(Err(_)) | Ended::Panicked(_) => {
                        runs.iter()
                            .for_each(|r| r.options.stop.store(true, Ordering::SeqCst));
                    }
                }
                ended.push((index, how));
            }
            ended
        })
    }

    /// The first failure, or every stage's report.
    fn report(
        &self,
        ended: Vec<(usize, Ended)>,
        runs: &[StageRun],
    ) -> Result<PipelineReport, PipelineError> {
        let mut reports: Vec<Option<RunReport>> = self.stages.iter().map(|_| None).collect();
        for (index, how) in ended {
            let Some(stage) = self.stages.get(index) else {
                continue;
            };
            match how {
                Ended::Ran(Ok(report)) => {
                    if let Some(slot) = reports.get_mut(index) {
                        *slot = Some(report);
                    }
                }
                Ended::Ran(Err(source)) => return Err(self.stage_error(stage, source)),
                Ended::Panicked(message) => return Err(self.panicked(stage, message)),
            }
        }
        let mut stages = Vec::new();
        for ((stage, report), run) in self.stages.iter().zip(reports).zip(runs) {
            let report = report.ok_or_else(|| self.panicked(stage, "it never reported".into()))?;
            stages.push(StageReport {
                stage: stage.name.clone(),
                job: stage.job.name().to_string(),
                report,
                status: run.options.status.clone(),
            });
        }
        Ok(PipelineReport { stages })
    }

    fn panicked(&self, stage: &PipelineStage, message: String) -> PipelineError {
        PipelineError::Panicked {
            pipeline: self.name.clone(),
            stage: stage.name.clone(),
            message,
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => text.to_string(),
        (_, Some(text)) => text.clone(),
        _ => "a panic without a message".into(),
    }
}
