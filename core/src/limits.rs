//! Security limits, each checked before the work it guards (imgproxy's model): bytes before
//! decoding, header dimensions before allocating pixels, output size before resizing. They
//! are part of the policy (`[limits]` in imgflex.toml), so `upload` refuses exactly what the
//! Lambda would.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// Limits for one transform. Defaults suit a Lambda with 2 GB of memory.
///
/// ```toml
/// [limits]
/// max_source_bytes = 67_108_864   # 64 MiB
/// max_source_pixels = 50_000_000  # 50 MP
/// max_output_pixels = 64_000_000
/// max_avif_pixels = 8_294_400     # 3840x2160
/// max_animation_frames = 1_000
/// max_animation_pixels = 50_000_000
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest original, in bytes (64 MiB). Checked before anything is parsed.
    #[serde(deserialize_with = "positive")]
    pub max_source_bytes: u64,
    /// Largest original, in pixels, read from the header before decoding (50 MP). A
    /// decompression bomb (a small file claiming 60000x60000) stops here.
    #[serde(deserialize_with = "positive")]
    pub max_source_pixels: u64,
    /// Largest output canvas in pixels (64 MP): the policy bounds width and height, this
    /// bounds their product for every path, including a `contain` letterbox.
    #[serde(deserialize_with = "positive")]
    pub max_output_pixels: u64,
    /// Largest AVIF output in pixels (4K UHD, 3840x2160): AV1 encoding is the one step whose
    /// time grows past the Lambda's timeout within the policy's sizes (measured on one core,
    /// no assembly: a hard 3840x2160 image 15 s at speed 10, 4096x4096 26 s).
    #[serde(deserialize_with = "positive")]
    pub max_avif_pixels: u64,
    /// Most frames an animated output (`anim=1`) may have (1,000), counted from the file's
    /// frame headers before any frame is decoded. Each frame costs the encoder a fixed
    /// amount however small it is, so pixels alone do not bound the work.
    #[serde(deserialize_with = "positive")]
    pub max_animation_frames: u64,
    /// Most pixels an animated output may cost, summed over its frames: each frame counts the
    /// larger of the source canvas and the output (50 MP, what one still may decode). Also
    /// checked from the headers, before any frame is decoded.
    #[serde(deserialize_with = "positive")]
    pub max_animation_pixels: u64,
}

/// Past this an original is over a gigabyte of decoded pixels: more than the largest
/// Lambda (10,240 MB) can decode, resize and encode at once.
pub const MAX_SOURCE_PIXELS_CEILING: u64 = 268_435_456;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_source_bytes: 64 * 1024 * 1024,
            max_source_pixels: 50_000_000,
            max_output_pixels: 64_000_000,
            max_avif_pixels: 3840 * 2160,
            max_animation_frames: 1_000,
            max_animation_pixels: 50_000_000,
        }
    }
}

impl Limits {
    /// Cross-field rules; the error names the key.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_source_pixels > MAX_SOURCE_PIXELS_CEILING {
            return Err((
                "max_source_pixels",
                format!(
                    "`limits.max_source_pixels` is {}, above {MAX_SOURCE_PIXELS_CEILING} (16384x16384): \
                     no Lambda has the memory to decode that",
                    self.max_source_pixels
                ),
            ));
        }
        if self.max_source_bytes > 1 << 32 {
            return Err((
                "max_source_bytes",
                format!(
                    "`limits.max_source_bytes` is {}, above 4 GiB: the handler holds an original in memory",
                    self.max_source_bytes
                ),
            ));
        }
        if self.max_avif_pixels > self.max_output_pixels {
            return Err((
                "max_avif_pixels",
                format!(
                    "`limits.max_avif_pixels` ({}) is above `limits.max_output_pixels` ({})",
                    self.max_avif_pixels, self.max_output_pixels
                ),
            ));
        }
        Ok(())
    }
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 1 {
        return Err(de::Error::custom(format!("must be at least 1, got {n}")));
    }
    Ok(n as u64)
}
