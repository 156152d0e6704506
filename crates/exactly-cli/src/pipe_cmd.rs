//! `exactly pipe`: reliable delivery over UDP with durable ends.
//!
//! - `pipe send` reads JSON lines and sends each as one message; its state directory holds a
//!   journal of unconfirmed messages, so a sender killed with SIGKILL resumes where it was.
//!   Message seq `n` is the `n`-th non-empty input line, so the resume point is the
//!   journal's next seq; the journal keeps a fingerprint of the lines already sent, and a
//!   restart with a different input is refused (naming the lines) instead of skipping lines.
//! - Each state directory is locked (`<dir>/LOCK`) by the process using it, and an end whose
//!   directory is deleted under it stops with an error before confirming anything more.
//! - `pipe recv` journals each new message with its sender id and seq and fsyncs *before*
//!   confirming it (cascade confirmation onto storage). The journal in its state directory
//!   is the output of record — `pipe dump` prints it — and also its de-dup state, so the
//!   two can never disagree. Delivered messages are also printed as JSON lines once
//!   durable; a receiver killed between the fsync and the print misses that print, but
//!   never the journal entry.
//!
//! Loopback never loses anything, so both ends can inject loss and duplication into what
//! they send (`--loss`, `--dup`).
//!
//! - Both ends run inside a Noise IK secure channel by default: `pipe keygen` writes a key
//!   pair, `pipe recv --key K --allow SENDER_PUB…` takes only allow-listed senders, `pipe
//!   send --key K --receiver-key RECEIVER_PUB` talks only to that receiver. Plaintext only
//!   with `--insecure` on both ends (printed on start).
//!
//! The driver (socket, timers, state directory) is `exactly_pipe::udp`; this is the
//! arguments, the input, the messages and the printing.

mod secure;

use anyhow::{ensure, Context};
use exactly_core::StdStorage;
use exactly_pipe::durable::DurableReceiver;
use exactly_pipe::udp::{
    check_resume, delivery_json, run_receiver, FaultConfig, InputLines, UdpReceiverOptions,
    UdpSender, UdpSenderOptions,
};
use exactly_pipe::{PipeMode, StateDirLock};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `exactly pipe`.
#[derive(clap::Args, Debug)]
pub struct PipeArgs {
    #[command(subcommand)]
    command: PipeCommand,
}

#[derive(clap::Subcommand, Debug)]
enum PipeCommand {
    /// Send JSON lines (a file or stdin) to a receiver, exactly once across restarts.
    Send(SendArgs),
    /// Receive messages, journal them durably, print them as JSON lines.
    Recv(RecvArgs),
    /// Print every message a receiver delivered durably (its journal), as JSON lines.
    Dump(DumpArgs),
    /// Write a new static key pair (private key file mode 0600, public key printed).
    Keygen(secure::KeygenArgs),
}

/// Faults injected into what an end sends (loopback is perfect).
#[derive(clap::Args, Debug, Clone)]
pub struct FaultArgs {
    /// Probability a frame is dropped before it is sent.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Probability a frame is sent twice.
    #[arg(long, default_value_t = 0.0)]
    pub dup: f64,
    /// Seed of the injected faults (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
}

impl FaultArgs {
    fn check(&self) -> anyhow::Result<()> {
        ensure!((0.0..1.0).contains(&self.loss), "--loss must be in [0, 1)");
        ensure!((0.0..=1.0).contains(&self.dup), "--dup must be in [0, 1]");
        Ok(())
    }

    fn config(&self) -> FaultConfig {
        FaultConfig {
            loss: self.loss,
            dup: self.dup,
            seed: self.seed,
        }
    }
}

/// Arguments of `exactly pipe send`.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// Receiver address (host:port).
    #[arg(long)]
    pub to: String,
    /// State directory (journal of unconfirmed messages; locked while in use).
    ///
    /// A restart with the same directory resumes where the last run stopped: message `n` is
    /// the `n`-th non-empty input line, and the lines already sent are skipped. The directory
    /// keeps a fingerprint of those lines, so the input must be the same (it may be longer):
    /// a different or shorter input is refused with the lines that differ. To send a new
    /// input from its first line, use a new (empty) state directory — it gets a new sender
    /// id, so the receiver treats its messages as new.
    #[arg(long, verbatim_doc_comment)]
    pub state: PathBuf,
    /// Pipe (must match the receiver's).
    #[arg(long, default_value = "resend+id-dedup")]
    pub pipe: PipeMode,
    /// JSON-lines input (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Messages per second at most (0: as fast as the window allows).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// In-flight window.
    #[arg(long, default_value_t = 256)]
    pub window: u64,
    /// First resend timeout.
    #[arg(long, default_value_t = 20)]
    pub resend_timeout_ms: u64,
    #[command(flatten)]
    pub faults: FaultArgs,
    #[command(flatten)]
    pub keys: secure::SendKeyArgs,
}

/// Arguments of `exactly pipe recv`.
#[derive(clap::Args, Debug)]
pub struct RecvArgs {
    /// Address to listen on (host:port).
    #[arg(long)]
    pub listen: String,
    /// State directory (journal of delivered messages = de-dup state; locked while in use).
    #[arg(long)]
    pub state: PathBuf,
    /// Pipe (must match the sender's).
    #[arg(long, default_value = "resend+id-dedup")]
    pub pipe: PipeMode,
    /// Exit after this long without any frame (0: run until killed).
    #[arg(long, default_value_t = 0)]
    pub idle_exit_ms: u64,
    /// Do not print delivered messages (the journal still records them).
    #[arg(long)]
    pub quiet: bool,
    /// Senders with full de-dup state at most. When a new sender arrives and the table is
    /// full, the least recently active sender that can be forgotten safely is reduced to a
    /// floor; if none can, the new sender is refused (it stops with an error).
    #[arg(long, default_value_t = 1024)]
    pub senders_max: usize,
    /// Forgotten senders remembered by their floor at most; when full, new senders are
    /// refused.
    #[arg(long, default_value_t = 1 << 20)]
    pub sender_floors_max: usize,
    /// A sender with missing messages is forgotten only after this long without a frame;
    /// if it comes back, it is refused from its lowest missing message on.
    #[arg(long, default_value_t = 600_000)]
    pub sender_idle_evict_ms: u64,
    #[command(flatten)]
    pub faults: FaultArgs,
    #[command(flatten)]
    pub keys: secure::RecvKeyArgs,
}

/// Arguments of `exactly pipe dump`.
#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// The receiver's state directory. Run it while the receiver is stopped.
    #[arg(long)]
    pub state: PathBuf,
}

/// Runs `exactly pipe`.
pub fn run(args: PipeArgs) -> anyhow::Result<()> {
    match args.command {
        PipeCommand::Send(a) => {
            a.faults.check()?;
            let input = read_lines(a.input.as_ref())?;
            send(&a, &input)
        }
        PipeCommand::Recv(a) => {
            a.faults.check()?;
            recv(&a)
        }
        PipeCommand::Dump(a) => dump(&a),
        PipeCommand::Keygen(a) => secure::keygen(&a),
    }
}

/// Runs `pipe send` until every line is confirmed; prints a JSON summary on stderr.
fn send(args: &SendArgs, input: &InputLines) -> anyhow::Result<()> {
    let options = UdpSenderOptions {
        to: args.to.clone(),
        state: args.state.clone(),
        pipe: args.pipe,
        rate: args.rate,
        window: args.window,
        resend_timeout_ms: args.resend_timeout_ms,
        faults: args.faults.config(),
        security: args.keys.security(&args.to)?,
    };
    let sender = UdpSender::open(&options)?;
    if let Some(warning) = check_resume(&sender, input, &args.state)? {
        eprintln!("warning: {warning}");
    }
    eprintln!("{}", sender.run(&input.lines)?.to_json());
    Ok(())
}

/// Runs `pipe recv` until killed (or idle for `--idle-exit-ms`), printing each message once
/// it is durable.
fn recv(args: &RecvArgs) -> anyhow::Result<()> {
    let options = UdpReceiverOptions {
        listen: args.listen.clone(),
        state: args.state.clone(),
        pipe: args.pipe,
        idle_exit_ms: args.idle_exit_ms,
        senders_max: args.senders_max,
        sender_floors_max: args.sender_floors_max,
        sender_idle_evict_ms: args.sender_idle_evict_ms,
        incarnations_per_key_max: exactly_pipe::secure::INCARNATIONS_PER_KEY_MAX,
        faults: args.faults.config(),
        security: args.keys.security(&args.listen)?,
    };
    let mut out = std::io::stdout().lock();
    run_receiver(&options, &mut |delivered| {
        if !args.quiet {
            for d in delivered {
                writeln!(out, "{}", delivery_json(d.sender_id, d.seq, &d.payload))?;
            }
        }
        out.flush()
    })?;
    Ok(())
}

/// The non-empty lines of the input (a file or stdin), each checked to be JSON.
fn read_lines(input: Option<&PathBuf>) -> anyhow::Result<InputLines> {
    let lines = match input {
        Some(path) => InputLines::read(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => InputLines::read(std::io::stdin().lock()),
    };
    Ok(lines?)
}

fn dump(args: &DumpArgs) -> anyhow::Result<()> {
    // Reading recovers the journal (it may cut a torn tail): not under a running receiver.
    let _lock = StateDirLock::acquire(&args.state)?;
    let delivered = DurableReceiver::read_delivered(Arc::new(StdStorage), &args.state)
        .with_context(|| format!("reading {}", args.state.display()))?;
    let mut out = std::io::stdout().lock();
    for d in delivered {
        writeln!(out, "{}", delivery_json(d.sender_id, d.seq, &d.payload))?;
    }
    Ok(())
}
