//! [`UdpSender`]: drives a [`DurableSender`] over a UDP socket until every message is
//! confirmed.

use super::clock::elapsed_ms;
use super::error::UdpError;
use super::faults::{is_transient, FaultConfig, Faults};
use super::security::{wall_clock_ms, SenderSecurity};
use super::sender_key::{self, Binding};
use crate::secure::{wire, InitiatorChannel, InitiatorConfig};
use crate::{frame, DurableSender, PipeMode, ResumeMismatch, SenderConfig, StateDirLock};
use exactly_core::StdStorage;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest datagram read (a 64 KiB payload plus the header fits).
pub(crate) const DATAGRAM_BYTES_MAX: usize = 65_536 + frame::HEADER_BYTES;
/// Datagrams handled per loop turn before committing (one fsync per batch).
pub(crate) const BATCH_MAX: usize = 512;

/// How a [`UdpSender`] runs.
#[derive(Clone, Debug)]
pub struct UdpSenderOptions {
    /// Receiver address (host:port).
    pub to: String,
    /// State directory (journal of unconfirmed messages; locked while in use).
    pub state: PathBuf,
    /// Pipe (must match the receiver's).
    pub pipe: PipeMode,
    /// Messages per second at most (0: as fast as the window allows).
    pub rate: u64,
    /// In-flight window (at least 1).
    pub window: u64,
    /// First resend timeout in ms (at least 1).
    pub resend_timeout_ms: u64,
    /// Faults injected into what the sender sends.
    pub faults: FaultConfig,
    /// A secure channel to the receiver, or plaintext.
    pub security: SenderSecurity,
}

impl UdpSenderOptions {
    /// Unpaced sending with a window of 256, a 20 ms first resend timeout and no faults,
    /// protected as `security` says.
    pub fn new(to: &str, state: &Path, pipe: PipeMode, security: SenderSecurity) -> Self {
        Self {
            to: to.to_string(),
            state: state.to_path_buf(),
            pipe,
            rate: 0,
            window: 256,
            resend_timeout_ms: 20,
            faults: FaultConfig::default(),
            security,
        }
    }

    /// [`UdpSenderOptions::new`] with plaintext frames (no secure channel).
    pub fn insecure(to: &str, state: &Path, pipe: PipeMode) -> Self {
        Self::new(to, state, pipe, SenderSecurity::Insecure)
    }
}

/// What a [`UdpSender::run`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendSummary {
    /// Messages of the input (all confirmed).
    pub sent: u64,
    /// Seq this run resumed at (messages before it were sent by earlier runs).
    pub resumed_at: u64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Resends.
    pub resends: u64,
    /// Messages confirmed.
    pub confirmed: u64,
    /// Frames dropped on purpose.
    pub injected_drops: u64,
    /// Duration of the run in ms.
    pub ms: u64,
}

/// A durable sender over UDP: its state directory locked and its journal open.
pub struct UdpSender {
    ds: DurableSender,
    options: UdpSenderOptions,
    start: Instant,
}

impl UdpSender {
    /// Locks and opens the state directory (creating it, with a new random sender id, if
    /// new). The id names this state directory — one *incarnation* of the sender — so a new
    /// directory starts a new sender even under the same key. With a secure channel the
    /// directory is bound to the key it was created with (`SENDER_KEY`), and opening it with
    /// another key is refused ([`UdpError::KeyMismatch`]).
    pub fn open(options: &UdpSenderOptions) -> Result<Self, UdpError> {
        let start = Instant::now();
        let mut config = SenderConfig::for_mode(options.pipe, rand::random::<u64>() | 1);
        config.in_flight_max = options.window.max(1);
        let key = match &options.security {
            SenderSecurity::Noise { local, .. } => Some(local.public()),
            SenderSecurity::Insecure => None,
        };
        if key.is_some() {
            config.payload_bytes_max = config.payload_bytes_max.min(wire::PAYLOAD_BYTES_MAX);
        }
        config.resend_timeout_ms = options.resend_timeout_ms.max(1);
        let lock = StateDirLock::acquire(&options.state)?;
        let binding = key
            .map(|key| sender_key::bind(&options.state, &key))
            .transpose()?;
        let ds = DurableSender::open(Arc::new(StdStorage), &options.state, config, 0)
            .map_err(|e| UdpError::open("sender", options.state.clone(), e))?
            .with_dir_lock(lock);
        if let (Some(key), Some(Binding::Unrecorded)) = (key, binding) {
            let state_sender_id = ds.sender().config().sender_id;
            sender_key::check_unrecorded(&options.state, &key, state_sender_id)?;
        }
        Ok(Self {
            ds,
            options: options.clone(),
            start,
        })
    }

    /// The seq the next run starts at: messages before it were accepted by earlier runs.
    pub fn next_seq(&self) -> u64 {
        self.ds.next_seq()
    }

    /// Checks that `messages` is the input the state already sent part of (it may be
    /// longer); see [`DurableSender::check_resume_input`].
    pub fn check_resume_input<T: AsRef<[u8]>>(&self, messages: &[T]) -> Result<(), ResumeMismatch> {
        self.ds.check_resume_input(messages)
    }

    /// Sends `messages` from [`Self::next_seq`] on until every one is confirmed.
    pub fn run<T: AsRef<[u8]>>(mut self, messages: &[T]) -> Result<SendSummary, UdpError> {
        let start = self.start;
        let options = &self.options;
        let ds = &mut self.ds;
        let resumed_at = ds.next_seq();
        let mut next = match usize::try_from(resumed_at) {
            Ok(next) => next,
            // Past usize is past any input held in memory: nothing is left to send (and
            // `check_resume_input` reports such an input as shorter than the state).
            Err(_) => messages.len(),
        };
        let socket = UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| UdpError::socket("binding the sender socket", e))?;
        socket
            .connect(&options.to)
            .map_err(|e| UdpError::socket(format!("connecting to {}", options.to), e))?;
        let mut faults = Faults::new(&options.faults);
        let mut channel = match &options.security {
            SenderSecurity::Noise { local, receiver } => {
                let mut config = InitiatorConfig::new(local.clone(), *receiver);
                config.clock_base_ms = wall_clock_ms();
                Some(InitiatorChannel::new(config)?)
            }
            SenderSecurity::Insecure => None,
        };
        let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
        let socket_setup = |e| UdpError::socket("setting up the sender socket", e);
        loop {
            let now = elapsed_ms(start);
            let allowed = paced_limit(options.rate, resumed_at, now, messages.len());
            while ds.can_send() && next < allowed {
                let Some(message) = messages.get(next) else {
                    break;
                };
                ds.send(message.as_ref())?;
                next += 1;
            }
            ds.commit(now)?;
            while let Some(f) = ds.poll_transmit() {
                match channel.as_mut() {
                    Some(channel) => channel.send_inner(now, &f),
                    None => put(&socket, &mut faults, &f)?,
                }
            }
            if let Some(channel) = channel.as_mut() {
                channel.handle_timeout(now);
                while let Some(f) = channel.poll_transmit() {
                    put(&socket, &mut faults, &f)?;
                }
            }
            if next >= messages.len() && ds.is_idle() {
                break;
            }
            let deadline = ds
                .poll_timeout()
                .into_iter()
                .chain(channel.as_ref().and_then(InitiatorChannel::poll_timeout))
                .min();
            let wait_ms = deadline.map_or(5, |t| t.saturating_sub(now)).clamp(1, 5);
            socket
                .set_read_timeout(Some(Duration::from_millis(wait_ms)))
                .map_err(socket_setup)?;
            for _ in 0..BATCH_MAX {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        let (now, bytes) = (elapsed_ms(start), received(&buf, n));
                        match channel.as_mut() {
                            Some(channel) => {
                                if let Some(inner) = channel.handle_datagram(now, bytes) {
                                    ds.handle_frame(now, &inner);
                                }
                            }
                            None => ds.handle_frame(now, bytes),
                        }
                    }
                    Err(e) if is_transient(&e) => break,
                    Err(e) => return Err(UdpError::socket("receiving acks", e)),
                }
                socket.set_nonblocking(true).map_err(socket_setup)?;
            }
            socket.set_nonblocking(false).map_err(socket_setup)?;
            ds.handle_timeout(elapsed_ms(start));
            while ds.poll_event()?.is_some() {}
        }
        ds.commit(elapsed_ms(start))?;
        let stats = ds.sender().stats();
        Ok(SendSummary {
            sent: messages.len() as u64,
            resumed_at,
            frames_sent: stats.frames_sent,
            resends: stats.resends,
            confirmed: stats.confirmed,
            injected_drops: faults.dropped,
            ms: elapsed_ms(start),
        })
    }
}

/// Sends one datagram (0, 1 or 2 copies, as the injected faults say).
fn put(socket: &UdpSocket, faults: &mut Faults, datagram: &[u8]) -> Result<(), UdpError> {
    for _ in 0..faults.copies() {
        if let Err(e) = socket.send(datagram) {
            if !is_transient(&e) {
                return Err(UdpError::socket("sending", e));
            }
        }
    }
    Ok(())
}

/// With a rate, how many messages may have been handed to the sender by `now_ms`.
fn paced_limit(rate: u64, resumed_at: u64, now_ms: u64, total: usize) -> usize {
    if rate == 0 {
        return total;
    }
    let allowed = resumed_at.saturating_add(rate.saturating_mul(now_ms) / 1000 + 1);
    match usize::try_from(allowed) {
        Ok(allowed) => allowed.min(total),
        // More than a usize can count is more than the input holds: all of it.
        Err(_) => total,
    }
}

/// The `n` bytes a `recv` put at the start of `buf`.
fn received(buf: &[u8], n: usize) -> &[u8] {
    // Invariant: a socket's `recv` returns at most the length of the buffer it was given.
    assert!(
        n <= buf.len(),
        "recv returned {n} bytes into a {}-byte buffer",
        buf.len()
    );
    #[allow(clippy::indexing_slicing)] // checked just above
    &buf[..n]
}
