//! Smart crop (`g=auto`): where a `cover` crop goes, chosen from the pixels as libvips'
//! `attention` strategy chooses it (sharp's `position: 'attention'`), so a team moving from
//! sharp gets the same windows.
//!
//! As libvips (8.18) does it: the image is shrunk to a 32x32 grid (Lanczos3; the precision a
//! crop can be placed with), and each cell scored by edges (5 x a Laplacian of luminance),
//! skin tone (distance from smartcrop.js' skin colour in normalised XYZ) and what libvips
//! calls saturation (CIE a*, which favours reds over greens), the last two only where it is
//! not dark. The sum is blurred at a radius that grows with the crop, and the crop is
//! centred on the peak, clamped to the image. The one difference: libvips shrinks the
//! resized image, this the decoded one (already reduced on load), which differ by a
//! resampling, so a window can land a grid cell away from libvips'.

use fast_image_resize as fr;

use super::error::PipelineError;
use super::geometry::Rect;
use super::pixels::{Pixels, orient};

/// The grid the saliency map is computed on.
const GRID: u32 = 32;

/// smartcrop.js' skin colour in normalised XYZ, as it gives it (of length 1.06, not 1).
const SKIN: [f32; 3] = [0.78, 0.57, 0.44];

/// Below this luminance (Y, of 100) skin and saturation do not count: shadows are neither.
const DARK: f32 = 5.0;

/// The `crop`-sized window of the `resized` (displayed) image that saliency puts first.
/// `px` is the decoded image in stored orientation `o`; the window is in displayed,
/// resized pixels, as the plan's own crop is.
pub fn window(
    px: &Pixels,
    o: u8,
    resized: (u32, u32),
    crop: (u32, u32),
) -> Result<Rect, PipelineError> {
    let grid = orient(thumbnail(px)?, o);
    let score = saliency(&grid);
    let (gw, gh) = (
        GRID as f32 / resized.0 as f32,
        GRID as f32 / resized.1 as f32,
    );
    let sigma =
        (((crop.0 as f32 * gw).powi(2) + (crop.1 as f32 * gh).powi(2)).sqrt() / 10.0).max(1.0);
    let blurred = gaussian_blur(&score, GRID as usize, GRID as usize, sigma);
    let peak =
        blurred.iter().enumerate().fold(
            (0, f32::MIN),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        );
    let (px_x, px_y) = (
        (peak.0 % GRID as usize) as f32,
        (peak.0 / GRID as usize) as f32,
    );
    // libvips: VIPS_CLIP(0, x / hscale - width / 2, in - width), truncated to a pixel.
    let place = |at: f32, scale: f32, size: u32, whole: u32| -> u32 {
        let x = at / scale - (size / 2) as f32;
        x.clamp(0.0, whole.saturating_sub(size) as f32) as u32
    };
    Ok(Rect {
        x: place(px_x, gw, crop.0, resized.0),
        y: place(px_y, gh, crop.1, resized.1),
        width: crop.0,
        height: crop.1,
    })
}

/// The image resampled onto the grid, as RGB with any alpha premultiplied (content under
/// transparency does not count, as libvips premultiplies before it looks).
fn thumbnail(px: &Pixels) -> Result<Pixels, PipelineError> {
    let kind = px.pixel_type();
    let source = fr::images::ImageRef::new(px.width, px.height, &px.data, kind)
        .map_err(PipelineError::encode)?;
    let mut dest = fr::images::Image::new(GRID, GRID, kind);
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .use_alpha(px.channels == 4);
    fr::Resizer::new()
        .resize(&source, &mut dest, &options)
        .map_err(PipelineError::encode)?;
    let small = dest.into_vec();
    let rgb: Vec<u8> = match px.channels {
        1 => small.iter().flat_map(|&v| [v, v, v]).collect(),
        3 => small,
        _ => small
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                [0, 1, 2].map(|i| ((u32::from(p[i]) * a + 127) / 255) as u8)
            })
            .collect(),
    };
    Ok(Pixels::new(GRID, GRID, 3, rgb))
}

/// Per cell: |5 x Laplacian(Y)| + skin score + a*, in libvips' units (XYZ with Y of 100,
/// Lab under D65).
fn saliency(grid: &Pixels) -> Vec<f32> {
    let (w, h) = (grid.width as usize, grid.height as usize);
    let xyz: Vec<[f32; 3]> = grid
        .data
        .chunks_exact(3)
        .map(|p| to_xyz([p[0], p[1], p[2]]))
        .collect();
    let y_at = |x: isize, y: isize| {
        let x = x.clamp(0, w as isize - 1) as usize;
        let y = y.clamp(0, h as isize - 1) as usize;
        xyz[y * w + x][1]
    };
    let mut score = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (xi, yi) = (x as isize, y as isize);
            let laplacian = 4.0 * y_at(xi, yi)
                - y_at(xi - 1, yi)
                - y_at(xi + 1, yi)
                - y_at(xi, yi - 1)
                - y_at(xi, yi + 1);
            let c = xyz[y * w + x];
            let mut s = (5.0 * laplacian).abs();
            if c[1] > DARK {
                s += skin(c) + lab_a(c);
            }
            score[y * w + x] = s;
        }
    }
    score
}

/// 100 at smartcrop.js' skin colour, falling by 100 per unit of distance from it.
fn skin(c: [f32; 3]) -> f32 {
    let m = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
    if m == 0.0 {
        return 0.0;
    }
    let d = (0..3)
        .map(|i| (c[i] / m - SKIN[i]).powi(2))
        .sum::<f32>()
        .sqrt();
    100.0 - 100.0 * d
}

/// CIE a* (D65 white): positive for reds and magentas, negative for greens.
fn lab_a(c: [f32; 3]) -> f32 {
    const WHITE: [f32; 2] = [95.047, 100.0];
    let f = |t: f32| {
        const E: f32 = 216.0 / 24389.0;
        if t > E {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    500.0 * (f(c[0] / WHITE[0]) - f(c[1] / WHITE[1]))
}

/// sRGB to XYZ (D65), Y of 100 for white.
fn to_xyz(p: [u8; 3]) -> [f32; 3] {
    let lin = p.map(|v| {
        let v = f32::from(v) / 255.0;
        if v <= 0.040_45 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    });
    let m = [
        [0.412_456_4, 0.357_576_1, 0.180_437_5],
        [0.212_672_9, 0.715_152_2, 0.072_175],
        [0.019_333_9, 0.119_192, 0.950_304_1],
    ];
    m.map(|row| 100.0 * (row[0] * lin[0] + row[1] * lin[1] + row[2] * lin[2]))
}

/// A separable Gaussian blur with edges extended, cut where the kernel falls under a fifth
/// of its peak (libvips' `min_ampl` default).
fn gaussian_blur(src: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    let radius = (sigma * (-2.0 * 0.2f32.ln()).sqrt()).floor().max(0.0) as isize;
    let mut kernel: Vec<f32> = (-radius..=radius)
        .map(|x| (-((x * x) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as isize - radius;
                    let (sx, sy) = if horizontal {
                        ((x as isize + d).clamp(0, w as isize - 1) as usize, y)
                    } else {
                        (x, (y as isize + d).clamp(0, h as isize - 1) as usize)
                    };
                    acc += weight * src[sy * w + sx];
                }
                out[y * w + x] = acc;
            }
        }
        out
    };
    pass(&pass(src, true), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey field with one saturated, edged red square in it at `at` (a fraction of the
    /// image, 0..1 each way).
    fn scene(w: u32, h: u32, at: (f32, f32)) -> Pixels {
        let mut data = vec![128u8; (w * h * 3) as usize];
        let (cx, cy) = ((at.0 * w as f32) as i64, (at.1 * h as f32) as i64);
        let r = (w.min(h) / 12) as i64;
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                if (x - cx).abs() < r && (y - cy).abs() < r {
                    let i = ((y * w as i64 + x) * 3) as usize;
                    data[i..i + 3].copy_from_slice(&[230, 20, 20]);
                }
            }
        }
        Pixels::new(w, h, 3, data)
    }

    #[test]
    fn the_crop_goes_where_the_subject_is() {
        // A 3:2 landscape cropped to a square: the subject at 80% across pulls the window to
        // the right edge, at 20% to the left, in the middle to the middle.
        let resized = (900, 600);
        for (at, expected_x) in [(0.8, 300), (0.2, 0), (0.5, 150)] {
            let px = scene(300, 200, (at, 0.5));
            let win = window(&px, 1, resized, (600, 600)).unwrap();
            assert_eq!((win.y, win.width, win.height), (0, 600, 600));
            assert!(
                win.x.abs_diff(expected_x) <= 30,
                "subject at {at}: window at x {}",
                win.x
            );
        }
    }

    #[test]
    fn the_window_is_found_in_the_displayed_orientation() {
        // Stored as a portrait with the subject at the top; EXIF 6 (rotate 90 clockwise)
        // displays it as a landscape with the subject on the right.
        let stored = scene(200, 300, (0.5, 0.15));
        let win = window(&stored, 6, (900, 600), (600, 600)).unwrap();
        assert!(win.x >= 250, "window at x {}", win.x);
    }

    #[test]
    fn transparent_content_does_not_count() {
        // The red square on the left is fully transparent; an opaque one sits on the right.
        let (w, h) = (300u32, 200u32);
        let mut data = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                let near = |cx: u32| x.abs_diff(cx) < 20 && y.abs_diff(100) < 20;
                data.extend_from_slice(&if near(60) {
                    [230, 20, 20, 0]
                } else if near(240) {
                    [230, 20, 20, 255]
                } else {
                    [128, 128, 128, 255]
                });
            }
        }
        let px = Pixels::new(w, h, 4, data);
        let win = window(&px, 1, (900, 600), (600, 600)).unwrap();
        assert!(win.x >= 250, "window at x {}", win.x);
    }

    #[test]
    fn skin_scores_highest_at_the_skin_colour() {
        let tone = skin(to_xyz([224, 172, 140]));
        assert!(tone > 80.0, "{tone}");
        assert!(skin(to_xyz([40, 90, 200])) < tone - 30.0);
        assert!(skin(to_xyz([40, 200, 60])) < tone - 30.0);
        assert_eq!(lab_a(to_xyz([128, 128, 128])).round(), 0.0);
        assert!(lab_a(to_xyz([230, 20, 20])) > 50.0);
        assert!(lab_a(to_xyz([20, 200, 20])) < -50.0);
    }
}
