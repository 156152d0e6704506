//! `--checkpoints postgres://…` of `exactly run <job>`, `run status` and `run check`: where
//! a job's checkpoints live. The default is the log's state directory
//! (`<dir>/.jobs/<job>/checkpoints`); with a PostgreSQL URL they are rows of
//! [`PostgresCheckpointStore`] (one transaction per checkpoint, fenced by an epoch that
//! every run claims anew), so the job can be restarted on another machine.

use anyhow::Context;
use clap::Args;
use exactly_engine::{Checkpoints, RunOptions};
use exactly_postgres::checkpoint_report::checkpoint_report;
use exactly_postgres::{PgCheckpointConfig, PostgresCheckpointStore};
use std::sync::Arc;

/// Where a job's checkpoints are stored.
#[derive(Args, Debug, Clone)]
pub struct CheckpointArgs {
    /// Store checkpoints in PostgreSQL (`postgres://user@host/db` or `host=… dbname=…`)
    /// instead of the log's state directory (the default).
    #[arg(long, value_name = "URL")]
    checkpoints: Option<String>,
    /// Schema of the checkpoint tables in PostgreSQL (created if missing).
    #[arg(long, default_value = "exactly_checkpoints")]
    checkpoint_schema: String,
    /// States longer than this are stored as content-addressed blobs (PostgreSQL).
    #[arg(long, default_value_t = 64 * 1024, hide = true)]
    checkpoint_inline_bytes_max: usize,
}

impl CheckpointArgs {
    fn config(&self, url: &str, job: &str, keep: usize) -> PgCheckpointConfig {
        let mut config = PgCheckpointConfig::new(url, &self.checkpoint_schema, job);
        config.keep = keep;
        config.inline_bytes_max = self.checkpoint_inline_bytes_max;
        config
    }

    /// Points `options` at the PostgreSQL store when one was given: connects and claims
    /// the next epoch, fencing any earlier run of the job. Returns that epoch (`None`: the
    /// default store, which has none).
    pub fn apply(&self, job: &str, options: &mut RunOptions) -> anyhow::Result<Option<u64>> {
        let Some(url) = &self.checkpoints else {
            return Ok(None);
        };
        let config = self.config(url, job, options.checkpoints_kept);
        let store = PostgresCheckpointStore::connect(&config)
            .with_context(|| format!("opening the checkpoints of {job} in PostgreSQL"))?;
        let epoch = store.epoch();
        options.checkpoints = Checkpoints::Store(Arc::new(store));
        Ok(Some(epoch))
    }

    /// The job's checkpoints in PostgreSQL as JSON, the newest one loaded and checked
    /// (body checksum, blob digests); `None` with the default store.
    pub fn report(&self, job: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let Some(url) = &self.checkpoints else {
            return Ok(None);
        };
        let report = checkpoint_report(&self.config(url, job, 1))?;
        // Through a `Value`: the keys print sorted, as they always have.
        Ok(Some(serde_json::to_value(report)?))
    }
}
