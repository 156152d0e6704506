//! Every integration test of `exactly-rdkafka`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod common;

mod balances_follow_a_growing_kafka_topic;
mod balances_from_kafka_survive_job_and_broker_kills;
mod transactional_copy_survives_server_kills;
