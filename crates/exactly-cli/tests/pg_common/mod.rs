//! The PostgreSQL the CLI tests that need one connect to: `EXACTLY_PG_URL`, or the
//! machine's local server. Unreachable is a failure, never a skip.
#![allow(clippy::panic)]

/// The server's URL, after checking that it answers.
pub fn pg_url() -> String {
    let url = std::env::var("EXACTLY_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Err(error) = postgres::Client::connect(&url, postgres::NoTls) {
        panic!("PostgreSQL at {url:?} is required but unreachable: {error}");
    }
    url
}
