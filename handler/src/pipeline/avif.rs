//! AVIF originals: mp4parse reads the HEIF container (the primary item, its alpha item,
//! `ispe`, `irot`/`imir`, `colr`), rav1d decodes the AV1 (8, 10 and 12 bit; 4:0:0 to
//! 4:4:4), yuv turns the planes into 8-bit RGB(A).
//!
//! The limits are checked three times, each on what the next step will allocate for: the
//! container's `ispe` (the probe), the AV1 sequence header's largest frame (before rav1d is
//! given the data), and rav1d's own `frame_size_limit` (the decoder refuses a frame header
//! over it before it allocates the frame). `irot`/`imir` become the EXIF orientation the rest
//! of the pipeline already applies, so a rotated AVIF shrinks and crops like a rotated JPEG.
//!
//! rav1d's API is dav1d's C API, so this module holds the `unsafe` that calls it; every
//! block says why it is sound.
#![allow(unsafe_code)]

use std::io::Cursor;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use mp4parse::{AvifContext, ImageMirror, ImageRotation, ParseStrictness};
use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dSettings};
use rav1d::include::dav1d::headers::{
    DAV1D_PIXEL_LAYOUT_I400, DAV1D_PIXEL_LAYOUT_I420, DAV1D_PIXEL_LAYOUT_I422,
    DAV1D_PIXEL_LAYOUT_I444, Dav1dSequenceHeader,
};
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib::{
    dav1d_close, dav1d_data_create, dav1d_data_unref, dav1d_default_settings, dav1d_get_picture,
    dav1d_open, dav1d_parse_sequence_header, dav1d_picture_unref, dav1d_send_data,
};
use yuv::{YuvPlanarImage, YuvRange, YuvStandardMatrix};

use super::colour::is_srgb;
use super::decode::{Decoded, Header};
use super::error::PipelineError;
use super::limits::Limits;
use super::pixels::Pixels;

/// What the probe needs from the container: the stored size (`ispe`) and the orientation
/// its `irot`/`imir` amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub width: u32,
    pub height: u32,
    pub orientation: u8,
}

/// Runs `work` so that a panic in a parser or the decoder (none is known; both are fuzzed,
/// but a hostile file should find a 422, not a crashed request) is a decode error.
fn guarded<T>(work: impl FnOnce() -> Result<T, PipelineError>) -> Result<T, PipelineError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(PipelineError::decode(
            "the AVIF decoder failed on this file",
        ))
    })
}

/// The container, parsed. mp4parse copies the file's boxes into its own buffers.
fn container(bytes: &[u8]) -> Result<AvifContext, PipelineError> {
    let parsed = mp4parse::read_avif(&mut Cursor::new(bytes), ParseStrictness::Normal);
    let ctx = parsed.map_err(|e| match e {
        mp4parse::Error::Unsupported(what) => {
            PipelineError::unsupported(format!("an AVIF using {what}"))
        }
        other => PipelineError::decode(format!("AVIF container: {other:?}")),
    })?;
    if !ctx.primary_item_is_present() {
        // An image sequence (`avis`) without a still primary item, or a `grid` of tiles.
        return Err(PipelineError::unsupported(
            "an AVIF without a single coded primary image (a grid or a sequence only)",
        ));
    }
    Ok(ctx)
}

/// mp4parse's `ispe`, laid out as its C API hands it over (`#[repr(C)]`, two `u32`s): the
/// Rust struct keeps its fields private, its C callers read them exactly like this.
#[repr(C)]
struct Ispe {
    width: u32,
    height: u32,
}

/// The EXIF orientation (1-8) that HEIF's transforms amount to: `irot` first (a quarter
/// turn anticlockwise per step), then `imir` (HEIF Amd 2: mode 0 exchanges top and bottom,
/// as EXIF 4 does; mode 1 left and right, as EXIF 2). libavif maps them the same way.
fn orientation(rotation: ImageRotation, mirror: Option<ImageMirror>) -> u8 {
    use ImageMirror::{LeftRight, TopBottom};
    use ImageRotation::{D0, D90, D180, D270};
    match (rotation, mirror) {
        (D0, None) => 1,
        (D0, Some(LeftRight)) | (D180, Some(TopBottom)) => 2,
        (D180, None) => 3,
        (D0, Some(TopBottom)) | (D180, Some(LeftRight)) => 4,
        (D90, Some(TopBottom)) | (D270, Some(LeftRight)) => 5,
        (D270, None) => 6,
        (D90, Some(LeftRight)) | (D270, Some(TopBottom)) => 7,
        (D90, None) => 8,
    }
}

/// The stored size and orientation, from the container alone.
pub fn probe(bytes: &[u8]) -> Result<Probe, PipelineError> {
    guarded(|| probe_context(&container(bytes)?))
}

fn probe_context(ctx: &AvifContext) -> Result<Probe, PipelineError> {
    let ispe = ctx
        .spatial_extents_ptr()
        .map_err(|e| PipelineError::decode(format!("AVIF `ispe`: {e:?}")))?;
    if ispe.is_null() {
        return Err(PipelineError::unsupported(
            "an AVIF signature with no image size (`ispe`)",
        ));
    }
    // SAFETY: non-null, it points at the `ImageSpatialExtentsProperty` inside `ctx`, which
    // outlives this borrow; that struct is `#[repr(C)]` with two `u32` fields in this order,
    // the same layout as `Ispe`.
    let ispe = unsafe { &*ispe.cast::<Ispe>() };
    let rotation = ctx
        .image_rotation()
        .map_err(|e| PipelineError::decode(format!("AVIF `irot`: {e:?}")))?;
    let mirror = ctx
        .image_mirror_ptr()
        .map_err(|e| PipelineError::decode(format!("AVIF `imir`: {e:?}")))?;
    // SAFETY: null or a pointer at the `ImageMirror` inside `ctx`, alive for this borrow.
    let mirror = unsafe { mirror.as_ref() }.map(|m| match m {
        ImageMirror::TopBottom => ImageMirror::TopBottom,
        ImageMirror::LeftRight => ImageMirror::LeftRight,
    });
    Ok(Probe {
        width: ispe.width,
        height: ispe.height,
        orientation: orientation(rotation, mirror),
    })
}

/// Decodes an AVIF whose probe gave `header`, checking `limits` before each allocation.
pub fn decode(bytes: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, PipelineError> {
    guarded(|| decode_guarded(bytes, header, limits))
}

fn decode_guarded(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, PipelineError> {
    let ctx = container(bytes)?;
    let probe = probe_context(&ctx)?;
    if (probe.width, probe.height) != (header.width, header.height) {
        return Err(PipelineError::decode(
            "the AVIF changed between probe and decode",
        ));
    }
    let colour = ctx
        .primary_item_coded_data()
        .ok_or_else(|| PipelineError::decode("the AVIF's primary item has no data"))?;
    let mut decoder = Decoder::new(limits)?;
    let picture = decoder.decode(colour, limits)?;
    let size = (picture.width(), picture.height());
    if size != (header.width, header.height) {
        return Err(PipelineError::decode(format!(
            "the AV1 frame is {}x{}, the AVIF's `ispe` {}x{}",
            size.0, size.1, header.width, header.height
        )));
    }
    let alpha_data = ctx.alpha_item_coded_data();
    let mut pixels = picture.to_pixels(alpha_data.is_some())?;
    let cicp = picture.cicp();
    drop(picture);
    if let Some(data) = alpha_data {
        let alpha = decoder.decode(data, limits)?;
        if (alpha.width(), alpha.height()) != size {
            return Err(PipelineError::decode(format!(
                "the AVIF's alpha is {}x{}, its image {}x{}",
                alpha.width(),
                alpha.height(),
                size.0,
                size.1
            )));
        }
        alpha.write_alpha(&mut pixels)?;
        if ctx.premultiplied_alpha {
            unpremultiply(&mut pixels);
        }
    }
    let icc = match ctx.icc_colour_information() {
        Some(Ok(icc)) => Some(icc.to_vec()),
        Some(Err(e)) => return Err(PipelineError::decode(format!("AVIF `colr`: {e:?}"))),
        None => cicp_profile(cicp),
    };
    Ok(Decoded {
        pixels: pixels.drop_opaque_alpha(),
        icc: icc.filter(|p| !is_srgb(p)),
    })
}

/// Colour primaries, transfer characteristics (H.273 code points) from the AV1 sequence
/// header, which encoders write to agree with the container's `nclx`.
#[derive(Debug, Clone, Copy)]
struct Cicp {
    primaries: u8,
    transfer: u8,
}

/// An ICC profile for colours the CICP code points describe, when they are not sRGB's:
/// BT.709/sRGB primaries (1) or unspecified (2), with a BT.709-family or sRGB curve, are
/// treated as sRGB (libvips does the same); Display P3, BT.2020 and the rest go through
/// moxcms as any embedded profile would.
fn cicp_profile(cicp: Cicp) -> Option<Vec<u8>> {
    let srgb_primaries = matches!(cicp.primaries, 1 | 2);
    let srgb_curve = matches!(cicp.transfer, 1 | 2 | 6 | 13 | 14 | 15);
    if srgb_primaries && srgb_curve {
        return None;
    }
    let primaries = moxcms::CicpColorPrimaries::try_from(cicp.primaries).ok()?;
    let transfer = moxcms::TransferCharacteristics::try_from(if cicp.transfer == 2 {
        13
    } else {
        cicp.transfer
    })
    .ok()?;
    let profile = moxcms::ColorProfile::new_from_cicp(moxcms::CicpProfile {
        color_primaries: primaries,
        transfer_characteristics: transfer,
        matrix_coefficients: moxcms::MatrixCoefficients::Bt709,
        full_range: true,
    });
    // A curve moxcms has no tone curve for (PQ, HLG) leaves the profile without one: no
    // conversion beats a wrong one.
    profile.red_trc.as_ref()?;
    profile.encode().ok()
}

/// Straight alpha from premultiplied (`prem` in the container).
fn unpremultiply(px: &mut Pixels) {
    if px.channels != 4 {
        return;
    }
    for p in px.data.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a == 0 || a == 255 {
            continue;
        }
        for c in &mut p[..3] {
            *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
        }
    }
}

/// One rav1d context, closed on drop.
struct Decoder {
    ctx: Option<Dav1dContext>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoder")
    }
}

fn av1_error(what: &str, code: i32) -> PipelineError {
    PipelineError::decode(format!("AV1 {what} failed (rav1d error {code})"))
}

impl Decoder {
    fn new(limits: &Limits) -> Result<Decoder, PipelineError> {
        let mut settings = MaybeUninit::<Dav1dSettings>::uninit();
        // SAFETY: `dav1d_default_settings` writes every field of the struct it is given.
        let settings = unsafe {
            dav1d_default_settings(NonNull::from(&mut settings).cast());
            settings.assume_init_mut()
        };
        // Two threads and two frame contexts, not one of each. With a single frame context
        // rav1d 1.1.0 aborts the process on any decode error: its error path unwraps a
        // frame header it has already dropped, and the panic cannot unwind out of
        // `dav1d_send_data` (`extern "C"`), so no `catch_unwind` can stop it
        // (memorysafety/rav1d#1497, fix in #1503, unreleased). One corrupt byte would take
        // the Lambda's runtime down; the fuzz test here found it. Only `n_fc == 1` takes that
        // path, and `n_fc` is the smaller of the two settings.
        settings.n_threads = 2;
        settings.max_frame_delay = 2;
        // Only the highest spatial layer: the whole image, one picture.
        settings.all_layers = 0;
        // Film grain is part of the picture (libavif and libaom apply it too).
        settings.apply_grain = 1;
        // The decoder's own check, on the frame header it reads, before it allocates.
        settings.frame_size_limit = u32::try_from(limits.max_source_pixels).unwrap_or(u32::MAX);
        let mut ctx = None;
        // SAFETY: both pointers are to live locals; `dav1d_open` copies the settings.
        let res =
            unsafe { dav1d_open(Some(NonNull::from(&mut ctx)), Some(NonNull::from(settings))) };
        if res.0 != 0 || ctx.is_none() {
            return Err(PipelineError::decode(format!(
                "cannot start the AV1 decoder (rav1d error {})",
                res.0
            )));
        }
        Ok(Decoder { ctx })
    }

    /// Decodes one AVIF item (one temporal unit): its last picture, the whole image when the
    /// item is layered. The sequence header's largest frame is checked first.
    fn decode(&mut self, av1: &[u8], limits: &Limits) -> Result<Picture, PipelineError> {
        let Some(ctx) = self.ctx else {
            return Err(PipelineError::decode("the AV1 decoder is closed"));
        };
        let Some(start) = NonNull::new(av1.as_ptr().cast_mut()).filter(|_| !av1.is_empty()) else {
            return Err(PipelineError::decode("an empty AV1 item"));
        };
        let mut seq = MaybeUninit::<Dav1dSequenceHeader>::uninit();
        // SAFETY: `start` is the start of `av1`, of `av1.len()` bytes, which rav1d only
        // reads; `seq` is written whole on success and read only then.
        let res = unsafe {
            dav1d_parse_sequence_header(
                Some(NonNull::from(&mut seq).cast()),
                Some(start),
                av1.len(),
            )
        };
        if res.0 != 0 {
            return Err(av1_error("sequence header", res.0));
        }
        // SAFETY: written by the successful call above.
        let seq = unsafe { seq.assume_init_ref() };
        let (w, h) = (
            u64::try_from(seq.max_width).unwrap_or(0),
            u64::try_from(seq.max_height).unwrap_or(0),
        );
        super::check(w * h, limits.max_source_pixels, "source size in pixels")?;

        let mut data = Dav1dData::default();
        // SAFETY: `dav1d_data_create` allocates `av1.len()` bytes owned by `data` (null on
        // failure); we copy the item into them. rav1d takes `data` over in `send_data`, and
        // `dav1d_data_unref` releases whatever it did not take. Pictures are unreferenced
        // exactly once: the superseded layers here, the last one by `Picture`'s drop.
        unsafe {
            let buf = dav1d_data_create(Some(NonNull::from(&mut data)), av1.len());
            if buf.is_null() {
                return Err(PipelineError::decode("out of memory for the AV1 data"));
            }
            std::ptr::copy_nonoverlapping(av1.as_ptr(), buf, av1.len());
            let mut last: Option<Dav1dPicture> = None;
            let sent = loop {
                let res = dav1d_send_data(Some(ctx), Some(NonNull::from(&mut data)));
                if res.0 == 0 {
                    break Ok(());
                }
                // EAGAIN: a picture is waiting; take it (a lower layer) and send again.
                let mut pending = Dav1dPicture::default();
                let got = dav1d_get_picture(Some(ctx), Some(NonNull::from(&mut pending)));
                if got.0 != 0 {
                    dav1d_picture_unref(Some(NonNull::from(&mut pending)));
                    break Err(av1_error("decode", res.0));
                }
                if let Some(mut old) = last.replace(pending) {
                    dav1d_picture_unref(Some(NonNull::from(&mut old)));
                }
            };
            dav1d_data_unref(Some(NonNull::from(&mut data)));
            if let Err(e) = sent {
                if let Some(mut old) = last {
                    dav1d_picture_unref(Some(NonNull::from(&mut old)));
                }
                return Err(e);
            }
            // With two frame contexts the picture may still be in flight: the first call
            // after the data marks the decoder as draining and may say EAGAIN, the next
            // waits for the frame threads. EAGAIN once a picture is out means no more.
            let mut waits = 0;
            loop {
                let mut picture = Dav1dPicture::default();
                let got = dav1d_get_picture(Some(ctx), Some(NonNull::from(&mut picture)));
                if got.0 == 0 {
                    if let Some(mut old) = last.replace(picture) {
                        dav1d_picture_unref(Some(NonNull::from(&mut old)));
                    }
                    continue;
                }
                dav1d_picture_unref(Some(NonNull::from(&mut picture)));
                if got.0 == -libc::EAGAIN && last.is_none() && waits < 8 {
                    waits += 1;
                    continue;
                }
                return match last {
                    Some(p) => Picture::new(p),
                    None => Err(av1_error("decode", got.0)),
                };
            }
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from `dav1d_open`; `dav1d_close` takes it and leaves `None`.
        unsafe { dav1d_close(Some(NonNull::from(&mut self.ctx))) };
    }
}

/// Chroma layout of a decoded picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Mono,
    Yuv420,
    Yuv422,
    Yuv444,
}

/// A decoded picture, unreferenced on drop.
struct Picture {
    inner: Dav1dPicture,
    layout: Layout,
    depth: u8,
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.width(), self.height())
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: a picture rav1d gave us, unreferenced once, here.
        unsafe { dav1d_picture_unref(Some(NonNull::from(&mut self.inner))) };
    }
}

impl Picture {
    fn new(inner: Dav1dPicture) -> Result<Picture, PipelineError> {
        let layout = match inner.p.layout {
            DAV1D_PIXEL_LAYOUT_I400 => Layout::Mono,
            DAV1D_PIXEL_LAYOUT_I420 => Layout::Yuv420,
            DAV1D_PIXEL_LAYOUT_I422 => Layout::Yuv422,
            DAV1D_PIXEL_LAYOUT_I444 => Layout::Yuv444,
            _ => Layout::Mono,
        };
        let depth = u8::try_from(inner.p.bpc).unwrap_or(0);
        let picture = Picture {
            inner,
            layout,
            depth,
        };
        if !matches!(depth, 8 | 10 | 12) || picture.width() == 0 || picture.height() == 0 {
            return Err(PipelineError::unsupported(format!(
                "an AV1 picture of {} bits, {}x{}",
                depth,
                picture.width(),
                picture.height()
            )));
        }
        Ok(picture)
    }

    fn width(&self) -> u32 {
        u32::try_from(self.inner.p.w).unwrap_or(0)
    }

    fn height(&self) -> u32 {
        u32::try_from(self.inner.p.h).unwrap_or(0)
    }

    fn sequence(&self) -> Option<&Dav1dSequenceHeader> {
        // SAFETY: the sequence header is reference-counted with the picture, alive as long
        // as `self`.
        self.inner.seq_hdr.map(|p| unsafe { p.as_ref() })
    }

    fn full_range(&self) -> bool {
        self.sequence().is_some_and(|s| s.color_range != 0)
    }

    fn cicp(&self) -> Cicp {
        self.sequence().map_or(
            Cicp {
                primaries: 2,
                transfer: 2,
            },
            |s| Cicp {
                primaries: u8::try_from(s.pri).unwrap_or(2),
                transfer: u8::try_from(s.trc).unwrap_or(2),
            },
        )
    }

    /// Plane `n` (0 luma, 1 and 2 chroma) as samples of `T` and its stride in samples.
    fn plane<T>(&self, n: usize) -> Result<(&[T], u32), PipelineError> {
        let bytes = if self.depth > 8 { 2 } else { 1 };
        if std::mem::size_of::<T>() != bytes {
            return Err(PipelineError::decode("AV1 sample size"));
        }
        let (sx, sy) = match (n, self.layout) {
            (0, _) | (_, Layout::Yuv444) => (0, 0),
            (_, Layout::Yuv420) => (1, 1),
            (_, Layout::Yuv422) => (1, 0),
            (_, Layout::Mono) => return Err(PipelineError::decode("a grey AV1 has no chroma")),
        };
        let w = (self.width() as usize + sx) >> sx;
        let h = (self.height() as usize + sy) >> sy;
        let stride = usize::try_from(self.inner.stride[usize::from(n > 0)]).unwrap_or(0);
        let Some(data) = self.inner.data[n] else {
            return Err(PipelineError::decode("an AV1 picture without its planes"));
        };
        if stride % bytes != 0 || stride / bytes < w {
            return Err(PipelineError::decode("an AV1 picture with a bad stride"));
        }
        let stride = stride / bytes;
        // SAFETY: rav1d allocates each plane as `stride * rows` samples (its rows are padded,
        // never short), aligned for `T`, alive as long as `self`, and does not write to a
        // picture it has handed out.
        let samples = unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<T>(), stride * h) };
        Ok((samples, stride as u32))
    }

    /// The picture as 8-bit grey, RGB, or RGBA with opaque alpha when `alpha` is to follow.
    fn to_pixels(&self, alpha: bool) -> Result<Pixels, PipelineError> {
        let (w, h) = (self.width(), self.height());
        if self.layout == Layout::Mono {
            let grey = self.luma_to_u8()?;
            if !alpha {
                return Ok(Pixels::new(w, h, 1, grey));
            }
            let data = grey.iter().flat_map(|&g| [g, g, g, 255]).collect();
            return Ok(Pixels::new(w, h, 4, data));
        }
        let matrix = self.matrix()?;
        let range = if self.full_range() {
            YuvRange::Full
        } else {
            YuvRange::Limited
        };
        let channels: u8 = if alpha { 4 } else { 3 };
        let stride = w * u32::from(channels);
        let mut out = vec![0u8; stride as usize * h as usize];
        let result = if self.depth == 8 {
            let image = self.planar::<u8>()?;
            match (self.layout, alpha) {
                (Layout::Yuv420, false) => {
                    yuv::yuv420_to_rgb(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv420, true) => {
                    yuv::yuv420_to_rgba(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv422, false) => {
                    yuv::yuv422_to_rgb(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv422, true) => {
                    yuv::yuv422_to_rgba(&image, &mut out, stride, range, matrix)
                }
                (_, false) => yuv::yuv444_to_rgb(&image, &mut out, stride, range, matrix),
                (_, true) => yuv::yuv444_to_rgba(&image, &mut out, stride, range, matrix),
            }
        } else {
            let image = self.planar::<u16>()?;
            let ten = self.depth == 10;
            match (self.layout, alpha, ten) {
                (Layout::Yuv420, false, true) => {
                    yuv::i010_to_rgb(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv420, true, true) => {
                    yuv::i010_to_rgba(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv420, false, false) => {
                    yuv::i012_to_rgb(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv420, true, false) => {
                    yuv::i012_to_rgba(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv422, false, true) => {
                    yuv::i210_to_rgb(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv422, true, true) => {
                    yuv::i210_to_rgba(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv422, false, false) => {
                    yuv::i212_to_rgb(&image, &mut out, stride, range, matrix)
                }
                (Layout::Yuv422, true, false) => {
                    yuv::i212_to_rgba(&image, &mut out, stride, range, matrix)
                }
                (_, false, false) => yuv::i412_to_rgb(&image, &mut out, stride, range, matrix),
                (_, true, false) => yuv::i412_to_rgba(&image, &mut out, stride, range, matrix),
                (_, _, true) => {
                    // yuv has 4:4:4 10-bit to RGBA only: convert there, keep RGB if asked.
                    let mut rgba = if alpha {
                        out
                    } else {
                        vec![0u8; w as usize * h as usize * 4]
                    };
                    yuv::i410_to_rgba(&image, &mut rgba, w * 4, range, matrix).map_err(|e| {
                        PipelineError::decode(format!("AVIF colour conversion: {e}"))
                    })?;
                    let px = Pixels::new(w, h, 4, rgba);
                    return Ok(if alpha { px } else { px.drop_opaque_alpha() });
                }
            }
        };
        result.map_err(|e| PipelineError::decode(format!("AVIF colour conversion: {e}")))?;
        Ok(Pixels::new(w, h, channels, out))
    }

    fn planar<T: Copy + std::fmt::Debug>(&self) -> Result<YuvPlanarImage<'_, T>, PipelineError> {
        let (y, y_stride) = self.plane::<T>(0)?;
        let (u, u_stride) = self.plane::<T>(1)?;
        let (v, v_stride) = self.plane::<T>(2)?;
        Ok(YuvPlanarImage {
            y_plane: y,
            y_stride,
            u_plane: u,
            u_stride,
            v_plane: v,
            v_stride,
            width: self.width(),
            height: self.height(),
        })
    }

    /// The YCbCr matrix (H.273 `matrix_coefficients`). Unspecified is BT.601, as libavif
    /// reads it; identity (RGB coded as is) and the rarer matrices are refused by name.
    fn matrix(&self) -> Result<YuvStandardMatrix, PipelineError> {
        let code = self.sequence().map_or(2, |s| s.mtrx);
        Ok(match code {
            1 => YuvStandardMatrix::Bt709,
            2 | 5 | 6 => YuvStandardMatrix::Bt601,
            4 => YuvStandardMatrix::Fcc,
            7 => YuvStandardMatrix::Smpte240,
            9 | 10 => YuvStandardMatrix::Bt2020,
            other => {
                return Err(PipelineError::unsupported(format!(
                    "an AVIF with matrix coefficients {other} (H.273)"
                )));
            }
        })
    }

    /// Luma as 8-bit full-range samples, the picture's width by its height.
    fn luma_to_u8(&self) -> Result<Vec<u8>, PipelineError> {
        let (w, h) = (self.width() as usize, self.height() as usize);
        let full = self.full_range();
        let shift = u32::from(self.depth - 8);
        // Full range: [0, 2^d - 1]; limited: [16, 235] scaled by 2^(d-8).
        let (low, span) = if full {
            (0u32, (1u32 << self.depth) - 1)
        } else {
            (16 << shift, 219 << shift)
        };
        let to8 = |v: u32| ((v.saturating_sub(low).min(span) * 255 + span / 2) / span) as u8;
        let mut out = Vec::with_capacity(w * h);
        if self.depth == 8 {
            let (plane, stride) = self.plane::<u8>(0)?;
            for row in plane.chunks(stride as usize).take(h) {
                out.extend(row[..w].iter().map(|&v| to8(u32::from(v))));
            }
        } else {
            let (plane, stride) = self.plane::<u16>(0)?;
            for row in plane.chunks(stride as usize).take(h) {
                out.extend(row[..w].iter().map(|&v| to8(u32::from(v))));
            }
        }
        Ok(out)
    }

    /// This (monochrome) picture's luma as the alpha of `px` (RGBA, the same size).
    fn write_alpha(&self, px: &mut Pixels) -> Result<(), PipelineError> {
        let alpha = self.luma_to_u8()?;
        if px.channels != 4 || alpha.len() * 4 != px.data.len() {
            return Err(PipelineError::decode(
                "the AVIF's alpha does not fit its image",
            ));
        }
        for (p, a) in px.data.chunks_exact_mut(4).zip(alpha) {
            p[3] = a;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heif_transforms_map_onto_exif_orientations() {
        use ImageMirror::{LeftRight, TopBottom};
        use ImageRotation::{D0, D90, D180, D270};
        // Each of the eight orientations is reached, and the two spellings of each agree.
        let cases = [
            ((D0, None), 1),
            ((D0, Some(LeftRight)), 2),
            ((D180, Some(TopBottom)), 2),
            ((D180, None), 3),
            ((D0, Some(TopBottom)), 4),
            ((D180, Some(LeftRight)), 4),
            ((D90, Some(TopBottom)), 5),
            ((D270, Some(LeftRight)), 5),
            ((D270, None), 6),
            ((D90, Some(LeftRight)), 7),
            ((D270, Some(TopBottom)), 7),
            ((D90, None), 8),
        ];
        for ((r, m), want) in cases {
            let said = format!("{r:?} {m:?}");
            assert_eq!(orientation(r, m), want, "{said}");
        }
    }

    #[test]
    fn srgb_code_points_need_no_profile_and_p3_gets_one() {
        assert!(
            cicp_profile(Cicp {
                primaries: 1,
                transfer: 13
            })
            .is_none()
        );
        assert!(
            cicp_profile(Cicp {
                primaries: 2,
                transfer: 2
            })
            .is_none()
        );
        let p3 = cicp_profile(Cicp {
            primaries: 12,
            transfer: 13,
        })
        .expect("a P3 profile");
        assert!(!is_srgb(&p3));
    }
}
