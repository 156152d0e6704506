//! One whole run of `exactly endpoint bank`: the run's PostgreSQL lock and the clean-up of
//! schemas (or NATS topics) a killed run left behind, the endpoint processes fed, killed
//! and drained ([`crate::bank`]), the audit of both stores and of what accounts-a
//! published (`exactly_endpoint::bank_audit`), and the clean-up at the end whatever
//! happened.

use crate::bank::{self, BankError, BankProgress, BankRuns, Feed, FeedPlan, ServeOptions};
use crate::bank_serve::Transport;
use exactly_endpoint::bank::CREDITS_TOPIC;
use exactly_endpoint::bank_audit::{audit, read_outbox_topic, AuditError, BankAudit, Published};
use exactly_endpoint::bank_layout::{schema_of, transport_input, transport_prefix, Layout, Role};
use exactly_endpoint::testkit::{Workload, DEAD_LETTERS_TOPIC};
use exactly_endpoint::{Delivery, OutboxEntry};
use exactly_log::{Log, LogConfig, OpenError};
use exactly_nats::bank::{connect_patiently, delete_run_topics, read_outgoing};
use exactly_nats::bank::{BankNatsError, NatsFeed};
use exactly_nats::NatsLog;
use exactly_postgres::orphans::{drop_orphans, lock_run, OrphanError, RunLock};
use exactly_postgres::{OpenStoreError, StoreChoice};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Every bank schema prefix starts with this (the clean-up of killed runs looks for it).
pub const SCHEMA_PREFIX_START: &str = "exactly_bank_";

/// Longest schema prefix (PostgreSQL names are at most 63 bytes; `_a`, `_b` and the
/// endpoints' own suffixes must fit).
const SCHEMA_PREFIX_LEN_MAX: usize = 40;

/// A schema prefix that is not a safe, recognisable bank prefix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?}: want {SCHEMA_PREFIX_START}…, lower-case letters, digits and _, at most 40 characters"
)]
pub struct BadSchemaPrefix(pub String);

/// Checks a schema prefix: it starts with [`SCHEMA_PREFIX_START`] (the clean-up of killed
/// runs finds it by that), holds lower-case letters, digits and `_` only (no quoting
/// needed), and is at most 40 characters long.
pub fn check_schema_prefix(text: &str) -> Result<(), BadSchemaPrefix> {
    let plain = text
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    match text.starts_with(SCHEMA_PREFIX_START) && plain && text.len() <= SCHEMA_PREFIX_LEN_MAX {
        true => Ok(()),
        false => Err(BadSchemaPrefix(text.to_string())),
    }
}

/// The schema prefix of a run of this process with `seed` when none is given:
/// `exactly_bank_<pid>_<seed mod 10⁶>`.
pub fn default_schema_prefix(seed: u64) -> String {
    format!(
        "{SCHEMA_PREFIX_START}{}_{}",
        std::process::id(),
        seed % 1_000_000
    )
}

/// Bad messages mixed into `transfers` transfers when none is given: one per 500, at
/// least 3.
pub fn default_bad_messages(transfers: u64) -> u64 {
    (transfers / 500).max(3)
}

/// One run of the bank.
#[derive(Clone, Debug)]
pub struct BankRunConfig {
    /// The `exactly` binary (the endpoints are `exactly endpoint serve` processes).
    pub exe: PathBuf,
    /// Where the run keeps its logs, stores and stop files.
    pub layout: Layout,
    /// The endpoints' store.
    pub store: StoreChoice,
    /// What carries the transfers, credits and dead letters.
    pub transport: Transport,
    /// Prefix of the PostgreSQL schemas and of the topics on NATS; starts with
    /// [`SCHEMA_PREFIX_START`].
    pub schema_prefix: String,
    /// Accounts per endpoint.
    pub accounts: u32,
    /// Messages per store transaction.
    pub batch: usize,
    /// How the feeding and the kills go.
    pub plan: FeedPlan,
    /// Seed of the kill timing.
    pub seed: u64,
}

/// What a run reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BankEvent {
    /// The feeding or draining went on.
    Progress(BankProgress),
    /// The schemas `<prefix>_a`, `<prefix>_b` of a killed run were dropped.
    OrphansDropped(String),
    /// Something could not be cleaned up (the run goes on).
    Warning(String),
}

/// What a finished run found.
#[derive(Clone, Debug)]
pub struct BankOutcome {
    /// What the process management did (its `wall` time measured from the start of the
    /// feeding to the end of the audit).
    pub runs: BankRuns,
    /// What the audit found.
    pub audit: BankAudit,
}

impl BankOutcome {
    /// Whether every invariant holds and no endpoint failed.
    pub fn ok(&self) -> bool {
        self.audit.errors.is_empty() && self.runs.child_failures.is_empty()
    }
}

/// Why a run could not be carried to its audit.
#[derive(Debug, thiserror::Error)]
pub enum BankRunError {
    /// The PostgreSQL run lock or the clean-up of killed runs failed.
    #[error(transparent)]
    Orphans(#[from] OrphanError),
    /// A step on NATS failed.
    #[error(transparent)]
    Nats(#[from] BankNatsError),
    /// The endpoint processes could not be driven to the end.
    #[error(transparent)]
    Drive(#[from] BankError),
    /// A store could not be opened for the audit.
    #[error(transparent)]
    OpenStore(#[from] OpenStoreError),
    /// An endpoint's log could not be opened for the audit.
    #[error(transparent)]
    OpenLog(#[from] OpenError),
    /// The audit could not read what it checks.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Runs the bank on `workload` (its deliveries fed to accounts-a) and audits it; cleans up
/// the run's schemas and topics at the end, also when it failed.
pub fn run_bank(
    config: &BankRunConfig,
    mut workload: Workload,
    on_event: &mut dyn FnMut(BankEvent),
) -> Result<BankOutcome, BankRunError> {
    let prefix = &config.schema_prefix;
    let nats = match &config.transport {
        Transport::Nats(address) => {
            // The feed's topic carries the run's prefix: positions (and the ids of
            // records without an envelope) name it.
            workload = workload.on_source_topic(&transport_input(prefix, Role::A));
            // A prefix given again after a killed run: start from empty topics.
            delete_topics(address, prefix, on_event);
            Some(connect_patiently(address)?)
        }
        Transport::Embedded => None,
    };
    // Held until the run ends; the server releases it if this process is killed.
    let _run_lock = lock_and_drop_orphans(config, on_event)?;
    let started = Instant::now();
    let outcome = drive(config, &workload, nats.clone(), on_event).and_then(|runs| {
        let published = read_published(&config.layout, nats.as_deref(), prefix)?;
        let audit = audit_stores(config, &workload, &published)?;
        Ok(BankOutcome {
            runs: BankRuns {
                wall: started.elapsed(),
                ..runs
            },
            audit,
        })
    });
    // The schemas go whatever happened: a failed run must not leave tables behind.
    drop_schemas(&config.store, prefix, on_event);
    if let Transport::Nats(address) = &config.transport {
        delete_topics(address, prefix, on_event);
    }
    outcome
}

/// On PostgreSQL: takes the run lock, drops the schemas of killed runs, starts from empty
/// schemas of this run's prefix.
fn lock_and_drop_orphans(
    config: &BankRunConfig,
    on_event: &mut dyn FnMut(BankEvent),
) -> Result<Option<RunLock>, BankRunError> {
    let prefix = &config.schema_prefix;
    let mut lock = match &config.store {
        StoreChoice::Embedded => None,
        StoreChoice::Postgres(url) => {
            let lock = lock_run(url, prefix)?;
            for dropped in drop_orphans(url, SCHEMA_PREFIX_START)? {
                on_event(BankEvent::OrphansDropped(dropped));
            }
            Some(lock)
        }
    };
    // A prefix given again after a killed run: start from empty schemas.
    drop_schemas(&config.store, prefix, on_event);
    if let Some(lock) = lock.as_mut() {
        lock.create_schemas(prefix)?;
    }
    Ok(lock)
}

/// Drives the endpoint processes, feeding the transfers to the run's transport.
fn drive(
    config: &BankRunConfig,
    workload: &Workload,
    nats: Option<Arc<NatsLog>>,
    on_event: &mut dyn FnMut(BankEvent),
) -> Result<BankRuns, BankRunError> {
    let serve = ServeOptions {
        exe: config.exe.clone(),
        store: config.store.as_arg().to_string(),
        schema_prefix: config.schema_prefix.clone(),
        accounts: config.accounts,
        batch: config.batch,
        transport: config.transport.as_arg().to_string(),
    };
    let (layout, plan, seed) = (&config.layout, &config.plan, config.seed);
    let on_progress = |step| on_event(BankEvent::Progress(step));
    let runs = match nats {
        Some(log) => {
            let mut feed = NatsFeedOf(NatsFeed::new(log, &config.schema_prefix));
            bank::drive_with(layout, &serve, plan, workload, seed, &mut feed, on_progress)
        }
        None => bank::drive(layout, &serve, plan, workload, seed, on_progress),
    };
    Ok(runs?)
}

/// The feed on NATS JetStream as a [`Feed`].
struct NatsFeedOf(NatsFeed);

impl Feed for NatsFeedOf {
    fn create(&mut self) -> Result<(), BankError> {
        self.0.create().map_err(|e| BankError::Feed(e.into()))
    }

    fn append(&mut self, chunk: &[Delivery]) -> Result<(), BankError> {
        self.0.append(chunk).map_err(|e| BankError::Feed(e.into()))
    }
}

/// What the endpoints published: from their own logs, or from the run's topics on NATS.
fn read_published(
    layout: &Layout,
    nats: Option<&NatsLog>,
    run: &str,
) -> Result<Published, BankRunError> {
    let read = |role: Role, topic: &str| -> Result<Vec<OutboxEntry>, BankRunError> {
        match nats {
            None => {
                let log = Log::open_read_only(layout.log_dir(role), LogConfig::default())?;
                Ok(read_outbox_topic(&log, topic)?)
            }
            Some(log) => {
                let name = format!("{}{topic}", transport_prefix(run, Some(role)));
                Ok(read_outgoing(log, &name, topic)?)
            }
        }
    };
    Ok(Published {
        credits: read(Role::A, CREDITS_TOPIC)?,
        dead_letters_a: read(Role::A, DEAD_LETTERS_TOPIC)?,
        dead_letters_b: read(Role::B, DEAD_LETTERS_TOPIC)?,
        stored_once: nats.is_some(),
    })
}

/// Opens both stores and audits them with what was `published`.
fn audit_stores(
    config: &BankRunConfig,
    workload: &Workload,
    published: &Published,
) -> Result<BankAudit, BankRunError> {
    let open = |role| {
        let mut opener = config
            .store
            .bank_opener(&config.layout, role, &config.schema_prefix);
        exactly_endpoint::serve::StoreOpener::open(&mut opener)
    };
    let mut a = open(Role::A)?;
    let mut b = open(Role::B)?;
    Ok(audit(workload, &mut a, &mut b, published)?)
}

/// Drops the run's schemas on PostgreSQL; a failure is a warning.
fn drop_schemas(store: &StoreChoice, prefix: &str, on_event: &mut dyn FnMut(BankEvent)) {
    let StoreChoice::Postgres(url) = store else {
        return;
    };
    for role in [Role::A, Role::B] {
        if let Err(error) = exactly_postgres::drop_schema(url, &schema_of(prefix, role)) {
            on_event(BankEvent::Warning(format!(
                "could not drop schema of {}: {error}",
                role.name()
            )));
        }
    }
}

/// Deletes the run's topics on NATS; a failure is a warning.
fn delete_topics(address: &str, run: &str, on_event: &mut dyn FnMut(BankEvent)) {
    match delete_run_topics(address, run) {
        Ok(failed) => {
            for (name, error) in failed {
                on_event(BankEvent::Warning(format!(
                    "could not delete topic {name}: {error}"
                )));
            }
        }
        Err(error) => on_event(BankEvent::Warning(format!(
            "could not delete the topics of {run} on {address}: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_prefix_must_be_plain_and_start_with_the_bank_prefix() {
        assert_eq!(check_schema_prefix("exactly_bank_7_42"), Ok(()));
        for bad in [
            "public",
            "exactly_bank_X",
            "exactly_bank_a-b",
            &"exactly_bank_x".repeat(4),
        ] {
            assert_eq!(
                check_schema_prefix(bad),
                Err(BadSchemaPrefix(bad.to_string()))
            );
        }
        assert!(default_schema_prefix(1_234_567).ends_with("_234567"));
        assert_eq!(
            check_schema_prefix(&default_schema_prefix(u64::MAX)),
            Ok(())
        );
    }

    #[test]
    fn bad_messages_default_to_one_per_500_at_least_3() {
        assert_eq!(default_bad_messages(10), 3);
        assert_eq!(default_bad_messages(20_000), 40);
    }
}
