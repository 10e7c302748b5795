//! YCbCr planes as a JPEG stores them, for a JPEG re-encode that moves no pixel: the
//! decoder's samples go to the encoder as they are, with no colour conversion either way
//! and, from a 4:2:0 file, not even a chroma resample.
//!
//! Measured on a 1920x1280 4:2:2 photo at q82 (the bench's `hero` of `storm`): the RGB route
//! spends a quarter of its time converting colour and resampling chroma; interleaved
//! YCbCr through libjpeg is no help, its `null_convert` (de)interleaving is plain C and
//! costs more than the SIMD colour conversion it replaces.

/// One component: `stride` samples a row and `rows` rows, both whole 8x8 blocks, of which
/// the first `width` x `height` are the image and the rest repeat its edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub rows: usize,
    pub data: Vec<u8>,
}

/// A `width` x `height` image as 4:2:0 planes: luma at full size, chroma at half each way
/// (rounded up), what the JPEG encoder writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YccPlanes {
    pub width: u32,
    pub height: u32,
    pub y: Plane,
    pub cb: Plane,
    pub cr: Plane,
}

/// Whole 8x8 blocks: the padded size of `n` samples.
pub fn blocks(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl Plane {
    /// A decoded component of `width` x `height` samples in a buffer of `stride` (whole
    /// blocks) samples a row and at least as many rows as whole blocks hold: cut to those
    /// rows, its padding made the edge repeated (what libjpeg's encoder pads with).
    pub fn from_decoded(
        mut data: Vec<u8>,
        stride: usize,
        (width, height): (usize, usize),
    ) -> Plane {
        let rows = blocks(height);
        debug_assert!(stride == blocks(width) && data.len() >= stride * rows);
        data.truncate(stride * rows);
        Plane::padded(data, (width, height), (stride, rows))
    }

    /// This plane halved horizontally (`fx` 2) and/or vertically (`fy` 2) onto `width` x
    /// `height` samples, each the mean of the 2 or 4 it covers (the edge sample counted
    /// again past the edge), with libjpeg's alternating rounding bias so the mean does not
    /// drift up; the padding repeats the edge. What a 4:2:2, 4:4:0 or 4:4:4 file's chroma
    /// becomes for a 4:2:0 output.
    pub fn halved(&self, (fx, fy): (usize, usize), (width, height): (usize, usize)) -> Plane {
        debug_assert!(matches!((fx, fy), (1 | 2, 1 | 2)) && (fx, fy) != (1, 1));
        let (stride, rows) = (blocks(width), blocks(height));
        let mut data = vec![0u8; stride * rows];
        let row = |y: usize| {
            let y = y.min(self.height - 1);
            &self.data[y * self.stride..y * self.stride + self.width]
        };
        let col = |x: usize| x.min(self.width - 1);
        for (y, out) in data.chunks_exact_mut(stride).take(height).enumerate() {
            let (a, b) = if fy == 2 {
                (row(2 * y), row(2 * y + 1))
            } else {
                (row(y), row(y))
            };
            let out = &mut out[..width];
            match fx {
                1 => {
                    for (x, ((o, &p), &q)) in out.iter_mut().zip(a).zip(b).enumerate() {
                        *o = ((u16::from(p) + u16::from(q) + (x as u16 & 1)) >> 1) as u8;
                    }
                }
                _ => {
                    for (x, o) in out.iter_mut().enumerate() {
                        let (l, r) = (col(2 * x), col(2 * x + 1));
                        let sum = if fy == 2 {
                            u16::from(a[l]) + u16::from(a[r]) + u16::from(b[l]) + u16::from(b[r])
                        } else {
                            2 * (u16::from(a[l]) + u16::from(a[r]))
                        };
                        *o = ((sum + 1 + (x as u16 & 1)) >> 2) as u8;
                    }
                }
            }
        }
        Plane::padded(data, (width, height), (stride, rows))
    }

    /// `width` x `height` samples laid out `stride` x `rows`, the padding made the edge
    /// repeated.
    fn padded(
        data: Vec<u8>,
        (width, height): (usize, usize),
        (stride, rows): (usize, usize),
    ) -> Plane {
        let mut plane = Plane {
            width,
            height,
            stride,
            rows,
            data,
        };
        plane.pad();
        plane
    }

    /// Repeats the last column and row into the padding.
    fn pad(&mut self) {
        let (w, h, s) = (self.width, self.height, self.stride);
        for r in self.data.chunks_exact_mut(s).take(h) {
            let edge = r[w - 1];
            r[w..].fill(edge);
        }
        for r in h..self.rows {
            self.data.copy_within((h - 1) * s..h * s, r * s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(width: usize, height: usize, f: impl Fn(usize, usize) -> u8) -> Plane {
        let (stride, rows) = (blocks(width), blocks(height));
        let mut data = vec![0; stride * rows];
        for y in 0..height {
            for x in 0..width {
                data[y * stride + x] = f(x, y);
            }
        }
        Plane::from_decoded(data, stride, (width, height))
    }

    #[test]
    fn padding_repeats_the_edge() {
        let p = plane(3, 2, |x, y| (10 * y + x) as u8);
        assert_eq!((p.stride, p.rows), (8, 8));
        assert_eq!(&p.data[..8], &[0, 1, 2, 2, 2, 2, 2, 2]);
        assert_eq!(&p.data[8..16], &[10, 11, 12, 12, 12, 12, 12, 12]);
        assert_eq!(&p.data[7 * 8..], &p.data[8..16]);
    }

    #[test]
    fn halving_averages_with_alternating_bias_and_counts_the_edge_again() {
        // 4:4:4 chroma of a 3x3 image to 4:2:0 (2x2): each output the mean of its 2x2,
        // the third column and row standing in for the missing fourth.
        let p = plane(3, 3, |x, y| {
            [[10, 11, 40], [13, 14, 41], [90, 91, 200]][y][x]
        });
        let h = p.halved((2, 2), (2, 2));
        // (10+11+13+14+1)>>2 = 12; (40+40+41+41+2)>>2 = 41; (90+91+90+91+1)>>2 = 90;
        // (200*4+2)>>2 = 200.
        assert_eq!(&h.data[..2], &[12, 41]);
        assert_eq!(&h.data[8..10], &[90, 200]);
        assert_eq!(h.data[2..8], [41; 6]);
        // 4:2:2 (full height) to 4:2:0: pairs of rows, bias 0 then 1.
        let p = plane(2, 3, |x, y| [[1, 1], [2, 2], [7, 7]][y][x]);
        let v = p.halved((1, 2), (2, 2));
        assert_eq!(&v.data[..2], &[1, 2]);
        assert_eq!(&v.data[8..10], &[7, 7]);
        // 4:4:0 (full width) to 4:2:0.
        let p = plane(4, 1, |x, _| [0, 3, 100, 101][x]);
        let hz = p.halved((2, 1), (2, 1));
        assert_eq!(&hz.data[..2], &[1, 101]);
    }
}
