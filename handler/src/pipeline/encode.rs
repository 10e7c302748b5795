//! Writing outputs: JPEG with mozjpeg (Huffman optimisation, 4:2:0, baseline, as sharp),
//! WebP with libwebp (method 4, as sharp's effort 4), AVIF with ravif (rav1e), PNG with the
//! `png` crate. No metadata is written: outputs are sRGB and carry no EXIF or profile.
#![allow(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use imgflex_core::Format;

use super::error::PipelineError;
use super::pixels::Pixels;
use super::planes::YccPlanes;

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

/// The one set of JPEG settings both writers use: libjpeg-turbo-like (no trellis,
/// baseline), as libvips uses the mozjpeg library unless told otherwise; Huffman tables
/// optimised per image; colour at 4:2:0.
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

/// A JPEG from a JPEG's own 4:2:0 planes (`decode::jpeg_planes`): the file [`encode`]
/// writes from the same image in RGB, with the same settings, less the conversions.
pub fn jpeg_from_planes(planes: YccPlanes, quality: Option<u8>) -> Result<Vec<u8>, PipelineError> {
    catch_unwind(AssertUnwindSafe(|| -> Result<Vec<u8>, PipelineError> {
        let mut c = jpeg_compressor(
            mozjpeg::ColorSpace::JCS_YCbCr,
            (planes.width, planes.height),
            quality.unwrap_or(80),
        );
        // After the defaults, which clear it.
        c.set_raw_data_in(true);
        let mut c = c
            .start_compress(Vec::with_capacity(planes.y.data.len() / 6))
            .map_err(PipelineError::encode)?;
        let fits = c
            .components()
            .iter()
            .zip([&planes.y, &planes.cb, &planes.cr])
            .all(|(comp, p)| {
                comp.width_in_blocks as usize * 8 == p.stride
                    && comp.height_in_blocks as usize * 8 == p.rows
            });
        if !fits {
            return Err(PipelineError::encode("planes not laid out as 4:2:0 blocks"));
        }
        if !c.write_raw_data(&[&planes.y.data, &planes.cb.data, &planes.cr.data]) {
            return Err(PipelineError::encode("libjpeg took no raw rows"));
        }
        c.finish().map_err(PipelineError::encode)
    }))
    .map_err(|_| PipelineError::encode("libjpeg failed"))?
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
