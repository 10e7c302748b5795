//! The image pipeline: bytes + spec + limits → encoded image, or a typed error. Pure: no
//! I/O, no async; the handler, `imgflex transform`, `imgflex bench` and `imgflex dev` call it.
//!
//! decode (at reduced size when the target allows) ▶ place a `g=auto` crop by saliency ▶
//! resize + crop (Lanczos3, premultiplied alpha) ▶ orient ▶ to sRGB ▶ letterbox ▶ flatten for
//! JPEG ▶ encode. A JPEG re-encoded at its own size skips all of it: its DCT coefficients
//! are requantised (chroma finer than 4:2:0 halved) and written again. An animated WebP
//! output (`anim=1`) runs every frame from the resize on through the same plan, the crop
//! chosen on the first.

mod acceleration;
mod animation;
mod attention;
mod avif;
mod coefficients;
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
    /// Frames in the output: 1 for a still, more for an animation (`anim=1`).
    pub frames: u32,
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

    if spec.animate
        && spec.format == Format::Webp
        && let Some(timeline) = animation::timeline(bytes, header.format, limits)?
    {
        return animated(bytes, &header, plan, timeline, spec, limits);
    }

    // The coefficients, requantised (chroma finer than 4:2:0 halved on the way). Any
    // other JPEG (RGB, CMYK, 4:1:1, a profile to convert from) goes through pixels.
    if unchanged_jpeg(&header, &plan, spec)
        && let Some(bytes) = coefficients::requantised(bytes, &header, spec.quality, limits)?
    {
        return Ok(Output {
            bytes,
            format: Format::Jpeg,
            width: header.width,
            height: header.height,
            window: None,
            frames: 1,
        });
    }

    // Plan in the displayed orientation; decode and resize in the stored one, where the
    // crop is mapped back (orienting the small result afterwards is the cheap direction).
    let resize_stored = stored(plan.resize, header.orientation);
    let decoded = decode::decode(bytes, &header, Some(resize_stored), limits)?;
    let px = decoded.pixels.drop_opaque_alpha();
    let window = smart_crop(&px, header.orientation, &mut plan, spec)?;
    let px = render(px, &plan, header.orientation, decoded.icc.as_deref(), spec)?;
    let (width, height) = (px.width, px.height);
    let bytes = encode::encode(px, spec.format, spec.quality)?;
    Ok(Output {
        bytes,
        format: spec.format,
        width,
        height,
        window,
        frames: 1,
    })
}

/// A JPEG re-encoded to JPEG with every pixel where it was: no resize, crop, orientation
/// or letterbox (a `hero` of a photo no wider than 1920, a change of `q`). Only the
/// quantisation changes, so the file's coefficients can go straight to the encoder.
fn unchanged_jpeg(header: &Header, plan: &geometry::Plan, spec: &TransformSpec) -> bool {
    let size = (header.width, header.height);
    let crop = &plan.crop;
    header.format == SourceFormat::Jpeg
        && spec.format == Format::Jpeg
        && !(2..=8).contains(&header.orientation)
        && plan.resize == size
        && plan.canvas == size
        && plan.offset == (0, 0)
        && (crop.x, crop.y, crop.width, crop.height) == (0, 0, size.0, size.1)
}

/// A displayed size in the stored orientation.
fn stored((a, b): (u32, u32), orientation: u8) -> (u32, u32) {
    if orientation >= 5 { (b, a) } else { (a, b) }
}

/// Smart crop: the plan centred the window; the pixels say where it goes. Only a cover crop
/// that cuts something away has a choice to make.
fn smart_crop(
    px: &Pixels,
    orientation: u8,
    plan: &mut geometry::Plan,
    spec: &TransformSpec,
) -> Result<Option<geometry::Rect>, PipelineError> {
    let crops = plan.crop.width < plan.resize.0 || plan.crop.height < plan.resize.1;
    if spec.gravity == Gravity::Auto && spec.fit == Fit::Cover && crops {
        let chosen = attention::window(
            px,
            orientation,
            plan.resize,
            (plan.crop.width, plan.crop.height),
        )?;
        plan.crop = chosen;
        return Ok(Some(chosen));
    }
    Ok(None)
}

/// Decoded pixels (in the stored orientation, at whatever scale the decoder reached) to the
/// output's: crop and resize, orient, to sRGB, letterbox, flatten for JPEG.
fn render(
    mut px: Pixels,
    plan: &geometry::Plan,
    o: u8,
    icc: Option<&[u8]>,
    spec: &TransformSpec,
) -> Result<Pixels, PipelineError> {
    let resize_stored = stored(plan.resize, o);
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
    let out_stored = stored((plan.crop.width, plan.crop.height), o);
    px = resize(px, crop, out_stored.0, out_stored.1)?;
    px = orient(px, o);
    if let Some(icc) = icc {
        to_srgb(&mut px, icc);
    }
    px = letterbox(px, plan.canvas, plan.offset, spec.background);
    if spec.format == Format::Jpeg {
        px = px.flatten(spec.background);
    }
    Ok(px)
}

/// `anim=1` on an animated source: the limits from the container's frame headers, then
/// each frame decoded, rendered with the plan (a `g=auto` window chosen on the first frame,
/// so the crop does not jump) and added to the encoder before the next is decoded.
fn animated(
    bytes: &[u8],
    header: &Header,
    mut plan: geometry::Plan,
    timeline: animation::Timeline,
    spec: &TransformSpec,
    limits: &Limits,
) -> Result<Output, PipelineError> {
    check(
        timeline.frames,
        limits.max_animation_frames,
        "animation's frame count",
    )?;
    let (cw, ch) = plan.output();
    let per_frame =
        (u64::from(header.width) * u64::from(header.height)).max(u64::from(cw) * u64::from(ch));
    check(
        timeline.frames.saturating_mul(per_frame),
        limits.max_animation_pixels,
        "animation's size in pixels (frames x pixels)",
    )?;
    let icc = decode::icc_profile(bytes, header.format)?;
    let o = header.orientation;
    let mut window = None;
    let mut encoder: Option<animation::WebpAnimation> = None;
    animation::each_frame(
        bytes,
        header.format,
        (header.width, header.height),
        limits,
        |px, duration| {
            if encoder.is_none() {
                window = smart_crop(&px, o, &mut plan, spec)?;
            }
            let px = render(px, &plan, o, icc.as_deref(), spec)?;
            let encoder = match &mut encoder {
                Some(encoder) => encoder,
                None => encoder.insert(animation::WebpAnimation::new(
                    (px.width, px.height),
                    spec.quality.unwrap_or(80),
                    timeline.loop_count,
                )?),
            };
            encoder.add(px, duration)
        },
    )?;
    let encoder = encoder.ok_or_else(|| PipelineError::decode("an animation with no frames"))?;
    let bytes = encoder.finish()?;
    // libwebp folds a frame that matches the one before into that frame's duration, and
    // writes a still when one frame is left: the count is what the file holds.
    let frames = animation::webp_frame_count(&bytes)?;
    Ok(Output {
        bytes,
        format: Format::Webp,
        width: cw,
        height: ch,
        window,
        frames,
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

/// How many frames an animated GIF or WebP has, from its container (GIF frames counted
/// without decompressing them), or `None` for a still. Counting stops one past
/// `max_animation_frames`. What the bench asks before it times `anim=1` on a file.
pub fn animation_frames(bytes: &[u8], limits: &Limits) -> Result<Option<u64>, PipelineError> {
    let header = probe(bytes, limits)?;
    Ok(animation::timeline(bytes, header.format, limits)?.map(|t| t.frames))
}

/// An animation's frames as a player shows them: full canvases in sRGB, each with how long
/// it shows (ms), and how many times it plays (0: forever). `None` for a still. What tests
/// compare animated outputs with.
#[derive(Debug, Clone)]
pub struct Animation {
    pub frames: Vec<(Pixels, u32)>,
    pub loop_count: u32,
}

pub fn decode_animation(bytes: &[u8], limits: &Limits) -> Result<Option<Animation>, PipelineError> {
    let header = probe(bytes, limits)?;
    let Some(timeline) = animation::timeline(bytes, header.format, limits)? else {
        return Ok(None);
    };
    check(
        timeline.frames,
        limits.max_animation_frames,
        "animation's frame count",
    )?;
    let icc = decode::icc_profile(bytes, header.format)?;
    let mut frames = Vec::new();
    animation::each_frame(
        bytes,
        header.format,
        (header.width, header.height),
        limits,
        |mut px, duration| {
            if let Some(icc) = &icc {
                to_srgb(&mut px, icc);
            }
            frames.push((px, duration));
            Ok(())
        },
    )?;
    Ok(Some(Animation {
        frames,
        loop_count: timeline.loop_count,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy test card (gradients, a ramp of colours, fine stripes) as a JPEG with its
    /// chroma at `(h, v)` luma pixels a sample.
    fn jpeg_of(width: u32, height: u32, sampling: (u8, u8)) -> Vec<u8> {
        jpeg_at(width, height, sampling, 95)
    }

    /// The same test card at quality `q`.
    fn jpeg_at(width: u32, height: u32, (h, v): (u8, u8), q: u8) -> Vec<u8> {
        let (w, ht) = (width as usize, height as usize);
        let mut rgb = Vec::with_capacity(w * ht * 3);
        for y in 0..ht {
            for x in 0..w {
                let stripe = if (x / 3 + y / 2) % 2 == 0 { 40 } else { 0 };
                rgb.extend_from_slice(&[
                    (x * 255 / w.max(1)) as u8,
                    (y * 255 / ht.max(1)) as u8,
                    (((x + y) * 7) % 200) as u8 + stripe,
                ]);
            }
        }
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(w, ht);
        c.set_quality(f32::from(q));
        c.set_chroma_sampling_pixel_sizes((h, v), (h, v));
        let mut c = c.start_compress(Vec::new()).unwrap();
        c.write_scanlines(&rgb).unwrap();
        c.finish().unwrap()
    }

    fn psnr(a: &Pixels, b: &Pixels) -> f64 {
        assert_eq!(
            (a.width, a.height, a.channels),
            (b.width, b.height, b.channels)
        );
        let mse = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
            .sum::<f64>()
            / a.data.len() as f64;
        10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
    }

    /// The spec a URL's query gives a `.jpg` original under the default policy.
    fn spec(query: &str) -> TransformSpec {
        let imgflex_core::Route::Variant(v) = imgflex_core::route_target(
            &format!("/x.jpg?{query}"),
            None,
            &imgflex_core::Policy::default(),
        )
        .unwrap() else {
            panic!("not a variant")
        };
        v.spec
    }

    #[test]
    fn a_cut_jpeg_is_refused_on_the_coefficient_route_too() {
        // An upload that died two thirds in: libjpeg reads zeros for the coefficients past
        // the cut and warns; the coefficient reader counts the warning as the pixel decoder
        // does, a 422, not an image half grey. 4:2:0 keeps its chroma, 4:4:4 halves it, and
        // the committed tests/fixtures/hostile/truncated-422.jpg (cjpeg's 4:2:2, no profile;
        // its story is in handler/tests/pipeline.rs) halves it across only.
        let limits = Limits::default();
        let spec = spec("fm=jpeg&q=70");
        let mut cuts: Vec<(String, Vec<u8>)> = [(2, 2), (1, 1)]
            .into_iter()
            .map(|sampling| {
                let whole = jpeg_of(203, 90, sampling);
                assert!(transform(&whole, &spec, &limits).is_ok());
                (
                    format!("{sampling:?}"),
                    whole[..whole.len() * 2 / 3].to_vec(),
                )
            })
            .collect();
        let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/hostile/truncated-422.jpg");
        cuts.push((
            "truncated-422.jpg".into(),
            std::fs::read(committed).unwrap(),
        ));
        for (what, cut) in &cuts {
            let err = transform(cut, &spec, &limits).unwrap_err();
            assert_eq!(err.status(), 422, "{what}: {err}");
            // And it is the coefficient reader that refuses, not a fallback to pixels.
            let header = probe(cut, &limits).unwrap();
            let err = coefficients::requantised(cut, &header, Some(70), &limits).unwrap_err();
            assert_eq!(err.status(), 422, "{what}: {err}");
        }
    }

    /// A grey test card (a ramp and fine stripes) as a one-component JPEG at quality 95.
    fn grey_jpeg_of(width: u32, height: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let grey: Vec<u8> = (0..w * h)
            .map(|i| ((i % w) * 200 / w.max(1) + if (i / w / 2) % 2 == 0 { 50 } else { 0 }) as u8)
            .collect();
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
        c.set_size(w, h);
        c.set_quality(95.0);
        let mut c = c.start_compress(Vec::new()).unwrap();
        c.write_scanlines(&grey).unwrap();
        c.finish().unwrap()
    }

    /// The payloads of a JPEG's DQT segments (its quantisation tables), in file order.
    fn dqt(jpeg: &[u8]) -> Vec<Vec<u8>> {
        let mut tables = Vec::new();
        let mut i = 2; // past SOI
        while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
            let marker = jpeg[i + 1];
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if marker == 0xDB {
                tables.push(jpeg[i + 4..i + 2 + len].to_vec());
            }
            if marker == 0xDA {
                break; // the entropy-coded data follows; every table came before it
            }
            i += 2 + len;
        }
        tables
    }

    #[test]
    fn a_jpegs_coefficients_requantise_as_its_pixels_would_at_every_sampling_and_size() {
        // Every sampling the route takes (chroma kept, halved across, down, or both) and
        // grey, at odd sizes (part-blocks and part-MCUs at the edges, where a block row
        // read short or a pair of blocks halved wrong would shear or smear), at qualities
        // below, at and above the source's 95. The output must be the file the pixel route
        // writes in all but its rounding: the same tables (so the same settings), and as
        // close to the source.
        let limits = Limits::default();
        for (w, h) in [(37, 29), (16, 16), (1, 1), (203, 9), (8, 40)] {
            let sources = [
                ("4:2:0", jpeg_of(w, h, (2, 2))),
                ("4:2:2", jpeg_of(w, h, (2, 1))),
                ("4:4:0", jpeg_of(w, h, (1, 2))),
                ("4:4:4", jpeg_of(w, h, (1, 1))),
                ("grey", grey_jpeg_of(w, h)),
            ];
            for (name, src) in sources {
                let header = probe(&src, &limits).unwrap();
                let source = decode_full(&src, &limits).unwrap();
                for q in [50, 90, 95, 100] {
                    let what = format!("{name} {w}x{h} q{q}");
                    let ours = coefficients::requantised(&src, &header, Some(q), &limits)
                        .unwrap()
                        .unwrap_or_else(|| panic!("{what}: not requantised"));
                    // `transform` takes this route for a same-size JPEG re-encode.
                    let routed = transform(&src, &spec(&format!("fm=jpeg&q={q}")), &limits);
                    assert_eq!(routed.unwrap().bytes, ours, "{what}: another route");
                    let rgb = encode::encode(source.clone(), Format::Jpeg, Some(q)).unwrap();
                    assert_eq!(dqt(&ours), dqt(&rgb), "{what}: other tables");
                    let (p, r) = (
                        psnr(&decode_full(&ours, &limits).unwrap(), &source),
                        psnr(&decode_full(&rgb, &limits).unwrap(), &source),
                    );
                    // Measured: 7 dB better on average, 1 to 8 dB where chroma is
                    // subsampled (no second resample), within 0.3 dB elsewhere, except
                    // where both are past 45 dB (a mean squared error of 2 levels):
                    // grey 203x9 q95 52.9 against 54.5, and a 1x1 at q50 (one DC, a tie
                    // rounded toward zero) 45.9 against 46.9.
                    assert!(
                        p > 20.0 && (p > r - 0.5 || p > 45.0),
                        "{what}: coefficients {p:.1} dB, pixel route {r:.1} dB"
                    );
                }
            }
        }
    }

    #[test]
    fn only_plain_ycbcr_and_grey_jpegs_are_requantised() {
        let limits = Limits::default();
        let taken = |bytes: &[u8]| {
            let header = probe(bytes, &limits).unwrap();
            coefficients::requantised(bytes, &header, Some(80), &limits)
                .unwrap()
                .is_some()
        };
        for sampling in [(2, 2), (2, 1), (1, 2), (1, 1)] {
            assert!(taken(&jpeg_of(40, 30, sampling)), "{sampling:?}");
        }
        assert!(taken(&grey_jpeg_of(40, 30)));
        // 4:1:1 (chroma a quarter across): not a sampling halving makes 4:2:0 of.
        assert!(!taken(&jpeg_of(64, 16, (4, 1))));
        // Stored as RGB (no YCbCr transform): its coefficients are not YCbCr's.
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(16, 16);
        c.set_color_space(mozjpeg::ColorSpace::JCS_RGB);
        let mut c = c.start_compress(Vec::new()).unwrap();
        c.write_scanlines(&[90u8; 16 * 16 * 3]).unwrap();
        assert!(!taken(&c.finish().unwrap()));
        // A profile that is not sRGB: its pixels must be converted first.
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(16, 16);
        let mut c = c.start_compress(Vec::new()).unwrap();
        c.write_icc_profile(b"a profile, not sRGB's");
        c.write_scanlines(&[90u8; 16 * 16 * 3]).unwrap();
        assert!(!taken(&c.finish().unwrap()));
    }

    #[test]
    fn coefficients_scaled_past_what_a_jpeg_carries_are_clamped_not_refused() {
        // Hostile: a q100 file (every step 1) whose luma table was then rewritten to steps
        // of 255. Its coefficients now stand for values 255 times an 8-bit image's; at
        // q100 they requantise to ~10^5, past the 10 bits a baseline code holds, which
        // libjpeg's writer refuses with an error. Clamped, the file re-encodes as the pixel
        // route would paint it: saturated, not a 500.
        let limits = Limits::default();
        let mut src = jpeg_at(64, 48, (2, 2), 100);
        let mut i = 2;
        loop {
            let len = usize::from(u16::from_be_bytes([src[i + 2], src[i + 3]]));
            if src[i + 1] == 0xDB {
                // Pq/Tq 0x00: 8-bit table 0 (luma), then its 64 entries.
                assert_eq!(src[i + 4], 0x00);
                src[i + 5..i + 69].fill(255);
                break;
            }
            i += 2 + len;
        }
        let out = transform(&src, &spec("fm=jpeg&q=100"), &limits).unwrap();
        assert_eq!((out.width, out.height), (64, 48));
        assert_eq!(decode_full(&out.bytes, &limits).unwrap().width, 64);
    }
}
