//! Every integration test of `exactly-cluster`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod assign_sticky_balanced_minimal;
mod table_fences_stale_epochs;
mod worker_self_fences_from_send_time;
