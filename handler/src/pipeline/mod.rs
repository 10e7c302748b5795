//! The image pipeline: bytes + spec + limits → encoded image, or a typed error. Pure: no
//! I/O, no async; the handler, `imgflex transform`, `imgflex bench` and `imgflex dev` call it.
//!
//! decode (at reduced size when the target allows) ▶ place a `g=auto` crop by saliency ▶
//! resize + crop (Lanczos3, premultiplied alpha) ▶ orient ▶ to sRGB ▶ letterbox ▶ flatten for
//! JPEG ▶ encode.

mod acceleration;
mod attention;
mod avif;
mod colour;
mod decode;
mod encode;
mod error;
pub mod geometry;
mod limits;
mod pixels;

use imgflex_core::{Fit, Format, Gravity, TransformSpec};

pub use acceleration::Acceleration;
pub use decode::{Header, SourceFormat, header, sniff};
pub use encode::{AVIF_LARGE_PIXELS, AVIF_SPEED, AVIF_SPEED_LARGE, avif_quality, avif_speed};
pub use error::PipelineError;
pub use limits::Limits;
pub use pixels::Pixels;

use colour::to_srgb;
use pixels::{crop_in_source, letterbox, orient, resize, unorient_rect};

/// An encoded variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// The `cover` window saliency chose for `g=auto`, in the resized (displayed) image:
    /// what `imgflex transform` reports, so a surprising crop can be explained.
    pub window: Option<geometry::Rect>,
}

/// Checks what can be checked without decoding: the format, the byte size and the header
/// dimensions. What `upload` runs before anything is written.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<Header, PipelineError> {
    check(
        bytes.len() as u64,
        limits.max_source_bytes,
        "source size in bytes",
    )?;
    let header = header(bytes)?;
    check(
        u64::from(header.width) * u64::from(header.height),
        limits.max_source_pixels,
        "source size in pixels",
    )?;
    Ok(header)
}

fn check(actual: u64, limit: u64, what: &'static str) -> Result<(), PipelineError> {
    if actual > limit {
        return Err(PipelineError::Limits {
            what,
            actual,
            limit,
        });
    }
    Ok(())
}

pub fn transform(
    bytes: &[u8],
    spec: &TransformSpec,
    limits: &Limits,
) -> Result<Output, PipelineError> {
    let header = probe(bytes, limits)?;
    let mut plan = geometry::plan(header.displayed(), spec);
    let (cw, ch) = plan.output();
    check(
        u64::from(cw) * u64::from(ch),
        limits.max_output_pixels,
        "output size in pixels",
    )?;
    if spec.format == Format::Avif {
        check(
            u64::from(cw) * u64::from(ch),
            limits.max_avif_pixels,
            "AVIF output size in pixels",
        )?;
    }

    // Plan in the displayed orientation; decode and resize in the stored one, where the
    // crop is mapped back (orienting the small result afterwards is the cheap direction).
    let o = header.orientation;
    let swap = |(a, b): (u32, u32)| if o >= 5 { (b, a) } else { (a, b) };
    let resize_stored = swap(plan.resize);
    let decoded = decode::decode(bytes, &header, Some(resize_stored), limits)?;
    let mut px = decoded.pixels.drop_opaque_alpha();

    // Smart crop: the plan centred the window; the pixels say where it goes. Only a cover
    // crop that cuts something away has a choice to make.
    let crops = plan.crop.width < plan.resize.0 || plan.crop.height < plan.resize.1;
    let window = if spec.gravity == Gravity::Auto && spec.fit == Fit::Cover && crops {
        let chosen = attention::window(&px, o, plan.resize, (plan.crop.width, plan.crop.height))?;
        plan.crop = chosen;
        Some(chosen)
    } else {
        None
    };

    let display_crop = crop_in_source(
        plan.crop,
        plan.resize,
        (f64::from(plan.resize.0), f64::from(plan.resize.1)),
    );
    let stored_crop = unorient_rect(
        display_crop,
        (f64::from(plan.resize.0), f64::from(plan.resize.1)),
        o,
    );
    // From resize-space to the decoded pixels (which a DCT or WebP scale made smaller).
    let (sx, sy) = (
        f64::from(px.width) / f64::from(resize_stored.0),
        f64::from(px.height) / f64::from(resize_stored.1),
    );
    let crop = (
        stored_crop.0 * sx,
        stored_crop.1 * sy,
        stored_crop.2 * sx,
        stored_crop.3 * sy,
    );
    let out_stored = swap((plan.crop.width, plan.crop.height));
    px = resize(px, crop, out_stored.0, out_stored.1)?;
    px = orient(px, o);
    if let Some(icc) = decoded.icc {
        to_srgb(&mut px, &icc);
    }
    px = letterbox(px, plan.canvas, plan.offset, spec.background);
    if spec.format == Format::Jpeg {
        px = px.flatten(spec.background);
    }
    let (width, height) = (px.width, px.height);
    let bytes = encode::encode(px, spec.format, spec.quality)?;
    Ok(Output {
        bytes,
        format: spec.format,
        width,
        height,
        window,
    })
}

/// Everything the handler will check before it serves a variant of `bytes`: the probe, then
/// a full-size decode of every pixel (a truncated file is refused here, not by every URL
/// later). What `upload` runs on each file before anything is written.
pub fn verify(bytes: &[u8], limits: &Limits) -> Result<Header, PipelineError> {
    let header = probe(bytes, limits)?;
    decode::decode(bytes, &header, None, limits)?;
    Ok(header)
}

/// Decodes to full-size pixels with nothing else: the bench's `decode-only`, and what tests
/// compare outputs with.
pub fn decode_full(bytes: &[u8], limits: &Limits) -> Result<Pixels, PipelineError> {
    let header = probe(bytes, limits)?;
    let decoded = decode::decode(bytes, &header, None, limits)?;
    let mut px = orient(decoded.pixels, header.orientation);
    if let Some(icc) = decoded.icc {
        to_srgb(&mut px, &icc);
    }
    Ok(px)
}
