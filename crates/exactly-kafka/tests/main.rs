//! Every integration test of `exactly-kafka`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod common;
mod secure;

mod abuse_leaves_legitimate_clients_served;
mod client_certificate_names_the_principal;
mod group_member_killed_nothing_skipped;
mod idempotent_producer_survives_kills;
mod kcat_round_trip;
mod malformed_requests_close_only_their_connection;
mod record_batch_round_trip_proptest;
mod scram_over_tls_real_clients_round_trip;
mod transactional_copy_survives_kills;
mod transactional_ids_and_groups_need_grants;
mod unauthenticated_clients_are_served_nothing;
mod write_without_grant_is_refused;
