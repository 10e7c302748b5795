//! The security limits live in the policy (core), so the CLI's `upload` checks exactly what
//! the handler enforces; re-exported here where the pipeline has always found them.

pub use imgflex_core::Limits;
