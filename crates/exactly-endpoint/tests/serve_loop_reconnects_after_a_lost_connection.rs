//! The serve loop of `exactly_endpoint::serve` over a store whose connection is lost once
//! mid-run: the session ends, the store is opened again (after the reported backoff) and a
//! new session resumes from the committed positions — every transfer is debited once and
//! sends exactly one credit; a store error that is not a lost connection ends the loop.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_core::{Offset, Timestamp};
use exactly_endpoint::bank::{transfer_id, Accounts, DebitHandler, Transfer, CREDITS_TOPIC};
use exactly_endpoint::message::{decode_envelope, encode_envelope};
use exactly_endpoint::serve::{
    open_store, ReconnectPolicy, ServeError, ServeObserver, ServeOptions, Server, StoreOpener,
};
use exactly_endpoint::{
    Commit, EmbeddedOptions, EmbeddedStore, InboxStats, LogPublisher, MessageId, OutboxEntry,
    Outcome, Position, Prefetched, StateEntry, Store, StoreError,
};
use exactly_log::{Log, LogConfig, Record};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// An embedded store whose `transact` fails (before touching anything) on call `fail_at`.
struct Flaky {
    inner: EmbeddedStore,
    calls: u32,
    fail_at: Option<(u32, StoreError)>,
}

impl Store for Flaky {
    fn transact(
        &mut self,
        ids: &[MessageId],
        keys: &[Vec<u8>],
        plan: &mut dyn FnMut(Prefetched) -> Option<Commit>,
    ) -> Result<bool, StoreError> {
        self.calls += 1;
        if self
            .fail_at
            .as_ref()
            .is_some_and(|(at, _)| *at == self.calls)
        {
            if let Some((_, error)) = self.fail_at.take() {
                return Err(error);
            }
        }
        self.inner.transact(ids, keys, plan)
    }
    fn pending_outbox(&mut self, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.pending_outbox(max)
    }
    fn mark_dispatched(&mut self, upto_seq: u64) -> Result<(), StoreError> {
        self.inner.mark_dispatched(upto_seq)
    }
    fn positions(&mut self) -> Result<Vec<Position>, StoreError> {
        self.inner.positions()
    }
    fn state_entries(&mut self) -> Result<Vec<StateEntry>, StoreError> {
        self.inner.state_entries()
    }
    fn inbox_lookup(
        &mut self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, Outcome>, StoreError> {
        self.inner.inbox_lookup(ids)
    }
    fn inbox_stats(&mut self) -> Result<InboxStats, StoreError> {
        self.inner.inbox_stats()
    }
}

/// Opens the store; the first store it opens fails once with `first_failure`.
struct Opener {
    dir: PathBuf,
    opens: u32,
    first_failure: Option<StoreError>,
}

impl StoreOpener for Opener {
    type Store = Flaky;
    type Error = StoreError;
    fn open(&mut self) -> Result<Flaky, StoreError> {
        self.opens += 1;
        let inner = EmbeddedStore::open(&self.dir, EmbeddedOptions::default())?;
        Ok(Flaky {
            inner,
            calls: 0,
            fail_at: self.first_failure.take().map(|e| (3, e)),
        })
    }
    fn is_transient(&self, error: &StoreError) -> bool {
        matches!(error, StoreError::Connection { .. })
    }
}

#[derive(Default)]
struct Seen {
    reconnects: Vec<(u32, Duration)>,
}

impl ServeObserver for Seen {
    fn reconnecting(&mut self, _last: &str, delay: Duration, attempt: u32, _max: u32) {
        self.reconnects.push((attempt, delay));
    }
}

const TRANSFERS: u64 = 20;

fn input_log(dir: &std::path::Path) -> Arc<Log> {
    let log = Log::open(dir, LogConfig::default()).expect("open input");
    log.create_topic("transfers", 1).expect("create");
    for n in 0..TRANSFERS {
        let transfer = Transfer {
            from: format!("a-{}", n % 2),
            to: "b-0".into(),
            amount: 1,
        };
        let body = serde_json::to_vec(&transfer).expect("json");
        let record = Record {
            timestamp: Timestamp(0),
            key: None,
            value: encode_envelope(transfer_id(n), &body),
        };
        log.append("transfers", 0, &[record], None).expect("append");
    }
    Arc::new(log)
}

fn server(input: Arc<Log>) -> Server {
    let mut options = ServeOptions::new(ReconnectPolicy {
        attempts_max: 3,
        backoff_initial_ms: 1,
        backoff_max_ms: 4,
    });
    options.fetch_max = 4;
    options.poll_timeout = Duration::from_millis(5);
    Server {
        input,
        topic: "transfers".to_string(),
        options,
    }
}

fn handler() -> DebitHandler {
    DebitHandler {
        local: Accounts::new("a", 2),
        remote: Accounts::new("b", 1),
        batch_max: 2,
    }
}

#[test]
fn lost_connection_then_new_session_and_every_transfer_credited_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_log(&dir.path().join("input"));
    let own = Arc::new(Log::open(dir.path().join("own"), LogConfig::default()).expect("own"));
    own.create_topic(CREDITS_TOPIC, 1).expect("credits");
    own.create_topic("dead-letters", 1).expect("dead letters");
    let mut opener = Opener {
        dir: dir.path().join("store"),
        opens: 0,
        first_failure: Some(StoreError::Connection {
            reason: "backend terminated".into(),
        }),
    };
    let mut seen = Seen::default();
    let server = server(input);
    let store = open_store(&server.options.reconnect, &mut opener, &mut seen).expect("open");
    let mut publisher = LogPublisher::new(Arc::clone(&own));
    server
        .run(
            handler(),
            store,
            &mut opener,
            &mut publisher,
            &mut || true,
            &mut seen,
        )
        .expect("serve");

    assert_eq!(opener.opens, 2, "one reconnection");
    assert_eq!(seen.reconnects, [(1, Duration::from_millis(1))]);
    let credits = own
        .read(CREDITS_TOPIC, 0, Offset(0), 1000)
        .expect("read credits");
    let ids: HashSet<MessageId> = credits
        .iter()
        .map(|r| decode_envelope(&r.value).expect("envelope").0)
        .collect();
    assert_eq!(ids.len() as u64, TRANSFERS, "one credit per transfer");
    let expected: HashSet<MessageId> = (0..TRANSFERS).map(|n| transfer_id(n).derive(0)).collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_store_error_that_is_not_a_lost_connection_ends_the_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_log(&dir.path().join("input"));
    let own = Arc::new(Log::open(dir.path().join("own"), LogConfig::default()).expect("own"));
    own.create_topic(CREDITS_TOPIC, 1).expect("credits");
    own.create_topic("dead-letters", 1).expect("dead letters");
    let mut opener = Opener {
        dir: dir.path().join("store"),
        opens: 0,
        first_failure: Some(StoreError::Locked {
            what: "held elsewhere".into(),
        }),
    };
    let server = server(input);
    let store = open_store(&server.options.reconnect, &mut opener, &mut ()).expect("open");
    let mut publisher = LogPublisher::new(own);
    let result = server.run(
        handler(),
        store,
        &mut opener,
        &mut publisher,
        &mut || true,
        &mut (),
    );
    assert!(
        matches!(
            result,
            Err(ServeError::Endpoint(
                exactly_endpoint::EndpointError::Store(StoreError::Locked { .. })
            ))
        ),
        "{result:?}"
    );
    assert_eq!(opener.opens, 1, "no reconnection");
}
