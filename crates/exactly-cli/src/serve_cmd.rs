//! `exactly serve`: the embedded log over the Kafka wire protocol, for unmodified Kafka
//! clients (librdkafka/kcat, confluent-kafka, kafka-python, …); `exactly serve user add`
//! writes SASL users' credentials.

mod security;
mod user;

use anyhow::Context;
use clap::Args;
use exactly_kafka::ServerOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `exactly serve`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    command: Option<ServeCommand>,
    /// Log directory (created if missing).
    #[arg(long, required = true)]
    dir: Option<PathBuf>,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// Largest request accepted, in bytes.
    #[arg(long, default_value_t = ServerOptions::default().request_bytes_max)]
    request_bytes_max: u32,
    /// Most connections served at once.
    #[arg(long, default_value_t = ServerOptions::default().connections_max)]
    connections_max: usize,
    /// Most requests of one connection handled at once.
    #[arg(long, default_value_t = ServerOptions::default().in_flight_per_connection_max)]
    in_flight_max: usize,
    /// Most bytes one fetch response carries.
    #[arg(long, default_value_t = ServerOptions::default().fetch_bytes_max)]
    fetch_bytes_max: u32,
    /// Partitions of topics created implicitly when a client names them (0: never create
    /// topics implicitly).
    #[arg(long, default_value_t = 1)]
    auto_create_partitions: u32,
    /// Longest a connection may take to finish TLS and SASL, in milliseconds.
    #[arg(long, default_value_t = ServerOptions::default().handshake_timeout_ms)]
    handshake_timeout_ms: u64,
    /// Longest from a request's first byte to its last, in milliseconds.
    #[arg(long, default_value_t = ServerOptions::default().frame_timeout_ms)]
    frame_timeout_ms: u64,
    /// Longest a connection may stay silent between requests, in milliseconds.
    #[arg(long, default_value_t = ServerOptions::default().idle_timeout_ms)]
    idle_timeout_ms: u64,
    #[command(flatten)]
    security: security::SecurityArgs,
    /// Print the listening address as JSON (`{"listening":"…"}`).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
enum ServeCommand {
    /// SASL users (the users file `--users-file` points the server at).
    #[command(subcommand)]
    User(user::UserCommand),
}

/// Runs `exactly serve` until the process is stopped, or a `serve` subcommand.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(ServeCommand::User(command)) = args.command {
        return user::run(command);
    }
    // clap requires `--dir` unless a subcommand is given.
    let dir = args.dir.context("--dir is required")?;
    let security = security::options(&args.security)?;
    let options = ServerOptions {
        listen: args.listen,
        request_bytes_max: args.request_bytes_max,
        connections_max: args.connections_max,
        in_flight_per_connection_max: args.in_flight_max,
        fetch_bytes_max: args.fetch_bytes_max,
        auto_create_partitions: (args.auto_create_partitions > 0)
            .then_some(args.auto_create_partitions),
        handshake_timeout_ms: args.handshake_timeout_ms,
        frame_timeout_ms: args.frame_timeout_ms,
        idle_timeout_ms: args.idle_timeout_ms,
        security,
        ..ServerOptions::default()
    };
    let json = args.json;
    exactly_kafka::serve_dir(&dir, options, |addr| {
        let mut out = std::io::stdout().lock();
        // The line tests and scripts wait for; a closed stdout must not stop the server.
        let _ = match json {
            true => writeln!(
                out,
                "{}",
                serde_json::json!({ "listening": addr.to_string() })
            ),
            false => writeln!(out, "listening on {addr}"),
        };
        let _ = out.flush();
    })?;
    Ok(())
}
