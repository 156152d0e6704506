//! One endpoint process of the bank (`exactly endpoint serve`, spawned by [`crate::bank`]):
//! reads its input topic from the positions its store committed, processes batches,
//! dispatches the outbox to its own log (or its own topics on NATS JetStream), and
//! returns once its stop file exists and it has caught up. Killed at any moment by the
//! bank; starting it again is the whole recovery.

use exactly_endpoint::bank::{Accounts, CreditHandler, DebitHandler, CREDITS_TOPIC};
use exactly_endpoint::bank_layout::{transport_input, transport_prefix, Layout, Role};
use exactly_endpoint::serve::{
    open_store, LogInput, ReconnectPolicy, ServeError, ServeObserver, ServeOptions, SourceOpener,
    SourceServer,
};
use exactly_endpoint::testkit::DEAD_LETTERS_TOPIC;
use exactly_endpoint::{EndpointConfig, LogPublisher, LostTail, Publisher, Store};
use exactly_log::{Log, LogConfig, OpenError, TopicError};
use exactly_nats::bank::{connect_patiently, ensure_topic, is_nats_address, wait_for_topic};
use exactly_nats::bank::{BankNatsError, PATIENCE};
use exactly_nats::{NatsEndpointInput, NatsError, NatsPublisher};
use exactly_postgres::{ChoiceOpener, OpenStoreError, StoreChoice};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often an endpoint looks for its input topic in another process's log.
const INPUT_POLL: Duration = Duration::from_millis(50);
/// How long one poll of the input waits.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// Deliveries fetched per poll, per message of a store transaction.
const FETCH_PER_BATCH_MESSAGE: usize = 4;

/// What carries the bank's messages between the endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Each endpoint's own embedded log in the bank's directory.
    Embedded,
    /// Topics on the NATS JetStream server(s) at this `nats://…` address.
    Nats(String),
}

/// A transport that is neither `embedded` nor a `nats://` address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be `embedded` or nats://host:port, not {0:?}")]
pub struct BadTransport(pub String);

impl Transport {
    /// `embedded` or a `nats://host:port[,…]` address.
    pub fn parse(text: &str) -> Result<Self, BadTransport> {
        match text {
            "embedded" => Ok(Self::Embedded),
            nats if is_nats_address(nats) => Ok(Self::Nats(nats.to_string())),
            other => Err(BadTransport(other.to_string())),
        }
    }

    /// The transport as [`Transport::parse`] reads it back.
    pub fn as_arg(&self) -> &str {
        match self {
            Self::Embedded => "embedded",
            Self::Nats(address) => address,
        }
    }
}

/// One endpoint of one bank run.
#[derive(Clone, Debug)]
pub struct EndpointServeConfig {
    /// Which endpoint.
    pub role: Role,
    /// The run's directory.
    pub layout: Layout,
    /// Where the endpoint keeps inbox, state and outbox.
    pub store: StoreChoice,
    /// Prefix of the PostgreSQL schemas (and of the topics on NATS).
    pub schema_prefix: String,
    /// What carries the messages.
    pub transport: Transport,
    /// Accounts per endpoint.
    pub accounts: u32,
    /// Messages per store transaction.
    pub batch: usize,
    /// Reconnection after a lost store connection or transport.
    pub reconnect: ReconnectPolicy,
}

/// Why an endpoint stopped before its stop file told it to.
#[derive(Debug, thiserror::Error)]
pub enum EndpointServeError {
    /// The store could not be opened, or serving failed for good (boxed: the serve loop's
    /// error is large, the others small).
    #[error(transparent)]
    Serve(Box<ServeError<OpenStoreError>>),
    /// The endpoint's own log could not be opened.
    #[error("opening {}", dir.display())]
    OpenLog {
        /// The log's directory.
        dir: PathBuf,
        /// Why.
        source: OpenError,
    },
    /// An outgoing topic could not be created.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The input topic did not appear in the other process's log in time.
    #[error("input topic {topic} did not appear in {} within {secs} s", dir.display(), secs = PATIENCE.as_secs())]
    InputMissing {
        /// The input topic.
        topic: String,
        /// The log it was expected in.
        dir: PathBuf,
    },
    /// A step on NATS failed.
    #[error(transparent)]
    Nats(#[from] BankNatsError),
    /// The input on NATS could not be set up.
    #[error(transparent)]
    NatsInput(#[from] NatsError),
}

/// The serve loop's warnings as `warning: …` lines on standard error: what an endpoint
/// process of the bank reports (the bank keeps each endpoint's standard error in a file
/// of the run's directory and quotes its last line when the endpoint keeps failing).
pub struct StderrWarnings;

impl ServeObserver for StderrWarnings {
    fn lost_tail(&mut self, gap: &LostTail) {
        eprintln!("warning: {gap}");
    }

    fn reconnecting(&mut self, last: &str, delay: Duration, attempt: u32, attempts_max: u32) {
        eprintln!(
            "warning: store connection lost ({last}); reconnecting in {} ms (attempt \
             {attempt}/{attempts_max})",
            delay.as_millis()
        );
    }

    fn transport_lost(&mut self, last: &str, delay: Duration, attempt: u32, attempts_max: u32) {
        eprintln!(
            "warning: transport failed ({last}); new session in {} ms (attempt \
             {attempt}/{attempts_max})",
            delay.as_millis()
        );
    }
}

impl From<ServeError<OpenStoreError>> for EndpointServeError {
    fn from(error: ServeError<OpenStoreError>) -> Self {
        Self::Serve(Box::new(error))
    }
}

/// Runs one endpoint until its stop file appears and it has caught up; reports lost
/// tails, reconnections and new sessions to `observer`.
pub fn serve_endpoint(
    config: &EndpointServeConfig,
    observer: &mut dyn ServeObserver,
) -> Result<(), EndpointServeError> {
    let mut opener = config
        .store
        .bank_opener(&config.layout, config.role, &config.schema_prefix);
    // The store first: a bad store fails fast, before waiting for the input.
    let store = open_store(&config.reconnect, &mut opener, observer)?;
    let options = ServeOptions {
        fetch_max: config.batch * FETCH_PER_BATCH_MESSAGE,
        poll_timeout: POLL_TIMEOUT,
        reconnect: config.reconnect,
        endpoint: EndpointConfig {
            dead_letter_topic: DEAD_LETTERS_TOPIC.to_string(),
            ..EndpointConfig::default()
        },
    };
    let session = Session {
        config,
        store,
        opener: &mut opener,
        observer,
    };
    match &config.transport {
        Transport::Nats(address) => session.on_nats(address, options),
        Transport::Embedded => session.on_logs(options),
    }
}

/// Everything an endpoint's run needs besides its input and publisher.
struct Session<'a> {
    config: &'a EndpointServeConfig,
    store: Box<dyn Store>,
    opener: &'a mut ChoiceOpener,
    observer: &'a mut dyn ServeObserver,
}

impl Session<'_> {
    /// Serves with the input in the other process's log and the outbox in the own log.
    fn on_logs(self, options: ServeOptions) -> Result<(), EndpointServeError> {
        let (layout, role) = (&self.config.layout, self.config.role);
        let own_dir = layout.log_dir(role);
        let own = Log::open(&own_dir, LogConfig::default()).map_err(|source| {
            EndpointServeError::OpenLog {
                dir: own_dir.clone(),
                source,
            }
        })?;
        let own = Arc::new(own);
        own.create_topic(DEAD_LETTERS_TOPIC, 1)?;
        if role == Role::A {
            own.create_topic(CREDITS_TOPIC, 1)?;
        }
        let (input_dir, topic) = layout.input(role);
        let server = SourceServer {
            input: LogInput {
                log: open_input(&input_dir, topic)?,
                topic: topic.to_string(),
            },
            options,
        };
        let mut publisher = LogPublisher::new(own);
        self.serve(server, &mut publisher)
    }

    /// Serves with input and outgoing topics on NATS JetStream: the input through the
    /// endpoint's durable consumer, the outbox through the tail protocol.
    fn on_nats(self, address: &str, options: ServeOptions) -> Result<(), EndpointServeError> {
        let (run, role) = (&self.config.schema_prefix, self.config.role);
        let log = connect_patiently(address)?;
        let prefix = transport_prefix(run, Some(role));
        ensure_topic(&log, &format!("{prefix}{DEAD_LETTERS_TOPIC}"))?;
        if role == Role::A {
            ensure_topic(&log, &format!("{prefix}{CREDITS_TOPIC}"))?;
        }
        let input = transport_input(run, role);
        wait_for_topic(&log, &input)?;
        let server = SourceServer {
            input: NatsEndpointInput::new(Arc::clone(&log), &input, role.name())?,
            options,
        };
        let mut publisher = NatsPublisher::new(log, role.name(), &prefix);
        self.serve(server, &mut publisher)
    }

    /// Runs the role's handler in `server` until the stop file appears and it caught up.
    fn serve<I: SourceOpener>(
        self,
        mut server: SourceServer<I>,
        publisher: &mut dyn Publisher,
    ) -> Result<(), EndpointServeError> {
        let config = self.config;
        let (a, b) = (
            Accounts::new("a", config.accounts),
            Accounts::new("b", config.accounts),
        );
        let stop_file = config.layout.stop_file(config.role);
        let mut stop = || stop_file.exists();
        let batch_max = config.batch;
        match config.role {
            Role::A => {
                let handler = DebitHandler {
                    local: a,
                    remote: b,
                    batch_max,
                };
                let (store, opener, observer) = (self.store, self.opener, self.observer);
                server.run(handler, store, opener, publisher, &mut stop, observer)?;
            }
            Role::B => {
                let handler = CreditHandler {
                    local: b,
                    batch_max,
                };
                let (store, opener, observer) = (self.store, self.opener, self.observer);
                server.run(handler, store, opener, publisher, &mut stop, observer)?;
            }
        }
        Ok(())
    }
}

/// Follows another process's log, waiting until `topic` exists there.
fn open_input(dir: &Path, topic: &str) -> Result<Arc<Log>, EndpointServeError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(log) = Log::open_read_only(dir, LogConfig::default()) {
            if log.partition_count(topic).is_some() {
                return Ok(Arc::new(log));
            }
        }
        if Instant::now() > deadline {
            return Err(EndpointServeError::InputMissing {
                topic: topic.to_string(),
                dir: dir.to_path_buf(),
            });
        }
        std::thread::sleep(INPUT_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_is_embedded_or_a_nats_address() {
        assert_eq!(Transport::parse("embedded"), Ok(Transport::Embedded));
        let nats = Transport::parse("nats://127.0.0.1:4222");
        assert_eq!(
            nats,
            Ok(Transport::Nats("nats://127.0.0.1:4222".to_string()))
        );
        assert_eq!(
            Transport::parse("kafka://x").map_err(|e| e.to_string()),
            Err("must be `embedded` or nats://host:port, not \"kafka://x\"".to_string())
        );
        assert_eq!(Transport::Embedded.as_arg(), "embedded");
    }
}
