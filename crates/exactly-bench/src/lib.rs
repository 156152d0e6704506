//! Criterion benchmarks of exactly live in `benches/`; this library is empty on purpose.
