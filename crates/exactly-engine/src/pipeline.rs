//! [`Pipeline`]: a job made of several keyed stages — Kafka Streams' sub-topologies —
//! that exchange data through **repartition topics** of the embedded log.
//!
//! ```text
//!  input ──► stage 0 ──► <pipeline>.<stage 0>.repartition ──► stage 1 ──► … ──► output
//!            (job <pipeline>_<stage 0>)                       (job <pipeline>_<stage 1>)
//! ```
//!
//! Each stage is a complete engine [`Job`] (built with the ordinary builder, re-keying as
//! it likes) with its own name, checkpoints and transactional sink. Stage *i* writes the
//! repartition topic that stage *i + 1* reads, read-committed. Every hop is exactly once
//! on its own (the upstream stage's outputs are committed with its checkpoint; the
//! downstream stage's positions in the topic are checkpointed with its state), so the
//! stages checkpoint independently: no barrier crosses a hop. The cost is latency: a
//! record crosses a hop when the upstream checkpoint commits, one checkpoint interval per
//! hop. See `docs/engine.md`, "Pipelines".
//!
//! The graph is a chain (a DAG in which every stage has one upstream): enough for
//! re-keying pipelines; fan-in and fan-out are not built.
//!
//! Running ([`Pipeline::run`], in `pipeline/run.rs`): a thread per stage in one process.

mod run;
mod spec;

use crate::job::{log_topic, Job, LogTopic};
use crate::runtime::RunError;
pub use run::{PipelineReport, StageReport};
pub use spec::{
    repartition_topic, stage_job_name, Pipeline, PipelineBuilder, PipelineError, PipelineStage,
    StageTopics, REPARTITION_PARTITIONS_DEFAULT,
};

impl Pipeline {
    /// Starts pipeline `name` from `input` to `output`. Its stages' jobs are named
    /// [`stage_job_name`]`(name, stage)`: the pipeline's name is their identity.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: &str, input: LogTopic, output: LogTopic) -> PipelineBuilder {
        PipelineBuilder {
            name: name.to_string(),
            input: input.name,
            output: output.name,
            repartition_partitions: REPARTITION_PARTITIONS_DEFAULT,
            stages: Vec::new(),
        }
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its stages, upstream first.
    pub fn stages(&self) -> &[PipelineStage] {
        &self.stages
    }

    /// Partitions a missing repartition topic is created with.
    pub fn repartition_partitions(&self) -> u32 {
        self.repartition_partitions
    }

    /// The repartition topics, upstream first (one fewer than the stages).
    pub fn repartition_topics(&self) -> Vec<String> {
        let inner = self.stages.len().saturating_sub(1);
        (self.stages.iter().take(inner))
            .map(|stage| stage.job.sink_topic().to_string())
            .collect()
    }

    /// What the pipeline writes on the embedded log: every stage's write scope.
    pub fn write_scope(&self) -> exactly_log::WriteScope {
        let topics: Vec<String> = (self.stages.iter())
            .flat_map(|stage| {
                stage
                    .job
                    .write_scope()
                    .owned()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        exactly_log::WriteScope::topics(topics).with_transactions()
    }

    /// Checks every stage's job ([`Job::validate`]) without a log.
    pub fn validate(&self) -> Result<(), PipelineError> {
        for stage in &self.stages {
            stage
                .job
                .validate()
                .map_err(|source| self.stage_error(stage, source))?;
        }
        Ok(())
    }

    fn stage_error(&self, stage: &PipelineStage, source: RunError) -> PipelineError {
        PipelineError::Stage {
            pipeline: self.name.clone(),
            stage: stage.name.clone(),
            job: stage.job.name().to_string(),
            source: Box::new(source),
        }
    }
}

impl PipelineBuilder {
    /// Creates missing repartition topics with `partitions` partitions (default
    /// [`REPARTITION_PARTITIONS_DEFAULT`]; an existing topic keeps its count).
    pub fn repartition_partitions(mut self, partitions: u32) -> Self {
        self.repartition_partitions = partitions;
        self
    }

    /// Appends stage `name`, whose job `build` makes from the topics it must read and
    /// write (called by [`build`](Self::build), once the next stage is known).
    pub fn stage(mut self, name: &str, build: impl FnOnce(&StageTopics) -> Job + 'static) -> Self {
        self.stages.push((name.to_string(), Box::new(build)));
        self
    }

    /// The pipeline: names checked, every stage's job built and named.
    pub fn build(self) -> Result<Pipeline, PipelineError> {
        check_name("pipeline", &self.name)?;
        if self.stages.is_empty() {
            return Err(PipelineError::NoStages(self.name));
        }
        for (index, (stage, _)) in self.stages.iter().enumerate() {
            check_name("stage", stage)?;
            if self
                .stages
                .iter()
                .take(index)
                .any(|(earlier, _)| earlier == stage)
            {
                return Err(PipelineError::InvalidName {
                    what: "stage",
                    name: stage.clone(),
                    reason: "two stages have this name".into(),
                });
            }
        }
        let last = self.stages.len() - 1;
        let mut input = self.input.clone();
        let mut stages = Vec::new();
        for (index, (name, build)) in self.stages.into_iter().enumerate() {
            let output = match index == last {
                true => self.output.clone(),
                false => repartition_topic(&self.name, &name),
            };
            let topics = StageTopics {
                input: log_topic(&input),
                output: log_topic(&output),
            };
            let job = build(&topics).named(&stage_job_name(&self.name, &name));
            if job.source_topic() != input || job.sink_topic() != output {
                return Err(PipelineError::StageTopics {
                    pipeline: self.name.clone(),
                    stage: name,
                    found: topics_text(job.source_topic(), job.sink_topic()),
                    expected: topics_text(&input, &output),
                });
            }
            stages.push(PipelineStage { name, job });
            input = output;
        }
        Ok(Pipeline {
            name: self.name,
            stages,
            repartition_partitions: self.repartition_partitions,
        })
    }
}

fn topics_text(input: &str, output: &str) -> String {
    format!("reads {input:?} and writes {output:?}")
}

/// Pipeline and stage names: `[A-Za-z0-9-]+` (no `_`: it joins them in job names; no `.`:
/// it joins them in topic names).
fn check_name(what: &'static str, name: &str) -> Result<(), PipelineError> {
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match valid {
        true => Ok(()),
        false => Err(PipelineError::InvalidName {
            what,
            name: name.to_string(),
            reason: "only A-Z a-z 0-9 - are allowed (at least one)".into(),
        }),
    }
}
