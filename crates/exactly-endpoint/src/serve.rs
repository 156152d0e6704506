//! The endpoint serve loop: one endpoint process's whole life over any [`Store`].
//!
//! A session reads the positions its store committed, follows its input topic from
//! there ([`LogSource`]), dispatches whatever a previous session committed but did not
//! publish, then processes batches and dispatches the outbox until it is told to stop and
//! has caught up. Killed at any moment, running it again is the whole recovery.
//!
//! When the store connection is lost (the database restarted, the backend terminated,
//! the network cut), the session ends; the store is opened again with capped exponential
//! backoff and a bounded number of attempts ([`ReconnectPolicy`]), and a new session
//! starts from the committed positions, exactly like a restart. A connection lost
//! mid-batch left nothing of that batch (one transaction), and a lost `COMMIT` answer is
//! made safe by the inbox. Which open errors are worth retrying is the store's to say
//! ([`StoreOpener::is_transient`]); a lost connection during a session is
//! [`StoreError::Connection`].
//!
//! A transport that fails transiently (its server restarting: a [`SourceError`] or
//! [`crate::PublishError`] marked `transient`) ends the session the same way, under the
//! same bounded backoff, but keeps the store: the next session reopens the input at the
//! committed positions ([`SourceOpener`]) and dispatches the outbox again.
//!
//! # Example
//! ```no_run
//! use exactly_endpoint::serve::{open_store, ReconnectPolicy, ServeOptions, Server, StoreOpener};
//! use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, LogPublisher, StoreError};
//! # use exactly_endpoint::bank::{Accounts, CreditHandler};
//! use exactly_log::{Log, LogConfig};
//! use std::sync::Arc;
//!
//! struct Embedded;
//! impl StoreOpener for Embedded {
//!     type Store = EmbeddedStore;
//!     type Error = StoreError;
//!     fn open(&mut self) -> Result<EmbeddedStore, StoreError> {
//!         EmbeddedStore::open("/tmp/store", EmbeddedOptions::default())
//!     }
//!     fn is_transient(&self, _: &StoreError) -> bool {
//!         false
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ServeOptions::new(ReconnectPolicy::default());
//! let mut opener = Embedded;
//! let store = open_store(&options.reconnect, &mut opener, &mut ())?;
//! let input = Arc::new(Log::open_read_only(std::path::Path::new("/tmp/input"), LogConfig::default())?);
//! let own = Arc::new(Log::open(std::path::Path::new("/tmp/own"), LogConfig::default())?);
//! let handler = CreditHandler { local: Accounts::new("b", 100), batch_max: 64 };
//! let server = Server { input, topic: "credits".to_string(), options };
//! // Serve until the input is drained (`stop` says yes as soon as it is asked).
//! server.run(handler, store, &mut opener, &mut LogPublisher::new(own), &mut || true, &mut ())?;
//! # Ok(())
//! # }
//! ```

use crate::handler::Handler;
use crate::message::Position;
use crate::runtime::{Endpoint, EndpointConfig, EndpointError, Publisher};
use crate::store::{Store, StoreError};
use crate::transport::{LogSource, LostTail, Source, SourceError};
use exactly_core::SystemClock;
use exactly_log::Log;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

/// Limits of reconnecting after a lost store connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Consecutive failed sessions or connection attempts before giving up.
    pub attempts_max: u32,
    /// Delay before the first attempt; doubled after each failure.
    pub backoff_initial_ms: u64,
    /// Cap of the delay.
    pub backoff_max_ms: u64,
}

impl Default for ReconnectPolicy {
    /// 10 attempts, from 100 ms up to 5 s.
    fn default() -> Self {
        Self {
            attempts_max: 10,
            backoff_initial_ms: 100,
            backoff_max_ms: 5000,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt `attempt` (1-based): `initial · 2^(attempt-1)`, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = match 1u64.checked_shl(attempt.saturating_sub(1)) {
            Some(factor) => factor,
            // 2^64 and beyond: far past any cap, which `min` below applies.
            None => u64::MAX,
        };
        let ms = self
            .backoff_initial_ms
            .saturating_mul(factor)
            .min(self.backoff_max_ms);
        Duration::from_millis(ms)
    }
}

/// Opens an endpoint's store, again after a lost connection.
pub trait StoreOpener {
    /// The store opened.
    type Store: Store;
    /// Why opening failed.
    type Error: Error + Send + Sync + 'static;
    /// Opens (connects) the store.
    fn open(&mut self) -> Result<Self::Store, Self::Error>;
    /// Whether `error` is a lost or refused connection a new attempt may cure — not a bad
    /// argument, a refused statement or corruption.
    fn is_transient(&self, error: &Self::Error) -> bool;
}

/// What the serve loop reports on the way (the warnings of an operator).
pub trait ServeObserver {
    /// The input lost records past a committed position (see [`LostTail`]).
    fn lost_tail(&mut self, gap: &LostTail) {
        tracing::warn!("{gap}");
    }
    /// The store connection is lost; attempt `attempt` of `attempts_max` follows `delay`.
    fn reconnecting(&mut self, last: &str, delay: Duration, attempt: u32, attempts_max: u32) {
        tracing::warn!(
            "store connection lost ({last}); reconnecting in {} ms (attempt {attempt}/{attempts_max})",
            delay.as_millis()
        );
    }
    /// The transport failed transiently; a new session (attempt `attempt` of
    /// `attempts_max`) starts after `delay`.
    fn transport_lost(&mut self, last: &str, delay: Duration, attempt: u32, attempts_max: u32) {
        tracing::warn!(
            "transport failed ({last}); new session in {} ms (attempt {attempt}/{attempts_max})",
            delay.as_millis()
        );
    }
}

/// Reports through `tracing` only.
impl ServeObserver for () {}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError<E: Error + 'static> {
    /// Opening the store failed, not transiently.
    #[error(transparent)]
    Open(E),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Processing or dispatching failed.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The input failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The store connection (or the transport) stayed lost through every attempt.
    #[error("connection lost and {attempts} reconnection attempts failed; last: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure, with its causes.
        last: String,
    },
}

impl<E: Error + 'static> ServeError<E> {
    /// Whether this is a lost store connection (a new session may cure it).
    fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            Self::Store(StoreError::Connection { .. })
                | Self::Endpoint(EndpointError::Store(StoreError::Connection { .. }))
        )
    }

    /// Whether the transport (input or publisher) failed in a way a new session may cure.
    fn is_transport_lost(&self) -> bool {
        match self {
            Self::Source(error) => error.transient,
            Self::Endpoint(EndpointError::Publish(error)) => error.transient,
            _ => false,
        }
    }
}

/// How a [`Server`] runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Most deliveries per poll of the input.
    pub fetch_max: usize,
    /// How long one poll waits for input.
    pub poll_timeout: Duration,
    /// Reconnection limits.
    pub reconnect: ReconnectPolicy,
    /// The endpoint's configuration (dead-letter topic, dispatch batch).
    pub endpoint: EndpointConfig,
}

impl ServeOptions {
    /// 256 deliveries per poll, 50 ms polls, the default endpoint configuration.
    pub fn new(reconnect: ReconnectPolicy) -> Self {
        Self {
            fetch_max: 256,
            poll_timeout: Duration::from_millis(50),
            reconnect,
            endpoint: EndpointConfig::default(),
        }
    }
}

/// Opens the store; a transient failure (the database restarting while the endpoint
/// starts) is retried like a lost connection.
pub fn open_store<O: StoreOpener>(
    policy: &ReconnectPolicy,
    opener: &mut O,
    observer: &mut dyn ServeObserver,
) -> Result<O::Store, ServeError<O::Error>> {
    match opener.open() {
        Ok(store) => Ok(store),
        Err(error) if opener.is_transient(&error) => {
            reopen(policy, opener, observer, &mut 0, &chain_text(&error))
        }
        Err(error) => Err(ServeError::Open(error)),
    }
}

/// Opens the store again after a loss described by `last`, retrying transient failures
/// with backoff. `failures` counts consecutive failures (reset once a session recovered).
fn reopen<O: StoreOpener>(
    policy: &ReconnectPolicy,
    opener: &mut O,
    observer: &mut dyn ServeObserver,
    failures: &mut u32,
    last: &str,
) -> Result<O::Store, ServeError<O::Error>> {
    let mut last = last.to_string();
    loop {
        *failures += 1;
        if *failures > policy.attempts_max {
            tracing::error!(attempts = policy.attempts_max, last = %last, "giving up reconnecting");
            return Err(ServeError::GaveUp {
                attempts: policy.attempts_max,
                last,
            });
        }
        let delay = policy.delay(*failures);
        observer.reconnecting(&last, delay, *failures, policy.attempts_max);
        std::thread::sleep(delay);
        match opener.open() {
            Ok(store) => return Ok(store),
            Err(error) if opener.is_transient(&error) => last = chain_text(&error),
            Err(error) => return Err(ServeError::Open(error)),
        }
    }
}

/// The error and its causes on one line, `outer: cause: root`; a cause whose text the
/// previous link already contains is skipped.
pub fn chain_text(error: &(dyn Error + 'static)) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    let mut link = Some(error);
    while let Some(current) = link {
        let link_text = current.to_string();
        if previous.is_empty() || !previous.contains(&link_text) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&link_text);
        }
        previous = link_text;
        link = current.source();
    }
    text
}

/// Opens an endpoint's input at the positions its store committed, once per session.
pub trait SourceOpener {
    /// The input opened.
    type Source: Source;
    /// Opens the input resuming after `committed` (positions of other topics ignored).
    fn open(&mut self, committed: &[Position]) -> Result<Self::Source, SourceError>;
}

/// A topic of the embedded log as an endpoint's input.
pub struct LogInput {
    /// The log the topic is in (usually another process's, opened read-only).
    pub log: Arc<Log>,
    /// The topic.
    pub topic: String,
}

impl SourceOpener for LogInput {
    type Source = LogSource;
    fn open(&mut self, committed: &[Position]) -> Result<LogSource, SourceError> {
        LogSource::new(Arc::clone(&self.log), &self.topic, committed)
    }
}

/// One endpoint's serve loop over its input on the embedded log.
pub struct Server {
    /// The log the input topic is in (usually another process's, opened read-only).
    pub input: Arc<Log>,
    /// The input topic.
    pub topic: String,
    /// How to run.
    pub options: ServeOptions,
}

impl Server {
    /// Serves until `stop()` says so once the endpoint has caught up with its input (see
    /// [`SourceServer::run`]).
    pub fn run<H: Handler, O: StoreOpener>(
        &self,
        handler: H,
        store: O::Store,
        opener: &mut O,
        publisher: &mut dyn Publisher,
        stop: &mut dyn FnMut() -> bool,
        observer: &mut dyn ServeObserver,
    ) -> Result<(), ServeError<O::Error>> {
        let mut server = SourceServer {
            input: LogInput {
                log: Arc::clone(&self.input),
                topic: self.topic.clone(),
            },
            options: self.options.clone(),
        };
        server.run(handler, store, opener, publisher, stop, observer)
    }
}

/// One endpoint's serve loop over any input ([`SourceOpener`]).
pub struct SourceServer<I> {
    /// Opens the input at the committed positions.
    pub input: I,
    /// How to run.
    pub options: ServeOptions,
}

impl<I: SourceOpener> SourceServer<I> {
    /// Serves until `stop()` says so once the endpoint has caught up with its input. A lost
    /// store connection ends the session; the store is reopened (with backoff, bounded)
    /// and a new session starts from the committed positions, exactly like a restart. A
    /// transport that failed transiently ends the session too; the next one starts after
    /// the same backoff, on the same store.
    pub fn run<H: Handler, O: StoreOpener>(
        &mut self,
        handler: H,
        store: O::Store,
        opener: &mut O,
        publisher: &mut dyn Publisher,
        stop: &mut dyn FnMut() -> bool,
        observer: &mut dyn ServeObserver,
    ) -> Result<(), ServeError<O::Error>> {
        let config = self.options.endpoint.clone();
        let clock = Arc::new(SystemClock);
        let mut failures = 0u32;
        let mut endpoint = Endpoint::new(handler, store, config.clone(), clock.clone());
        loop {
            let error = match self.session(&mut endpoint, publisher, stop, observer, &mut failures)
            {
                Ok(()) => return Ok(()),
                Err(error) if error.is_connection_lost() || error.is_transport_lost() => error,
                Err(error) => return Err(error),
            };
            let policy = self.options.reconnect;
            if error.is_transport_lost() {
                pause_before_session(&policy, observer, &mut failures, &chain_text(&error))?;
                continue;
            }
            tracing::warn!(error = %error, "store connection lost; reconnecting");
            // The old store (and its dead connection) goes before a new one takes the lock.
            let (handler, old_store) = endpoint.into_parts();
            drop(old_store);
            let store = reopen(
                &policy,
                opener,
                observer,
                &mut failures,
                &chain_text(&error),
            )?;
            endpoint = Endpoint::new(handler, store, config.clone(), clock.clone());
        }
    }

    /// One session on one store connection: recovery (positions, outbox), then the loop.
    fn session<H: Handler, S: Store, E: Error + 'static>(
        &mut self,
        endpoint: &mut Endpoint<H, S>,
        publisher: &mut dyn Publisher,
        stop: &mut dyn FnMut() -> bool,
        observer: &mut dyn ServeObserver,
        failures: &mut u32,
    ) -> Result<(), ServeError<E>> {
        let positions = endpoint.store().positions()?;
        let mut source = self.input.open(&positions)?;
        for gap in source.lost_tails() {
            observer.lost_tail(gap);
        }
        // Whatever a previous session committed but did not dispatch goes out first.
        endpoint.dispatch(publisher)?;
        *failures = 0;
        loop {
            let batch = source.poll(self.options.fetch_max, self.options.poll_timeout)?;
            if batch.is_empty() {
                if stop() && source.caught_up()? {
                    endpoint.dispatch(publisher)?;
                    return Ok(());
                }
                continue;
            }
            endpoint.process(&batch)?;
            source.committed(&batch)?;
            endpoint.dispatch(publisher)?;
        }
    }
}

/// Waits before the next session after a transient transport failure described by
/// `last`; gives up after the policy's attempts (counted with store reconnections).
fn pause_before_session<E: Error + 'static>(
    policy: &ReconnectPolicy,
    observer: &mut dyn ServeObserver,
    failures: &mut u32,
    last: &str,
) -> Result<(), ServeError<E>> {
    *failures += 1;
    if *failures > policy.attempts_max {
        tracing::error!(attempts = policy.attempts_max, last = %last, "giving up on the transport");
        return Err(ServeError::GaveUp {
            attempts: policy.attempts_max,
            last: last.to_string(),
        });
    }
    let delay = policy.delay(*failures);
    observer.transport_lost(last, delay, *failures, policy.attempts_max);
    std::thread::sleep(delay);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_then_stays_at_the_cap() {
        let policy = ReconnectPolicy {
            attempts_max: 100,
            backoff_initial_ms: 100,
            backoff_max_ms: 1000,
        };
        let delays: Vec<u64> = (1..=6)
            .map(|a| policy.delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(200).as_millis(), 1000, "no overflow");
    }
}
