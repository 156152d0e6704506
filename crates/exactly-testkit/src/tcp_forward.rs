//! [`TcpForwarder`]: a TCP port forwarder on plain threads, so that processes in network
//! namespaces ([`crate::Hosts`]) reach a service that listens on loopback only (the
//! machine's PostgreSQL on 127.0.0.1:5432) through the bridge's address, without
//! reconfiguring the service. Bounded: at most [`CONNECTIONS_MAX`] connections at once;
//! dropping it closes the listener and every connection and joins its threads.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Connections forwarded at once; more are accepted and closed at once (a test that
/// needs more has a leak).
pub const CONNECTIONS_MAX: usize = 64;

/// How long the accepting thread sleeps when nothing is waiting: the delay of a new
/// connection and of noticing a drop.
const ACCEPT_POLL_MS: u64 = 10;

/// How long connecting to the target may take before the client is closed.
const CONNECT_TIMEOUT_MS: u64 = 2_000;

/// Why a forwarder could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// Binding or configuring the listening socket failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running forwarder from `listen` to `target`.
pub struct TcpForwarder {
    local: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the accepting thread, the copying threads and the owner share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    accepted: AtomicU64,
    /// Both sockets of every live connection, by id, so a drop can shut them down.
    live: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    copiers: Mutex<Vec<JoinHandle<()>>>,
}

impl TcpForwarder {
    /// Listens on `listen` (port 0: any free port, see [`TcpForwarder::local_addr`]) and
    /// forwards every connection to `target`.
    pub fn start(listen: SocketAddr, target: SocketAddr) -> Result<Self, ForwardError> {
        let failed = |source| ForwardError::Listen {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).map_err(failed)?;
        // Non-blocking, so the accepting thread sees `stop` without a connection arriving.
        listener.set_nonblocking(true).map_err(failed)?;
        let local = listener.local_addr().map_err(failed)?;
        let shared = Arc::new(Shared::default());
        let for_acceptor = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || accept_loop(&listener, target, &for_acceptor));
        Ok(Self {
            local,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Connections accepted so far (forwarded or refused).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections being forwarded now.
    pub fn live(&self) -> usize {
        lock(&self.shared.live).len()
    }
}

impl Drop for TcpForwarder {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // The acceptor is gone, so no connection is added any more: shutting down the
        // live ones wakes their copiers, which then end.
        for (client, server) in lock(&self.shared.live).values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
        let copiers = std::mem::take(&mut *lock(&self.shared.copiers));
        for copier in copiers {
            let _ = copier.join();
        }
    }
}

/// A poisoned lock only means a copier panicked; the map is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                next_id += 1;
                forward(client, target, next_id, shared);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS));
            }
            // A connection reset before it was accepted, say: the next one may be fine.
            Err(_) => std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS)),
        }
    }
}

/// Connects `client` to `target` and starts the two copying threads; closes `client`
/// when the target cannot be reached or too many connections are live.
fn forward(client: TcpStream, target: SocketAddr, id: u64, shared: &Arc<Shared>) {
    let mut copiers = lock(&shared.copiers);
    copiers.retain(|copier| !copier.is_finished());
    if lock(&shared.live).len() >= CONNECTIONS_MAX {
        return; // dropping `client` closes it
    }
    let timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
    let Ok(server) = TcpStream::connect_timeout(&target, timeout) else {
        return;
    };
    // The accepted socket inherits non-blocking from the listener on some systems.
    if client.set_nonblocking(false).is_err() {
        return;
    }
    let (Ok(client2), Ok(server2), Ok(client3), Ok(server3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    lock(&shared.live).insert(id, (client3, server3));
    let done = Arc::new(AtomicBool::new(false));
    copiers.push(copier(client, server, id, Arc::clone(&done), shared));
    copiers.push(copier(server2, client2, id, done, shared));
}

/// Copies `from` to `to` until `from` ends, then half-closes `to`; the second of a
/// connection's two copiers to finish removes it from the live map.
fn copier(
    mut from: TcpStream,
    mut to: TcpStream,
    id: u64,
    other_done: Arc<AtomicBool>,
    shared: &Arc<Shared>,
) -> JoinHandle<()> {
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        match copy(&mut from, &mut to) {
            // An orderly end: pass the half-close on, the other direction may go on.
            Ok(()) => {
                let _ = to.shutdown(Shutdown::Write);
            }
            // A reset or a failed write: the other direction is over too.
            Err(_) => {
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
            }
        }
        if other_done.swap(true, Ordering::SeqCst) {
            lock(&shared.live).remove(&id);
        }
    })
}

fn copy(from: &mut TcpStream, to: &mut TcpStream) -> std::io::Result<()> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(
            buffer
                .get(..n)
                .expect("read returns at most the buffer's length"),
        )?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An echo service on loopback that answers each connection once, on its own thread.
    fn echo_once() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = [0u8; 5];
            stream.read_exact(&mut line).unwrap();
            stream.write_all(&line).unwrap();
        });
        (addr, server)
    }

    #[test]
    fn bytes_cross_both_ways_and_a_drop_closes_the_port() {
        let (target, server) = echo_once();
        let forwarder = TcpForwarder::start("127.0.0.1:0".parse().unwrap(), target).unwrap();
        let mut client = TcpStream::connect(forwarder.local_addr()).unwrap();
        client.write_all(b"hello").unwrap();
        let mut answer = [0u8; 5];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"hello");
        server.join().unwrap();
        assert_eq!(forwarder.accepted(), 1);

        // The live connection is shut down by the drop, which returns (threads joined).
        let listening = forwarder.local_addr();
        drop(forwarder);
        assert_eq!(client.read(&mut answer).unwrap_or(0), 0);
        assert!(TcpStream::connect(listening).is_err());
    }
}
