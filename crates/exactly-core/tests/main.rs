//! Every integration test of `exactly-core`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod durable_end_survives_sim_crashes;
mod framing_detects_every_flip_and_truncation;
mod journal_recovery_rule;
