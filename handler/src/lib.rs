//! imgflex's image pipeline (decode ▶ orient ▶ resize/crop ▶ encode) and the resize Lambda's
//! request handling, generic over where originals and variants are stored.

pub mod lambda;
pub mod memory;
pub mod pipeline;
pub mod s3;
pub mod service;
pub mod store;

pub use pipeline::{Limits, Output, PipelineError, transform};
pub use service::{Reply, Service, Settings};
pub use store::{MemoryStore, Store};
