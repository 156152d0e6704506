//! The request decoding of [`crate::dispatch`] without a broker, for fuzzing: the same
//! header check, version check and body decoder for every API the server parses. Nothing
//! here is on the server's path; it exists so that `fuzz/` reaches exactly the bytes a
//! client controls.

use crate::api_versions;
use crate::dispatch::DispatchError;
use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;

macro_rules! requests {
    ($($key:ident => $ty:ident),* $(,)?) => {
        /// A decoded request body, one variant per API whose body the server decodes.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(missing_docs)] // Each variant is named after its API.
        pub enum Request {
            $($key($ty),)*
        }

        fn decode_body(key: ApiKey, body: &mut Bytes, version: i16) -> Option<anyhow::Result<Request>> {
            match key {
                $(ApiKey::$key => Some(<$ty>::decode(body, version).map(Request::$key)),)*
                _ => None,
            }
        }
    };
}

requests! {
    Metadata => MetadataRequest,
    CreateTopics => CreateTopicsRequest,
    Produce => ProduceRequest,
    Fetch => FetchRequest,
    ListOffsets => ListOffsetsRequest,
    InitProducerId => InitProducerIdRequest,
    FindCoordinator => FindCoordinatorRequest,
    AddPartitionsToTxn => AddPartitionsToTxnRequest,
    AddOffsetsToTxn => AddOffsetsToTxnRequest,
    TxnOffsetCommit => TxnOffsetCommitRequest,
    EndTxn => EndTxnRequest,
    JoinGroup => JoinGroupRequest,
    SyncGroup => SyncGroupRequest,
    Heartbeat => HeartbeatRequest,
    LeaveGroup => LeaveGroupRequest,
    OffsetCommit => OffsetCommitRequest,
    OffsetFetch => OffsetFetchRequest,
}

/// One request frame (without its size prefix) as the server decodes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The API.
    pub key: ApiKey,
    /// Its version.
    pub version: i16,
    /// The request header.
    pub header: RequestHeader,
    /// The body; `None` for `ApiVersions`, whose body the server does not read.
    pub body: Option<Request>,
}

/// Decodes `frame` as [`crate::dispatch::handle`] does before calling a handler.
pub fn decode_request(frame: &[u8]) -> Result<Decoded, DispatchError> {
    let be_i16 = |at: usize| {
        frame
            .get(at..at + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(i16::from_be_bytes)
    };
    let (Some(key_raw), Some(version)) = (be_i16(0), be_i16(2)) else {
        return Err(DispatchError::Short(frame.len()));
    };
    if frame.len() < 8 {
        return Err(DispatchError::Short(frame.len()));
    }
    let key = ApiKey::try_from(key_raw).map_err(|()| DispatchError::UnknownApi(key_raw))?;
    if !api_versions::supports(key, version) {
        return Err(DispatchError::Unsupported { key, version });
    }
    let malformed = |e: anyhow::Error| DispatchError::Malformed {
        key,
        reason: e.to_string(),
    };
    let mut body = Bytes::copy_from_slice(frame);
    let header =
        RequestHeader::decode(&mut body, key.request_header_version(version)).map_err(malformed)?;
    let body = match decode_body(key, &mut body, version) {
        Some(decoded) => Some(decoded.map_err(malformed)?),
        None if key == ApiKey::ApiVersions => None,
        None => return Err(DispatchError::Unsupported { key, version }),
    };
    Ok(Decoded {
        key,
        version,
        header,
        body,
    })
}
