//! SASL authentication of one connection: `SaslHandshake` names the mechanism; after v1
//! its messages travel in `SaslAuthenticate` (KIP-152), after v0 bare in size-prefixed
//! frames. PLAIN (RFC 4616) and SCRAM-SHA-256/512 against the users file. Frames in,
//! frames out; no I/O.
//!
//! Any failure ends the connection after its answer, as Kafka brokers do: a client gets
//! one try per connection.

use super::principal::Principal;
use super::scram::{ScramMechanism, ScramServer};
use super::users::Users;
use crate::codes;
use crate::dispatch::{self, DispatchError};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::Arc;

/// The PLAIN mechanism's name.
pub const PLAIN: &str = "PLAIN";
/// Random bytes in the server's part of a SCRAM nonce.
const SERVER_NONCE_BYTES: usize = 24;

/// What the connection does after a step.
#[derive(Debug)]
pub enum Step {
    /// Send the answer; authentication goes on.
    Continue(Bytes),
    /// Send the answer; the connection is authenticated as the principal.
    Authenticated(Bytes, Principal),
    /// Send the answer, if any, then close: authentication failed for `reason`.
    Failed(Option<Bytes>, String),
    /// Close without an answer: another API before authentication.
    NotAllowed(ApiKey),
}

#[derive(Debug)]
enum Phase {
    AwaitHandshake,
    AwaitPlain,
    Scram(ScramServer),
}

/// The SASL side of one connection before it is authenticated.
#[derive(Debug)]
pub struct Authenticator {
    users: Arc<Users>,
    plain_allowed: bool,
    phase: Phase,
    /// A v0 handshake was accepted: the next frames are bare SASL tokens.
    bare_tokens: bool,
}

impl Authenticator {
    /// Authenticates against `users`; PLAIN only if `plain_allowed` (TLS, or plaintext
    /// allowed explicitly).
    pub fn new(users: Arc<Users>, plain_allowed: bool) -> Self {
        Self {
            users,
            plain_allowed,
            phase: Phase::AwaitHandshake,
            bare_tokens: false,
        }
    }

    /// The mechanisms offered.
    pub fn mechanisms(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = ScramMechanism::ALL.iter().map(|m| m.name()).collect();
        if self.plain_allowed {
            names.push(PLAIN);
        }
        names
    }

    /// Whether the next frame is a bare SASL token (after a v0 handshake), not a request.
    pub fn expects_bare_token(&self) -> bool {
        self.bare_tokens
    }

    /// Handles a `SaslHandshake` or `SaslAuthenticate` frame, or a bare token after a v0
    /// handshake (ApiVersions is answered by the dispatcher; any other API is refused).
    pub fn step(&mut self, frame: Bytes) -> Result<Step, DispatchError> {
        if self.bare_tokens {
            return Ok(self.bare_token(&frame));
        }
        let request = dispatch::parse(frame)?;
        let (key, version) = (request.key, request.version);
        match key {
            ApiKey::SaslHandshake => {
                let mut body = request.body.clone();
                let message = SaslHandshakeRequest::decode(&mut body, version)
                    .map_err(|e| dispatch::malformed(key, e))?;
                let (response, outcome) = self.handshake(message.mechanism.as_str());
                self.bare_tokens = outcome.is_ok() && version == 0;
                let bytes = dispatch::encode_reply(&request, &response)?;
                Ok(match outcome {
                    Ok(()) => Step::Continue(bytes),
                    Err(reason) => Step::Failed(Some(bytes), reason),
                })
            }
            ApiKey::SaslAuthenticate => {
                let mut body = request.body.clone();
                let message = SaslAuthenticateRequest::decode(&mut body, version)
                    .map_err(|e| dispatch::malformed(key, e))?;
                let outcome = self.authenticate(&message.auth_bytes);
                let mut response = SaslAuthenticateResponse::default();
                match outcome {
                    Ok(Authenticate::Challenge(bytes)) => {
                        response.auth_bytes = Bytes::from(bytes);
                        Ok(Step::Continue(dispatch::encode_reply(&request, &response)?))
                    }
                    Ok(Authenticate::Done(bytes, principal)) => {
                        response.auth_bytes = Bytes::from(bytes);
                        Ok(Step::Authenticated(
                            dispatch::encode_reply(&request, &response)?,
                            principal,
                        ))
                    }
                    Err(reason) => {
                        response.error_code = codes::SASL_AUTHENTICATION_FAILED;
                        // The client learns only that it failed, not why.
                        response.error_message =
                            Some(StrBytes::from_static_str("Authentication failed"));
                        Ok(Step::Failed(
                            Some(dispatch::encode_reply(&request, &response)?),
                            reason,
                        ))
                    }
                }
            }
            other => Ok(Step::NotAllowed(other)),
        }
    }

    /// A token of the v0 exchange: answered bare (size prefix and token); a failure just
    /// closes the connection, as Kafka brokers do.
    fn bare_token(&mut self, token: &[u8]) -> Step {
        let framed = |bytes: Vec<u8>| {
            // Server tokens are a few hundred bytes at most: the size always fits.
            #[allow(clippy::expect_used)]
            let size = u32::try_from(bytes.len()).expect("token under 4 GiB");
            let mut out = size.to_be_bytes().to_vec();
            out.extend_from_slice(&bytes);
            Bytes::from(out)
        };
        match self.authenticate(token) {
            Ok(Authenticate::Challenge(bytes)) => Step::Continue(framed(bytes)),
            Ok(Authenticate::Done(bytes, principal)) => {
                self.bare_tokens = false;
                Step::Authenticated(framed(bytes), principal)
            }
            Err(reason) => Step::Failed(None, reason),
        }
    }

    fn handshake(&mut self, mechanism: &str) -> (SaslHandshakeResponse, Result<(), String>) {
        let mut response = SaslHandshakeResponse::default();
        response.mechanisms = self
            .mechanisms()
            .into_iter()
            .map(StrBytes::from_static_str)
            .collect();
        if !matches!(self.phase, Phase::AwaitHandshake) {
            response.error_code = codes::ILLEGAL_SASL_STATE;
            return (response, Err("a second SaslHandshake".into()));
        }
        let phase = match ScramMechanism::from_name(mechanism) {
            Some(m) => Some(Phase::Scram(ScramServer::new(m))),
            None if mechanism == PLAIN && self.plain_allowed => Some(Phase::AwaitPlain),
            None => None,
        };
        match phase {
            Some(phase) => {
                self.phase = phase;
                (response, Ok(()))
            }
            None => {
                response.error_code = codes::UNSUPPORTED_SASL_MECHANISM;
                (
                    response,
                    Err(format!("mechanism {mechanism:?} not offered")),
                )
            }
        }
    }

    fn authenticate(&mut self, message: &[u8]) -> Result<Authenticate, String> {
        match std::mem::replace(&mut self.phase, Phase::AwaitHandshake) {
            Phase::AwaitHandshake => Err("SaslAuthenticate before SaslHandshake".into()),
            Phase::AwaitPlain => {
                let user = plain(&self.users, message)?;
                Ok(Authenticate::Done(Vec::new(), Principal::user(&user)))
            }
            Phase::Scram(mut scram) => {
                let result = match scram.awaits_first() {
                    true => {
                        let nonce = server_nonce()?;
                        let users = &self.users;
                        let mechanism = scram.mechanism();
                        scram
                            .client_first(
                                message,
                                |name| users.credential(name, mechanism).cloned(),
                                &nonce,
                            )
                            .map(Authenticate::Challenge)
                    }
                    false => scram
                        .client_final(message)
                        .map(|(user, reply)| Authenticate::Done(reply, Principal::user(&user))),
                };
                self.phase = Phase::Scram(scram);
                result.map_err(|e| e.to_string())
            }
        }
    }
}

enum Authenticate {
    Challenge(Vec<u8>),
    Done(Vec<u8>, Principal),
}

/// RFC 4616: `[authzid] NUL authcid NUL password`; the user if the password is right.
fn plain(users: &Users, message: &[u8]) -> Result<String, String> {
    let mut parts = message.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed PLAIN message".into());
    };
    let user = std::str::from_utf8(user).map_err(|_| "PLAIN user is not UTF-8".to_string())?;
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Err("PLAIN authorization id differs from the user".into());
    }
    match users.verify_password(user, password) {
        true => Ok(user.to_string()),
        false => Err(format!("wrong password or unknown user {user:?} (PLAIN)")),
    }
}

fn server_nonce() -> Result<String, String> {
    let mut random = [0u8; SERVER_NONCE_BYTES];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| "no randomness for a nonce".to_string())?;
    // Base64 is printable and has no comma, as a SCRAM nonce must be.
    Ok(BASE64.encode(random))
}
