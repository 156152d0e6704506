//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server side, sans-IO: the
//! client's two messages in, the server's two messages out. The primitives (PBKDF2, HMAC,
//! SHA-2) are ring's; constant-time comparison is `subtle`'s.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The SCRAM variants served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramMechanism {
    /// Every variant, in the order the users file lists them.
    pub const ALL: [Self; 2] = [Self::Sha256, Self::Sha512];

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The variant a SASL mechanism name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Self::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Self::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        }
    }

    /// Bytes of the hash (and of every key derived from it).
    pub fn key_bytes(self) -> usize {
        self.digest().output_len()
    }
}

/// What the server keeps of a password (RFC 5802 §3): never the password itself.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// Random salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: NonZeroU32,
    /// H(ClientKey): checks a client's proof.
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key"): proves the server to the client.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys let an attacker test passwords offline: they stay out of logs.
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// The credential of `password` with `salt` and `iterations`.
    pub fn derive(
        mechanism: ScramMechanism,
        password: &[u8],
        salt: Vec<u8>,
        iterations: NonZeroU32,
    ) -> Self {
        let mut salted = vec![0u8; mechanism.key_bytes()];
        pbkdf2::derive(mechanism.pbkdf2(), iterations, &salt, password, &mut salted);
        let client_key = mac(mechanism, &salted, b"Client Key");
        Self {
            stored_key: hash(mechanism, &client_key),
            server_key: mac(mechanism, &salted, b"Server Key"),
            salt,
            iterations,
        }
    }

    /// Whether `password` is the one this credential was derived from (SASL PLAIN checks
    /// passwords against the SCRAM credential, so no other form is stored).
    pub fn matches_password(&self, mechanism: ScramMechanism, password: &[u8]) -> bool {
        let candidate = Self::derive(mechanism, password, self.salt.clone(), self.iterations);
        bool::from(candidate.stored_key.ct_eq(&self.stored_key))
    }
}

fn mac(mechanism: ScramMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(mechanism.hmac(), key);
    hmac::sign(&key, data).as_ref().to_vec()
}

fn hash(mechanism: ScramMechanism, data: &[u8]) -> Vec<u8> {
    digest::digest(mechanism.digest(), data).as_ref().to_vec()
}

/// Why a SCRAM exchange failed. Every variant ends the exchange; the client is told only
/// that authentication failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScramError {
    /// A message does not follow RFC 5802's grammar.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The user has no credential for this mechanism.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The client asked for channel binding, which is not offered.
    #[error("channel binding is not supported")]
    ChannelBinding,
    /// An authorization id other than the user name.
    #[error("authorization id {0:?} differs from the user name")]
    Authzid(String),
    /// An extension this server does not implement (delegation tokens).
    #[error("unsupported SCRAM extension {0:?}")]
    Extension(String),
    /// The final message's nonce or channel binding is not the one negotiated.
    #[error("nonce or channel binding does not match the exchange")]
    Mismatch,
    /// The proof is wrong: the password is wrong.
    #[error("wrong password for {0:?}")]
    WrongProof(String),
    /// A message arrived out of turn.
    #[error("SCRAM message out of turn")]
    OutOfTurn,
}

/// One SCRAM exchange on the server.
#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
}

#[derive(Debug)]
enum State {
    AwaitClientFirst,
    AwaitClientFinal(Box<Exchange>),
    Finished,
}

#[derive(Debug)]
struct Exchange {
    user: String,
    credential: ScramCredential,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    client_nonce: String,
    nonce: String,
}

impl ScramServer {
    /// A new exchange for `mechanism`.
    pub fn new(mechanism: ScramMechanism) -> Self {
        Self {
            mechanism,
            state: State::AwaitClientFirst,
        }
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Whether the next message is the client's first.
    pub fn awaits_first(&self) -> bool {
        matches!(self.state, State::AwaitClientFirst)
    }

    /// Takes client-first-message and answers server-first-message. `lookup` finds the
    /// user's credential; `server_nonce` is fresh randomness from the caller (printable,
    /// no comma), appended to the client's nonce.
    pub fn client_first(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
        server_nonce: &str,
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::AwaitClientFirst) {
            return Err(ScramError::OutOfTurn);
        }
        self.state = State::Finished; // any error ends the exchange
        let message = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
        let (gs2_header, bare) = split_gs2_header(message)?;
        let mut fields = bare.split(',');
        let user = decode_saslname(field(fields.next(), "n=")?)?;
        if let Some(authzid) = gs2_authzid(gs2_header)? {
            if authzid != user {
                return Err(ScramError::Authzid(authzid));
            }
        }
        let client_nonce = field(fields.next(), "r=")?;
        check_nonce(client_nonce)?;
        if let Some(extension) = fields.next() {
            // Kafka's only extension names delegation tokens, which are not served.
            return Err(ScramError::Extension(extension.to_string()));
        }
        let credential = lookup(&user).ok_or_else(|| ScramError::UnknownUser(user.clone()))?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        self.state = State::AwaitClientFinal(Box::new(Exchange {
            user,
            credential,
            gs2_header: gs2_header.to_string(),
            client_first_bare: bare.to_string(),
            server_first,
            client_nonce: client_nonce.to_string(),
            nonce,
        }));
        Ok(reply)
    }

    /// Takes client-final-message; on a correct proof answers server-final-message and
    /// the authenticated user name.
    pub fn client_final(&mut self, message: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        let State::AwaitClientFinal(exchange) = std::mem::replace(&mut self.state, State::Finished)
        else {
            return Err(ScramError::OutOfTurn);
        };
        let message = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or(malformed("no proof"))?;
        let mut fields = without_proof.split(',');
        let binding = field(fields.next(), "c=")?;
        let nonce = field(fields.next(), "r=")?;
        let expected_binding = BASE64.encode(exchange.gs2_header.as_bytes());
        // librdkafka sends its own nonce again in front of the combined one; Kafka brokers
        // accept that form (they check only the end), so it is accepted too. The proof
        // covers the message as sent either way.
        let librdkafka_nonce = format!("{}{}", exchange.client_nonce, exchange.nonce);
        let nonce_ok = nonce == exchange.nonce || nonce == librdkafka_nonce;
        if binding != expected_binding || !nonce_ok {
            return Err(ScramError::Mismatch);
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| malformed("proof is not base64"))?;
        let mechanism = self.mechanism;
        let credential = &exchange.credential;
        if proof.len() != mechanism.key_bytes() {
            return Err(ScramError::WrongProof(exchange.user));
        }
        let auth_message = format!(
            "{},{},{}",
            exchange.client_first_bare, exchange.server_first, without_proof
        );
        let signature = mac(mechanism, &credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let stored_key = hash(mechanism, &client_key);
        if !bool::from(stored_key.ct_eq(&credential.stored_key)) {
            return Err(ScramError::WrongProof(exchange.user));
        }
        let server_signature = mac(mechanism, &credential.server_key, auth_message.as_bytes());
        let reply = format!("v={}", BASE64.encode(server_signature)).into_bytes();
        Ok((exchange.user, reply))
    }
}

fn malformed(why: &'static str) -> ScramError {
    ScramError::Malformed(why)
}

/// `gs2-header` (with its trailing comma) and `client-first-message-bare`.
fn split_gs2_header(message: &str) -> Result<(&str, &str), ScramError> {
    let flag_end = message.find(',').ok_or(malformed("no GS2 header"))?;
    let authzid_end = message
        .get(flag_end + 1..)
        .and_then(|rest| rest.find(','))
        .map(|i| flag_end + 1 + i)
        .ok_or(malformed("no GS2 header"))?;
    match message.get(..flag_end) {
        Some("n") | Some("y") => {}
        Some(flag) if flag.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(malformed("bad channel binding flag")),
    }
    let header = message
        .get(..=authzid_end)
        .ok_or(malformed("no GS2 header"))?;
    let bare = message
        .get(authzid_end + 1..)
        .ok_or(malformed("no message"))?;
    Ok((header, bare))
}

fn gs2_authzid(header: &str) -> Result<Option<String>, ScramError> {
    let authzid = header
        .split(',')
        .nth(1)
        .ok_or(malformed("no authzid field"))?;
    match authzid {
        "" => Ok(None),
        a => {
            let name = a.strip_prefix("a=").ok_or(malformed("bad authzid"))?;
            decode_saslname(name).map(Some)
        }
    }
}

fn field<'a>(value: Option<&'a str>, prefix: &'static str) -> Result<&'a str, ScramError> {
    value
        .and_then(|v| v.strip_prefix(prefix))
        .ok_or(ScramError::Malformed(match prefix {
            "n=" => "no user name",
            "r=" => "no nonce",
            "c=" => "no channel binding",
            _ => "missing field",
        }))
}

fn check_nonce(nonce: &str) -> Result<(), ScramError> {
    let printable = nonce
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b',');
    match !nonce.is_empty() && printable {
        true => Ok(()),
        false => Err(malformed("bad nonce")),
    }
}

/// RFC 5802's `saslname`: `=2C` is a comma, `=3D` an equals sign, no other `=`.
fn decode_saslname(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(rest.get(..at).ok_or(malformed("bad user name"))?);
        let escape = rest.get(at..at + 3).ok_or(malformed("bad user name"))?;
        out.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return Err(malformed("bad escape in user name")),
        });
        rest = rest.get(at + 3..).ok_or(malformed("bad user name"))?;
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(malformed("empty user name"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    fn pencil() -> ScramCredential {
        let salt = BASE64.decode(SALT).unwrap();
        let iterations = NonZeroU32::new(4096).unwrap();
        ScramCredential::derive(ScramMechanism::Sha256, b"pencil", salt, iterations)
    }

    /// The example exchange of RFC 7677 §3, byte for byte: an oracle nobody here wrote.
    #[test]
    fn rfc_7677_example_exchange() {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let first = server
            .client_first(
                b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                |name| (name == "user").then(pencil),
                SERVER_NONCE,
            )
            .unwrap();
        assert_eq!(
            first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                .to_vec()
        );
        let (user, last) = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(user, "user");
        assert_eq!(
            last,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
        );
    }

    #[test]
    fn a_wrong_proof_or_nonce_is_refused() {
        let final_with = |message: &[u8]| {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            server
                .client_first(b"n,,n=user,r=abc", |_| Some(pencil()), "def")
                .unwrap();
            server.client_final(message)
        };
        let wrong_proof = b"c=biws,r=abcdef,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            final_with(wrong_proof),
            Err(ScramError::WrongProof("user".into()))
        );
        let wrong_nonce = b"c=biws,r=abcxyz,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(final_with(wrong_nonce), Err(ScramError::Mismatch));
    }

    #[test]
    fn unknown_users_channel_binding_and_extensions_are_refused() {
        let first = |message: &[u8]| {
            ScramServer::new(ScramMechanism::Sha512).client_first(message, |_| None, "x")
        };
        assert_eq!(
            first(b"n,,n=nobody,r=abc"),
            Err(ScramError::UnknownUser("nobody".into()))
        );
        assert_eq!(
            first(b"p=tls-unique,,n=u,r=abc"),
            Err(ScramError::ChannelBinding)
        );
        assert_eq!(
            first(b"n,,n=u,r=abc,tokenauth=true"),
            Err(ScramError::Extension("tokenauth=true".into()))
        );
        assert_eq!(
            first(b"n,a=other,n=u,r=abc"),
            Err(ScramError::Authzid("other".into()))
        );
        assert!(matches!(
            first(b"n,,n=u=41,r=a"),
            Err(ScramError::Malformed(_))
        ));
    }

    /// librdkafka repeats its nonce in front of the combined one: accepted, with the proof
    /// computed over the message as sent (derived here with the RFC's formulas by hand).
    #[test]
    fn librdkafkas_repeated_client_nonce_is_accepted() {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let first = server
            .client_first(b"n,,n=user,r=abc", |_| Some(pencil()), "def")
            .unwrap();
        let without_proof = "c=biws,r=abcabcdef";
        let auth = format!(
            "n=user,r=abc,{},{without_proof}",
            String::from_utf8(first).unwrap()
        );
        let salted = {
            let mut out = [0u8; 32];
            let salt = BASE64.decode(SALT).unwrap();
            let iterations = NonZeroU32::new(4096).unwrap();
            pbkdf2::derive(
                pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                &salt,
                b"pencil",
                &mut out,
            );
            out
        };
        let client_key = mac(ScramMechanism::Sha256, &salted, b"Client Key");
        let stored = hash(ScramMechanism::Sha256, &client_key);
        let signature = mac(ScramMechanism::Sha256, &stored, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let message = format!("{without_proof},p={}", BASE64.encode(proof));
        let (user, _) = server.client_final(message.as_bytes()).unwrap();
        assert_eq!(user, "user");
    }

    #[test]
    fn user_names_are_unescaped() {
        assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
    }

    #[test]
    fn plain_passwords_check_against_the_credential() {
        assert!(pencil().matches_password(ScramMechanism::Sha256, b"pencil"));
        assert!(!pencil().matches_password(ScramMechanism::Sha256, b"pencil2"));
    }
}
