//! imgflex's image pipeline (decode ▶ orient ▶ resize/crop ▶ encode) and the resize Lambda.
//!
//! The crate is a workspace member from the start so its place in the build is fixed; the
//! pipeline lands with the image-pipeline issue. It re-exports the core types the pipeline
//! is written against, so callers depend on one name.

pub use imgflex_core::{Fit, Format, Gravity, TransformSpec, Variant, parse_canonical};
