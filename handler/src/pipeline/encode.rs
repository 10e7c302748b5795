//! Writing outputs: JPEG with mozjpeg (Huffman optimisation, 4:2:0, baseline, as sharp),
//! WebP with libwebp (method 4, as sharp's effort 4), AVIF with ravif (rav1e), PNG with the
//! `png` crate. No metadata is written: outputs are sRGB and carry no EXIF or profile.
#![allow(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use imgflex_core::Format;
use mozjpeg_sys as jpeg;

use super::error::PipelineError;
use super::pixels::Pixels;

/// rav1e speed: 6 matches sharp's aom effort 4 in time on the corpus while staying within
/// its bytes (measured in the pipeline prototype; see the README's development notes).
pub const AVIF_SPEED: u8 = 6;

/// Above this many output pixels AVIF is encoded at [`AVIF_SPEED_LARGE`]: speed 6 costs ~5 s
/// a megapixel on one core (a 4096x2304 photo took 41 s, past the Lambda's 28 s timeout);
/// speed 10 ~1 s, for files ~20% larger.
pub const AVIF_LARGE_PIXELS: u64 = 1_000_000;
pub const AVIF_SPEED_LARGE: u8 = 10;

/// The rav1e speed for an output of `pixels`.
pub fn avif_speed(pixels: u64) -> u8 {
    if pixels > AVIF_LARGE_PIXELS {
        AVIF_SPEED_LARGE
    } else {
        AVIF_SPEED
    }
}

/// sharp's (aom's) AVIF quality and ravif's are different scales: at the same number ravif
/// writes far smaller, blurrier files. This maps ours (aom-like, default 50) onto ravif's so
/// bytes and SSIM land near sharp's at the same `q`.
pub fn avif_quality(q: u8) -> f32 {
    (f32::from(q) * 0.72 + 28.0).min(100.0)
}

pub fn encode(px: Pixels, format: Format, quality: Option<u8>) -> Result<Vec<u8>, PipelineError> {
    let q = quality.unwrap_or(80);
    match format {
        Format::Jpeg => jpeg(px, q),
        Format::Webp => webp(px, q),
        Format::Avif => avif(px, q),
        Format::Png => png(px),
    }
}

fn jpeg(px: Pixels, q: u8) -> Result<Vec<u8>, PipelineError> {
    // The mozjpeg crate reports libjpeg errors by unwinding.
    catch_unwind(AssertUnwindSafe(|| -> Result<Vec<u8>, PipelineError> {
        let space = if px.channels == 1 {
            mozjpeg::ColorSpace::JCS_GRAYSCALE
        } else {
            mozjpeg::ColorSpace::JCS_RGB
        };
        let c = jpeg_compressor(space, (px.width, px.height), q);
        let mut c = c
            .start_compress(Vec::with_capacity(px.data.len() / 8))
            .map_err(PipelineError::encode)?;
        c.write_scanlines(&px.data).map_err(PipelineError::encode)?;
        c.finish().map_err(PipelineError::encode)
    }))
    .map_err(|_| PipelineError::encode("libjpeg failed"))?
}

/// The JPEG settings: libjpeg-turbo-like (no trellis, baseline), as libvips uses the
/// mozjpeg library unless told otherwise; Huffman tables optimised per image; colour at
/// 4:2:0. [`CoefficientWriter`] makes the same calls in libjpeg's own API (a pipeline test
/// checks both write the same tables).
fn jpeg_compressor(space: mozjpeg::ColorSpace, (w, h): (u32, u32), q: u8) -> mozjpeg::Compress {
    let mut c = mozjpeg::Compress::new(space);
    c.set_fastest_defaults();
    c.set_size(w as usize, h as usize);
    c.set_quality(f32::from(q));
    c.set_optimize_coding(true);
    if space != mozjpeg::ColorSpace::JCS_GRAYSCALE {
        c.set_chroma_sampling_pixel_sizes((2, 2), (2, 2));
    }
    c
}

/// libjpeg's compressor set up as [`jpeg_compressor`] sets up the mozjpeg crate's (the
/// fastest profile, `q`, optimised Huffman, 4:2:0), for the writer that crate lacks:
/// coefficients in (`jpeg_write_coefficients`), as `coefficients::requantised` needs. Its
/// output goes to libjpeg's own growing buffer (`jpeg_mem_dest`), freed on drop.
pub(super) struct CoefficientWriter {
    cinfo: Box<jpeg::jpeg_compress_struct>,
    err: Box<jpeg::jpeg_error_mgr>,
    // Boxed: libjpeg keeps the addresses of both and writes them as the buffer grows.
    dest: Box<(*mut u8, std::os::raw::c_ulong)>,
}

impl CoefficientWriter {
    /// A writer of `size`, one component (`grey`) or three (YCbCr 4:2:0) at quality `q`.
    pub(super) fn new(grey: bool, (w, h): (u32, u32), q: u8) -> Result<Self, PipelineError> {
        use jpeg::J_COLOR_SPACE::{JCS_GRAYSCALE, JCS_YCbCr};
        // SAFETY: the error manager and the destination are boxed, so the pointers libjpeg
        // keeps stay good when the writer moves; a libjpeg error unwinds to the catch here.
        catch_unwind(AssertUnwindSafe(|| unsafe {
            let mut wr = CoefficientWriter {
                cinfo: Box::new(std::mem::zeroed()),
                err: super::decode::jpeg_error_manager(),
                dest: Box::new((std::ptr::null_mut(), 0)),
            };
            wr.cinfo.common.err = &mut *wr.err;
            jpeg::jpeg_create_compress(&mut *wr.cinfo);
            let c = &mut *wr.cinfo;
            (c.in_color_space, c.input_components) = if grey {
                (JCS_GRAYSCALE, 1)
            } else {
                (JCS_YCbCr, 3)
            };
            // What `set_fastest_defaults`, `set_size`, `set_quality` and
            // `set_optimize_coding` do, in that order.
            jpeg::jpeg_c_set_int_param(
                c,
                jpeg::J_INT_PARAM::JINT_COMPRESS_PROFILE,
                jpeg::JCP_FASTEST as std::os::raw::c_int,
            );
            jpeg::jpeg_set_defaults(c);
            c.image_width = w;
            c.image_height = h;
            jpeg::jpeg_set_quality(c, q.into(), 0);
            c.optimize_coding = 1;
            if !grey {
                let comps = std::slice::from_raw_parts_mut(c.comp_info, 3);
                for (comp, f) in comps.iter_mut().zip([2, 1, 1]) {
                    (comp.h_samp_factor, comp.v_samp_factor) = (f, f);
                }
            }
            let dest = &mut *wr.dest;
            jpeg::jpeg_mem_dest(c, &mut dest.0, &mut dest.1);
            wr
        }))
        .map_err(|_| PipelineError::encode("libjpeg could not start a JPEG"))
    }

    /// The quantisation table (natural order) component `i` will be written with.
    pub(super) fn quant_table(&self, i: usize) -> Result<&[u16; 64], PipelineError> {
        let c = &*self.cinfo;
        let n = usize::try_from(c.num_components).unwrap_or(0);
        if i >= n {
            return Err(PipelineError::encode("no such JPEG component"));
        }
        // SAFETY: `comp_info` holds `num_components` entries after `jpeg_set_defaults`, and
        // `jpeg_set_quality` filled the tables they select; both live as long as `c`.
        unsafe {
            let comp = &*c.comp_info.add(i);
            let table = usize::try_from(comp.quant_tbl_no)
                .ok()
                .and_then(|t| c.quant_tbl_ptrs.get(t))
                .copied()
                .unwrap_or(std::ptr::null_mut());
            table
                .as_ref()
                .map(|t| &t.quantval)
                .ok_or_else(|| PipelineError::encode("no JPEG quantisation table"))
        }
    }

    /// Blocks across and down of component `i` as libjpeg lays the file out (its
    /// `initial_setup`: the component's share of the image, in whole blocks).
    fn blocks(&self, i: usize) -> (usize, usize) {
        let c = &*self.cinfo;
        let (w, h) = (c.image_width as usize, c.image_height as usize);
        // The writer's own sampling: 4:2:0 chroma covers 16 pixels a block each way.
        let span = if i == 0 || c.input_components == 1 {
            8
        } else {
            16
        };
        (w.div_ceil(span), h.div_ceil(span))
    }

    /// Writes the file: `fill(i, row, blocks)` is handed every row of component `i`'s
    /// blocks in turn (component by component, top to bottom) to set, already quantised
    /// with this writer's tables; then they are entropy-coded.
    pub(super) fn write(
        mut self,
        mut fill: impl FnMut(usize, usize, &mut [[i16; 64]]),
    ) -> Result<Vec<u8>, PipelineError> {
        let n = self.cinfo.input_components as usize;
        let sizes: Vec<(usize, usize)> = (0..n).map(|i| self.blocks(i)).collect();
        // SAFETY: the arrays are requested from this compressor's memory manager before
        // `jpeg_write_coefficients` realises them, each as large as libjpeg will read it
        // (rounded up to whole MCUs, as its own transcoder allocates), pre-zeroed so the
        // rows past the image that it reads but `fill` is not asked for are defined. Rows
        // are written in order, each pointer used before the next access. The buffer libjpeg
        // filled is `dest.1` bytes long. libjpeg errors unwind to the catch here.
        catch_unwind(AssertUnwindSafe(|| unsafe {
            let c = &mut *self.cinfo;
            let mem = &*c.common.mem;
            let (Some(request), Some(access)) = (mem.request_virt_barray, mem.access_virt_barray)
            else {
                return Err(PipelineError::encode("libjpeg has no block arrays"));
            };
            let mut arrays = Vec::with_capacity(n);
            for (i, &(across, down)) in sizes.iter().enumerate() {
                let comp = &*c.comp_info.add(i);
                let (h, v) = (comp.h_samp_factor as usize, comp.v_samp_factor as usize);
                arrays.push(request(
                    &mut c.common,
                    jpeg::JPOOL_IMAGE,
                    1,
                    across.next_multiple_of(h) as u32,
                    down.next_multiple_of(v) as u32,
                    v as u32,
                ));
            }
            jpeg::jpeg_write_coefficients(c, arrays.as_mut_ptr());
            // libjpeg has now laid out its components: they must be what was allocated.
            let laid_out = (0..n).all(|i| {
                let comp = &*c.comp_info.add(i);
                (
                    comp.width_in_blocks as usize,
                    comp.height_in_blocks as usize,
                ) == sizes[i]
            });
            if !laid_out {
                return Err(PipelineError::encode("JPEG components laid out otherwise"));
            }
            for (i, &(across, down)) in sizes.iter().enumerate() {
                for row in 0..down {
                    let rows = access(&mut c.common, arrays[i], row as u32, 1, 1);
                    fill(i, row, std::slice::from_raw_parts_mut(*rows, across));
                }
            }
            jpeg::jpeg_finish_compress(c);
            Ok(std::slice::from_raw_parts(self.dest.0, self.dest.1 as usize).to_vec())
        }))
        .map_err(|_| PipelineError::encode("libjpeg could not write the coefficients"))?
    }
}

impl Drop for CoefficientWriter {
    fn drop(&mut self) {
        // SAFETY: created by `jpeg_create_compress`, destroyed once; the buffer is libjpeg's
        // `malloc` (or null, if nothing was written).
        unsafe {
            jpeg::jpeg_destroy_compress(&mut self.cinfo);
            if !self.dest.0.is_null() {
                libc::free(self.dest.0.cast());
            }
        }
    }
}

fn webp(px: Pixels, q: u8) -> Result<Vec<u8>, PipelineError> {
    use libwebp_sys as w;
    let px = px.to_rgb_or_rgba();
    // SAFETY: config and picture are initialised by libwebp before use and freed on every
    // path; the import reads `stride * height` bytes of `px.data`, which holds exactly that;
    // the memory writer owns its buffer until `WebPMemoryWriterClear`, after the copy out.
    unsafe {
        let mut cfg: w::WebPConfig = std::mem::zeroed();
        if !w::WebPInitConfig(&mut cfg) {
            return Err(PipelineError::encode("libwebp version mismatch"));
        }
        cfg.quality = f32::from(q);
        cfg.method = 4;
        let mut pic: w::WebPPicture = std::mem::zeroed();
        if !w::WebPPictureInit(&mut pic) {
            return Err(PipelineError::encode("libwebp version mismatch"));
        }
        pic.width = px.width as i32;
        pic.height = px.height as i32;
        let stride = (px.width * u32::from(px.channels)) as i32;
        let imported = if px.channels == 4 {
            w::WebPPictureImportRGBA(&mut pic, px.data.as_ptr(), stride)
        } else {
            w::WebPPictureImportRGB(&mut pic, px.data.as_ptr(), stride)
        };
        if imported == 0 {
            w::WebPPictureFree(&mut pic);
            return Err(PipelineError::encode("libwebp could not import the pixels"));
        }
        let mut writer: w::WebPMemoryWriter = std::mem::zeroed();
        w::WebPMemoryWriterInit(&mut writer);
        pic.writer = Some(w::WebPMemoryWrite);
        pic.custom_ptr = (&mut writer as *mut w::WebPMemoryWriter).cast();
        let ok = w::WebPEncode(&cfg, &mut pic);
        let code = pic.error_code;
        w::WebPPictureFree(&mut pic);
        let out = if ok != 0 && !writer.mem.is_null() {
            std::slice::from_raw_parts(writer.mem, writer.size).to_vec()
        } else {
            Vec::new()
        };
        w::WebPMemoryWriterClear(&mut writer);
        if ok == 0 {
            return Err(PipelineError::encode(format!("libwebp: {code:?}")));
        }
        Ok(out)
    }
}

fn avif(px: Pixels, q: u8) -> Result<Vec<u8>, PipelineError> {
    let px = px.to_rgb_or_rgba();
    let quality = avif_quality(q);
    let encoder = ravif::Encoder::new()
        .with_quality(quality)
        .with_alpha_quality(quality)
        .with_speed(avif_speed(px.width as u64 * px.height as u64))
        .with_num_threads(Some(1))
        .with_bit_depth(ravif::BitDepth::Eight);
    let (w, h) = (px.width as usize, px.height as usize);
    let encoded = if px.channels == 4 {
        let pixels: &[rgb::RGBA8] = rgb::bytemuck::cast_slice(&px.data);
        encoder.encode_rgba(ravif::Img::new(pixels, w, h))
    } else {
        let pixels: &[rgb::RGB8] = rgb::bytemuck::cast_slice(&px.data);
        encoder.encode_rgb(ravif::Img::new(pixels, w, h))
    };
    encoded.map(|e| e.avif_file).map_err(PipelineError::encode)
}

fn png(px: Pixels) -> Result<Vec<u8>, PipelineError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, px.width, px.height);
    encoder.set_color(match px.channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(PipelineError::encode)?;
    writer
        .write_image_data(&px.data)
        .map_err(PipelineError::encode)?;
    writer.finish().map_err(PipelineError::encode)?;
    Ok(out)
}
