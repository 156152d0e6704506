//! A job of `exactly-engine` whose input, outputs, dead letters, audit and journal are
//! topics on NATS JetStream, its checkpoints in a local state directory (or elsewhere,
//! such as PostgreSQL, set in its `RunOptions`).
//!
//! Every run writes under a new **epoch** (stamped on each message it publishes; a higher
//! one at a partition's tail fences an older instance). With local checkpoints the epoch
//! is a counter in the state directory ([`next_local_epoch`]), incremented by each run
//! while it holds the directory's lock ([`lock_state_dir`]: one instance per state
//! directory); a checkpoint store with epochs of its own (PostgreSQL) supplies them instead.

use crate::{NatsError, NatsInput, NatsLog, NatsOutput, TopicOptions};
use exactly_core::storage::{lock_directory, write_file_atomically};
use exactly_core::StdStorage;
use exactly_engine::{Job, RunError, RunOptions, RunReport};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The file in the state directory that holds the last epoch.
const EPOCH_FILE: &str = "nats-epoch";

/// Why a job on NATS could not run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum NatsJobError {
    /// A file of the state directory could not be created, read, written or locked.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done (`creating`, `locking`, `reading`, `writing`).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another instance holds the state directory.
    #[error(
        "{} is locked by another instance of the job; with local checkpoints one instance \
         runs at a time (use --checkpoints postgres://… to take over from another machine)",
        .0.display()
    )]
    Locked(PathBuf),
    /// The epoch file holds something else than an epoch.
    #[error("{} does not hold an epoch: {text:?}", path.display())]
    BadEpoch {
        /// The epoch file.
        path: PathBuf,
        /// What it holds.
        text: String,
        /// Why it does not parse.
        source: std::num::ParseIntError,
    },
    /// The server could not be reached.
    #[error("connecting to {address}")]
    Connect {
        /// The server address.
        address: String,
        /// Why.
        source: NatsError,
    },
    /// The input topic could not be opened.
    #[error("opening input topic {topic} on {address}")]
    Input {
        /// The input topic.
        topic: String,
        /// The server address.
        address: String,
        /// Why.
        source: NatsError,
    },
    /// The job failed.
    #[error("running {job} (epoch {epoch})")]
    Run {
        /// The job's name.
        job: String,
        /// The run's epoch.
        epoch: u64,
        /// Why (boxed: a run's error is large, every other result here small).
        source: Box<RunError>,
    },
}

/// The state directory of job `job` whose local state lives under `dir`.
pub fn state_dir(dir: &Path, job: &str) -> PathBuf {
    dir.join(".jobs").join(job)
}

/// Creates `state_dir` if it does not exist yet.
pub fn create_state_dir(state_dir: &Path) -> Result<(), NatsJobError> {
    std::fs::create_dir_all(state_dir).map_err(|source| NatsJobError::Io {
        what: "creating",
        path: state_dir.to_path_buf(),
        source,
    })
}

/// An exclusive lock on the state directory, held for the run (released when the
/// process ends, also by `kill -9`): a second instance with local checkpoints would write
/// the same checkpoint files.
pub fn lock_state_dir(state_dir: &Path) -> Result<File, NatsJobError> {
    let locked = lock_directory(state_dir).map_err(|source| NatsJobError::Io {
        what: "locking",
        path: state_dir.to_path_buf(),
        source,
    })?;
    locked.ok_or_else(|| NatsJobError::Locked(state_dir.to_path_buf()))
}

/// Increments the epoch counter in `<state_dir>/nats-epoch` (durably: written to a
/// temporary file, synced, renamed) and returns the new value. Call it holding
/// [`lock_state_dir`].
pub fn next_local_epoch(state_dir: &Path) -> Result<u64, NatsJobError> {
    let path = state_dir.join(EPOCH_FILE);
    let io = |what| {
        let path = path.clone();
        move |source| NatsJobError::Io { what, path, source }
    };
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(epoch) => epoch,
            Err(source) => {
                return Err(NatsJobError::BadEpoch {
                    path: path.clone(),
                    text,
                    source,
                })
            }
        },
        // The job never ran on NATS from this directory.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
        Err(error) => return Err(io("reading")(error)),
    };
    let epoch = previous + 1;
    write_file_atomically(&StdStorage, &path, epoch.to_string().as_bytes())
        .map_err(io("writing"))?;
    Ok(epoch)
}

/// Runs `job` on the NATS server(s) at `address` under `epoch`; the topics it creates
/// (outputs, dead letters, audit, journal) get `topic_options`.
pub fn run_job(
    job: &Job,
    address: &str,
    epoch: u64,
    options: &RunOptions,
    topic_options: &TopicOptions,
) -> Result<RunReport, NatsJobError> {
    let log = NatsLog::connect(address).map_err(|source| NatsJobError::Connect {
        address: address.to_string(),
        source,
    })?;
    let input =
        NatsInput::open(&log, job.source_topic()).map_err(|source| NatsJobError::Input {
            topic: job.source_topic().to_string(),
            address: address.to_string(),
            source,
        })?;
    let output = NatsOutput::new(&log, address, job.name(), epoch, topic_options.clone());
    job.run_with(&input, &output, options)
        .map_err(|source| NatsJobError::Run {
            job: job.name().to_string(),
            epoch,
            source: Box::new(source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_epochs_count_up_from_one_and_refuse_a_damaged_file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let state = state_dir(dir.path(), "balances");
        create_state_dir(&state).expect("created");
        let _lock = lock_state_dir(&state).expect("not locked yet");
        assert_eq!(next_local_epoch(&state).expect("first"), 1);
        assert_eq!(next_local_epoch(&state).expect("second"), 2);
        std::fs::write(state.join(EPOCH_FILE), "two").expect("written");
        assert!(matches!(
            next_local_epoch(&state),
            Err(NatsJobError::BadEpoch { .. })
        ));
    }
}
