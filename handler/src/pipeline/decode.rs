//! Reading sources: the format from the magic bytes, the size and orientation from the
//! header (before any pixel is allocated), then the pixels, decoded at a reduced size when
//! the target allows: JPEG in the DCT domain (1/2, 1/4, 1/8; progressive files at a reduced
//! scale stop before their last refinement scans, see [`Precision`]), WebP with libwebp's
//! scaler.
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

use super::colour::{cmyk_to_rgb, is_srgb};
use super::error::PipelineError;
use super::limits::Limits;
use super::pixels::Pixels;

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
    if format == SourceFormat::Avif {
        // The primary item's `ispe` and its `irot`/`imir` (HEIF's orientation, which wins over
        // any EXIF in the file); `imagesize` reads the largest `ispe` of any item instead.
        let probe = super::avif::probe(bytes)?;
        return Ok(Header {
            format,
            width: probe.width,
            height: probe.height,
            orientation: probe.orientation,
        });
    }
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
        SourceFormat::Avif => super::avif::decode(bytes, header, limits),
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
/// the `catch_unwind` around the call sequence (`guarded`, or the JPEG writer's; the
/// `C-unwind` ABI makes that defined).
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

/// libjpeg's standard error manager with our fatal-error and warning handlers, for every
/// libjpeg reader and writer here. Boxed: libjpeg keeps its address.
pub(super) fn jpeg_error_manager() -> Box<jpeg::jpeg_error_mgr> {
    // SAFETY: an all-zero `jpeg_error_mgr` (null pointers, `None` handlers) is a valid value,
    // which `jpeg_std_error` then fills in.
    let mut err: Box<jpeg::jpeg_error_mgr> = Box::new(unsafe { std::mem::zeroed() });
    // SAFETY: `err` is a live, exclusive error manager.
    unsafe { jpeg::jpeg_std_error(&mut err) };
    err.error_exit = Some(jpeg_error_exit);
    err.emit_message = Some(jpeg_emit_message);
    err
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
    // SAFETY: see `decode_jpeg_unchecked`.
    guarded(|| unsafe { decode_jpeg_unchecked(data, shrink, header, limits) })
}

/// Runs a libjpeg call sequence; a libjpeg error or the scan limit unwinds to here.
fn guarded<T>(run: impl FnOnce() -> Result<T, PipelineError>) -> Result<T, PipelineError> {
    match catch_unwind(AssertUnwindSafe(run)) {
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

/// libjpeg over `data` with our error, warning and scan-limit handlers, its header read,
/// and the size its own SOF parse says admitted.
///
/// # Safety
/// `data` must outlive the decoder; run inside [`guarded`] (libjpeg errors unwind).
unsafe fn open_jpeg(
    data: &[u8],
    header: &Header,
    limits: &Limits,
) -> Result<JpegDecoder, PipelineError> {
    unsafe {
        let err = jpeg_error_manager();
        let mut progress: Box<jpeg::jpeg_progress_mgr> = Box::new(std::mem::zeroed());
        progress.progress_monitor = Some(jpeg_progress);
        // The boxes keep their addresses when `d` moves: libjpeg's pointers stay good.
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
        jpeg::jpeg_save_markers(c, 0xEE, 16); // APP14: Adobe (CMYK inverted or not)
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
        Ok(d)
    }
}

/// # Safety
/// Drives libjpeg over `data`, which outlives the decoder. Every pointer handed to libjpeg
/// (the error manager, the scanline rows) points into buffers owned here and alive until
/// `JpegDecoder` is dropped; row pointers never pass the end of `buf`'s capacity, and every
/// byte below its length is written before the length is set.
unsafe fn decode_jpeg_unchecked(
    data: &[u8],
    shrink: f64,
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, PipelineError> {
    unsafe {
        let mut d = open_jpeg(data, header, limits)?;
        let c = &mut *d.cinfo;
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
        let (icc, adobe) = {
            let markers = saved_markers(c);
            (read_icc_markers(&markers), has_adobe_marker(&markers))
        };

        // Progressive at a reduced scale: read only the scans the output needs, then
        // output the coefficients as they stand (buffered-image mode).
        let partial = Precision::at_scale(progressive, c.scale_denom, luma_step(c));
        if partial.is_some() {
            c.buffered_image = 1;
            c.do_block_smoothing = 0;
        }
        jpeg::jpeg_start_decompress(c);
        if let Some(precision) = partial {
            consume_scans(c, precision);
            jpeg::jpeg_start_output(c, c.input_scan_number);
        }
        let (width, height, channels) = (
            c.output_width,
            c.output_height,
            c.output_components as usize,
        );
        let stride = width as usize * channels;
        let size = stride * height as usize;
        // Not zeroed first: libjpeg writes every row (a truncated file's in grey, with a
        // warning), and zeroing a photo-sized buffer cost 2% of a 1920 px re-encode.
        let mut buf: Vec<u8> = Vec::with_capacity(size);
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
        // Rows libjpeg did not reach (it suspends only on a source that can): zeros.
        let written = c.output_scanline as usize * stride;
        std::ptr::write_bytes(buf.as_mut_ptr().add(written), 0, size - written);
        buf.set_len(size);
        if partial.is_some() {
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
                pixels: cmyk_to_rgb(pixels, icc.as_deref(), adobe),
                icc: None,
            });
        }
        Ok(Decoded {
            pixels,
            icc: icc.filter(|p| !is_srgb(p)),
        })
    }
}

/// The quantised DCT coefficients of a plain YCbCr JPEG (chroma 1x1, luma 1 or 2 each
/// way: 4:2:0, 4:2:2, 4:4:0, 4:4:4) or a grey one, with no profile or an sRGB one, as
/// `jpeg_read_coefficients` holds them: what a re-encode that moves no pixel requantises
/// (`coefficients`). The arrays live in the decoder, owned here.
pub(super) struct JpegCoefficients {
    decoder: JpegDecoder,
    arrays: *mut *mut jpeg::jvirt_barray_control,
    /// One component (grey) rather than three (YCbCr).
    pub grey: bool,
    /// The luma's sampling factors, across and down: how many luma blocks a chroma block
    /// spans each way (1 or 2; (1, 1) for grey).
    pub luma: (usize, usize),
    pub width: u32,
    pub height: u32,
}

/// One component of [`JpegCoefficients`]: its quantisation table (natural order) and its
/// rows of blocks, `width_in_blocks` each.
pub(super) struct ComponentBlocks<'a> {
    pub table: [u16; 64],
    pub rows: Vec<&'a [[i16; 64]]>,
}

/// `None` for a file whose coefficients are not of a layout the requantiser takes (RGB,
/// CMYK, 4:1:1 and other samplings, a profile to convert from); [`decode`] reads those. A
/// truncated or corrupt file is an error.
pub(super) fn jpeg_coefficients(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
) -> Result<Option<JpegCoefficients>, PipelineError> {
    // SAFETY: `open_jpeg`'s contract: `bytes` outlives the decoder (the caller's borrow
    // spans every use of the result), and this runs inside `guarded`.
    guarded(|| unsafe {
        let mut d = open_jpeg(bytes, header, limits)?;
        let c = &mut *d.cinfo;
        let n = usize::try_from(c.num_components).unwrap_or(0);
        let sampling: Vec<(i32, i32)> = std::slice::from_raw_parts(c.comp_info, n)
            .iter()
            .map(|comp| (comp.h_samp_factor, comp.v_samp_factor))
            .collect();
        use jpeg::J_COLOR_SPACE::{JCS_GRAYSCALE, JCS_YCbCr};
        let (grey, luma) = match (c.jpeg_color_space, sampling.as_slice()) {
            (JCS_GRAYSCALE, [(1, 1)]) => (true, (1, 1)),
            (JCS_YCbCr, [(h @ 1..=2, v @ 1..=2), (1, 1), (1, 1)]) => {
                (false, (*h as usize, *v as usize))
            }
            _ => return Ok(None),
        };
        if read_icc_markers(&saved_markers(c)).is_some_and(|p| !is_srgb(&p)) {
            return Ok(None);
        }
        let arrays = jpeg::jpeg_read_coefficients(c);
        // A cut file reads as zeros past the cut, with a warning: refused, as every
        // decoder here refuses it.
        if d.err.num_warnings > 0 || arrays.is_null() {
            return Err(PipelineError::decode("corrupt or truncated JPEG data"));
        }
        let (width, height) = (c.image_width, c.image_height);
        Ok(Some(JpegCoefficients {
            decoder: d,
            arrays,
            grey,
            luma,
            width,
            height,
        }))
    })
}

impl JpegCoefficients {
    /// Every component's table and blocks, in file order (Y, Cb, Cr, or the one grey).
    pub(super) fn components(&mut self) -> Result<Vec<ComponentBlocks<'_>>, PipelineError> {
        let c = &mut *self.decoder.cinfo;
        let arrays = self.arrays;
        let n = if self.grey { 1 } else { 3 };
        // SAFETY: after `jpeg_read_coefficients`, `comp_info` has `n` entries, each with the
        // table it was coded with (null refused) and one block array in `arrays` of
        // `height_in_blocks` rows of at least `width_in_blocks` blocks, all read.
        // `access_virt_barray` returns a pointer to the row asked for. libjpeg here has no
        // backing store (jmemnobs: an array is wholly in memory or libjpeg fails), so a
        // row never moves, and every row pointer stays good for as long as the decoder,
        // which the returned borrow of `self` keeps alive and unchanged.
        guarded(|| unsafe {
            let access = (*c.common.mem)
                .access_virt_barray
                .ok_or_else(|| PipelineError::decode("libjpeg has no block access"))?;
            let mut components = Vec::with_capacity(n);
            for i in 0..n {
                let comp = &*c.comp_info.add(i);
                let table = comp
                    .quant_table
                    .as_ref()
                    .ok_or_else(|| PipelineError::decode("a JPEG component with no table"))?
                    .quantval;
                let width = comp.width_in_blocks as usize;
                let rows = (0..comp.height_in_blocks)
                    .map(|row| {
                        let rows = access(&mut c.common, *arrays.add(i), row, 1, 0);
                        &*std::ptr::slice_from_raw_parts(*rows, width)
                    })
                    .collect();
                components.push(ComponentBlocks { table, rows });
            }
            Ok(components)
        })
    }
}

/// The markers libjpeg saved while reading the header (`jpeg_save_markers`), as (marker,
/// data): the one walk of its linked list, for the ICC profile and the Adobe segment.
///
/// # Safety
/// `c` has read its header; the list and its data live as long as `c`.
unsafe fn saved_markers(c: &jpeg::jpeg_decompress_struct) -> Vec<(u8, &[u8])> {
    let mut markers = Vec::new();
    let mut m = c.marker_list;
    while !m.is_null() {
        // SAFETY: libjpeg's saved-marker list: valid nodes with `data_length` bytes each.
        let marker = unsafe { &*m };
        let data = unsafe { std::slice::from_raw_parts(marker.data, marker.data_length as usize) };
        markers.push((marker.marker, data));
        m = marker.next;
    }
    markers
}

/// Reassembles an ICC profile split over APP2 markers (`ICC_PROFILE\0`, sequence number).
fn read_icc_markers(markers: &[(u8, &[u8])]) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = markers
        .iter()
        .filter(|(m, data)| *m == 0xE2 && data.len() > 14 && data.starts_with(b"ICC_PROFILE\0"))
        .map(|(_, data)| (data[12], &data[14..]))
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|c| c.0);
    Some(
        chunks
            .into_iter()
            .flat_map(|c| c.1.iter().copied())
            .collect(),
    )
}

/// Whether the file has an APP14 "Adobe" segment: the sign that its CMYK is stored
/// inverted (libjpeg reads the same marker to tell YCCK from CMYK).
fn has_adobe_marker(markers: &[(u8, &[u8])]) -> bool {
    markers
        .iter()
        .any(|(m, data)| *m == 0xEE && data.starts_with(b"Adobe"))
}

/// How much of a progressive JPEG a reduced-scale decode waits for: the scans after that
/// are not decoded at all (in buffered-image mode libjpeg outputs the coefficients as they
/// stand), and the last ones carry most of the file.
///
/// A common script (libjpeg's `jpeg_simple_progression`, which most encoders use) sends DC
/// at Al=1, the AC bands at Al=2 (luma) and Al=1 (chroma), refines luma AC to Al=1, then DC to
/// Al=0, and ends with the Al=0 refinements of chroma and luma AC; the luma one alone is the
/// largest scan. Any other script is read until the condition holds or the file ends, which is
/// never wrong, only slower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    /// 1/8: every output pixel is one block's DC, so no AC scan is read. DC within one bit:
    /// waiting for Al=0 would cost nearly a full decode, since the usual script refines DC
    /// only after most AC data; one missing bit is an error of at most Q_dc/8 levels
    /// (measured: a mean shift under one level, SSIM against sharp's full decode 0.96-0.99).
    /// A whole-level bias correction overshot in the prototype, so none is applied.
    DcWithinOneBit,
    /// 1/2 and 1/4, when the file's luma quantiser is fine ([`FINE_LUMA_STEP`]): DC exact,
    /// every AC coefficient within its last bit. That skips the final AC refinements (measured:
    /// a card of dragonfly or seeding 110 -> 78 ms in all, their hero at 1/2 about 100 -> 60-77
    /// ms). A missing last bit is an error of one
    /// quantiser step, so what it costs depends on the step. Measured against the full
    /// decode of the same op to PNG, on the corpus's photos (progressive as they are, or
    /// re-encoded progressive by libjpeg at quality 95 and 75):
    /// - steps of quality 85 and finer: 44.4-57 dB PSNR, worst pixel 36 levels, mean shift
    ///   under 0.1 level. The JPEG q82 and WebP q75 outputs are themselves 36-41 dB from their
    ///   PNG, so this is well under what the encoder adds;
    /// - quality 75 steps: 36.5-48.5 dB, worst pixel 86 levels (a 1/2-scale thumbnail):
    ///   as large as the encoder's own error, so such files are read to the end.
    ///
    /// Waiting for DC's last bit (a small scan) is what keeps the mean: without it the image
    /// came out 0.2-0.8 levels darker.
    AcWithinOneBit,
}

/// The mean luma quantiser step up to which a reduced-scale decode skips the last AC
/// refinements: libjpeg's quality 85 (standard table scaled to 30%: mean 17.3). Quality 75
/// is 29.
const FINE_LUMA_STEP: f64 = 17.5;

/// The mean step of the first component's quantisation table (luma in a YCbCr file), or
/// infinity when libjpeg has none for it yet.
///
/// # Safety
/// `c` has read its header.
unsafe fn luma_step(c: &jpeg::jpeg_decompress_struct) -> f64 {
    unsafe {
        if c.comp_info.is_null() || c.num_components < 1 {
            return f64::INFINITY;
        }
        let slot = (*c.comp_info).quant_tbl_no;
        let table = usize::try_from(slot)
            .ok()
            .and_then(|i| c.quant_tbl_ptrs.get(i))
            .copied()
            .unwrap_or(std::ptr::null_mut());
        if table.is_null() {
            return f64::INFINITY;
        }
        (*table).quantval.iter().map(|&q| f64::from(q)).sum::<f64>() / 64.0
    }
}

impl Precision {
    /// What a decode at `1/scale` waits for, given the file's mean luma quantiser step;
    /// `None` reads the whole file (baseline files, full-size decodes, where the last bit is
    /// visible, and coarsely quantised files at 1/2 and 1/4).
    fn at_scale(progressive: bool, scale: u32, luma_step: f64) -> Option<Precision> {
        match scale {
            _ if !progressive => None,
            8 => Some(Precision::DcWithinOneBit),
            2 | 4 if luma_step <= FINE_LUMA_STEP => Some(Precision::AcWithinOneBit),
            _ => None,
        }
    }

    /// Whether coefficient precisions `bits` (libjpeg's `coef_bits`: per component, per
    /// coefficient, the Al still to come; -1 for nothing yet) are enough.
    fn met_by(self, bits: &[[i32; 64]]) -> bool {
        let within = |b: i32, most: i32| (0..=most).contains(&b);
        bits.iter().all(|c| match self {
            Precision::DcWithinOneBit => within(c[0], 1),
            Precision::AcWithinOneBit => within(c[0], 0) && c[1..].iter().all(|&b| within(b, 1)),
        })
    }
}

/// Consumes scans until `precision` is met, or the file ends.
///
/// The scans left unread are never entropy-decoded, so a file cut short in them would give
/// a slightly soft image where a full decode fails ("premature end"). A file whose unread
/// rest holds no EOI marker is cut short: it is read to its end, and fails as it would at
/// full size. (Damage inside the unread scans still goes unseen; `upload` decodes in full.)
///
/// # Safety
/// `c` is a started buffered-image decompression over a memory source.
unsafe fn consume_scans(c: &mut jpeg::jpeg_decompress_struct, precision: Precision) {
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
                return;
            }
            if r == SCAN_COMPLETED && !c.coef_bits.is_null() {
                // SAFETY: in a progressive decode libjpeg allocates `coef_bits` as
                // `num_components` rows of 64 ints.
                let bits = std::slice::from_raw_parts(c.coef_bits as *const [i32; 64], components);
                if precision.met_by(bits) {
                    break;
                }
            }
        }
        // SAFETY: a memory source's unread bytes, inside the caller's `data`.
        let src = &*c.src;
        let rest = std::slice::from_raw_parts(src.next_input_byte, src.bytes_in_buffer);
        if !holds_eoi(rest) {
            while !matches!(jpeg::jpeg_consume_input(c), REACHED_EOI | SUSPENDED) {}
        }
    }
}

/// Whether `bytes` hold an EOI marker (FF D9), searched from the end where it sits. Entropy-
/// coded data cannot hold one (a data FF is followed by 00). A table between scans could
/// (a DQT entry of 255 then 217); no encoder writes one there, and a file crafted so only
/// gets the slightly soft image this check exists to refuse, never a wrong or unsafe one.
fn holds_eoi(bytes: &[u8]) -> bool {
    bytes.windows(2).rev().any(|w| w == [0xFF, 0xD9])
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
    let mut decoder = gif_options(limits)
        .read_info(Cursor::new(data))
        .map_err(|e| gif_error(e, limits))?;
    let (w, h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    admit("GIF", u64::from(w), u64::from(h), limits)?;
    same_size((w, h), header)?;
    let mut canvas = vec![0u8; w as usize * h as usize * 4];
    let frame = decoder
        .read_next_frame()
        .map_err(|e| gif_error(e, limits))?
        .ok_or_else(|| PipelineError::unsupported("a GIF with no frames"))?;
    paint_gif_frame(&mut canvas, (w, h), frame);
    Ok(Decoded {
        pixels: Pixels::new(w, h, 4, canvas),
        icc: None,
    })
}

/// How every GIF is read, still or animated: RGBA frames, and a memory limit on each
/// frame's buffer, since a frame may be larger than the screen it sits on.
pub(super) fn gif_options(limits: &Limits) -> gif::DecodeOptions {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        std::num::NonZeroU64::new(gif_frame_bytes(limits)).unwrap_or(std::num::NonZeroU64::MIN),
    ));
    options
}

fn gif_frame_bytes(limits: &Limits) -> u64 {
    limits.max_source_pixels.saturating_mul(4).max(1)
}

/// A frame over [`gif_options`]' memory limit is a limit (413), not a corrupt file.
pub(super) fn gif_error(e: gif::DecodingError, limits: &Limits) -> PipelineError {
    match e {
        gif::DecodingError::MemoryLimit => {
            let limit = gif_frame_bytes(limits);
            PipelineError::Limits {
                what: "GIF frame size in bytes",
                actual: limit.saturating_add(1),
                limit,
            }
        }
        e => PipelineError::decode(e),
    }
}

/// Paints a GIF frame's opaque pixels onto an RGBA canvas of the logical screen `(w, h)`.
/// The part of the frame off the screen is dropped: a frame may hang over its edge.
pub(super) fn paint_gif_frame(canvas: &mut [u8], (w, h): (u32, u32), frame: &gif::Frame<'_>) {
    let (wu, hu) = (w as usize, h as usize);
    let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let (x1, y1) = ((left + fw).min(wu), (top + fh).min(hu));
    for y in top..y1 {
        for x in left..x1 {
            let s = ((y - top) * fw + (x - left)) * 4;
            if frame.buffer[s + 3] != 0 {
                let d = (y * wu + x) * 4;
                canvas[d..d + 4].copy_from_slice(&frame.buffer[s..s + 4]);
            }
        }
    }
}

// ------------------------------------------------------------------------------ WebP

/// WebP through libwebp: a still image scaled on load to `scaled` when given, an animation's
/// first frame on its transparent canvas (as a browser shows it before it plays, and as
/// sharp reads page 0), and the ICC profile from the extended container's ICCP chunk.
fn decode_webp(
    data: &[u8],
    scaled: Option<(u32, u32)>,
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, PipelineError> {
    use libwebp_sys as w;
    // SAFETY: the features struct is written by libwebp from `data`, which it only reads.
    let features = unsafe {
        let mut f: w::WebPBitstreamFeatures = std::mem::zeroed();
        if w::WebPGetFeatures(data.as_ptr(), data.len(), &mut f) != w::VP8StatusCode::VP8_STATUS_OK
        {
            return Err(PipelineError::decode("unreadable WebP header"));
        }
        f
    };
    let (iw, ih) = (features.width as u32, features.height as u32);
    admit("WebP", u64::from(iw), u64::from(ih), limits)?;
    same_size((iw, ih), header)?;
    // Only the extended container (VP8X) has ICC profiles and animations.
    let container = if data.get(12..16) == Some(b"VP8X") {
        demux_webp(data)?
    } else {
        Container::default()
    };
    let icc = container.icc.filter(|p| !is_srgb(p));
    if features.has_animation == 0 {
        let alpha = features.has_alpha != 0;
        let pixels = decode_webp_bitstream(data, (iw, ih), alpha, scaled)?;
        return Ok(Decoded { pixels, icc });
    }
    let frame = container
        .first_frame
        .ok_or_else(|| PipelineError::decode("an animated WebP with no frames"))?;
    let (fw, fh) = frame.size;
    admit("WebP frame", u64::from(fw), u64::from(fh), limits)?;
    if u64::from(frame.offset.0) + u64::from(fw) > u64::from(iw)
        || u64::from(frame.offset.1) + u64::from(fh) > u64::from(ih)
    {
        return Err(PipelineError::decode("a WebP frame outside its canvas"));
    }
    let bitstream = &data[frame.bytes];
    let px = decode_webp_bitstream(bitstream, (fw, fh), true, None)?;
    // The canvas starts transparent (the background colour is a hint players ignore, as
    // libwebp's own animation decoder does by default); frame 1 blends onto nothing, so
    // its pixels are placed as they are.
    let mut canvas = vec![0u8; iw as usize * ih as usize * 4];
    let row = fw as usize * 4;
    for y in 0..fh as usize {
        let d = ((frame.offset.1 as usize + y) * iw as usize + frame.offset.0 as usize) * 4;
        canvas[d..d + row].copy_from_slice(&px.data[y * row..(y + 1) * row]);
    }
    Ok(Decoded {
        pixels: Pixels::new(iw, ih, 4, canvas),
        icc,
    })
}

/// The ICC profile an animation's frames are converted from: a WebP's ICCP chunk unless it
/// is sRGB (a GIF's ICC extension is not read, for an animation as for its still).
pub(super) fn icc_profile(
    data: &[u8],
    format: SourceFormat,
) -> Result<Option<Vec<u8>>, PipelineError> {
    if format != SourceFormat::Webp || data.get(12..16) != Some(b"VP8X") {
        return Ok(None);
    }
    Ok(demux_webp(data)?.icc.filter(|p| !is_srgb(p)))
}

/// What the WebP demuxer reads from an extended container.
#[derive(Default)]
struct Container {
    icc: Option<Vec<u8>>,
    first_frame: Option<Frame>,
}

/// An animation frame: where its bitstream lies in the file, its size and its place.
struct Frame {
    bytes: std::ops::Range<usize>,
    size: (u32, u32),
    offset: (u32, u32),
}

fn demux_webp(data: &[u8]) -> Result<Container, PipelineError> {
    use libwebp_sys as w;
    // SAFETY: the demuxer reads `data` (alive for the call) without copying; its iterators
    // point into `data` and are released before the demuxer is deleted, which every path
    // does. The frame's bytes are turned into a range of `data` after checking they lie in it.
    unsafe {
        let input = w::WebPData {
            bytes: data.as_ptr(),
            size: data.len(),
        };
        let dmux =
            w::WebPDemuxInternal(&input, 0, std::ptr::null_mut(), w::WebPGetDemuxABIVersion());
        if dmux.is_null() {
            return Err(PipelineError::decode("a malformed WebP container"));
        }
        let mut container = Container::default();
        let mut chunk: w::WebPChunkIterator = std::mem::zeroed();
        if w::WebPDemuxGetChunk(dmux, c"ICCP".as_ptr(), 1, &mut chunk) != 0 {
            let c = chunk.chunk;
            container.icc = Some(std::slice::from_raw_parts(c.bytes, c.size).to_vec());
        }
        w::WebPDemuxReleaseChunkIterator(&mut chunk);
        let mut iter: w::WebPIterator = std::mem::zeroed();
        if w::WebPDemuxGetFrame(dmux, 1, &mut iter) != 0 {
            let start = (iter.fragment.bytes as usize).wrapping_sub(data.as_ptr() as usize);
            let end = start.saturating_add(iter.fragment.size);
            if start <= data.len() && end <= data.len() {
                container.first_frame = Some(Frame {
                    bytes: start..end,
                    size: (iter.width.max(0) as u32, iter.height.max(0) as u32),
                    offset: (iter.x_offset.max(0) as u32, iter.y_offset.max(0) as u32),
                });
            }
        }
        w::WebPDemuxReleaseIterator(&mut iter);
        w::WebPDemuxDelete(dmux);
        Ok(container)
    }
}

/// Decodes one WebP bitstream (a whole still file, or an animation frame's ALPH+VP8 or
/// VP8L payload) of `size` to RGB or RGBA, scaled on load when asked.
fn decode_webp_bitstream(
    data: &[u8],
    size: (u32, u32),
    alpha: bool,
    scaled: Option<(u32, u32)>,
) -> Result<Pixels, PipelineError> {
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
            return Err(PipelineError::decode("unreadable WebP bitstream"));
        }
        // The size libwebp will decode is the one the caller checked against the limits.
        if (cfg.input.width as u32, cfg.input.height as u32) != size {
            return Err(PipelineError::decode(format!(
                "a WebP bitstream of {}x{} where its container says {}x{}",
                cfg.input.width, cfg.input.height, size.0, size.1
            )));
        }
        let (ow, oh) = match scaled {
            Some((sw, sh)) => {
                cfg.options.use_scaling = 1;
                cfg.options.scaled_width = sw as i32;
                cfg.options.scaled_height = sh as i32;
                (sw, sh)
            }
            None => size,
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
        Ok(Pixels::new(ow, oh, channels as u8, buf))
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

    fn decoded(bytes: &[u8]) -> Pixels {
        let h = header(bytes).unwrap();
        decode(bytes, &h, None, &Limits::default()).unwrap().pixels
    }

    /// A 16x16 CMYK JPEG of one colour, written by mozjpeg as CMYK or YCCK; libjpeg adds
    /// the Adobe marker to both.
    fn cmyk_jpeg(stored: [u8; 4], space: mozjpeg::ColorSpace) -> Vec<u8> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
        c.set_size(16, 16);
        c.set_quality(100.0);
        c.set_color_space(space);
        let mut c = c.start_compress(Vec::new()).unwrap();
        c.write_scanlines(&stored.repeat(256)).unwrap();
        c.finish().unwrap()
    }

    /// The same file without its APP14 segment, as non-Adobe software writes CMYK.
    fn without_adobe_marker(jpeg: &[u8]) -> Vec<u8> {
        let i = jpeg.windows(2).position(|w| w == [0xFF, 0xEE]).unwrap();
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        [&jpeg[..i], &jpeg[i + 2 + len..]].concat()
    }

    fn near(got: &[u8], want: &[u8], tolerance: u8) -> bool {
        got.iter()
            .zip(want)
            .all(|(g, w)| g.abs_diff(*w) <= tolerance)
    }

    #[test]
    fn cmyk_and_ycck_jpegs_come_out_in_the_right_colours() {
        use mozjpeg::ColorSpace::{JCS_CMYK, JCS_YCCK};
        // Adobe (inverted) red: 255 - (0 C, 255 M, 255 Y, 0 K).
        let adobe = cmyk_jpeg([255, 0, 0, 255], JCS_CMYK);
        assert!(adobe.windows(5).any(|w| w == b"Adobe"));
        let px = decoded(&adobe);
        assert_eq!(px.channels, 3);
        assert!(near(&px.data[..3], &[255, 0, 0], 2), "{:?}", &px.data[..3]);
        // YCCK (Adobe's transform 2) of the same red.
        let ycck = decoded(&cmyk_jpeg([255, 0, 0, 255], JCS_YCCK));
        assert!(
            near(&ycck.data[..3], &[255, 0, 0], 3),
            "{:?}",
            &ycck.data[..3]
        );
        // No Adobe marker: the values are ink amounts as they are. Read as inverted (what
        // the pipeline did before), this red came out black.
        let plain = without_adobe_marker(&cmyk_jpeg([0, 255, 255, 0], JCS_CMYK));
        assert!(!plain.windows(5).any(|w| w == b"Adobe"));
        let px = decoded(&plain);
        assert!(near(&px.data[..3], &[255, 0, 0], 2), "{:?}", &px.data[..3]);
    }

    /// Assembles a WebP container with libwebp's muxer: one still image, or frames at
    /// offsets on a canvas (an animation), and an ICC profile when given.
    fn webp_container(
        frames: &[(&[u8], (i32, i32))],
        canvas: (i32, i32),
        icc: Option<&[u8]>,
    ) -> Vec<u8> {
        use libwebp_sys as w;
        let data = |b: &[u8]| w::WebPData {
            bytes: b.as_ptr(),
            size: b.len(),
        };
        // SAFETY: every WebPData points at a slice alive for the call; the muxer copies
        // nothing (copy_data 0) and is deleted after the assembled bytes are copied out.
        unsafe {
            let mux = w::WebPMuxNew();
            let ok = w::WebPMuxError::WEBP_MUX_OK;
            if let [(still, (0, 0))] = frames {
                assert_eq!(w::WebPMuxSetImage(mux, &data(still), 0), ok);
            } else {
                for (bitstream, (x, y)) in frames {
                    let mut info: w::WebPMuxFrameInfo = std::mem::zeroed();
                    info.bitstream = data(bitstream);
                    info.x_offset = *x;
                    info.y_offset = *y;
                    info.duration = 100;
                    info.id = w::WebPChunkId::WEBP_CHUNK_ANMF;
                    info.dispose_method = w::WebPMuxAnimDispose::WEBP_MUX_DISPOSE_NONE;
                    info.blend_method = w::WebPMuxAnimBlend::WEBP_MUX_BLEND;
                    assert_eq!(w::WebPMuxPushFrame(mux, &info, 0), ok);
                }
                let params = w::WebPMuxAnimParams {
                    bgcolor: 0xFFFF_FFFF,
                    loop_count: 0,
                };
                assert_eq!(w::WebPMuxSetAnimationParams(mux, &params), ok);
                assert_eq!(w::WebPMuxSetCanvasSize(mux, canvas.0, canvas.1), ok);
            }
            if let Some(icc) = icc {
                assert_eq!(w::WebPMuxSetChunk(mux, c"ICCP".as_ptr(), &data(icc), 0), ok);
            }
            let mut out = w::WebPData::default();
            assert_eq!(w::WebPMuxAssemble(mux, &mut out), ok);
            let bytes = std::slice::from_raw_parts(out.bytes, out.size).to_vec();
            w::WebPDataClear(&mut out);
            w::WebPMuxDelete(mux);
            bytes
        }
    }

    fn solid_webp(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        let px = Pixels::new(w, h, 3, rgb.repeat((w * h) as usize));
        super::super::encode::encode(px, imgflex_core::Format::Webp, Some(100)).unwrap()
    }

    #[test]
    fn an_animated_webp_gives_its_first_frame_on_its_canvas() {
        // Frame 1 is a red 8x6 at (4, 2) on a 16x10 canvas; frame 2 a blue full canvas.
        let red = solid_webp(8, 6, [255, 0, 0]);
        let blue = solid_webp(16, 10, [0, 0, 255]);
        let anim = webp_container(&[(&red, (4, 2)), (&blue, (0, 0))], (16, 10), None);
        let h = header(&anim).unwrap();
        assert_eq!((h.width, h.height), (16, 10));
        let px = decoded(&anim);
        assert_eq!((px.width, px.height, px.channels), (16, 10, 4));
        let at = |x: usize, y: usize| &px.data[(y * 16 + x) * 4..(y * 16 + x) * 4 + 4];
        assert!(near(at(6, 4), &[255, 0, 0, 255], 8), "{:?}", at(6, 4));
        assert_eq!(at(0, 0)[3], 0, "outside frame 1 the canvas is transparent");
        assert_eq!(at(15, 9)[3], 0);
    }

    #[test]
    fn a_webp_icc_profile_is_honoured() {
        let colour = [200, 100, 50];
        let still = solid_webp(8, 8, colour);
        let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
        let tagged = webp_container(&[(&still, (0, 0))], (8, 8), Some(&p3));
        let h = header(&tagged).unwrap();
        let d = decode(&tagged, &h, None, &Limits::default()).unwrap();
        assert_eq!(d.icc.as_deref(), Some(&p3[..]), "the ICCP chunk is read");
        // What the pipeline then does with it: P3's wider red, in sRGB.
        let raw = decoded(&still);
        let mut px = d.pixels;
        super::super::colour::to_srgb(&mut px, d.icc.as_deref().unwrap());
        assert!(
            px.data[0] > raw.data[0] + 8,
            "{:?} vs {:?}",
            &px.data[..3],
            &raw.data[..3]
        );
        // An sRGB profile in the same place costs nothing: it is recognised and dropped.
        let srgb = moxcms::ColorProfile::new_srgb().encode().unwrap();
        let tagged = webp_container(&[(&still, (0, 0))], (8, 8), Some(&srgb));
        let h = header(&tagged).unwrap();
        assert!(
            decode(&tagged, &h, None, &Limits::default())
                .unwrap()
                .icc
                .is_none()
        );
    }

    #[test]
    fn the_test_corpus_profiles_are_told_apart_by_their_data() {
        // cups carries an sRGB profile (HP's colorants, within 3e-4) named just "sRGB",
        // astronaut HP's "sRGB IEC61966-2.1", rocket Adobe RGB (1998): only rocket's is
        // still to apply after decoding.
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/corpus");
        for (file, converted) in [
            ("cups-2560x1600.jpg", false),
            ("astronaut-512x512.png", false),
            ("rocket-640x427.jpg", true),
        ] {
            let bytes = std::fs::read(corpus.join(file)).unwrap();
            let h = header(&bytes).unwrap();
            let small = (h.width / 8, h.height / 8);
            let d = decode(&bytes, &h, Some(small), &Limits::default()).unwrap();
            assert_eq!(d.icc.is_some(), converted, "{file}");
        }
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

    #[test]
    fn a_reduced_progressive_decode_stops_where_its_precision_is_met() {
        use Precision::*;
        let fine = 5.8; // quality 95
        assert_eq!(
            Precision::at_scale(false, 4, fine),
            None,
            "baseline reads everything"
        );
        assert_eq!(
            Precision::at_scale(true, 1, fine),
            None,
            "full size reads everything"
        );
        assert_eq!(Precision::at_scale(true, 8, fine), Some(DcWithinOneBit));
        assert_eq!(Precision::at_scale(true, 2, fine), Some(AcWithinOneBit));
        assert_eq!(Precision::at_scale(true, 4, fine), Some(AcWithinOneBit));
        assert_eq!(
            Precision::at_scale(true, 4, 17.3),
            Some(AcWithinOneBit),
            "quality 85"
        );
        assert_eq!(
            Precision::at_scale(true, 4, 29.0),
            None,
            "quality 75: read to the end"
        );
        assert_eq!(Precision::at_scale(true, 8, 29.0), Some(DcWithinOneBit));
        // jpeg_simple_progression's states for one component, scan by scan.
        let mut c = [-1; 64];
        let state = |c: &[i32; 64]| (DcWithinOneBit.met_by(&[*c]), AcWithinOneBit.met_by(&[*c]));
        c[0] = 1; // DC, Al=1
        assert_eq!(state(&c), (true, false));
        c[1..].fill(2); // the AC bands at Al=2
        assert_eq!(state(&c), (true, false));
        c[1..].fill(1); // AC refined to Al=1: DC's last bit still to come
        assert_eq!(state(&c), (true, false));
        c[0] = 0; // DC refined
        assert_eq!(state(&c), (true, true));
        c[1..].fill(0); // the final AC refinement, which AcWithinOneBit does not wait for
        assert_eq!(state(&c), (true, true));
        // Every component must be there: a luma-only state does not do for colour.
        assert!(!AcWithinOneBit.met_by(&[c, [-1; 64]]));
        // A script that never sends the high band: read to the end.
        let mut partial_band = [0; 64];
        partial_band[40..].fill(-1);
        assert!(!AcWithinOneBit.met_by(&[partial_band]));
    }

    /// A progressive file with libjpeg's standard script (what `set_fastest_defaults` gives
    /// mozjpeg: no scan optimisation), which refines every band, at quality 95 (fine enough
    /// for the last refinements to be skipped at 1/2 and 1/4). Photo-like: gradients, a
    /// soft-edged disc and sensor-like noise (a fixed LCG), so every AC band carries
    /// something, as in a photograph. 256x192.
    fn photo_like_progressive_q95() -> Vec<u8> {
        let (w, h) = (256usize, 192usize);
        let mut seed = 0x2545_f491_u32;
        let mut noise = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 24) as f64 / 255.0 * 16.0 - 8.0
        };
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f64, y as f64);
                let r = ((fx - 128.0).powi(2) + (fy - 96.0).powi(2)).sqrt();
                let disc = 1.0 / (1.0 + ((r - 60.0) / 2.0).exp());
                let px = |base: f64, n: f64| (base + n).clamp(0.0, 255.0) as u8;
                rgb.extend_from_slice(&[
                    px(40.0 + fx * 0.6 + 120.0 * disc, noise()),
                    px(60.0 + fy * 0.8 + 60.0 * disc, noise()),
                    px(200.0 - fx * 0.5 - 100.0 * disc, noise()),
                ]);
            }
        }
        let mut enc = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        enc.set_fastest_defaults();
        enc.set_size(w, h);
        enc.set_quality(95.0);
        enc.set_progressive_mode();
        let mut enc = enc.start_compress(Vec::new()).unwrap();
        enc.write_scanlines(&rgb).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_progressive_jpeg_at_half_and_quarter_scale_is_close_to_its_full_decode() {
        // Decoded at 1/2 and 1/4 with the last refinements skipped, then compared with
        // libjpeg's own full-precision decode at the same scale.
        let (w, h) = (256usize, 192usize);
        let jpeg = photo_like_progressive_q95();
        let header = header(&jpeg).unwrap();
        for scale in [2u32, 4] {
            let d = decode_jpeg(&jpeg, f64::from(scale) + 0.5, &header, &Limits::default())
                .unwrap()
                .pixels;
            assert_eq!((d.width, d.height), (w as u32 / scale, h as u32 / scale));
            let mut full = mozjpeg::Decompress::new_mem(&jpeg).unwrap();
            full.scale(8 / scale as u8);
            let mut full = full.rgb().unwrap();
            let want: Vec<u8> = full.read_scanlines::<u8>().unwrap();
            full.finish().unwrap();
            let mse = d
                .data
                .iter()
                .zip(&want)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum::<f64>()
                / want.len() as f64;
            let psnr = 10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10();
            assert!(psnr > 40.0, "1/{scale}: {psnr:.1} dB from the full decode");
            assert!(
                mse > 0.0,
                "1/{scale}: identical, so the last scans were read after all"
            );
        }
    }

    #[test]
    fn a_progressive_jpeg_cut_short_in_the_scans_a_reduced_decode_skips_still_fails() {
        // The story: an upload interrupted near its end leaves a progressive file whose last
        // scans (the final AC refinements, which 1/2 and 1/4 decodes do not read) are cut
        // off. A full decode fails it ("premature end"); a reduced one must too, not serve a
        // slightly soft image from the scans it did read.
        let jpeg = photo_like_progressive_q95();
        let cut = &jpeg[..jpeg.len() * 9 / 10];
        let header = header(cut).unwrap();
        for shrink in [1.5, 2.5, 4.5] {
            let err = decode_jpeg(cut, shrink, &header, &Limits::default()).unwrap_err();
            assert!(
                err.to_string().contains("corrupt or truncated"),
                "shrink {shrink}: {err}"
            );
        }
        // The whole file decodes at every scale (the cut, not the scale, is refused).
        let header = super::header(&jpeg).unwrap();
        for shrink in [1.5, 2.5, 4.5] {
            decode_jpeg(&jpeg, shrink, &header, &Limits::default()).unwrap();
        }
        assert!(holds_eoi(&[0x00, 0xFF, 0xD9, 0x00]));
        assert!(!holds_eoi(&[0xFF, 0x00, 0xD9, 0xFF]));
    }
}
