//! Connecting: the address list, the client's timeouts and its ping interval.

use crate::error::NatsError;
use async_nats::{jetstream, Client, ConnectOptions, ServerAddr};
use std::time::Duration;

/// How the client talks to the servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Interval of the client's pings. A server that stops answering (paused, partitioned)
    /// is noticed after about two missed pings, so keep this short (NATS's default is 60 s).
    pub ping_interval_ms: u64,
    /// Bound on establishing a connection to one server.
    pub connect_timeout_ms: u64,
    /// Bound on each JetStream API request and on each publish acknowledgment.
    pub request_timeout_ms: u64,
    /// Most publishes awaiting their acknowledgment at once, per producer call.
    pub publish_in_flight_max: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            ping_interval_ms: 2_000,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 5_000,
            publish_in_flight_max: 256,
        }
    }
}

/// Parses `nats://host:port[,host:port…]` (the scheme is optional after the first).
pub fn parse_servers(address: &str) -> Result<Vec<ServerAddr>, NatsError> {
    let bad = |reason| NatsError::BadAddress {
        address: address.to_string(),
        reason,
    };
    let rest = address
        .strip_prefix("nats://")
        .ok_or(bad("must start with nats://"))?;
    let mut servers = Vec::new();
    for part in rest.split(',') {
        let part = part.trim().trim_start_matches("nats://");
        if part.is_empty() {
            return Err(bad("empty server in the list"));
        }
        if !part.contains(':') {
            return Err(bad("every server needs host:port"));
        }
        let server: ServerAddr = format!("nats://{part}")
            .parse()
            .map_err(|_| bad("not a host:port"))?;
        servers.push(server);
    }
    Ok(servers)
}

/// Connects to the first reachable server of `servers` and opens a JetStream context
/// whose requests and acknowledgments time out after `options.request_timeout_ms`.
pub async fn connect(
    address: &str,
    options: &ClientOptions,
) -> Result<(Client, jetstream::Context), NatsError> {
    let servers = parse_servers(address)?;
    let client = ConnectOptions::new()
        .name("exactly")
        .ping_interval(Duration::from_millis(options.ping_interval_ms))
        .connection_timeout(Duration::from_millis(options.connect_timeout_ms))
        .request_timeout(Some(Duration::from_millis(options.request_timeout_ms)))
        .connect(servers)
        .await
        .map_err(|source| NatsError::Connect {
            servers: address.to_string(),
            source: Box::new(source),
        })?;
    let mut context = jetstream::new(client.clone());
    context.set_timeout(Duration::from_millis(options.request_timeout_ms));
    Ok((client, context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists_parse() {
        assert_eq!(
            parse_servers("nats://a:1,b:2").map(|s| s.len()).ok(),
            Some(2)
        );
        assert_eq!(
            parse_servers("nats://a:1,nats://b:2").map(|s| s.len()).ok(),
            Some(2)
        );
        assert!(parse_servers("a:1").is_err());
        assert!(parse_servers("nats://a:1,").is_err());
        assert!(parse_servers("nats://a").is_err());
    }
}
