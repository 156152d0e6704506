//! Where one run of the two-endpoint bank keeps its things: the endpoints' [`Role`]s and
//! the [`Layout`] of the run's directory (the feed log, each endpoint's store and log, the
//! stop files, the error output), and each endpoint's PostgreSQL schema name.

use crate::bank::CREDITS_TOPIC;
use crate::testkit::TRANSFERS_TOPIC;
use std::path::{Path, PathBuf};

/// The two endpoints of the bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Debits transfers, sends credits.
    A,
    /// Applies credits.
    B,
}

/// A name that is neither `accounts-a` nor `accounts-b`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown endpoint {0:?}: accounts-a or accounts-b")]
pub struct UnknownRole(pub String);

impl Role {
    /// The role named `accounts-a` or `accounts-b`.
    pub fn parse(name: &str) -> Result<Self, UnknownRole> {
        match name {
            "accounts-a" => Ok(Self::A),
            "accounts-b" => Ok(Self::B),
            other => Err(UnknownRole(other.to_string())),
        }
    }

    /// `accounts-a` or `accounts-b`.
    pub fn name(self) -> &'static str {
        match self {
            Self::A => "accounts-a",
            Self::B => "accounts-b",
        }
    }

    /// `a` or `b`: the suffix of the role's directories and schema.
    pub fn letter(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
        }
    }
}

/// Where everything of one bank run lives under its directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    /// The bank's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The log the bank writes transfers to.
    pub fn feed_log(&self) -> PathBuf {
        self.root.join("feed")
    }
    /// An endpoint's embedded store.
    pub fn store_dir(&self, role: Role) -> PathBuf {
        self.root.join(role.letter()).join("store")
    }
    /// An endpoint's own log (its outgoing topics).
    pub fn log_dir(&self, role: Role) -> PathBuf {
        self.root.join(role.letter()).join("log")
    }
    /// Created by the bank when an endpoint may exit once it has caught up.
    pub fn stop_file(&self, role: Role) -> PathBuf {
        self.root.join(format!("stop-{}", role.letter()))
    }
    /// An endpoint's standard error, appended across restarts.
    pub fn stderr_file(&self, role: Role) -> PathBuf {
        self.root.join(format!("{}.stderr", role.name()))
    }
    /// The input (log directory, topic) of an endpoint: the feed for `accounts-a`, the
    /// credits `accounts-a` sends for `accounts-b`.
    pub fn input(&self, role: Role) -> (PathBuf, &'static str) {
        match role {
            Role::A => (self.feed_log(), TRANSFERS_TOPIC),
            Role::B => (self.log_dir(Role::A), CREDITS_TOPIC),
        }
    }
}

/// On a transport shared by many runs (NATS JetStream), the prefix of the topics `writer`
/// publishes in run `run`: `<run>.a.`, `<run>.b.`, and `<run>.feed.` for the feed (`None`).
/// Each endpoint's outgoing topics are its own, as its own log is on the embedded
/// transport.
pub fn transport_prefix(run: &str, writer: Option<Role>) -> String {
    match writer {
        Some(role) => format!("{run}.{}.", role.letter()),
        None => format!("{run}.feed."),
    }
}

/// On a shared transport, the input topic of `role` in run `run`: the feed's transfers for
/// `accounts-a`, the credits `accounts-a` sends for `accounts-b`.
pub fn transport_input(run: &str, role: Role) -> String {
    match role {
        Role::A => format!("{}{TRANSFERS_TOPIC}", transport_prefix(run, None)),
        Role::B => format!("{}{CREDITS_TOPIC}", transport_prefix(run, Some(Role::A))),
    }
}

/// The PostgreSQL schema of an endpoint: `<prefix>_a` or `<prefix>_b`.
pub fn schema_of(prefix: &str, role: Role) -> String {
    format!("{prefix}_{}", role.letter())
}
