//! [`StoreLink`]: a job's lease store on a thread of its own, so that a slow or
//! unreachable PostgreSQL never delays the worker's clock-driven decisions (self-fencing
//! must happen on time whatever the store does).
//!
//! Requests go in with the time they were sent; answers come back tagged with their
//! request id. A request that waited longer than `stale_after` before the thread got to
//! it is dropped: the worker core gave up on it already (it retries with a new id), and a
//! backlog of stale requests would only delay the fresh ones. A failed request (lost
//! connection, the server refusing) is logged and not answered — to the core it is a lost
//! message, which its protocol tolerates.

use exactly_cluster::{Request, RequestId, Response};
use exactly_postgres::{PgLeaseConfig, PgLeaseStore};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

/// A request on its way to the store thread.
struct Outgoing {
    id: RequestId,
    request: Request,
    sent: Instant,
}

/// The worker's side of a job's store thread.
pub struct StoreLink {
    requests: Sender<Outgoing>,
    answers: Receiver<(RequestId, Response)>,
}

impl StoreLink {
    /// Starts the thread for the store `config` describes. It connects on its first
    /// request (and again after failures) and ends when the link is dropped.
    pub fn spawn(config: PgLeaseConfig, stale_after: Duration) -> std::io::Result<Self> {
        let (requests, inbox) = mpsc::channel::<Outgoing>();
        let (outbox, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("lease-store-{}", config.job))
            .spawn(move || serve_requests(config, stale_after, inbox, outbox))?;
        Ok(Self { requests, answers })
    }

    /// Sends `request` (never blocks). A link whose thread is gone drops it: the core
    /// sees a lost message.
    pub fn send(&self, id: RequestId, request: Request) {
        let sent = Instant::now();
        let _ = self.requests.send(Outgoing { id, request, sent });
    }

    /// The next answer, if one has arrived.
    pub fn try_answer(&self) -> Option<(RequestId, Response)> {
        self.answers.try_recv().ok()
    }
}

fn serve_requests(
    config: PgLeaseConfig,
    stale_after: Duration,
    inbox: Receiver<Outgoing>,
    outbox: Sender<(RequestId, Response)>,
) {
    let location = exactly_postgres_location(&config);
    let mut store: Option<PgLeaseStore> = None;
    while let Ok(outgoing) = inbox.recv() {
        if outgoing.sent.elapsed() > stale_after {
            continue;
        }
        if store.is_none() {
            match PgLeaseStore::connect(&config) {
                Ok(connected) => store = Some(connected),
                Err(error) => {
                    tracing::warn!(%location, %error, "lease store: cannot connect");
                    continue;
                }
            }
        }
        let Some(connected) = store.as_mut() else {
            continue;
        };
        match connected.serve(&outgoing.request) {
            Ok(response) => {
                if outbox.send((outgoing.id, response)).is_err() {
                    return; // The worker dropped the link.
                }
            }
            Err(error) => {
                tracing::warn!(%location, %error, "lease store: request failed");
                if error.is_transient() {
                    store = None; // Reconnect on the next request.
                }
            }
        }
    }
}

/// Database, schema and job — never the URL, which may hold a password.
fn exactly_postgres_location(config: &PgLeaseConfig) -> String {
    format!(
        "{} job {}",
        crate::catalog::location(&config.url, &config.schema),
        config.job
    )
}
