//! Decoded pixels and the operations between decode and encode: resize (with crop),
//! orientation, alpha, letterboxing.

use std::cell::RefCell;

use fast_image_resize as fr;
use imgflex_core::Rgb;

use super::error::PipelineError;
use super::geometry::Rect;

/// 8-bit interleaved pixels: 1 channel (grey), 3 (RGB) or 4 (RGBA, straight alpha).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn new(width: u32, height: u32, channels: u8, data: Vec<u8>) -> Pixels {
        debug_assert_eq!(
            data.len(),
            width as usize * height as usize * channels as usize
        );
        Pixels {
            width,
            height,
            channels,
            data,
        }
    }

    /// fast_image_resize's name for this layout.
    pub fn pixel_type(&self) -> fr::PixelType {
        match self.channels {
            1 => fr::PixelType::U8,
            3 => fr::PixelType::U8x3,
            _ => fr::PixelType::U8x4,
        }
    }

    pub fn has_alpha(&self) -> bool {
        self.channels == 4
    }

    /// RGBA whose alpha is 255 everywhere becomes RGB: cheaper to resize (no premultiply),
    /// and encoders then write no alpha plane.
    ///
    /// In place and by blocks: a large PNG is mostly opaque RGBA, and a second buffer
    /// filled pixel by pixel was a fifth of icecold's (5120x2880) thumb, card and
    /// png-small, a third of its hero, and 44 MB of its peak memory.
    pub fn drop_opaque_alpha(self) -> Pixels {
        if self.channels != 4 || !all_opaque(&self.data) {
            return self;
        }
        let Pixels {
            width,
            height,
            mut data,
            ..
        } = self;
        // Pixel i moves from 4i to 3i. A block is copied out before its RGB is written
        // back, and what it writes ends before the next block begins, so nothing is read
        // after it has been overwritten.
        let n = data.len() / 4;
        let blocks = n / BLOCK;
        for k in 0..blocks {
            let mut rgba = [0u8; 4 * BLOCK];
            rgba.copy_from_slice(&data[4 * BLOCK * k..4 * BLOCK * (k + 1)]);
            let rgb = &mut data[3 * BLOCK * k..3 * BLOCK * (k + 1)];
            for (to, from) in rgb.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
                to.copy_from_slice(&from[..3]);
            }
        }
        for i in blocks * BLOCK..n {
            data.copy_within(4 * i..4 * i + 3, 3 * i);
        }
        // The capacity stays: giving the tail back trims the heap, and the next decode
        // then faults those pages in again (thumb measured 5 ms slower with shrink_to_fit).
        data.truncate(3 * n);
        Pixels::new(width, height, 3, data)
    }

    pub fn to_rgb_or_rgba(self) -> Pixels {
        if self.channels != 1 {
            return self;
        }
        let data = self.data.iter().flat_map(|&v| [v, v, v]).collect();
        Pixels::new(self.width, self.height, 3, data)
    }

    /// Composites straight alpha over an opaque colour (for formats without alpha).
    pub fn flatten(self, bg: Rgb) -> Pixels {
        if self.channels != 4 {
            return self;
        }
        let [br, bgc, bb] = bg.0.map(u32::from);
        let blend = |c: u8, b: u32, a: u32| ((u32::from(c) * a + b * (255 - a) + 127) / 255) as u8;
        let data = self
            .data
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                [blend(p[0], br, a), blend(p[1], bgc, a), blend(p[2], bb, a)]
            })
            .collect();
        Pixels::new(self.width, self.height, 3, data)
    }
}

/// Pixels per block in the opaque-alpha check and the in-place RGBA to RGB copy: enough for
/// the compiler to vectorise, small enough to live on the stack.
const BLOCK: usize = 16;

/// Whether every alpha byte of RGBA is 255. By blocks with no early exit inside one, so
/// the compiler can vectorise the AND; a translucent pixel still stops it within a block.
fn all_opaque(rgba: &[u8]) -> bool {
    let mut blocks = rgba.chunks_exact(4 * BLOCK);
    blocks
        .by_ref()
        .all(|b| b.chunks_exact(4).fold(255u8, |m, p| m & p[3]) == 255)
        && blocks.remainder().chunks_exact(4).all(|p| p[3] == 255)
}

thread_local! {
    // fast_image_resize keeps its scratch buffers in the Resizer: one per thread, reused.
    static RESIZER: RefCell<fr::Resizer> = RefCell::new(fr::Resizer::new());
}

/// Scratch a thread's resizer may keep between calls. A 7000-pixel source resized to 6000
/// leaves a ~120 MB intermediate image in it; kept, every blocking thread that ever resized a
/// large image held one (`imgflex dev`: 750 MB idle after bursts of six 49 MP misses, all of
/// it these buffers, until tokio retired the threads). Thumbnails keep theirs and stay fast.
const KEPT_SCRATCH_BYTES: usize = 16 * 1024 * 1024;

/// Resizes the `crop` rectangle of `src` (in `src`'s own pixels, fractional allowed) to
/// `width`x`height` with Lanczos3, alpha premultiplied while filtering.
pub fn resize(
    src: Pixels,
    crop: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> Result<Pixels, PipelineError> {
    let whole = crop == (0.0, 0.0, f64::from(src.width), f64::from(src.height));
    if whole && src.width == width && src.height == height {
        return Ok(src);
    }
    let kind = src.pixel_type();
    let channels = src.channels;
    // Plans are made in whole pixels and scaled to the decoded size in floating point:
    // clamp the last fraction of a pixel that rounding can push past the edge.
    let (sw, sh) = (f64::from(src.width), f64::from(src.height));
    let x = crop.0.clamp(0.0, sw - 1.0);
    let y = crop.1.clamp(0.0, sh - 1.0);
    let crop = (
        x,
        y,
        crop.2.min(sw - x).max(1.0),
        crop.3.min(sh - y).max(1.0),
    );
    let source = fr::images::Image::from_vec_u8(src.width, src.height, src.data, kind)
        .map_err(PipelineError::encode)?;
    let mut dest = fr::images::Image::new(width, height, kind);
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .crop(crop.0, crop.1, crop.2, crop.3)
        .use_alpha(channels == 4);
    RESIZER
        .with(|r| {
            let mut r = r.borrow_mut();
            let done = r.resize(&source, &mut dest, &options);
            if r.size_of_internal_buffers() > KEPT_SCRATCH_BYTES {
                r.reset_internal_buffers();
            }
            done
        })
        .map_err(PipelineError::encode)?;
    Ok(Pixels::new(width, height, channels, dest.into_vec()))
}

/// Maps a rectangle in the displayed (oriented) image to the stored (raw) image, for EXIF
/// orientation `o` and displayed size `display`. Cropping first and orienting after is then
/// the same as orienting first and cropping after (tested below).
pub fn unorient_rect(
    rect: (f64, f64, f64, f64),
    display: (f64, f64),
    o: u8,
) -> (f64, f64, f64, f64) {
    let (x, y, w, h) = rect;
    let (dw, dh) = display;
    match o {
        2 => (dw - x - w, y, w, h),
        3 => (dw - x - w, dh - y - h, w, h),
        4 => (x, dh - y - h, w, h),
        5 => (y, x, h, w),
        6 => (y, dw - x - w, h, w),
        7 => (dh - y - h, dw - x - w, h, w),
        8 => (dh - y - h, x, h, w),
        _ => rect,
    }
}

/// Applies EXIF orientation `o` (2-8) to stored pixels.
pub fn orient(px: Pixels, o: u8) -> Pixels {
    if !(2..=8).contains(&o) {
        return px;
    }
    let (w, h, c) = (px.width as usize, px.height as usize, px.channels as usize);
    let (nw, nh) = if o >= 5 { (h, w) } else { (w, h) };
    let mut out = vec![0u8; px.data.len()];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (h - 1 - y, x),
                7 => (h - 1 - y, w - 1 - x),
                _ => (y, w - 1 - x),
            };
            let s = (y * w + x) * c;
            let d = (dy * nw + dx) * c;
            out[d..d + c].copy_from_slice(&px.data[s..s + c]);
        }
    }
    Pixels::new(nw as u32, nh as u32, px.channels, out)
}

/// Places `px` at `offset` on a `canvas` filled with the opaque background.
pub fn letterbox(px: Pixels, canvas: (u32, u32), offset: (u32, u32), bg: Rgb) -> Pixels {
    if (px.width, px.height) == canvas {
        return px;
    }
    // A grey image takes a grey background as it is; any other colour needs the image in
    // RGB first, or the bars would come out as the background's red channel, in grey.
    let [r, g, b] = bg.0;
    let px = if px.channels == 1 && !(r == g && g == b) {
        px.to_rgb_or_rgba()
    } else {
        px
    };
    let c = px.channels as usize;
    let fill: Vec<u8> = match c {
        1 => vec![bg.0[0]],
        3 => bg.0.to_vec(),
        _ => vec![bg.0[0], bg.0[1], bg.0[2], 255],
    };
    let (cw, ch) = (canvas.0 as usize, canvas.1 as usize);
    let mut data: Vec<u8> = fill.iter().copied().cycle().take(cw * ch * c).collect();
    let row = px.width as usize * c;
    for y in 0..px.height as usize {
        let d = ((offset.1 as usize + y) * cw + offset.0 as usize) * c;
        data[d..d + row].copy_from_slice(&px.data[y * row..(y + 1) * row]);
    }
    Pixels::new(canvas.0, canvas.1, px.channels, data)
}

/// The integer rectangle of a plan, as the float crop `resize` takes, scaled from plan
/// (resize-space) pixels to `source` pixels.
pub fn crop_in_source(crop: Rect, resized: (u32, u32), source: (f64, f64)) -> (f64, f64, f64, f64) {
    let sx = source.0 / f64::from(resized.0);
    let sy = source.1 / f64::from(resized.1);
    (
        f64::from(crop.x) * sx,
        f64::from(crop.y) * sy,
        f64::from(crop.width) * sx,
        f64::from(crop.height) * sy,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(w: u32, h: u32) -> Pixels {
        Pixels::new(w, h, 1, (0..w * h).map(|i| i as u8).collect())
    }

    fn crop_exact(px: &Pixels, (x, y, w, h): (f64, f64, f64, f64)) -> Pixels {
        let (x, y, w, h) = (x as usize, y as usize, w as usize, h as usize);
        let mut data = Vec::new();
        for row in y..y + h {
            let start = row * px.width as usize + x;
            data.extend_from_slice(&px.data[start..start + w]);
        }
        Pixels::new(w as u32, h as u32, 1, data)
    }

    #[test]
    fn cropping_raw_then_orienting_equals_orienting_then_cropping() {
        let raw = numbered(7, 5);
        for o in 1..=8u8 {
            let shown = orient(raw.clone(), o);
            let display = (f64::from(shown.width), f64::from(shown.height));
            let rect = (1.0, 2.0, 2.0, 1.0);
            if rect.0 + rect.2 > display.0 || rect.1 + rect.3 > display.1 {
                continue;
            }
            let expected = crop_exact(&shown, rect);
            let got = orient(crop_exact(&raw, unorient_rect(rect, display, o)), o);
            assert_eq!(got, expected, "orientation {o}");
        }
    }

    #[test]
    fn orientations_swap_sides_from_5() {
        for o in 1..=8u8 {
            let p = orient(numbered(4, 2), o);
            assert_eq!(
                (p.width, p.height),
                if o >= 5 { (2, 4) } else { (4, 2) },
                "{o}"
            );
        }
        // 6 is "rotate 90 clockwise to display": the first raw row becomes the last column.
        let p = orient(numbered(2, 2), 6);
        assert_eq!(p.data, vec![2, 0, 3, 1]);
    }

    #[test]
    fn flatten_blends_onto_the_background() {
        let px = Pixels::new(2, 1, 4, vec![255, 0, 0, 255, 255, 0, 0, 0]);
        let flat = px.flatten(Rgb([0, 0, 255]));
        assert_eq!(flat.data, vec![255, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn letterbox_places_the_image() {
        let px = Pixels::new(1, 1, 3, vec![1, 2, 3]);
        let out = letterbox(px, (3, 2), (1, 1), Rgb([9, 9, 9]));
        assert_eq!(
            out.data,
            vec![9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9]
        );
    }

    #[test]
    fn a_grey_image_letterboxes_in_the_background_asked_for() {
        // Grey background: the image stays one channel, the bars that grey.
        let out = letterbox(
            Pixels::new(1, 1, 1, vec![7]),
            (3, 1),
            (1, 0),
            Rgb([0x80; 3]),
        );
        assert_eq!((out.channels, out.data), (1, vec![0x80, 7, 0x80]));
        // A colour: the image becomes RGB (its grey kept), the bars that colour, not its red.
        let out = letterbox(
            Pixels::new(1, 1, 1, vec![7]),
            (3, 1),
            (1, 0),
            Rgb([0, 0, 255]),
        );
        assert_eq!(out.channels, 3);
        assert_eq!(out.data, vec![0, 0, 255, 7, 7, 7, 0, 0, 255]);
    }

    #[test]
    fn opaque_alpha_is_dropped_real_alpha_kept() {
        let opaque = Pixels::new(1, 1, 4, vec![1, 2, 3, 255]).drop_opaque_alpha();
        assert_eq!(opaque.channels, 3);
        let translucent = Pixels::new(1, 1, 4, vec![1, 2, 3, 7]).drop_opaque_alpha();
        assert_eq!(translucent.channels, 4);
        // Sizes around the 16-pixel block the in-place copy works by, against the
        // obvious pixel-by-pixel answer; and one translucent pixel anywhere (in a block,
        // in the tail) keeps the alpha.
        for n in [15usize, 16, 17, 33, 48, 100] {
            let rgba: Vec<u8> = (0..4 * n)
                .map(|i| if i % 4 == 3 { 255 } else { (i * 7 % 251) as u8 })
                .collect();
            let want: Vec<u8> = rgba.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            let out = Pixels::new(n as u32, 1, 4, rgba.clone()).drop_opaque_alpha();
            assert_eq!((out.channels, &out.data), (3, &want), "{n} pixels");
            for at in [0, n / 2, n - 1] {
                let mut one = rgba.clone();
                one[4 * at + 3] = 254;
                let out = Pixels::new(n as u32, 1, 4, one.clone()).drop_opaque_alpha();
                assert_eq!((out.channels, out.data), (4, one), "{n} pixels, {at}");
            }
        }
    }

    #[test]
    fn resize_keeps_a_flat_colour_flat_and_respects_alpha() {
        // Premultiplied filtering: fully transparent red must not bleed into opaque green.
        let mut data = Vec::new();
        for x in 0..64 {
            data.extend_from_slice(if x < 32 {
                &[255, 0, 0, 0]
            } else {
                &[0, 255, 0, 255]
            });
        }
        let px = Pixels::new(64, 1, 4, data);
        let out = resize(px, (0.0, 0.0, 64.0, 1.0), 16, 1).unwrap();
        for p in out.data.chunks_exact(4).filter(|p| p[3] > 0) {
            assert_eq!(p[0], 0, "red bled into {p:?}");
        }
    }
}
