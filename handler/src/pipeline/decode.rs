//! Reading sources: the format from the magic bytes, the size and orientation from the
//! header (before any pixel is allocated), then the pixels, decoded at a reduced size when
//! the target allows: JPEG in the DCT domain (1/2, 1/4, 1/8, DC-only for progressive files
//! at 1/8), WebP with libwebp's scaler.
//!
//! The header probe (`imagesize`) only decides what to try. Every decoder checks the limits
//! again on the dimensions *it* read (libjpeg's SOF after `jpeg_read_header`, PNG's IHDR
//! after `read_info`, `WebPGetFeatures`, the GIF screen and each frame) before it allocates:
//! parsers disagree (libjpeg skips `FF` fill bytes that `imagesize` reads as a marker), and
//! the one that allocates is the one that counts.
#![allow(unsafe_code)]

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mozjpeg_sys as jpeg;

use super::error::PipelineError;
use super::limits::Limits;
use super::pixels::{Pixels, is_srgb};

/// The most scans a progressive JPEG may have. Encoders write 10 or so (mozjpeg's richest
/// script, 12; cjpeg refuses to write more than 100); each scan walks every block again
/// (measured: ~7 ms a scan at 49 MP), and a file of near-empty scans can hold 10^5 of them.
/// libjpeg-turbo's answer is the same kind of limit (`TJPARAM_SCANLIMIT`, djpeg `-maxscans`).
pub const MAX_JPEG_SCANS: i32 = 100;

/// Refuses dimensions a decoder read: none (415), or more pixels than the limit (413).
fn admit(format: &str, width: u64, height: u64, limits: &Limits) -> Result<(), PipelineError> {
    if width == 0 || height == 0 {
        return Err(PipelineError::unsupported(format!(
            "a {format} with no pixels ({width}x{height})"
        )));
    }
    super::check(
        width * height,
        limits.max_source_pixels,
        "source size in pixels",
    )
}

/// A format imgflex reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Avif,
}

impl SourceFormat {
    pub fn content_type(self) -> &'static str {
        let extension = match self {
            SourceFormat::Jpeg => "jpg",
            SourceFormat::Png => "png",
            SourceFormat::Gif => "gif",
            SourceFormat::Webp => "webp",
            SourceFormat::Avif => "avif",
        };
        imgflex_core::image_content_type(extension).unwrap_or("application/octet-stream")
    }
}

/// Identifies the format by its magic bytes, never by a file name or a Content-Type.
pub fn sniff(bytes: &[u8]) -> Result<SourceFormat, PipelineError> {
    let b = bytes;
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(SourceFormat::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(SourceFormat::Png);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Ok(SourceFormat::Gif);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok(SourceFormat::Webp);
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" && matches!(&b[8..12], b"avif" | b"avis") {
        return Ok(SourceFormat::Avif);
    }
    let head = String::from_utf8_lossy(&b[..b.len().min(512)]).to_ascii_lowercase();
    let what = if b.is_empty() {
        "an empty file"
    } else if head.contains("<svg") {
        "SVG (vector images are not rendered)"
    } else if head.contains("<html") || head.contains("<!doctype") {
        "HTML"
    } else if std::str::from_utf8(&b[..b.len().min(512)]).is_ok() {
        "text"
    } else {
        "an unknown binary format"
    };
    Err(PipelineError::unsupported(what))
}

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: SourceFormat,
    /// Stored size (before orientation).
    pub width: u32,
    pub height: u32,
    /// EXIF orientation, 1 (as stored) to 8.
    pub orientation: u8,
}

impl Header {
    /// The size as displayed, after orientation.
    pub fn displayed(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

pub fn header(bytes: &[u8]) -> Result<Header, PipelineError> {
    let format = sniff(bytes)?;
    // A signature and no readable header after it (`FF D8 FF` and nothing, RIFF/WEBP and
    // zeros) is not an image at all: 415. A header and broken data after it is 422, later.
    let size = imagesize::blob_size(bytes).map_err(|e| {
        PipelineError::unsupported(format!("a {format:?} signature with no image header ({e})"))
    })?;
    let (width, height) = (
        u32::try_from(size.width).unwrap_or(u32::MAX),
        u32::try_from(size.height).unwrap_or(u32::MAX),
    );
    if width == 0 || height == 0 {
        return Err(PipelineError::unsupported(format!(
            "a {format:?} with no pixels ({width}x{height})"
        )));
    }
    Ok(Header {
        format,
        width,
        height,
        orientation: orientation(bytes),
    })
}

/// EXIF orientation from any container kamadak-exif reads (JPEG, PNG, WebP, HEIF/AVIF);
/// absent or unreadable EXIF means "as stored".
fn orientation(bytes: &[u8]) -> u8 {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) else {
        return 1;
    };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|o| (1..=8).contains(o))
        .map_or(1, |o| o as u8)
}

/// Decoded pixels and the colour profile still to apply (`None` for sRGB or no profile).
#[derive(Debug)]
pub struct Decoded {
    pub pixels: Pixels,
    pub icc: Option<Vec<u8>>,
}

/// Decodes `bytes`, at no less than `at_least` (stored orientation) when the codec can
/// shrink on load. The caller has checked the probed header against the limits; each
/// decoder checks them again on what it reads itself, and refuses a size that disagrees
/// with the probe's (the plan was made for that one).
pub fn decode(
    bytes: &[u8],
    header: &Header,
    at_least: Option<(u32, u32)>,
    limits: &Limits,
) -> Result<Decoded, PipelineError> {
    match header.format {
        SourceFormat::Jpeg => {
            let shrink = at_least.map_or(1.0, |(w, h)| {
                (f64::from(header.width) / f64::from(w))
                    .min(f64::from(header.height) / f64::from(h))
            });
            decode_jpeg(bytes, shrink, header, limits)
        }
        SourceFormat::Png => decode_png(bytes, header, limits),
        SourceFormat::Gif => decode_gif(bytes, header, limits),
        SourceFormat::Webp => {
            let scaled = at_least.filter(|&(w, h)| w < header.width && h < header.height);
            decode_webp(bytes, scaled, header, limits)
        }
        SourceFormat::Avif => Err(PipelineError::unsupported(
            "AVIF originals (no AV1 decoder that cross-compiles for the Lambda is built in yet)",
        )),
    }
}

/// The decoder read a different size than the probe: two parsers disagree about this file,
/// which no honest encoder writes.
fn same_size(read: (u32, u32), header: &Header) -> Result<(), PipelineError> {
    if read != (header.width, header.height) {
        return Err(PipelineError::decode(format!(
            "the decoder reads {}x{}, the header {}x{}",
            read.0, read.1, header.width, header.height
        )));
    }
    Ok(())
}

// ------------------------------------------------------------------------------- JPEG

/// The DCT scale for a planned shrink factor: the largest of 8, 4, 2 that still decodes at
/// least the target size, minus one step when the factor is exactly that (libjpeg rounds
/// sizes up, and Lanczos wants a little more than the target: sharp's rule). Progressive
/// files keep 1/8, where DC-only decoding skips every AC scan.
fn jpeg_scale(shrink: f64, progressive: bool) -> u32 {
    let mut n = if shrink >= 8.0 {
        8
    } else if shrink >= 4.0 {
        4
    } else if shrink >= 2.0 {
        2
    } else {
        1
    };
    if n > 1 && shrink == f64::from(n) && !(n == 8 && progressive) {
        n /= 2;
    }
    n
}

/// libjpeg reports fatal errors through `error_exit`, which must not return: unwind back to
/// the `catch_unwind` in `decode_jpeg` (the `C-unwind` ABI makes that defined).
extern "C-unwind" fn jpeg_error_exit(cinfo: &mut jpeg::jpeg_common_struct) {
    // SAFETY: libjpeg calls this with the `err` pointer it was given, which points at our
    // live `jpeg_error_mgr` for the whole decode.
    let code = unsafe { cinfo.err.as_ref().map_or(-1, |e| e.msg_code) };
    std::panic::resume_unwind(Box::new(format!("libjpeg error {code}")));
}

/// What the progress monitor unwinds with when a file has too many scans.
struct TooManyScans(i32);

/// libjpeg calls this at least once a scan while it reads one: the place to stop a file of
/// endless scans before it costs more, as libjpeg-turbo's own scan limit does.
extern "C-unwind" fn jpeg_progress(cinfo: &mut jpeg::jpeg_common_struct) {
    if cinfo.is_decompressor == 0 {
        return;
    }
    // SAFETY: a decompressor's common struct is the first field of its
    // `jpeg_decompress_struct` (libjpeg's own cast), alive for the whole call.
    let scans = unsafe {
        (*(cinfo as *mut jpeg::jpeg_common_struct as *const jpeg::jpeg_decompress_struct))
            .input_scan_number
    };
    if scans > MAX_JPEG_SCANS {
        std::panic::resume_unwind(Box::new(TooManyScans(scans)));
    }
}

/// Warnings (level -1: corrupt data, premature end) are counted and make the decode fail,
/// as sharp's default `failOn: 'warning'` does: a truncated file is an error, not an image
/// half grey. Trace messages (level > 0) are ignored.
extern "C-unwind" fn jpeg_emit_message(
    cinfo: &mut jpeg::jpeg_common_struct,
    level: std::os::raw::c_int,
) {
    if level < 0 {
        // SAFETY: as in `jpeg_error_exit`.
        if let Some(err) = unsafe { cinfo.err.as_mut() } {
            err.num_warnings += 1;
        }
    }
}

struct JpegDecoder {
    cinfo: Box<jpeg::jpeg_decompress_struct>,
    err: Box<jpeg::jpeg_error_mgr>,
    progress: Box<jpeg::jpeg_progress_mgr>,
}

impl Drop for JpegDecoder {
    fn drop(&mut self) {
        // SAFETY: `cinfo` was initialised by `jpeg_create_decompress` and is destroyed once.
        unsafe { jpeg::jpeg_destroy_decompress(&mut self.cinfo) }
    }
}

fn decode_jpeg(
    data: &[u8],
    shrink: f64,
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, PipelineError> {
    // SAFETY: see `decode_jpeg_unchecked`; a libjpeg error unwinds to here.
    match catch_unwind(AssertUnwindSafe(|| unsafe {
        decode_jpeg_unchecked(data, shrink, header, limits)
    })) {
        Ok(result) => result,
        Err(panic) => Err(match panic.downcast_ref::<TooManyScans>() {
            Some(TooManyScans(n)) => PipelineError::Limits {
                what: "number of JPEG scans",
                actual: u64::try_from(*n).unwrap_or(0),
                limit: MAX_JPEG_SCANS as u64,
            },
            None => PipelineError::decode(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "libjpeg failed".into()),
            ),
        }),
    }
}

/// # Safety
/// Drives libjpeg over `data`, which outlives the decoder. Every pointer handed to libjpeg
/// (the error manager, the scanline rows) points into buffers owned here and alive until
/// `JpegDecoder` is dropped; row pointers never pass the end of `buf`.
unsafe fn decode_jpeg_unchecked(
    data: &[u8],
    shrink: f64,
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, PipelineError> {
    unsafe {
        let mut err: Box<jpeg::jpeg_error_mgr> = Box::new(std::mem::zeroed());
        jpeg::jpeg_std_error(&mut err);
        err.error_exit = Some(jpeg_error_exit);
        err.emit_message = Some(jpeg_emit_message);
        let mut progress: Box<jpeg::jpeg_progress_mgr> = Box::new(std::mem::zeroed());
        progress.progress_monitor = Some(jpeg_progress);
        let mut d = JpegDecoder {
            cinfo: Box::new(std::mem::zeroed()),
            err,
            progress,
        };
        d.cinfo.common.err = &mut *d.err;
        jpeg::jpeg_create_decompress(&mut *d.cinfo);
        d.cinfo.common.progress = &mut *d.progress;
        let c = &mut *d.cinfo;
        jpeg::jpeg_mem_src(c, data.as_ptr(), data.len() as _);
        jpeg::jpeg_save_markers(c, 0xE2, 0xFFFF); // APP2: ICC profile chunks
        jpeg::jpeg_read_header(c, 1);
        // What libjpeg will allocate for (the coefficient buffer of a progressive file is
        // the whole image) is what its own SOF parse says, not what the probe read.
        admit(
            "JPEG",
            u64::from(c.image_width),
            u64::from(c.image_height),
            limits,
        )?;
        same_size((c.image_width, c.image_height), header)?;
        let progressive = jpeg::jpeg_has_multiple_scans(c) != 0;
        c.scale_num = 1;
        c.scale_denom = jpeg_scale(shrink, progressive);
        use jpeg::J_COLOR_SPACE::*;
        let cmyk = matches!(c.jpeg_color_space, JCS_CMYK | JCS_YCCK);
        c.out_color_space = if cmyk {
            JCS_CMYK
        } else if c.jpeg_color_space == JCS_GRAYSCALE {
            JCS_GRAYSCALE
        } else {
            JCS_RGB
        };
        let icc = read_icc_markers(c);

        // Progressive at 1/8: every output pixel is one block's DC coefficient, so the AC
        // scans (most of the file) need not be decoded at all.
        let dc_only = progressive && c.scale_denom == 8;
        if dc_only {
            c.buffered_image = 1;
            c.do_block_smoothing = 0;
        }
        jpeg::jpeg_start_decompress(c);
        if dc_only {
            consume_dc_scans(c);
            jpeg::jpeg_start_output(c, c.input_scan_number);
        }
        let (width, height, channels) = (
            c.output_width,
            c.output_height,
            c.output_components as usize,
        );
        let stride = width as usize * channels;
        let mut buf = vec![0u8; stride * height as usize];
        while c.output_scanline < height {
            let start = c.output_scanline as usize;
            let count = (height as usize - start).min(8);
            let mut rows: [*mut u8; 8] = [std::ptr::null_mut(); 8];
            for (i, row) in rows.iter_mut().enumerate().take(count) {
                *row = buf.as_mut_ptr().add((start + i) * stride);
            }
            if jpeg::jpeg_read_scanlines(c, rows.as_mut_ptr(), count as u32) == 0 {
                break;
            }
        }
        if dc_only {
            jpeg::jpeg_finish_output(c);
            jpeg::jpeg_abort_decompress(c);
        } else {
            jpeg::jpeg_finish_decompress(c);
        }
        if d.err.num_warnings > 0 {
            return Err(PipelineError::decode("corrupt or truncated JPEG data"));
        }
        let pixels = Pixels::new(width, height, channels as u8, buf);
        if cmyk {
            return Ok(Decoded {
                pixels: cmyk_to_rgb(pixels, icc.as_deref()),
                icc: None,
            });
        }
        Ok(Decoded {
            pixels,
            icc: icc.filter(|p| !is_srgb(p)),
        })
    }
}

/// Reassembles an ICC profile split over APP2 markers (`ICC_PROFILE\0`, sequence number).
///
/// # Safety
/// `c` has read its header with APP2 markers saved.
unsafe fn read_icc_markers(c: &jpeg::jpeg_decompress_struct) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut m = c.marker_list;
    while !m.is_null() {
        // SAFETY: libjpeg's saved-marker list: valid nodes with `data_length` bytes each.
        let marker = unsafe { &*m };
        let data = unsafe { std::slice::from_raw_parts(marker.data, marker.data_length as usize) };
        if marker.marker == 0xE2 && data.len() > 14 && data.starts_with(b"ICC_PROFILE\0") {
            chunks.push((data[12], data[14..].to_vec()));
        }
        m = marker.next;
    }
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|c| c.0);
    Some(chunks.into_iter().flat_map(|c| c.1).collect())
}

/// Consumes scans until every component's DC coefficient is known to within one bit.
///
/// The usual progressive script sends DC with Al=1 first and refines it only after most AC
/// data, so waiting for Al=0 would cost nearly a full decode; one missing bit is an error of
/// at most Q_dc/8 levels (measured: a mean shift under one level, SSIM against sharp's full
/// decode 0.96-0.99). A whole-level bias correction overshot in the prototype, so none is
/// applied.
///
/// # Safety
/// `c` is a started buffered-image decompression.
unsafe fn consume_dc_scans(c: &mut jpeg::jpeg_decompress_struct) {
    // jpeg_consume_input's codes: 0 suspended (not with a memory source), 2 reached EOI,
    // 4 scan completed. `coef_bits` is updated when a scan starts, so test it at a scan's end.
    const SUSPENDED: i32 = 0;
    const REACHED_EOI: i32 = 2;
    const SCAN_COMPLETED: i32 = 4;
    unsafe {
        let components = c.num_components as usize;
        loop {
            let r = jpeg::jpeg_consume_input(c);
            if r == REACHED_EOI || r == SUSPENDED {
                break;
            }
            if r == SCAN_COMPLETED {
                let bits = c.coef_bits as *const [i32; 64];
                if !bits.is_null() && (0..components).all(|i| (0..=1).contains(&(*bits.add(i))[0]))
                {
                    break;
                }
            }
        }
    }
}

/// CMYK (as Adobe writes it: inverted) to RGB, through the embedded profile when moxcms can
/// use it, else the naive formula.
fn cmyk_to_rgb(px: Pixels, icc: Option<&[u8]>) -> Pixels {
    let n = px.width as usize * px.height as usize;
    let mut out = vec![0u8; n * 3];
    let profiled = icc
        .and_then(|p| moxcms::ColorProfile::new_from_slice(p).ok())
        .and_then(|src| {
            let srgb = moxcms::ColorProfile::new_srgb();
            src.create_transform_8bit(
                moxcms::Layout::Rgba,
                &srgb,
                moxcms::Layout::Rgb,
                moxcms::TransformOptions::default(),
            )
            .ok()
        })
        .is_some_and(|t| {
            let inked: Vec<u8> = px.data.iter().map(|v| 255 - v).collect();
            t.transform(&inked, &mut out).is_ok()
        });
    if !profiled {
        for (o, s) in out.chunks_exact_mut(3).zip(px.data.chunks_exact(4)) {
            let k = u32::from(s[3]);
            for i in 0..3 {
                o[i] = ((u32::from(s[i]) * k + 127) / 255) as u8;
            }
        }
    }
    Pixels::new(px.width, px.height, 3, out)
}

// -------------------------------------------------------------------------- PNG, GIF

fn decode_png(data: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, PipelineError> {
    let mut decoder = png::Decoder::new(Cursor::new(data));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    decoder.set_ignore_text_chunk(true);
    let mut reader = decoder.read_info().map_err(PipelineError::decode)?;
    let (width, height) = (reader.info().width, reader.info().height);
    admit("PNG", u64::from(width), u64::from(height), limits)?;
    same_size((width, height), header)?;
    let icc = reader
        .info()
        .icc_profile
        .as_ref()
        .map(|p| p.to_vec())
        .filter(|p| !is_srgb(p));
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| PipelineError::decode("PNG frame too large"))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(PipelineError::decode)?;
    buf.truncate(frame.buffer_size());
    let (channels, data) = match frame.color_type {
        png::ColorType::Grayscale => (1, buf),
        png::ColorType::Rgb => (3, buf),
        png::ColorType::Rgba => (4, buf),
        png::ColorType::GrayscaleAlpha => (
            4,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        png::ColorType::Indexed => return Err(PipelineError::decode("palette not expanded")),
    };
    Ok(Decoded {
        pixels: Pixels::new(width, height, channels, data),
        icc,
    })
}

/// The first frame of a GIF, composited on a transparent canvas of the logical screen.
fn decode_gif(data: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, PipelineError> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    // A frame may be larger than the screen it sits on: bound its buffer too.
    let frame_bytes = limits.max_source_pixels.saturating_mul(4).max(1);
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        std::num::NonZeroU64::new(frame_bytes).unwrap_or(std::num::NonZeroU64::MIN),
    ));
    let mut decoder = options
        .read_info(Cursor::new(data))
        .map_err(PipelineError::decode)?;
    let (w, h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    admit("GIF", u64::from(w), u64::from(h), limits)?;
    same_size((w, h), header)?;
    let mut canvas = vec![0u8; w as usize * h as usize * 4];
    let frame = decoder
        .read_next_frame()
        .map_err(|e| match e {
            gif::DecodingError::MemoryLimit => PipelineError::Limits {
                what: "GIF frame size in bytes",
                actual: frame_bytes.saturating_add(1),
                limit: frame_bytes,
            },
            e => PipelineError::decode(e),
        })?
        .ok_or_else(|| PipelineError::unsupported("a GIF with no frames"))?;
    let (fw, fl, ft) = (
        u32::from(frame.width),
        u32::from(frame.left),
        u32::from(frame.top),
    );
    for y in 0..u32::from(frame.height) {
        for x in 0..fw {
            let (cx, cy) = (x + fl, y + ft);
            if cx >= w || cy >= h {
                continue;
            }
            let s = ((y * fw + x) * 4) as usize;
            let d = ((cy * w + cx) * 4) as usize;
            if frame.buffer[s + 3] != 0 {
                canvas[d..d + 4].copy_from_slice(&frame.buffer[s..s + 4]);
            }
        }
    }
    Ok(Decoded {
        pixels: Pixels::new(w, h, 4, canvas),
        icc: None,
    })
}

// ------------------------------------------------------------------------------ WebP

/// WebP through libwebp, scaled on load to `scaled` when given.
fn decode_webp(
    data: &[u8],
    scaled: Option<(u32, u32)>,
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, PipelineError> {
    use libwebp_sys as w;
    // SAFETY: the config is initialised by libwebp before use; the output buffer is ours
    // (`is_external_memory`), sized exactly stride * height, and outlives `WebPDecode`.
    unsafe {
        let mut cfg: w::WebPDecoderConfig = std::mem::zeroed();
        if !w::WebPInitDecoderConfig(&mut cfg) {
            return Err(PipelineError::decode("libwebp version mismatch"));
        }
        if w::WebPGetFeatures(data.as_ptr(), data.len(), &mut cfg.input)
            != w::VP8StatusCode::VP8_STATUS_OK
        {
            return Err(PipelineError::decode("unreadable WebP header"));
        }
        if cfg.input.has_animation != 0 {
            return Err(PipelineError::unsupported("animated WebP"));
        }
        let (iw, ih) = (cfg.input.width as u32, cfg.input.height as u32);
        admit("WebP", u64::from(iw), u64::from(ih), limits)?;
        same_size((iw, ih), header)?;
        let alpha = cfg.input.has_alpha != 0;
        let (ow, oh) = match scaled {
            Some((sw, sh)) => {
                cfg.options.use_scaling = 1;
                cfg.options.scaled_width = sw as i32;
                cfg.options.scaled_height = sh as i32;
                (sw, sh)
            }
            None => (iw, ih),
        };
        let channels: u32 = if alpha { 4 } else { 3 };
        let mut buf = vec![0u8; (ow * oh * channels) as usize];
        cfg.output.colorspace = if alpha {
            w::WEBP_CSP_MODE::MODE_RGBA
        } else {
            w::WEBP_CSP_MODE::MODE_RGB
        };
        cfg.output.is_external_memory = 1;
        cfg.output.u.RGBA.rgba = buf.as_mut_ptr();
        cfg.output.u.RGBA.stride = (ow * channels) as i32;
        cfg.output.u.RGBA.size = buf.len();
        let status = w::WebPDecode(data.as_ptr(), data.len(), &mut cfg);
        w::WebPFreeDecBuffer(&mut cfg.output);
        if status != w::VP8StatusCode::VP8_STATUS_OK {
            return Err(PipelineError::decode(format!("libwebp: {status:?}")));
        }
        Ok(Decoded {
            pixels: Pixels::new(ow, oh, channels as u8, buf),
            icc: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_names_what_it_refuses() {
        let refused = |b: &[u8]| match sniff(b) {
            Err(PipelineError::Unsupported { detail }) => detail,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(b""), "an empty file");
        assert!(
            refused(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>")
                .starts_with("SVG")
        );
        assert_eq!(refused(b"<!DOCTYPE html><html></html>"), "HTML");
        assert_eq!(refused(b"hello"), "text");
        assert_eq!(refused(&[0, 1, 2, 0xff, 0xfe]), "an unknown binary format");
        assert_eq!(sniff(b"GIF89a....").unwrap(), SourceFormat::Gif);
        assert_eq!(
            sniff(b"\0\0\0\x1cftypavif\0\0").unwrap(),
            SourceFormat::Avif
        );
    }

    #[test]
    fn dct_scale_rule() {
        assert_eq!(jpeg_scale(1.5, false), 1);
        assert_eq!(
            jpeg_scale(2.0, false),
            1,
            "exactly 2: keep a margin for Lanczos"
        );
        assert_eq!(jpeg_scale(2.5, false), 2);
        assert_eq!(jpeg_scale(5.0, false), 4);
        assert_eq!(jpeg_scale(8.0, false), 4);
        assert_eq!(
            jpeg_scale(8.0, true),
            8,
            "progressive keeps DC-only decoding"
        );
        assert_eq!(jpeg_scale(20.0, false), 8);
    }
}
