//! TLS for the server: the certificate chain and key it presents, and optionally the CA
//! its clients' certificates must chain to (then a client certificate is required and its
//! subject's common name is the connection's principal). rustls on ring; TLS 1.2 and 1.3.

use super::principal::Principal;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Why the TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file is missing, unreadable or holds nothing of the kind asked for.
    #[error("reading {what} from {path}: {reason}")]
    Pem {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The failure.
        reason: String,
    },
    /// rustls refused the certificates or key.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client CA does not make a verifier.
    #[error("client CA: {0}")]
    ClientCa(#[from] rustls::server::VerifierBuilderError),
}

/// Where the server's TLS material is.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates clients must present a certificate from; `None`: no client
    /// certificates.
    pub client_ca: Option<PathBuf>,
}

/// The server's TLS configuration from `files`.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = certificates(&files.cert, "a certificate chain")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Pem {
        what: "a private key",
        path: files.key.clone(),
        reason: e.to_string(),
    })?;
    let crypto = Arc::new(provider::default_provider());
    let builder = ServerConfig::builder_with_provider(crypto.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca, "CA certificates")? {
                roots.add(cert)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto).build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(Arc::new(builder.with_single_cert(certs, key)?))
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let failed = |reason: String| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| failed(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    match certs.is_empty() {
        true => Err(failed("no certificate in the file".into())),
        false => Ok(certs),
    }
}

/// The principal a verified client certificate names: `User:` and its subject's first
/// common name; `None` when the subject has no (UTF-8) common name.
pub fn certificate_principal(cert: &CertificateDer<'_>) -> Option<Principal> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let common_name = parsed.subject().iter_common_name().next()?;
    let name = common_name.as_str().ok()?;
    Some(Principal::user(name))
}
