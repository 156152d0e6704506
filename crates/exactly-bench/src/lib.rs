//! Benchmarks of exactly: the bodies of `exactly bench …` (the CLI parses arguments and
//! calls them); Criterion micro-benchmarks live in `benches/`.

pub mod txn;
