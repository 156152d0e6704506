//! Reading a nats-server's monitoring endpoint (`http: host:port` in its configuration)
//! with a minimal HTTP/1.0 GET over std's TCP, bounded by timeouts; and what
//! [`crate::NetnsNatsCluster`] asks it: who leads the JetStream meta group and each stream,
//! and what each replica holds.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connecting to the monitoring port: short, because a cut host must not stall a poll.
const CONNECT_TIMEOUT_MS: u64 = 500;

/// Reading the whole answer.
const READ_TIMEOUT_MS: u64 = 3_000;

/// Why a monitoring request gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// Connecting, sending or reading failed (an unreachable host, a killed server).
    #[error("GET http://{addr}{path}: {source}")]
    Io {
        /// The monitoring address.
        addr: SocketAddr,
        /// The path asked for.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server answered with something other than `200` and a JSON body.
    #[error("GET http://{addr}{path}: unexpected answer: {detail}")]
    Answer {
        /// The monitoring address.
        addr: SocketAddr,
        /// The path asked for.
        path: String,
        /// The status line or the JSON error.
        detail: String,
    },
}

/// `GET path` on `addr`; the body parsed as JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> Result<Value, MonitorError> {
    let io = |source| MonitorError::Io {
        addr,
        path: path.to_string(),
        source,
    };
    let answer = |detail: String| MonitorError::Answer {
        addr,
        path: path.to_string(),
        detail,
    };
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(CONNECT_TIMEOUT_MS)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_millis(READ_TIMEOUT_MS)))
        .map_err(io)?;
    // HTTP/1.0: the server closes the connection after the body, so read to the end.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(answer(format!("no end of headers in {} bytes", raw.len())));
    };
    let status = head.lines().next();
    if status.and_then(|line| line.split_whitespace().nth(1)) != Some("200") {
        return Err(answer(format!("status line {status:?}")));
    }
    serde_json::from_str(body).map_err(|e| answer(e.to_string()))
}

/// What one server says about JetStream (`GET /jsz?streams=true`): its view, which on a
/// server cut off from the others may be stale (an old leader) until it notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamView {
    /// The meta group's leader (server name), if it knows one.
    pub meta_leader: Option<String>,
    /// The streams it holds a replica of, in account `$G` (the default).
    pub streams: Vec<StreamView>,
}

/// One stream as one server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamView {
    /// The stream's name.
    pub name: String,
    /// Its leader (server name), if the server knows one.
    pub leader: Option<String>,
    /// Messages in this server's replica.
    pub messages: u64,
    /// The last sequence in this server's replica.
    pub last_seq: u64,
}

/// Asks the server monitored at `addr` for its [`JetStreamView`].
pub fn jetstream_view(addr: SocketAddr) -> Result<JetStreamView, MonitorError> {
    let jsz = get_json(addr, "/jsz?streams=true")?;
    let meta_leader = text_at(&jsz, "/meta_cluster/leader");
    let streams = jsz
        .get("account_details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|account| account.get("name").and_then(Value::as_str) == Some("$G"))
        .filter_map(|account| account.get("stream_detail").and_then(Value::as_array))
        .flatten()
        .filter_map(stream_view)
        .collect();
    Ok(JetStreamView {
        meta_leader,
        streams,
    })
}

fn stream_view(detail: &Value) -> Option<StreamView> {
    Some(StreamView {
        name: text_at(detail, "/name")?,
        leader: text_at(detail, "/cluster/leader"),
        // Absent counts are zero: the server leaves out empty fields.
        messages: detail
            .pointer("/state/messages")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        last_seq: detail
            .pointer("/state/last_seq")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

fn text_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}
