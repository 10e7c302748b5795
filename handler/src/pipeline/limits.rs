//! Security limits, each checked before the work it guards (imgproxy's model): bytes before
//! decoding, header dimensions before allocating pixels, output size before resizing.

use serde::{Deserialize, Serialize};

/// Limits for one transform. Defaults suit a Lambda with 2 GB of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest original, in bytes (64 MiB). Checked before anything is parsed.
    pub max_source_bytes: u64,
    /// Largest original, in pixels, read from the header before decoding (50 MP). A
    /// decompression bomb (a small file claiming 60000x60000) stops here.
    pub max_source_pixels: u64,
    /// Largest output canvas in pixels (64 MP): the policy bounds width and height, this
    /// bounds their product for every path, including a `contain` letterbox.
    pub max_output_pixels: u64,
    /// Largest AVIF output in pixels (4K UHD, 3840x2160): AV1 encoding is the one step whose
    /// time grows past the Lambda's timeout within the policy's sizes (measured on one core,
    /// no assembly: a hard 3840x2160 image 15 s at speed 10, 4096x4096 26 s).
    pub max_avif_pixels: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_source_bytes: 64 * 1024 * 1024,
            max_source_pixels: 50_000_000,
            max_output_pixels: 64_000_000,
            max_avif_pixels: 3840 * 2160,
        }
    }
}
