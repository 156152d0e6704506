//! Kafka error codes the server returns, and how the log's errors map to them (the codes
//! clients act on: retry, refresh metadata, or treat as fatal).

use exactly_log::{AppendError, ReadError, TopicError, TxnError};

/// No error.
pub const NONE: i16 = 0;
/// Offset outside the partition's range.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// A stored record failed its checks.
pub const CORRUPT_MESSAGE: i16 = 2;
/// Unknown topic or partition.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// The group coordinator is loading.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// Not the coordinator.
pub const NOT_COORDINATOR: i16 = 16;
/// The topic name is not valid.
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// A batch bigger than the log accepts.
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
/// acks other than 0, 1, -1.
pub const INVALID_REQUIRED_ACKS: i16 = 21;
/// The member's generation is stale.
pub const ILLEGAL_GENERATION: i16 = 22;
/// The member's protocol does not match the group's.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// Unknown member id.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// Session timeout outside the accepted range.
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
/// The group is rebalancing.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// A topic with that name exists.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Partition count out of range.
pub const INVALID_PARTITIONS: i16 = 37;
/// The request is not valid.
pub const INVALID_REQUEST: i16 = 42;
/// The ACLs do not allow the principal this on the topic.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// The ACLs do not allow the principal this on the group.
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// The ACLs do not allow the principal this cluster-wide (an idempotent producer id
/// without the right to write anywhere).
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// The SASL mechanism asked for is not offered.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// A SASL request out of turn.
pub const ILLEGAL_SASL_STATE: i16 = 34;
/// The ACLs do not allow the principal this on the transactional id.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// Not attempted because another part of the request failed.
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
/// SASL authentication failed (wrong password, unknown user, malformed exchange).
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// The API version is not supported.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// Sequence gap of an idempotent producer.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// A retry of a batch written too long ago to know its offsets.
pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
/// A newer epoch of the producer exists (fenced).
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// Transaction state does not allow the request.
pub const INVALID_TXN_STATE: i16 = 48;
/// The producer id is not known for the transactional id.
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
/// The transaction timeout is out of range.
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
/// Another request for the transaction is in progress.
pub const CONCURRENT_TRANSACTIONS: i16 = 51;
/// The member id is required to join (KIP-394).
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// A server-side failure the client may retry.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// Storage failed; the request may be retried.
pub const KAFKA_STORAGE_ERROR: i16 = 56;

/// The code for a failed append.
pub fn append_error(error: &AppendError) -> i16 {
    match error {
        AppendError::UnknownTopic { .. } | AppendError::UnknownPartition { .. } => {
            UNKNOWN_TOPIC_OR_PARTITION
        }
        AppendError::ProducerFenced { .. } | AppendError::OlderTransactionOpen { .. } => {
            INVALID_PRODUCER_EPOCH
        }
        AppendError::OutOfOrderSequence { .. } | AppendError::SequenceOverflow { .. } => {
            OUT_OF_ORDER_SEQUENCE_NUMBER
        }
        AppendError::Encode(_) => RECORD_LIST_TOO_LARGE,
        AppendError::NotOwned { .. } | AppendError::InternalTopic { .. } => INVALID_REQUEST,
        _ => KAFKA_STORAGE_ERROR,
    }
}

/// The code for a failed read.
pub fn read_error(error: &ReadError) -> i16 {
    match error {
        ReadError::UnknownTopic { .. } | ReadError::UnknownPartition { .. } => {
            UNKNOWN_TOPIC_OR_PARTITION
        }
        ReadError::OffsetOutOfRange { .. } => OFFSET_OUT_OF_RANGE,
        _ => KAFKA_STORAGE_ERROR,
    }
}

/// The code for a failed topic creation.
pub fn topic_error(error: &TopicError) -> i16 {
    match error {
        TopicError::AlreadyExists { .. } => TOPIC_ALREADY_EXISTS,
        TopicError::InvalidName { .. } => INVALID_TOPIC_EXCEPTION,
        TopicError::InvalidPartitions { .. } => INVALID_PARTITIONS,
        _ => KAFKA_STORAGE_ERROR,
    }
}

/// The code for a failed transaction step.
pub fn txn_error(error: &TxnError) -> i16 {
    match error {
        TxnError::Fenced { .. } => INVALID_PRODUCER_EPOCH,
        TxnError::InvalidState { .. } => INVALID_TXN_STATE,
        // The coordinator aborted it: the client must abort too and may start again.
        TxnError::TimedOut { .. } => INVALID_PRODUCER_EPOCH,
        TxnError::InternalTopic { .. } => INVALID_REQUEST,
        TxnError::Append(e) => append_error(e),
        TxnError::Read(e) => read_error(e),
        TxnError::Topic(e) => topic_error(e),
        _ => KAFKA_STORAGE_ERROR,
    }
}
