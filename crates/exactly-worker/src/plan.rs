//! [`JobPlan`]: a distributed job laid out as tasks, and the names of everything a task
//! reads and writes (pure).
//!
//! A job is a chain of stages. Stage 0 has a task per input partition; every later stage
//! has a task per key group. Task `(s, u)` of a stage that is not the last writes its own
//! topic `<job>.<stage>.from<u>` with one partition per key group (a stream per writer:
//! every JetStream stream keeps a single writer, so the sink's tail protocol fences
//! zombies exactly, on every server version). Task `(s, g)` of a later stage reads
//! partition `g` of every upstream task's topic. The last stage writes the job's output
//! topic, task `g` only its partition `g` (its outputs are keyed by its stage key, so
//! they hash where its input did; `output_guard.rs` refuses anything else).
//!
//! Task ids number the tasks stage by stage, unit by unit, from 0.

use crate::spec::{JobSpec, SpecError};
use exactly_cluster::TaskId;

/// One task: a stage and a unit (an input partition for stage 0, else a key group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskPlan {
    /// Its id in the lease tables.
    pub task: TaskId,
    /// Its stage, 0 first.
    pub stage: u32,
    /// Its unit within the stage.
    pub unit: u32,
}

/// A job's tasks and topic names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobPlan {
    spec: JobSpec,
    stages: Vec<String>,
}

impl JobPlan {
    /// The plan of `spec` whose stages are named `stages` (upstream first): at least two
    /// (the first re-keys the input), names of `[a-z0-9-]`, all different.
    pub fn new(spec: &JobSpec, stages: Vec<String>) -> Result<Self, SpecError> {
        let bad = |reason: String| SpecError::BadStages {
            kind: spec.kind.clone(),
            reason,
        };
        if stages.len() < 2 {
            return Err(bad(format!(
                "{} stage(s); a distributed job has at least two (the first re-keys its input)",
                stages.len()
            )));
        }
        for (index, name) in stages.iter().enumerate() {
            let valid = !name.is_empty()
                && name.len() <= 16
                && (name.bytes())
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(bad(format!("stage name {name:?}: 1..=16 of [a-z0-9-]")));
            }
            if stages.iter().take(index).any(|earlier| earlier == name) {
                return Err(bad(format!("stage name {name:?} is used twice")));
            }
        }
        spec.validate()?;
        Ok(Self {
            spec: spec.clone(),
            stages,
        })
    }

    /// The job's specification.
    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// The stage names, upstream first.
    pub fn stages(&self) -> &[String] {
        &self.stages
    }

    /// The name of stage `stage`. Task plans come from this plan, so their stage exists;
    /// a stage number from elsewhere gets a name that says so instead of a panic.
    pub fn stage_name(&self, stage: u32) -> &str {
        (self.stages.get(stage as usize)).map_or("no-such-stage", String::as_str)
    }

    /// Tasks of stage `stage`.
    pub fn units(&self, stage: u32) -> u32 {
        if stage == 0 {
            self.spec.source_partitions
        } else {
            self.spec.key_groups
        }
    }

    /// Every task, in id order.
    pub fn tasks(&self) -> Vec<TaskPlan> {
        let mut tasks = Vec::new();
        for stage in 0..self.stage_count() {
            for unit in 0..self.units(stage) {
                let task = TaskId(tasks.len() as u32);
                tasks.push(TaskPlan { task, stage, unit });
            }
        }
        tasks
    }

    /// Every task id.
    pub fn task_ids(&self) -> Vec<TaskId> {
        self.tasks().iter().map(|t| t.task).collect()
    }

    /// The task with id `task`, if the job has one.
    pub fn task(&self, task: TaskId) -> Option<TaskPlan> {
        self.tasks().into_iter().find(|t| t.task == task)
    }

    /// Whether `stage` is the last.
    pub fn is_last(&self, stage: u32) -> bool {
        stage + 1 == self.stage_count()
    }

    /// The engine job that runs `task`: `<job>_<stage>_<unit>` (its checkpoints, journal
    /// and dead letters are its own).
    pub fn task_job_name(&self, task: &TaskPlan) -> String {
        format!(
            "{}_{}_{}",
            self.spec.name,
            self.stage_name(task.stage),
            task.unit
        )
    }

    /// The topic task `(stage, unit)` writes when `stage` is not the last.
    pub fn writer_topic(&self, stage: u32, unit: u32) -> String {
        format!("{}.{}.from{unit}", self.spec.name, self.stage_name(stage))
    }

    /// What `task` reads: (topic, partition) pairs, in the order of its input's
    /// partitions.
    pub fn inputs(&self, task: &TaskPlan) -> Vec<(String, u32)> {
        if task.stage == 0 {
            return vec![(self.spec.input.clone(), task.unit)];
        }
        let upstream = task.stage - 1;
        (0..self.units(upstream))
            .map(|writer| (self.writer_topic(upstream, writer), task.unit))
            .collect()
    }

    /// The topic `task` writes: its own, or the job's output for the last stage.
    pub fn output(&self, task: &TaskPlan) -> String {
        if self.is_last(task.stage) {
            self.spec.output.clone()
        } else {
            self.writer_topic(task.stage, task.unit)
        }
    }

    /// Every topic between stages.
    pub fn inner_topics(&self) -> Vec<String> {
        let mut topics = Vec::new();
        for stage in 0..self.stage_count() - 1 {
            for unit in 0..self.units(stage) {
                topics.push(self.writer_topic(stage, unit));
            }
        }
        topics
    }

    fn stage_count(&self) -> u32 {
        self.stages.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn plan(partitions: u32, groups: u32) -> JobPlan {
        let spec = JobSpec {
            name: "bank".into(),
            kind: "k".into(),
            input: "transfers".into(),
            output: "totals".into(),
            source_partitions: partitions,
            key_groups: groups,
            checkpoint_interval_ms: 1000,
            params: BTreeMap::new(),
        };
        let stages = ["route", "accounts", "branches"].map(String::from).to_vec();
        JobPlan::new(&spec, stages).expect("valid")
    }

    #[test]
    fn tasks_are_numbered_stage_by_stage_and_read_every_upstream_writer() {
        let plan = plan(3, 2);
        let tasks = plan.tasks();
        assert_eq!(tasks.len(), 3 + 2 + 2);
        assert_eq!(
            tasks[4],
            TaskPlan {
                task: TaskId(4),
                stage: 1,
                unit: 1
            }
        );
        assert_eq!(plan.inputs(&tasks[1]), vec![("transfers".to_string(), 1)]);
        assert_eq!(
            plan.inputs(&tasks[4]),
            vec![
                ("bank.route.from0".to_string(), 1),
                ("bank.route.from1".to_string(), 1),
                ("bank.route.from2".to_string(), 1)
            ]
        );
        assert_eq!(plan.output(&tasks[4]), "bank.accounts.from1");
        assert_eq!(plan.output(&tasks[6]), "totals");
        assert_eq!(plan.task_job_name(&tasks[6]), "bank_branches_1");
        assert_eq!(plan.inner_topics().len(), 5);
        assert_eq!(plan.task(TaskId(6)), Some(tasks[6]));
        assert_eq!(plan.task(TaskId(7)), None);
    }

    #[test]
    fn stages_must_be_two_or_more_distinct_names() {
        let spec = plan(1, 1).spec().clone();
        assert!(JobPlan::new(&spec, vec!["only".into()]).is_err());
        assert!(JobPlan::new(&spec, vec!["a".into(), "a".into()]).is_err());
        assert!(JobPlan::new(&spec, vec!["a".into(), "B".into()]).is_err());
    }
}
