//! The security flags of `exactly serve`: TLS files, the users file (SASL), the ACL file.

use clap::Args;
use exactly_kafka::security::files::SecurityFiles;
use exactly_kafka::security::SecurityOptions;
use std::path::PathBuf;

/// Who may connect and what they may do (everything off by default).
#[derive(Args, Debug)]
pub struct SecurityArgs {
    /// PEM certificate chain: serve TLS only (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificates: clients must present a certificate from them; its subject's
    /// common name is the principal (unless SASL names one).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Users file (`exactly serve user add`): require SASL (SCRAM-SHA-256/512; PLAIN
    /// over TLS) before anything but ApiVersions is served.
    #[arg(long)]
    users_file: Option<PathBuf>,
    /// ACL file: deny whatever its rules do not allow.
    #[arg(long)]
    acl_file: Option<PathBuf>,
    /// Also accept SASL PLAIN without TLS (the password travels in the clear).
    #[arg(long)]
    insecure: bool,
}

/// The server's security options from the flags.
pub fn options(args: &SecurityArgs) -> anyhow::Result<SecurityOptions> {
    let files = SecurityFiles {
        // clap requires both or neither.
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        tls_client_ca: args.tls_client_ca.clone(),
        users_file: args.users_file.clone(),
        acl_file: args.acl_file.clone(),
        insecure: args.insecure,
    };
    let (options, plain_in_clear) = files.load()?;
    if plain_in_clear {
        eprintln!("warning: --insecure: SASL PLAIN passwords may travel in the clear");
    }
    Ok(options)
}
