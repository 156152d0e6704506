//! Every integration test of `exactly-bench`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod drop_from_page_cache_empties_the_files_cache;
mod log_bench_reports_medians_against_same_block_raw;
mod nats_bench_compares_sink_and_jobs_in_one_run;
