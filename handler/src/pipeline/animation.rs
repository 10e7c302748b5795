//! Animated output (`anim=1`): every frame of an animated GIF or WebP, composited on its
//! canvas as a browser plays it, each then put through the still's plan, and the frames
//! encoded as one animated WebP with libwebp's `WebPAnimEncoder` (what `gif2webp` and
//! libvips use). Frames stream: one canvas is decoded, rendered and handed to the encoder
//! before the next, so memory does not grow with the frame count.
#![allow(unsafe_code)]

use std::io::Cursor;
use std::marker::PhantomData;

use super::decode::{SourceFormat, gif_error, gif_options, paint_gif_frame};
use super::error::PipelineError;
use super::limits::Limits;
use super::pixels::Pixels;

/// What an animated source's container says, read before any frame is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub frames: u64,
    /// How many times the animation plays, WebP's way: 0 forever, else the count.
    pub loop_count: u32,
}

/// Browsers show a GIF frame delayed 0 or 10 ms for 100 ms (such files were written for
/// players that went as fast as they could); libwebp's `gif2webp` keeps the delay as
/// written, so a converted file would race. We do what the browser did.
const GIF_MIN_DELAY_CS: u16 = 2;
const GIF_SHORT_DELAY_MS: u32 = 100;

/// The timeline of an animated source, or `None` for a still (one frame, or a format that
/// does not animate). Counting stops one past `limits.max_animation_frames`, so a file of a
/// million frames costs no more to refuse than one of a thousand; GIF frames are counted
/// without decompressing them.
pub(crate) fn timeline(
    bytes: &[u8],
    format: SourceFormat,
    limits: &Limits,
) -> Result<Option<Timeline>, PipelineError> {
    let stop = limits.max_animation_frames.saturating_add(1);
    let timeline = match format {
        SourceFormat::Gif => {
            let mut options = gif_options(limits);
            options.skip_frame_decoding(true);
            let gif_error = |e| gif_error(e, limits);
            let mut decoder = options.read_info(Cursor::new(bytes)).map_err(gif_error)?;
            let mut frames = 0u64;
            while frames < stop && decoder.read_next_frame().map_err(gif_error)?.is_some() {
                frames += 1;
            }
            // A GIF's NETSCAPE loop count is how many times it repeats after playing once
            // (browsers play it n + 1 times); with none it plays once. WebP's count is plays.
            let loop_count = match decoder.repeat() {
                gif::Repeat::Infinite => 0,
                gif::Repeat::Finite(n) => u32::from(n).saturating_add(1),
            };
            Timeline { frames, loop_count }
        }
        SourceFormat::Webp => match WebpFrames::new(bytes)? {
            Some(frames) => Timeline {
                frames: u64::from(frames.info.frame_count),
                loop_count: frames.info.loop_count,
            },
            None => return Ok(None),
        },
        SourceFormat::Jpeg | SourceFormat::Png | SourceFormat::Avif => return Ok(None),
    };
    Ok((timeline.frames > 1).then_some(timeline))
}

/// Calls `each` with every frame of an animated source, as full RGBA canvases of the
/// header's size, in order, with how long it shows in milliseconds.
pub(crate) fn each_frame(
    bytes: &[u8],
    format: SourceFormat,
    size: (u32, u32),
    limits: &Limits,
    mut each: impl FnMut(Pixels, u32) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    match format {
        SourceFormat::Gif => gif_frames(bytes, size, limits, &mut each),
        SourceFormat::Webp => {
            let mut frames = WebpFrames::new(bytes)?
                .ok_or_else(|| PipelineError::decode("a WebP that is not an animation"))?;
            if (frames.info.canvas_width, frames.info.canvas_height) != size {
                return Err(PipelineError::decode(
                    "a WebP canvas of another size than its header's",
                ));
            }
            frames.each(&mut each)
        }
        SourceFormat::Jpeg | SourceFormat::Png | SourceFormat::Avif => Err(
            PipelineError::unsupported("an animation in a format that does not animate"),
        ),
    }
}

// ------------------------------------------------------------------------------- GIF

/// Composites each GIF frame onto the logical screen and applies its disposal before the
/// next: `Background` clears the frame's rectangle to transparent (as browsers do, not to
/// the background colour), `Previous` restores what was under it, the others keep it.
fn gif_frames(
    bytes: &[u8],
    (w, h): (u32, u32),
    limits: &Limits,
    each: &mut dyn FnMut(Pixels, u32) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let gif_error = |e| gif_error(e, limits);
    let mut decoder = gif_options(limits)
        .read_info(Cursor::new(bytes))
        .map_err(gif_error)?;
    if (u32::from(decoder.width()), u32::from(decoder.height())) != (w, h) {
        return Err(PipelineError::decode(
            "a GIF screen of another size than its header's",
        ));
    }
    let (wu, hu) = (w as usize, h as usize);
    let mut canvas = vec![0u8; wu * hu * 4];
    while let Some(frame) = decoder.read_next_frame().map_err(gif_error)? {
        // The rectangle a `Background` disposal clears: the frame's part on the screen,
        // empty for a frame wholly off it (clamped, so the range never runs backwards).
        let (left, top) = (
            usize::from(frame.left).min(wu),
            usize::from(frame.top).min(hu),
        );
        let x1 = (left + usize::from(frame.width)).min(wu);
        let y1 = (top + usize::from(frame.height)).min(hu);
        let saved = (frame.dispose == gif::DisposalMethod::Previous).then(|| canvas.clone());
        paint_gif_frame(&mut canvas, (w, h), frame);
        let delay = if frame.delay < GIF_MIN_DELAY_CS {
            GIF_SHORT_DELAY_MS
        } else {
            u32::from(frame.delay) * 10
        };
        let dispose = frame.dispose;
        each(Pixels::new(w, h, 4, canvas.clone()), delay)?;
        match (dispose, saved) {
            (gif::DisposalMethod::Previous, Some(saved)) => canvas = saved,
            (gif::DisposalMethod::Background, _) => {
                for y in top..y1 {
                    canvas[(y * wu + left) * 4..(y * wu + x1) * 4].fill(0);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------ WebP

/// How many frames a WebP holds, from its container: 1 for a still.
pub(crate) fn webp_frame_count(bytes: &[u8]) -> Result<u32, PipelineError> {
    Ok(WebpFrames::new(bytes)?.map_or(1, |frames| frames.info.frame_count))
}

/// libwebp's animation decoder: it composites (blend and dispose) and hands out canvases.
/// It reads the file in place, so it borrows it.
struct WebpFrames<'a> {
    decoder: *mut libwebp_sys::WebPAnimDecoder,
    info: libwebp_sys::WebPAnimInfo,
    bytes: PhantomData<&'a [u8]>,
}

impl<'a> WebpFrames<'a> {
    /// `None` for a still WebP. Reads the container only; no frame is decoded here.
    fn new(bytes: &'a [u8]) -> Result<Option<WebpFrames<'a>>, PipelineError> {
        use libwebp_sys as w;
        // SAFETY: `bytes` outlives the decoder (the borrow `WebpFrames` holds). The options
        // and info structs are initialised by libwebp before use.
        unsafe {
            let mut features: w::WebPBitstreamFeatures = std::mem::zeroed();
            if w::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut features)
                != w::VP8StatusCode::VP8_STATUS_OK
            {
                return Err(PipelineError::decode("unreadable WebP header"));
            }
            if features.has_animation == 0 {
                return Ok(None);
            }
            let mut options: w::WebPAnimDecoderOptions = std::mem::zeroed();
            if w::WebPAnimDecoderOptionsInit(&mut options) == 0 {
                return Err(PipelineError::decode("libwebp version mismatch"));
            }
            options.color_mode = w::WEBP_CSP_MODE::MODE_RGBA;
            options.use_threads = 0;
            let data = w::WebPData {
                bytes: bytes.as_ptr(),
                size: bytes.len(),
            };
            let decoder = w::WebPAnimDecoderNew(&data, &options);
            if decoder.is_null() {
                return Err(PipelineError::decode("a malformed animated WebP"));
            }
            let mut info = w::WebPAnimInfo::default();
            if w::WebPAnimDecoderGetInfo(decoder, &mut info) == 0 {
                w::WebPAnimDecoderDelete(decoder);
                return Err(PipelineError::decode("a malformed animated WebP"));
            }
            Ok(Some(WebpFrames {
                decoder,
                info,
                bytes: PhantomData,
            }))
        }
    }

    fn each(
        &mut self,
        each: &mut dyn FnMut(Pixels, u32) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        use libwebp_sys as w;
        let (cw, ch) = (self.info.canvas_width, self.info.canvas_height);
        let len = cw as usize * ch as usize * 4;
        let mut previous = 0;
        // SAFETY: the canvas `GetNext` returns is `canvas_width * canvas_height * 4` bytes
        // owned by the decoder and valid until the next call; it is copied out at once.
        unsafe {
            while w::WebPAnimDecoderHasMoreFrames(self.decoder) != 0 {
                let mut buf: *mut u8 = std::ptr::null_mut();
                let mut timestamp = 0;
                if w::WebPAnimDecoderGetNext(self.decoder, &mut buf, &mut timestamp) == 0
                    || buf.is_null()
                {
                    return Err(PipelineError::decode("a WebP frame that does not decode"));
                }
                let canvas = std::slice::from_raw_parts(buf, len).to_vec();
                // Timestamps are when each frame ends.
                let duration = u32::try_from(timestamp.saturating_sub(previous)).unwrap_or(0);
                previous = timestamp;
                each(Pixels::new(cw, ch, 4, canvas), duration)?;
            }
        }
        Ok(())
    }
}

impl Drop for WebpFrames<'_> {
    fn drop(&mut self) {
        // SAFETY: created by `WebPAnimDecoderNew`, deleted once.
        unsafe { libwebp_sys::WebPAnimDecoderDelete(self.decoder) }
    }
}

// --------------------------------------------------------------------------- encoder

/// An animated WebP being written: frames are added in order with their durations.
pub(crate) struct WebpAnimation {
    encoder: *mut libwebp_sys::WebPAnimEncoder,
    config: libwebp_sys::WebPConfig,
    size: (u32, u32),
    timestamp: i32,
}

impl WebpAnimation {
    /// Lossy frames at `quality`, method 4 (as the still encoder and sharp's effort 4); the
    /// encoder chooses key frames and sub-frame rectangles itself.
    pub(crate) fn new(
        size: (u32, u32),
        quality: u8,
        loop_count: u32,
    ) -> Result<WebpAnimation, PipelineError> {
        use libwebp_sys as w;
        let too_large = || PipelineError::encode("an animation frame larger than WebP allows");
        let width = i32::try_from(size.0).map_err(|_| too_large())?;
        let height = i32::try_from(size.1).map_err(|_| too_large())?;
        // SAFETY: options and config are initialised by libwebp before use; the encoder is
        // checked for null and owned by the returned value, which deletes it.
        unsafe {
            let mut options: w::WebPAnimEncoderOptions = std::mem::zeroed();
            if w::WebPAnimEncoderOptionsInitInternal(&mut options, w::WEBP_MUX_ABI_VERSION as _)
                == 0
            {
                return Err(PipelineError::encode("libwebp version mismatch"));
            }
            options.anim_params.loop_count = i32::try_from(loop_count).unwrap_or(0);
            // Transparent, as the source canvases start (players ignore it, but say so).
            options.anim_params.bgcolor = 0;
            let mut config: w::WebPConfig = std::mem::zeroed();
            if !w::WebPInitConfig(&mut config) {
                return Err(PipelineError::encode("libwebp version mismatch"));
            }
            config.quality = f32::from(quality);
            config.method = 4;
            let encoder = w::WebPAnimEncoderNewInternal(
                width,
                height,
                &options,
                w::WEBP_MUX_ABI_VERSION as _,
            );
            if encoder.is_null() {
                return Err(PipelineError::encode(
                    "libwebp could not start an animation",
                ));
            }
            Ok(WebpAnimation {
                encoder,
                config,
                size,
                timestamp: 0,
            })
        }
    }

    /// Adds one frame (RGB or RGBA of the animation's size) shown for `duration_ms`.
    pub(crate) fn add(&mut self, px: Pixels, duration_ms: u32) -> Result<(), PipelineError> {
        use libwebp_sys as w;
        let px = px.to_rgb_or_rgba();
        if (px.width, px.height) != self.size {
            return Err(PipelineError::encode("an animation frame of another size"));
        }
        // SAFETY: the picture is initialised by libwebp, imports `stride * height` bytes of
        // `px.data` (exactly its length), and is freed on every path after the encoder,
        // which copies what it keeps, has read it.
        unsafe {
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
            let added = imported != 0
                && w::WebPAnimEncoderAdd(self.encoder, &mut pic, self.timestamp, &self.config) != 0;
            w::WebPPictureFree(&mut pic);
            if !added {
                return Err(self.error());
            }
        }
        let duration = i32::try_from(duration_ms).unwrap_or(i32::MAX);
        self.timestamp = self.timestamp.saturating_add(duration);
        Ok(())
    }

    /// Ends the last frame and writes the file.
    pub(crate) fn finish(self) -> Result<Vec<u8>, PipelineError> {
        use libwebp_sys as w;
        // SAFETY: a null frame ends the animation at `timestamp`; the assembled data is
        // libwebp's until `WebPDataClear`, after the copy out.
        unsafe {
            if w::WebPAnimEncoderAdd(
                self.encoder,
                std::ptr::null_mut(),
                self.timestamp,
                std::ptr::null(),
            ) == 0
            {
                return Err(self.error());
            }
            let mut data = w::WebPData::default();
            if w::WebPAnimEncoderAssemble(self.encoder, &mut data) == 0 || data.bytes.is_null() {
                return Err(self.error());
            }
            let out = std::slice::from_raw_parts(data.bytes, data.size).to_vec();
            w::WebPDataClear(&mut data);
            Ok(out)
        }
    }

    fn error(&self) -> PipelineError {
        // SAFETY: the message is a NUL-terminated string the encoder owns, read at once.
        let message = unsafe {
            let p = libwebp_sys::WebPAnimEncoderGetError(self.encoder);
            if p.is_null() {
                String::from("unknown")
            } else {
                std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        PipelineError::encode(format!("libwebp animation: {message}"))
    }
}

impl Drop for WebpAnimation {
    fn drop(&mut self) {
        // SAFETY: created by `WebPAnimEncoderNewInternal`, deleted once.
        unsafe { libwebp_sys::WebPAnimEncoderDelete(self.encoder) }
    }
}
