//! `exactly pipe keygen` and the key arguments of `pipe send` / `pipe recv`: by default
//! both ends require keys (a Noise IK secure channel); plaintext only with `--insecure`,
//! which is printed on start.

use anyhow::{bail, Context};
use exactly_pipe::secure::key_file::{
    public_key_path, read_keypair, read_public_key, write_keypair,
};
use exactly_pipe::secure::StaticKeypair;
use exactly_pipe::udp::{ReceiverSecurity, SenderSecurity};
use std::path::PathBuf;

/// Arguments of `exactly pipe keygen`.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Private key file to create (mode 0600; it must not exist). The public key is written
    /// beside it as FILE.pub and printed.
    #[arg(long)]
    pub out: PathBuf,
    /// Print `{"public_key": …, "private_key_file": …, "public_key_file": …}`.
    #[arg(long)]
    pub json: bool,
}

/// Writes a new key pair and prints its public key.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let pair = StaticKeypair::generate()?;
    write_keypair(&args.out, &pair)?;
    let public = pair.public().to_hex();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "public_key": public,
                "private_key_file": args.out.display().to_string(),
                "public_key_file": public_key_path(&args.out).display().to_string(),
            })
        );
    } else {
        println!("{public}");
    }
    Ok(())
}

/// Key arguments of `pipe send`.
#[derive(clap::Args, Debug, Clone)]
pub struct SendKeyArgs {
    /// This sender's private key file (`exactly pipe keygen`). Its public key is the
    /// sender's identity: the receiver must allow it, and de-duplicates by it together with
    /// the state directory's own id. A state directory belongs to the key it was created
    /// with.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The receiver's public key (64 hex digits, or a file holding them such as its
    /// KEY.pub): the only receiver this sender will talk to.
    #[arg(long)]
    pub receiver_key: Option<String>,
    /// Send plaintext frames instead: no encryption and no authentication — anyone who
    /// can reach the receiver can read, forge and replay messages.
    #[arg(long)]
    pub insecure: bool,
}

impl SendKeyArgs {
    /// The sender's protection (prints a warning on stderr for `--insecure`).
    pub fn security(&self, to: &str) -> anyhow::Result<SenderSecurity> {
        match (self.insecure, &self.key, &self.receiver_key) {
            (true, None, None) => {
                eprintln!(
                    "warning: --insecure: frames to {to} are plaintext and unauthenticated \
                     (anyone on the path can read, forge and replay them)"
                );
                Ok(SenderSecurity::Insecure)
            }
            (true, _, _) => bail!("--insecure cannot be combined with --key or --receiver-key"),
            (false, Some(key), Some(receiver)) => Ok(SenderSecurity::Noise {
                local: read_keypair(key)?,
                receiver: read_public_key(receiver)
                    .with_context(|| format!("--receiver-key {receiver}"))?,
            }),
            (false, _, _) => bail!(
                "pipe send needs --key (this sender's private key file, from `exactly pipe \
                 keygen`) and --receiver-key (the receiver's public key); --insecure sends \
                 plaintext instead"
            ),
        }
    }
}

/// Key arguments of `pipe recv`.
#[derive(clap::Args, Debug, Clone)]
pub struct RecvKeyArgs {
    /// This receiver's private key file (`exactly pipe keygen`); senders are pinned to its
    /// public key.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// A sender public key allowed in (64 hex digits, or a file holding them such as the
    /// sender's KEY.pub); repeat for several senders. Nobody else gets past the handshake.
    #[arg(long = "allow")]
    pub allow: Vec<String>,
    /// Take plaintext frames from anyone instead: no encryption and no authentication —
    /// forged frames are delivered and fill the sender table.
    #[arg(long)]
    pub insecure: bool,
}

impl RecvKeyArgs {
    /// The receiver's protection (prints a warning on stderr for `--insecure`).
    pub fn security(&self, listen: &str) -> anyhow::Result<ReceiverSecurity> {
        match (self.insecure, &self.key, self.allow.is_empty()) {
            (true, None, true) => {
                eprintln!(
                    "warning: --insecure: {listen} takes plaintext, unauthenticated frames \
                     from anyone (forged and replayed messages are delivered)"
                );
                Ok(ReceiverSecurity::Insecure)
            }
            (true, _, _) => bail!("--insecure cannot be combined with --key or --allow"),
            (false, Some(key), false) => {
                let allowed = self
                    .allow
                    .iter()
                    .map(|a| read_public_key(a).with_context(|| format!("--allow {a}")))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(ReceiverSecurity::Noise {
                    local: read_keypair(key)?,
                    allowed,
                })
            }
            (false, _, _) => bail!(
                "pipe recv needs --key (this receiver's private key file, from `exactly pipe \
                 keygen`) and at least one --allow (a sender's public key); --insecure takes \
                 plaintext from anyone instead"
            ),
        }
    }
}
