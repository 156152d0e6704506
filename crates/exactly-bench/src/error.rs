//! The one error type of the benchmarks: what failed, with its cause.

/// Why a benchmark could not produce its figures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file-system operation on the scratch directory failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Net {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A component under measurement (log, pipe end, store, engine) returned an error.
    #[error("{what}: {source}")]
    Component {
        /// What was being done.
        what: &'static str,
        /// The component's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The benchmark's settings cannot be measured (for example zero rounds).
    #[error("invalid settings: {0}")]
    Settings(String),
    /// A run finished but its outcome is wrong (for example a pipe that lost a message),
    /// so its figure would be meaningless.
    #[error("check failed: {0}")]
    Check(String),
    /// A CPU quota could not be set: the bench needs a writable cgroup v1 `cpu`
    /// controller (`/sys/fs/cgroup/cpu`, as root).
    #[error(
        "cannot set a CPU quota at {path}: {source} (the bench gives each worker process an \
         equal CPU quota through a cgroup v1 cpu controller mounted at /sys/fs/cgroup/cpu; \
         run it as root on a machine where that is writable)"
    )]
    CpuQuota {
        /// The cgroup file or directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A measuring thread panicked.
    #[error("a measuring thread panicked")]
    ThreadPanicked,
}

/// Attaches "what was being done" to errors of the measured components.
pub(crate) trait Context<T> {
    /// Maps the error into [`BenchError::Component`].
    fn during(self, what: &'static str) -> Result<T, BenchError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn during(self, what: &'static str) -> Result<T, BenchError> {
        self.map_err(|source| BenchError::Component {
            what,
            source: Box::new(source),
        })
    }
}

/// An I/O error on `path`, logged (quiet by default) and typed.
pub(crate) fn io_error<'a>(
    what: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> BenchError + 'a {
    move |source| {
        tracing::warn!(path = %path.display(), error = %source, "{what}");
        BenchError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A socket error, typed.
pub(crate) fn net_error(what: &'static str) -> impl FnOnce(std::io::Error) -> BenchError {
    move |source| BenchError::Net { what, source }
}
