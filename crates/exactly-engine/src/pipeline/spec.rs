//! The pipeline's types — [`Pipeline`], its stages, its builder, its errors — and the
//! names it gives topics and jobs. Kept apart from the builder's and the runner's code
//! (`pipeline.rs`, `pipeline/run.rs`) so that both depend on this file, not on each other.

use crate::job::{Job, LogTopic};
use crate::runtime::RunError;

/// Partitions of a repartition topic created by a pipeline, unless set otherwise.
pub const REPARTITION_PARTITIONS_DEFAULT: u32 = 4;

/// The repartition topic stage `stage` of pipeline `pipeline` writes (and the next stage
/// reads): `<pipeline>.<stage>.repartition`.
pub fn repartition_topic(pipeline: &str, stage: &str) -> String {
    format!("{pipeline}.{stage}.repartition")
}

/// The job name of stage `stage` of pipeline `pipeline`: `<pipeline>_<stage>`. Pipeline
/// and stage names have no `_`, so the name tells both apart.
pub fn stage_job_name(pipeline: &str, stage: &str) -> String {
    format!("{pipeline}_{stage}")
}

/// Why a pipeline cannot be built or did not run to its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A pipeline or stage name is not `[A-Za-z0-9-]+`, or two stages share a name.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// `pipeline` or `stage`.
        what: &'static str,
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The pipeline has no stage.
    #[error("pipeline {0:?} has no stage")]
    NoStages(String),
    /// A stage's job does not read or write the topics the pipeline gave it.
    #[error("stage {stage:?} of pipeline {pipeline:?} {found}; it must {expected}")]
    StageTopics {
        /// The pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
        /// What its job reads and writes.
        found: String,
        /// What it must read and write.
        expected: String,
    },
    /// Options a pipeline cannot run with.
    #[error("invalid pipeline options: {0}")]
    InvalidOptions(String),
    /// A repartition topic could not be created.
    #[error("creating the repartition topic {topic:?}: {source}")]
    Topic {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: exactly_log::TopicError,
    },
    /// A stage failed (the first one to fail; the others were stopped).
    #[error("stage {stage:?} of pipeline {pipeline:?} (job {job:?}) failed: {source}")]
    Stage {
        /// The pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
        /// Its job.
        job: String,
        /// Why (boxed: a run error is large, and rare here).
        #[source]
        source: Box<RunError>,
    },
    /// A stage's thread panicked (the others were stopped).
    #[error("stage {stage:?} of pipeline {pipeline:?} panicked: {message}")]
    Panicked {
        /// The pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
        /// The panic's message.
        message: String,
    },
}

/// The topics a stage's job must read and write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageTopics {
    /// The pipeline's input (first stage) or the upstream stage's repartition topic.
    pub input: LogTopic,
    /// This stage's repartition topic, or the pipeline's output (last stage).
    pub output: LogTopic,
}

/// One stage: its name and its job (named [`stage_job_name`]).
#[derive(Debug)]
pub struct PipelineStage {
    pub(super) name: String,
    pub(super) job: Job,
}

impl PipelineStage {
    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stage's job.
    pub fn job(&self) -> &Job {
        &self.job
    }
}

/// A chain of stages, each an exactly-once job, joined by repartition topics.
#[derive(Debug)]
pub struct Pipeline {
    pub(super) name: String,
    pub(super) stages: Vec<PipelineStage>,
    pub(super) repartition_partitions: u32,
}

pub(super) type BuildStage = Box<dyn FnOnce(&StageTopics) -> Job>;

/// A pipeline under construction.
pub struct PipelineBuilder {
    pub(super) name: String,
    pub(super) input: String,
    pub(super) output: String,
    pub(super) repartition_partitions: u32,
    pub(super) stages: Vec<(String, BuildStage)>,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stages: Vec<&str> = self.stages.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field("stages", &stages)
            .finish()
    }
}
