//! What the security tests share: certificates made by the test (rcgen), a users file and
//! an ACL file, the server in this process (so a test can read its log and its security
//! counters), and a raw Kafka client for requests no well-behaved client sends.
#![allow(dead_code)] // each test file uses a part
// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use exactly_kafka::security::tls::{server_config, TlsFiles};
use exactly_kafka::security::{Acls, SecurityCounters, SecurityOptions, Users};
use exactly_kafka::{Server, ServerOptions};
use exactly_log::{Log, LogConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A CA, a server certificate for 127.0.0.1/localhost signed by it, and client
/// certificates on demand, as PEM files in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "exactly test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca_cert.pem()).unwrap();
        let mut pki = Self {
            server_cert: dir.path().join("server.pem"),
            server_key: dir.path().join("server.key"),
            ca: ca_path,
            dir,
            issuer,
        };
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (cert, key) = pki.issue("server", names, ExtendedKeyUsagePurpose::ServerAuth);
        std::fs::write(&pki.server_cert, cert).unwrap();
        std::fs::write(&pki.server_key, key).unwrap();
        pki.server_cert = pki.dir.path().join("server.pem");
        pki
    }

    fn issue(
        &self,
        common_name: &str,
        names: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A client certificate with subject CN=`common_name`: (cert file, key file).
    pub fn client(&self, common_name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(common_name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
        let cert_path = self.dir.path().join(format!("{common_name}.pem"));
        let key_path = self.dir.path().join(format!("{common_name}.key"));
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        (cert_path, key_path)
    }

    /// The server's TLS configuration (client certificates required if `client_ca`).
    pub fn server_tls(&self, client_ca: bool) -> Arc<rustls::ServerConfig> {
        server_config(&TlsFiles {
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            client_ca: client_ca.then(|| self.ca.clone()),
        })
        .unwrap()
    }

    /// A rustls client trusting the CA (for raw connections).
    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

/// A users file with `(name, password)`s.
pub fn users(dir: &Path, users: &[(&str, &str)]) -> Arc<Users> {
    let mut all = Users::default();
    for (name, password) in users {
        all.set_password(name, password.as_bytes(), 4096).unwrap();
    }
    let path = dir.join("users");
    all.save(&path).unwrap();
    // Read back: the server gets what the file holds.
    Arc::new(Users::load(&path).unwrap())
}

/// ACLs from the file text.
pub fn acls(text: &str) -> Arc<Acls> {
    Arc::new(Acls::parse(text).unwrap())
}

/// The server running in this process.
pub struct InProcess {
    pub addr: SocketAddr,
    pub log: &'static Log,
    pub counters: Arc<SecurityCounters>,
    _dir: tempfile::TempDir,
}

/// Starts a server with `security` and `options` (its `security` is replaced) on an
/// ephemeral loopback port; it serves until the test process ends.
pub fn start(security: SecurityOptions, options: ServerOptions) -> InProcess {
    let dir = tempfile::tempdir().unwrap();
    let log: &'static Log = Box::leak(Box::new(
        Log::open(dir.path(), LogConfig::default()).unwrap(),
    ));
    let options = ServerOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        security,
        ..options
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(log, options).await.unwrap();
            tx.send((server.local_addr().unwrap(), server.security_counters()))
                .unwrap();
            server.run().await.unwrap();
        });
    });
    let (addr, counters) = rx.recv().unwrap();
    InProcess {
        addr,
        log,
        counters,
        _dir: dir,
    }
}

/// A byte stream to the server, plain or TLS.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A plaintext connection.
pub fn connect_plain(addr: SocketAddr) -> Box<dyn Stream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    Box::new(stream)
}

/// A TLS connection (handshake completed).
pub fn connect_tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Box<dyn Stream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(config, name).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    Box::new(stream)
}

/// A request frame: size, header v1 (key, version, correlation id 7, client id "raw"),
/// body.
pub fn request(key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&7i32.to_be_bytes());
    frame.extend_from_slice(&3i16.to_be_bytes());
    frame.extend_from_slice(b"raw");
    frame.extend_from_slice(body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    out
}

/// A Kafka string.
pub fn string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as i16).to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// Kafka bytes.
pub fn bytes(b: &[u8]) -> Vec<u8> {
    let mut out = (b.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

pub const API_VERSIONS: i16 = 18;
pub const METADATA: i16 = 3;
pub const SASL_HANDSHAKE: i16 = 17;
pub const SASL_AUTHENTICATE: i16 = 36;

/// Reads one response frame (without its size); `None` if the server closed the
/// connection.
pub fn read_response(stream: &mut dyn Stream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame).ok()?;
    Some(frame)
}

/// The i16 at `at` of a response.
pub fn i16_at(frame: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([frame[at], frame[at + 1]])
}

/// SASL PLAIN over `stream`: handshake v1 then authenticate v1; the authenticate
/// response's error code.
pub fn plain_login(stream: &mut dyn Stream, user: &str, password: &str) -> i16 {
    stream
        .write_all(&request(SASL_HANDSHAKE, 1, &string("PLAIN")))
        .unwrap();
    let handshake = read_response(stream).expect("handshake answered");
    assert_eq!(i16_at(&handshake, 4), 0, "PLAIN offered");
    let message = format!("\0{user}\0{password}");
    stream
        .write_all(&request(SASL_AUTHENTICATE, 1, &bytes(message.as_bytes())))
        .unwrap();
    let answer = read_response(stream).expect("authenticate answered");
    i16_at(&answer, 4)
}

/// Whether the server answers a Metadata v1 request for every topic on `stream` (`false`:
/// it closed the connection instead).
pub fn metadata_answered(stream: &mut dyn Stream) -> bool {
    let sent = stream.write_all(&request(METADATA, 1, &(-1i32).to_be_bytes()));
    sent.is_ok() && read_response(stream).is_some()
}

/// The venv Python with confluent-kafka (`.ci/setup-kafka`; `EXACTLY_KAFKA_PYTHON`
/// overrides). Missing: the test fails.
pub fn python() -> String {
    match std::env::var("EXACTLY_KAFKA_PYTHON") {
        Ok(python) => python,
        Err(_) => "/opt/exactly-venv/bin/python3".into(),
    }
}

/// A script of `tests/py/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// Runs a Python script; its stdout parsed as JSON.
pub fn run_python(args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new(python())
        .args(args)
        .output()
        .expect("the venv Python runs (bash .ci/setup-kafka)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

/// SASL_SSL client settings for librdkafka (confluent-kafka and kcat) as `key=value`.
pub fn sasl_ssl(pki: &Pki, mechanism: &str, user: &str, password: &str) -> Vec<String> {
    vec![
        "security.protocol=SASL_SSL".into(),
        format!("sasl.mechanisms={mechanism}"),
        format!("sasl.username={user}"),
        format!("sasl.password={password}"),
        format!("ssl.ca.location={}", pki.ca.display()),
    ]
}
