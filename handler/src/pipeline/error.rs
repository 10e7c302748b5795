//! Why a transform failed, and what that means over HTTP.

use thiserror::Error;

/// A failed transform. Client-caused kinds (a source that is not an image, is corrupt, or is
/// too big) map to 4xx; `Encode` is our fault. `detail` is for the log, never the viewer.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The bytes are not a format imgflex reads (HTML, SVG, text, TIFF, …).
    #[error("unsupported source format: {detail}")]
    Unsupported { detail: String },
    /// The bytes claim to be an image but do not decode: corrupt or truncated.
    #[error("cannot decode the source: {detail}")]
    Decode { detail: String },
    /// A limit was hit before the work it guards.
    #[error("{what} is {actual}, over the limit of {limit}")]
    Limits {
        what: &'static str,
        actual: u64,
        limit: u64,
    },
    /// The encoder failed on pixels we produced.
    #[error("cannot encode the output: {detail}")]
    Encode { detail: String },
}

impl PipelineError {
    pub fn unsupported(detail: impl Into<String>) -> PipelineError {
        PipelineError::Unsupported {
            detail: detail.into(),
        }
    }

    pub fn decode(detail: impl std::fmt::Display) -> PipelineError {
        PipelineError::Decode {
            detail: detail.to_string(),
        }
    }

    pub fn encode(detail: impl std::fmt::Display) -> PipelineError {
        PipelineError::Encode {
            detail: detail.to_string(),
        }
    }

    /// The HTTP status: 415 not an image, 422 a broken image, 413 too big, 500 our fault.
    pub fn status(&self) -> u16 {
        match self {
            PipelineError::Unsupported { .. } => 415,
            PipelineError::Decode { .. } => 422,
            PipelineError::Limits { .. } => 413,
            PipelineError::Encode { .. } => 500,
        }
    }

    /// What a viewer may be told: short, and no library text.
    pub fn public_message(&self) -> String {
        match self {
            PipelineError::Unsupported { .. } => {
                "the original is not an image imgflex can read".into()
            }
            PipelineError::Decode { .. } => "the original image is corrupt or truncated".into(),
            PipelineError::Limits { what, limit, .. } => {
                format!("the {what} is over the limit of {limit}")
            }
            PipelineError::Encode { .. } => "the image could not be encoded".into(),
        }
    }
}
