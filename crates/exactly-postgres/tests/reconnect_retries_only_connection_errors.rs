//! `exactly_postgres::is_connection_lost` finds a lost or refused connection anywhere in an
//! error's chain of sources, and nothing else: a refused lock or a bad schema is final.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_endpoint::{EndpointError, StoreError};
use exactly_postgres::{is_connection_lost, ConnectError};

/// An outer error with a message and a source, like a context layer.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
struct Context {
    what: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn within(what: &'static str, error: impl std::error::Error + Send + Sync + 'static) -> Context {
    Context {
        what,
        source: Box::new(error),
    }
}

#[test]
fn only_connection_errors_are_retried() {
    let lost = EndpointError::Store(StoreError::Connection {
        reason: "gone".into(),
    });
    assert!(is_connection_lost(&within("processing", lost)));
    let refused = StoreError::Locked {
        what: "lock".into(),
    };
    assert!(!is_connection_lost(&refused));
    assert!(!is_connection_lost(&within("opening", refused)));
    let unreachable = ConnectError::Unreachable {
        reason: "refused".into(),
    };
    assert!(is_connection_lost(&within("connecting", unreachable)));
    let bad_schema = ConnectError::BadSchema {
        schema: "x;".into(),
    };
    assert!(!is_connection_lost(&within("connecting", bad_schema)));
}
