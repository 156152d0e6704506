//! Every integration test of `exactly-testkit`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod bank_drive_kills_restarts_and_drains;
mod demo_audit_reads_an_exactly_once_run;
mod kill_loop_kills_every_run_of_a_long_child;
mod kill_loop_lets_a_quick_child_finish;
mod netns_hosts_and_nats_cluster;
mod producer_audit_counts_each_fault;
mod supervised_child_is_killed_restarted_and_dies_with_its_input;
