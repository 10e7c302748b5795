//! A JPEG re-encoded at its own size without leaving the DCT domain: the file's quantised
//! coefficients are scaled from its tables to the output quality's and entropy-coded
//! again, so no inverse DCT, colour conversion, chroma resample or forward DCT runs.
//!
//! The output is 4:2:0, as every JPEG written here. 4:2:0 and grey sources keep their
//! blocks; 4:2:2, 4:4:0 and 4:4:4 chroma is halved where it is finer, two blocks into one
//! by the DCT of their 2:1 box mean, which is a linear map on the coefficients (the box
//! mean the pixel route takes, less its rounding to 8 bits either side).

use std::sync::LazyLock;

use super::decode::{self, ComponentBlocks, Header};
use super::encode::CoefficientWriter;
use super::error::PipelineError;
use super::limits::Limits;

/// The largest quantised coefficient a baseline Huffman code carries (libjpeg's
/// `MAX_COEF_BITS`, 10 bits, checked for AC values; a DC difference of two values in this
/// range fits its 11 bits). An 8-bit image's own DCT stays inside it; only a hostile
/// file's coefficients, scaled up, reach past it, and are clamped rather than refused.
const MAX_COEF: i32 = 1023;

type Block = [i16; 64];

/// The JPEG at `quality` (80 if unset) from `bytes`'s own coefficients, or `None` when the
/// file is not one this route takes (see `decode::jpeg_coefficients`).
pub(super) fn requantised(
    bytes: &[u8],
    header: &Header,
    quality: Option<u8>,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, PipelineError> {
    let Some(mut source) = decode::jpeg_coefficients(bytes, header, limits)? else {
        return Ok(None);
    };
    let (grey, luma) = (source.grey, source.luma);
    let writer =
        CoefficientWriter::new(grey, (source.width, source.height), quality.unwrap_or(80))?;
    let components = source.components()?;
    // Per component: the source blocks one output block is made of, across and down.
    // Chroma finer than 4:2:0 spans fewer luma blocks (`luma` is 1 that way).
    let factors: Vec<(usize, usize)> = (0..components.len())
        .map(|i| {
            if i == 0 {
                (1, 1)
            } else {
                (3 - luma.0, 3 - luma.1)
            }
        })
        .collect();
    let mut maps = Vec::with_capacity(components.len());
    for (i, component) in components.iter().enumerate() {
        // `jpeg_set_quality` writes entries of 1 and up; the `max` keeps the division total.
        let to = writer.quant_table(i)?.map(|t| t.max(1));
        maps.push(Requantise::new(&component.table, &to, factors[i]));
    }
    writer
        .write(|i, row, out| maps[i].row(&components[i], row, out))
        .map(Some)
}

/// How one component's output blocks are made from its source blocks.
struct Requantise {
    /// Source blocks per output block, across and down (1 or 2).
    factor: (usize, usize),
    /// Kept blocks: the source step over the output step, per coefficient.
    scale: [f64; 64],
    /// Halved blocks: the source steps (to dequantise) and the output steps' reciprocals.
    from: [f32; 64],
    to_reciprocal: [f32; 64],
}

impl Requantise {
    fn new(from: &[u16; 64], to: &[u16; 64], factor: (usize, usize)) -> Requantise {
        Requantise {
            factor,
            scale: std::array::from_fn(|k| f64::from(from[k]) / f64::from(to[k])),
            from: from.map(f32::from),
            to_reciprocal: to.map(|t| 1.0 / f32::from(t)),
        }
    }

    /// Output row `row` of blocks from `source`. A pair's second block past the source's
    /// last (an odd count of block rows or columns) repeats the first: it only pads.
    fn row(&self, source: &ComponentBlocks<'_>, row: usize, out: &mut [Block]) {
        let (fx, fy) = self.factor;
        let last_row = source.rows.len() - 1;
        let rows = [(fy * row).min(last_row), (fy * row + fy - 1).min(last_row)];
        if (fx, fy) == (1, 1) {
            for (o, s) in out.iter_mut().zip(source.rows[rows[0]]) {
                *o = *s;
                requantise(o, &self.scale);
            }
            return;
        }
        let last_col = source.rows[0].len() - 1;
        for (col, o) in out.iter_mut().enumerate() {
            let cols = [(fx * col).min(last_col), (fx * col + fx - 1).min(last_col)];
            let block = |r: usize, c: usize| self.dequantised(&source.rows[rows[r]][cols[c]]);
            let halved = |a: [f32; 64], b: [f32; 64], across: bool| {
                let mut h = [0.0; 64];
                halve(&a, &b, &mut h, across);
                h
            };
            let left = if fy == 2 {
                halved(block(0, 0), block(1, 0), false)
            } else {
                block(0, 0)
            };
            let merged = if fx == 2 {
                let right = if fy == 2 {
                    halved(block(0, 1), block(1, 1), false)
                } else {
                    block(0, 1)
                };
                halved(left, right, true)
            } else {
                left
            };
            *o = self.quantised(&merged);
        }
    }

    fn dequantised(&self, block: &Block) -> [f32; 64] {
        std::array::from_fn(|k| f32::from(block[k]) * self.from[k])
    }

    fn quantised(&self, values: &[f32; 64]) -> Block {
        std::array::from_fn(|k| {
            let v = values[k] * self.to_reciprocal[k];
            let m = ((v.abs() + 0.5) as i32).min(MAX_COEF);
            (if v < 0.0 { -m } else { m }) as i16
        })
    }
}

/// One block from its file's table to the writer's: each coefficient times `scale`
/// (`from / to`) is the value the decoder reconstructs over the new step, rounded half
/// away from zero as libjpeg's quantiser rounds, and clamped to [`MAX_COEF`].
///
/// In `f64` the product is within 1e-12 of the exact quotient for every value under the
/// clamp, while a quotient that is not a tie lies at least 1/(2 * 65535) from one: the
/// 1e-9 added to the half makes exact ties round away and moves no other value.
fn requantise(block: &mut Block, scale: &[f64; 64]) {
    for (c, &s) in block.iter_mut().zip(scale) {
        let v = f64::from(*c) * s;
        // `as` saturates, so even a hostile coefficient cannot wrap before the clamp.
        let m = ((v.abs() + (0.5 + 1e-9)) as i32).min(MAX_COEF);
        *c = (if v < 0.0 { -m } else { m }) as i16;
    }
}

/// The 8x16 map from the DCT coefficients of two adjacent 8-sample runs to those of their
/// 2:1 box mean: `D · A · [Dᵀ 0; 0 Dᵀ]`, with `D` JPEG's (orthonormal) 8-point DCT-II and
/// `A` the mean of each pair of samples.
static HALVING: LazyLock<[[f32; 16]; 8]> = LazyLock::new(|| {
    let d = |k: usize, n: usize| {
        let c = if k == 0 { (1.0f64 / 8.0).sqrt() } else { 0.5 };
        c * (std::f64::consts::PI * (2 * n + 1) as f64 * k as f64 / 16.0).cos()
    };
    std::array::from_fn(|k| {
        std::array::from_fn(|j| {
            // Input coefficient `j % 8` of run `j / 8` becomes samples `8 * (j / 8) + n`;
            // output sample `r` is the mean of samples `2r` and `2r + 1`.
            let (run, jk) = (j / 8, j % 8);
            (0..8)
                .map(|r| {
                    let mean = (0..2)
                        .map(|t| {
                            let sample = 2 * r + t;
                            if sample / 8 == run {
                                d(jk, sample % 8) / 2.0
                            } else {
                                0.0
                            }
                        })
                        .sum::<f64>();
                    d(k, r) * mean
                })
                .sum::<f64>() as f32
        })
    })
});

/// `out` = the block of the box mean of blocks `a` then `b`, side by side (`across`) or
/// one above the other, in coefficients (natural order: `8 * vertical + horizontal`).
fn halve(a: &[f32; 64], b: &[f32; 64], out: &mut [f32; 64], across: bool) {
    let m = &*HALVING;
    for (k, m) in m.iter().enumerate() {
        for line in 0..8 {
            // Along the halved axis, coefficient `j` of the line at `line`.
            let at = |j: usize| if across { 8 * line + j } else { 8 * j + line };
            let mut sum = 0.0;
            for j in 0..8 {
                sum += m[j] * a[at(j)] + m[8 + j] * b[at(j)];
            }
            out[at(k)] = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libjpeg's own rounding on integers: `(|c| * from + to / 2) / to`, signed.
    fn exact(c: i16, from: u16, to: u16) -> i16 {
        let v = i64::from(c).abs() * i64::from(from);
        let m = ((v + i64::from(to) / 2) / i64::from(to)).min(i64::from(MAX_COEF));
        (if c < 0 { -m } else { m }) as i16
    }

    #[test]
    fn requantising_rounds_as_libjpegs_quantiser_on_every_value_and_tie() {
        // Every coefficient an 8-bit file holds, over steps that make ties (even `to`),
        // none (odd), shrink, grow and keep; and the extremes a hostile file can write.
        let steps: [(u16, u16); 9] = [
            (1, 2),
            (3, 2),
            (16, 10),
            (10, 16),
            (7, 7),
            (255, 1),
            (1, 255),
            (99, 40),
            (65535, 3),
        ];
        for (from, to) in steps {
            let scale = [f64::from(from) / f64::from(to); 64];
            for start in (-2048i32..2048).step_by(64).chain([-32768, 32704]) {
                let mut block = [0i16; 64];
                for (k, c) in block.iter_mut().enumerate() {
                    *c = (start + k as i32) as i16;
                }
                let want = block.map(|c| exact(c, from, to));
                requantise(&mut block, &scale);
                assert_eq!(block, want, "{from} -> {to} from {start}");
            }
        }
    }

    /// JPEG's 2-D DCT of an 8x8 block of samples (natural order), straight from its
    /// definition, and back.
    fn dct(samples: &[f64; 64]) -> [f32; 64] {
        let c = |k: usize| if k == 0 { (0.5f64).sqrt() } else { 1.0 };
        let cos = |n: usize, k: usize| {
            (std::f64::consts::PI * (2 * n + 1) as f64 * k as f64 / 16.0).cos()
        };
        std::array::from_fn(|i| {
            let (v, u) = (i / 8, i % 8);
            let mut s = 0.0;
            for y in 0..8 {
                for x in 0..8 {
                    s += samples[8 * y + x] * cos(x, u) * cos(y, v);
                }
            }
            (s * c(u) * c(v) / 4.0) as f32
        })
    }

    #[test]
    fn halving_in_coefficients_is_the_box_mean_of_the_samples() {
        // Two 8x8 blocks of arbitrary samples, side by side and one above the other: the
        // halved coefficients must be the DCT of the 2:1 box mean taken on the samples.
        let a: [f64; 64] = std::array::from_fn(|i| ((i * 37) % 255) as f64 - 128.0);
        let b: [f64; 64] = std::array::from_fn(|i| ((i * i * 11) % 251) as f64 - 100.0);
        for across in [true, false] {
            let at = |x: usize, y: usize| {
                // Sample (x, y) of the 16-wide (or 16-tall) pair.
                let (blk, x, y) = if across {
                    (x / 8, x % 8, y)
                } else {
                    (y / 8, x, y % 8)
                };
                if blk == 0 { a[8 * y + x] } else { b[8 * y + x] }
            };
            let mean: [f64; 64] = std::array::from_fn(|i| {
                let (y, x) = (i / 8, i % 8);
                if across {
                    (at(2 * x, y) + at(2 * x + 1, y)) / 2.0
                } else {
                    (at(x, 2 * y) + at(x, 2 * y + 1)) / 2.0
                }
            });
            let mut got = [0.0; 64];
            halve(&dct(&a), &dct(&b), &mut got, across);
            let want = dct(&mean);
            for k in 0..64 {
                assert!(
                    (got[k] - want[k]).abs() < 0.01,
                    "across {across}, coefficient {k}: {} != {}",
                    got[k],
                    want[k]
                );
            }
        }
    }
}
