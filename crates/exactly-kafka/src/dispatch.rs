//! One request frame in, one response frame (or none) out: decodes the header, checks the
//! API and version, routes to the API's handler and encodes the answer.

use crate::api_versions;
use crate::broker::Broker;
use crate::security::Access;
use crate::{
    create_topics, fetch, find_coordinator, group, init_producer_id, list_offsets, metadata,
    produce, txn_add_offsets, txn_add_partitions, txn_end, txn_offset_commit,
};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use std::sync::Arc;
use thiserror::Error;

/// Why a connection is closed instead of answered (what Kafka brokers do too).
#[derive(Debug, Error)]
pub enum DispatchError {
    /// Shorter than a request header.
    #[error("request of {0} bytes is shorter than its header")]
    Short(usize),
    /// An API key this server does not know.
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    /// A version of the API this server does not serve.
    #[error("{key:?} v{version} is not supported")]
    Unsupported {
        /// The API.
        key: ApiKey,
        /// The version asked for.
        version: i16,
    },
    /// The request does not decode.
    #[error("malformed {key:?} request: {reason}")]
    Malformed {
        /// The API.
        key: ApiKey,
        /// The decoder's message.
        reason: String,
    },
    /// The response does not encode (a bug: values out of the version's range).
    #[error("encoding the {key:?} response failed: {reason}")]
    Encode {
        /// The API.
        key: ApiKey,
        /// The encoder's message.
        reason: String,
    },
    /// The handler's blocking task failed.
    #[error("handler task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn be_i16(frame: &[u8], at: usize) -> Option<i16> {
    frame
        .get(at..at + 2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(i16::from_be_bytes)
}

/// A request frame with its header decoded.
#[derive(Debug)]
pub struct Parsed {
    /// The API.
    pub key: ApiKey,
    /// Its version.
    pub version: i16,
    /// The header.
    pub header: RequestHeader,
    /// The body, still encoded.
    pub body: Bytes,
}

/// The API key of a frame, if it has one this server knows.
pub fn api_key(frame: &[u8]) -> Option<ApiKey> {
    be_i16(frame, 0).and_then(|raw| ApiKey::try_from(raw).ok())
}

/// Decodes the header of a frame of a supported API and version.
pub fn parse(frame: Bytes) -> Result<Parsed, DispatchError> {
    let (Some(key_raw), Some(version)) = (be_i16(&frame, 0), be_i16(&frame, 2)) else {
        return Err(DispatchError::Short(frame.len()));
    };
    if frame.len() < 8 {
        return Err(DispatchError::Short(frame.len()));
    }
    let key = ApiKey::try_from(key_raw).map_err(|()| DispatchError::UnknownApi(key_raw))?;
    if !api_versions::supports(key, version) {
        return Err(DispatchError::Unsupported { key, version });
    }
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, key.request_header_version(version))
        .map_err(|e| malformed(key, e))?;
    Ok(Parsed {
        key,
        version,
        header,
        body,
    })
}

/// The error for a request of `key` that does not decode.
pub fn malformed(key: ApiKey, error: anyhow::Error) -> DispatchError {
    DispatchError::Malformed {
        key,
        reason: error.to_string(),
    }
}

/// The response frame answering `request` with `body`.
pub fn encode_reply<R: Encodable>(request: &Parsed, body: &R) -> Result<Bytes, DispatchError> {
    encode(
        request.key,
        request.version,
        request.key.response_header_version(request.version),
        request.header.correlation_id,
        body,
    )
}

/// ApiVersions in a version this server does not know is answered in v0 with
/// `UNSUPPORTED_VERSION` (the client retries with v0, the version every broker answers).
fn unsupported_api_versions(frame: &[u8]) -> Option<Result<Bytes, DispatchError>> {
    let key = api_key(frame)?;
    let version = be_i16(frame, 2)?;
    if key != ApiKey::ApiVersions || api_versions::supports(key, version) {
        return None;
    }
    let correlation_id = frame
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(i32::from_be_bytes)?;
    let body = api_versions::response(crate::codes::UNSUPPORTED_VERSION);
    Some(encode(key, 0, 0, correlation_id, &body))
}

/// Handles one request frame (without its size prefix) for a connection with `access`;
/// `None`: no response (acks=0).
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    frame: Bytes,
) -> Result<Option<Bytes>, DispatchError> {
    if let Some(reply) = unsupported_api_versions(&frame) {
        return reply.map(Some);
    }
    let request = parse(frame)?;
    let (key, version) = (request.key, request.version);
    let client_id = request
        .header
        .client_id
        .as_ref()
        .map_or_else(String::new, |c| c.to_string());
    let mut body = request.body.clone();
    macro_rules! decode {
        ($ty:ty) => {
            <$ty>::decode(&mut body, version).map_err(|e| malformed(key, e))?
        };
    }
    macro_rules! reply {
        ($response:expr) => {
            encode_reply(&request, &$response).map(Some)
        };
    }
    let a = access;
    match key {
        ApiKey::ApiVersions => reply!(api_versions::handle()),
        ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => {
            reply!(sasl_after_authentication(broker, key))
        }
        ApiKey::Metadata => {
            reply!(metadata::handle(broker, a, decode!(MetadataRequest), version).await?)
        }
        ApiKey::CreateTopics => {
            reply!(create_topics::handle(broker, a, decode!(CreateTopicsRequest)).await?)
        }
        ApiKey::Produce => match produce::handle(broker, a, decode!(ProduceRequest)).await? {
            Some(response) => reply!(response),
            None => Ok(None),
        },
        ApiKey::Fetch => reply!(fetch::handle(broker, a, decode!(FetchRequest)).await?),
        ApiKey::ListOffsets => {
            reply!(list_offsets::handle(broker, a, decode!(ListOffsetsRequest)).await?)
        }
        ApiKey::InitProducerId => {
            reply!(init_producer_id::handle(broker, a, decode!(InitProducerIdRequest)).await?)
        }
        ApiKey::FindCoordinator => {
            reply!(find_coordinator::handle(
                broker,
                a,
                decode!(FindCoordinatorRequest)
            ))
        }
        ApiKey::AddPartitionsToTxn => {
            let request = decode!(AddPartitionsToTxnRequest);
            reply!(txn_add_partitions::handle(broker, a, request).await?)
        }
        ApiKey::AddOffsetsToTxn => {
            reply!(txn_add_offsets::handle(broker, a, decode!(AddOffsetsToTxnRequest)).await?)
        }
        ApiKey::TxnOffsetCommit => {
            reply!(txn_offset_commit::handle(broker, a, decode!(TxnOffsetCommitRequest)).await?)
        }
        ApiKey::EndTxn => reply!(txn_end::handle(broker, a, decode!(EndTxnRequest)).await?),
        ApiKey::JoinGroup => {
            let request = decode!(JoinGroupRequest);
            reply!(group::join::handle(broker, a, request, version, &client_id).await)
        }
        ApiKey::SyncGroup => {
            reply!(group::sync::handle(broker, a, decode!(SyncGroupRequest)).await)
        }
        ApiKey::Heartbeat => {
            reply!(group::heartbeat::handle(
                broker,
                a,
                decode!(HeartbeatRequest)
            ))
        }
        ApiKey::LeaveGroup => {
            reply!(group::leave::handle(broker, a, decode!(LeaveGroupRequest)))
        }
        ApiKey::OffsetCommit => {
            reply!(group::offsets::commit(broker, a, decode!(OffsetCommitRequest)).await?)
        }
        ApiKey::OffsetFetch => {
            reply!(group::offsets::fetch(broker, a, decode!(OffsetFetchRequest)).await?)
        }
        // `supports` admitted only the keys above.
        _ => Err(DispatchError::Unsupported { key, version }),
    }
}

/// SASL requests on a connection that is past authentication (or on a server without
/// SASL): re-authentication (KIP-368) is not offered.
fn sasl_after_authentication(broker: &Broker, key: ApiKey) -> SaslReply {
    let code = match broker.options.security.users {
        None => crate::codes::UNSUPPORTED_SASL_MECHANISM,
        Some(_) => crate::codes::ILLEGAL_SASL_STATE,
    };
    match key {
        ApiKey::SaslHandshake => {
            let mut response = SaslHandshakeResponse::default();
            response.error_code = code;
            SaslReply::Handshake(response)
        }
        _ => {
            let mut response = SaslAuthenticateResponse::default();
            response.error_code = crate::codes::ILLEGAL_SASL_STATE;
            SaslReply::Authenticate(response)
        }
    }
}

/// The answer to a SASL request after authentication.
enum SaslReply {
    Handshake(SaslHandshakeResponse),
    Authenticate(SaslAuthenticateResponse),
}

impl Encodable for SaslReply {
    fn encode<B: kafka_protocol::protocol::buf::ByteBufMut>(
        &self,
        buf: &mut B,
        version: i16,
    ) -> anyhow::Result<()> {
        match self {
            Self::Handshake(r) => r.encode(buf, version),
            Self::Authenticate(r) => r.encode(buf, version),
        }
    }

    fn compute_size(&self, version: i16) -> anyhow::Result<usize> {
        match self {
            Self::Handshake(r) => r.compute_size(version),
            Self::Authenticate(r) => r.compute_size(version),
        }
    }
}

/// A response frame: size prefix, header, body.
fn encode<R: Encodable>(
    key: ApiKey,
    version: i16,
    header_version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<Bytes, DispatchError> {
    let failed = |e: anyhow::Error| DispatchError::Encode {
        key,
        reason: e.to_string(),
    };
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let mut buf = BytesMut::new();
    buf.put_i32(0); // the size, filled in below
    header.encode(&mut buf, header_version).map_err(failed)?;
    body.encode(&mut buf, version).map_err(failed)?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| DispatchError::Encode {
        key,
        reason: "response larger than 2 GiB".into(),
    })?;
    if let Some(prefix) = buf.get_mut(0..4) {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
    Ok(buf.freeze())
}
