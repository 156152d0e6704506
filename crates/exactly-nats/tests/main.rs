//! Every integration test of `exactly-nats`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod common;

mod cluster_r3_survives_node_kill;
mod endpoint_outbox_republished_after_window_is_stored_once;
mod endpoint_source_acks_only_after_commit;
mod fault_paused_server_is_noticed;
mod fault_resume_after_duplicate_window_expired;
mod fault_server_kill9_under_pipelined_producer;
mod fence_refuses_a_replaced_writer;
mod naming_escape_is_injective;
mod publish_pipelined_then_read_back;
mod read_refuses_when_retention_deleted_unread;
mod topic_create_is_idempotent_and_race_safe;
