//! Every integration test of `exactly-endpoint`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod common;

mod bank_layout_paths_and_roles;
mod batching_equals_one_message_per_transaction;
mod embedded_crash_sweep_exactly_once;
mod embedded_outbox_full_then_backpressure;
mod embedded_recovery_refuses_mid_journal_corruption;
mod embedded_store_refuses_missing_files;
mod embedded_store_refuses_second_writer;
mod inbox_retention_forgets_by_policy;
mod log_source_resumes_at_end_when_source_lost_its_tail;
mod log_transport_dead_letters_bad_records;
mod protocol_crash_points_exactly_once;
mod serve_loop_reconnects_after_a_lost_connection;
mod storage_fault_sweep_embedded_store;
