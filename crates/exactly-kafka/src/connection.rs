//! One client connection: the TLS handshake and SASL authentication when they are on
//! (within `handshake_timeout_ms`), then size-prefixed frames (each size checked before
//! the frame is allocated, each frame complete within `frame_timeout_ms`), up to
//! `in_flight_per_connection_max` requests handled at once, and the responses written
//! back in request order, as the protocol requires.

use crate::broker::Broker;
use crate::dispatch::{self, DispatchError};
use crate::frame::{frame_len, FrameError};
use crate::security::sasl::{Authenticator, Step};
use crate::security::tls::certificate_principal;
use crate::security::{Access, Principal, SecurityCounters};
use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

/// Why a connection ended other than by the client closing it.
#[derive(Debug, Error)]
pub enum ConnectionError {
    /// Socket I/O failed.
    #[error("connection I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A size prefix was refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A request could not be answered.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// A handler task panicked.
    #[error("request task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// TLS and SASL did not finish within the handshake timeout.
    #[error("handshake not finished within {0} ms")]
    HandshakeTimeout(u64),
    /// A frame did not arrive whole within the frame timeout.
    #[error("request frame not complete within {0} ms")]
    FrameTimeout(u64),
    /// Silent longer than the idle timeout.
    #[error("idle for {0} ms")]
    Idle(u64),
    /// SASL authentication failed.
    #[error("authentication failed: {0}")]
    Authentication(String),
}

type Pending = (
    JoinHandle<Result<Option<Bytes>, DispatchError>>,
    OwnedSemaphorePermit,
);

/// Serves `stream` from `peer` until the client closes it or it breaks a rule.
pub async fn serve(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
) -> Result<(), ConnectionError> {
    stream.set_nodelay(true)?;
    let handshake_ms = broker.options.handshake_timeout_ms;
    let deadline = Instant::now() + Duration::from_millis(handshake_ms);
    let counters = broker.security_counters.clone();
    let timed_out = || {
        SecurityCounters::count(&counters.handshake_timeouts);
        tracing::warn!(%peer, "handshake timed out");
        ConnectionError::HandshakeTimeout(handshake_ms)
    };
    let Some(tls) = broker.options.security.tls.clone() else {
        return authenticate_then_serve(broker, stream, None, false, deadline, peer).await;
    };
    let accepted = timeout_at(
        deadline,
        tokio_rustls::TlsAcceptor::from(tls).accept(stream),
    )
    .await
    .map_err(|_| timed_out())?;
    let stream = accepted.inspect_err(|e| tracing::warn!(%peer, error = %e, "TLS failed"))?;
    // rustls verified the chain against the client CA before the handshake finished.
    let chain = stream.get_ref().1.peer_certificates();
    let verified = chain.is_some();
    let certificate = chain
        .and_then(|chain| chain.first())
        .and_then(certificate_principal);
    authenticate_then_serve(broker, stream, certificate, verified, deadline, peer).await
}

async fn authenticate_then_serve<S>(
    broker: Arc<Broker>,
    stream: S,
    certificate: Option<Principal>,
    tls_client_verified: bool,
    deadline: Instant,
    peer: SocketAddr,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let security = &broker.options.security;
    let principal = match &security.users {
        None => match (certificate, tls_client_verified) {
            (Some(principal), _) => principal,
            (None, true) => {
                let reason = "client certificate without a common name".to_string();
                SecurityCounters::count(&broker.security_counters.authentication_failures);
                tracing::warn!(%peer, reason, "authentication failed");
                return Err(ConnectionError::Authentication(reason));
            }
            // No SASL and no client certificate: the server authenticates no one.
            (None, false) => Principal::anonymous(),
        },
        Some(users) => {
            let plain_allowed = security.tls.is_some() || security.plain_without_tls;
            let authenticator = Authenticator::new(users.clone(), plain_allowed);
            let authenticated = authenticate(
                &broker,
                authenticator,
                &mut reader,
                &mut writer,
                deadline,
                peer,
            );
            match authenticated.await? {
                Some(principal) => principal,
                None => return Ok(()), // closed by the client
            }
        }
    };
    tracing::debug!(%peer, %principal, "connection authenticated");
    let access = Access::new(
        principal,
        security.acls.clone(),
        broker.security_counters.clone(),
    );
    serve_requests(broker, access, reader, writer).await
}

/// The SASL exchange, one request at a time; the principal, or `None` if the client
/// closed the connection.
async fn authenticate<R, W>(
    broker: &Arc<Broker>,
    mut authenticator: Authenticator,
    reader: &mut R,
    writer: &mut W,
    deadline: Instant,
    peer: SocketAddr,
) -> Result<Option<Principal>, ConnectionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let counters = &broker.security_counters;
    let handshake_ms = broker.options.handshake_timeout_ms;
    let anonymous = Access::new(Principal::anonymous(), None, counters.clone());
    loop {
        let max = broker.options.unauthenticated_request_bytes_max;
        let read = read_frame(broker, reader, max, deadline, deadline).await;
        let frame = match read {
            Err(ConnectionError::Idle(_) | ConnectionError::FrameTimeout(_)) => {
                SecurityCounters::count(&counters.handshake_timeouts);
                tracing::warn!(%peer, "handshake timed out");
                return Err(ConnectionError::HandshakeTimeout(handshake_ms));
            }
            other => match other? {
                Some(frame) => Bytes::from(frame),
                None => return Ok(None),
            },
        };
        let api_versions = dispatch::api_key(&frame) == Some(ApiKey::ApiVersions);
        if api_versions && !authenticator.expects_bare_token() {
            if let Some(reply) = dispatch::handle(broker, &anonymous, frame).await? {
                writer.write_all(&reply).await?;
                writer.flush().await?;
            }
            continue;
        }
        match authenticator.step(frame)? {
            Step::Continue(reply) => {
                writer.write_all(&reply).await?;
                writer.flush().await?;
            }
            Step::Authenticated(reply, principal) => {
                writer.write_all(&reply).await?;
                writer.flush().await?;
                return Ok(Some(principal));
            }
            Step::Failed(reply, reason) => {
                // Counted before the client can see the answer.
                SecurityCounters::count(&counters.authentication_failures);
                tracing::warn!(%peer, reason, "authentication failed");
                if let Some(reply) = reply {
                    writer.write_all(&reply).await?;
                    writer.flush().await?;
                }
                return Err(ConnectionError::Authentication(reason));
            }
            Step::NotAllowed(key) => {
                SecurityCounters::count(&counters.unauthenticated_requests);
                tracing::warn!(%peer, ?key, "request before authentication");
                let reason = format!("{key:?} before authentication");
                return Err(ConnectionError::Authentication(reason));
            }
        }
    }
}

/// Reads one frame of at most `bytes_max` bytes: its first byte by `first_byte_by`, the
/// rest within the frame timeout (and by `whole_by`); `None` if the client closed the
/// connection between frames.
async fn read_frame<R: AsyncRead + Unpin>(
    broker: &Broker,
    reader: &mut R,
    bytes_max: u32,
    first_byte_by: Instant,
    whole_by: Instant,
) -> Result<Option<Vec<u8>>, ConnectionError> {
    let options = &broker.options;
    let mut prefix = [0u8; 4];
    let first = timeout_at(first_byte_by, reader.read(&mut prefix[..1])).await;
    let idle_ms = options.idle_timeout_ms;
    if first.map_err(|_| ConnectionError::Idle(idle_ms))?? == 0 {
        return Ok(None);
    }
    let frame_ms = options.frame_timeout_ms;
    let by = whole_by.min(Instant::now() + Duration::from_millis(frame_ms));
    let rest = async {
        reader.read_exact(&mut prefix[1..]).await?;
        let len = frame_len(prefix, bytes_max)?;
        let mut frame = vec![0u8; len];
        reader.read_exact(&mut frame).await?;
        Ok::<_, ConnectionError>(frame)
    };
    let frame = timeout_at(by, rest)
        .await
        .map_err(|_| ConnectionError::FrameTimeout(frame_ms))??;
    Ok(Some(frame))
}

async fn serve_requests<R, W>(
    broker: Arc<Broker>,
    access: Access,
    mut reader: R,
    mut writer: W,
) -> Result<(), ConnectionError>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let permits = Arc::new(Semaphore::new(
        broker.options.in_flight_per_connection_max.max(1),
    ));
    let (pending_tx, mut pending_rx) = mpsc::unbounded_channel::<Pending>();
    let write_loop = async move {
        while let Some((handle, permit)) = pending_rx.recv().await {
            if let Some(response) = handle.await?? {
                writer.write_all(&response).await?;
                // TLS buffers records: push each response out as it is ready.
                writer.flush().await?;
            }
            drop(permit);
        }
        Ok::<(), ConnectionError>(())
    };
    let idle = Duration::from_millis(broker.options.idle_timeout_ms);
    let read_loop = async move {
        loop {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let first_byte_by = Instant::now() + idle;
            // No overall deadline past the handshake: the frame timeout alone bounds it.
            let whole_by = first_byte_by + Duration::from_millis(broker.options.frame_timeout_ms);
            let max = broker.options.request_bytes_max;
            let Some(frame) =
                read_frame(&broker, &mut reader, max, first_byte_by, whole_by).await?
            else {
                return Ok::<(), ConnectionError>(());
            };
            let (shared, access) = (broker.clone(), access.clone());
            let handle = tokio::spawn(async move {
                dispatch::handle(&shared, &access, Bytes::from(frame)).await
            });
            if pending_tx.send((handle, permit)).is_err() {
                return Ok(()); // the writer stopped: its error is reported
            }
        }
    };
    tokio::pin!(write_loop);
    tokio::select! {
        read = read_loop => {
            read?;
            // The client stopped sending: answer what it already asked.
            (&mut write_loop).await
        }
        written = &mut write_loop => written,
    }
}
