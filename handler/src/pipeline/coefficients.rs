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
    let mut maps = Vec::with_capacity(components.len());
    for (i, component) in components.iter().enumerate() {
        // The source blocks one output block is made of, across and down: chroma finer
        // than 4:2:0 spans fewer luma blocks (`luma` is 1 that way).
        let factor = if i == 0 {
            (1, 1)
        } else {
            (3 - luma.0, 3 - luma.1)
        };
        // `jpeg_set_quality` writes entries of 1 and up; the `max` keeps the division total.
        let to = writer.quant_table(i)?.map(|t| t.max(1));
        maps.push(Requantise::new(&component.table, &to, factor));
    }
    writer
        .write(|i, row, out| maps[i].row(&components[i], row, out))
        .map(Some)
}

/// How one component's output blocks are made from its source blocks.
struct Requantise {
    /// Source blocks per output block, across and down (1 or 2).
    factor: (usize, usize),
    /// Kept blocks: the source's step over the output's, per coefficient (natural order).
    scale: [f32; 64],
    /// Halved blocks: the source's steps (to dequantise) and the output's reciprocals.
    from: [f32; 64],
    to_reciprocal: [f32; 64],
}

impl Requantise {
    fn new(from: &[u16; 64], to: &[u16; 64], factor: (usize, usize)) -> Requantise {
        Requantise {
            factor,
            scale: std::array::from_fn(|k| f32::from(from[k]) / f32::from(to[k])),
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
                for ((o, &c), &scale) in o.iter_mut().zip(s).zip(&self.scale) {
                    *o = quantise(f32::from(c) * scale);
                }
            }
            return;
        }
        let map = &*HALVING;
        let last_col = source.rows[0].len() - 1;
        let dequantised =
            |b: &Block| -> [f32; 64] { std::array::from_fn(|k| f32::from(b[k]) * self.from[k]) };
        for (col, o) in out.iter_mut().enumerate() {
            let cols = [(fx * col).min(last_col), (fx * col + fx - 1).min(last_col)];
            let block = |r: usize, c: usize| &source.rows[rows[r]][cols[c]];
            // Down first (each column of source blocks into one), then across.
            let column = |c: usize| {
                if fy == 2 {
                    halve_down(block(0, c), block(1, c), &self.from, map)
                } else {
                    dequantised(block(0, c))
                }
            };
            let merged = if fx == 2 {
                halve_across(&column(0), &column(1), map)
            } else {
                column(0)
            };
            for ((o, &v), &r) in o.iter_mut().zip(&merged).zip(&self.to_reciprocal) {
                *o = quantise(v * r);
            }
        }
    }
}

/// A value in output steps to its quantised coefficient: rounded to the nearest, a tie
/// toward zero, and clamped to [`MAX_COEF`]. A tie is as far from either neighbour, so the
/// smaller costs fewer bits for the same error; requantising meets ties far more often
/// than quantising a photo's DCT does (a step ratio of 1.5 makes one of every odd value),
/// and rounding them away, as libjpeg's quantiser does, made storm's hero 6% larger.
///
/// Branch-free and cast-free, so a block vectorises (a float-to-integer cast must saturate
/// and is done lane by lane on x86-64): the rounding is the float unit's own, as adding
/// 2^23 leaves the nearest integer in the low mantissa bits. For a kept block (`c * from /
/// to` in `f32`) this is the exact integer rounding for every output step up to 255 (every
/// quality from 10 up): the product is within 1.3e-4 of the true quotient under the clamp,
/// a quotient that is not a tie lies at least 1/510 from one, and the 1e-3 taken off moves
/// true ties below the half without moving any other value across it.
#[inline(always)]
fn quantise(v: f32) -> i16 {
    const TWO_23: f32 = 8_388_608.0;
    let m = ((v.abs() - 1e-3).clamp(0.0, MAX_COEF as f32) + TWO_23).to_bits() - TWO_23.to_bits();
    let m = m as i16;
    if v < 0.0 { -m } else { m }
}

/// The 8x16 map from the DCT coefficients of two adjacent 8-sample runs to those of their
/// 2:1 box mean, `D · A · [Dᵀ 0; 0 Dᵀ]` (with `D` JPEG's orthonormal 8-point DCT-II and `A`
/// the mean of each pair of samples), stored by input: `HALVING[j][k]` is what input
/// coefficient `j` (`j / 8`: which run) gives output coefficient `k`.
static HALVING: LazyLock<[[f32; 8]; 16]> = LazyLock::new(|| {
    let d = |k: usize, n: usize| {
        let c = if k == 0 { (1.0f64 / 8.0).sqrt() } else { 0.5 };
        c * (std::f64::consts::PI * (2 * n + 1) as f64 * k as f64 / 16.0).cos()
    };
    std::array::from_fn(|j| {
        // Input coefficient `j % 8` of run `j / 8` becomes samples `8 * (j / 8) + n`;
        // output sample `r` is the mean of samples `2r` and `2r + 1`.
        let (run, jk) = (j / 8, j % 8);
        std::array::from_fn(|k| {
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

/// The block of the box mean of blocks `a` above `b` (quantised with `steps`), in
/// dequantised coefficients (natural order: `8 * vertical + horizontal`): each horizontal
/// frequency's column through the map.
fn halve_down(a: &Block, b: &Block, steps: &[f32; 64], map: &[[f32; 8]; 16]) -> [f32; 64] {
    let mut out = [0.0f32; 64];
    for (j, m) in map.iter().enumerate() {
        let at = 8 * (j % 8);
        let line = &(if j < 8 { a } else { b })[at..at + 8];
        // High vertical frequencies are mostly all zero: nothing to add.
        if line.iter().all(|&c| c == 0) {
            continue;
        }
        let line: [f32; 8] = std::array::from_fn(|u| f32::from(line[u]) * steps[at + u]);
        for (w, &m) in m.iter().enumerate() {
            for (o, &x) in out[8 * w..8 * w + 8].iter_mut().zip(&line) {
                *o += m * x;
            }
        }
    }
    out
}

/// The block of the box mean of blocks `a` left of `b`: each vertical frequency's row
/// through the map.
fn halve_across(a: &[f32; 64], b: &[f32; 64], map: &[[f32; 8]; 16]) -> [f32; 64] {
    let mut out = [0.0f32; 64];
    for v in 0..8 {
        let row = &mut out[8 * v..8 * v + 8];
        for (j, m) in map.iter().enumerate() {
            let x = if j < 8 {
                a[8 * v + j]
            } else {
                b[8 * v + j - 8]
            };
            for (o, &m) in row.iter_mut().zip(m) {
                *o += m * x;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest, ties toward zero, in 64-bit integers: `(|c| * from + (to - 1) / 2) / to`,
    /// signed.
    fn exact(c: i16, from: u16, to: u16) -> i16 {
        let v = i64::from(c).abs() * i64::from(from);
        let m = ((v + (i64::from(to) - 1) / 2) / i64::from(to)).min(i64::from(MAX_COEF));
        (if c < 0 { -m } else { m }) as i16
    }

    #[test]
    fn requantising_rounds_to_the_nearest_and_ties_toward_zero_on_every_value() {
        // Every coefficient an 8-bit file holds, over steps that make ties (even `to`),
        // none (odd), shrink, grow and keep; and the extremes a hostile file can write.
        let steps: [(u16, u16); 10] = [
            (1, 2),
            (3, 2),
            (16, 10),
            (10, 16),
            (7, 7),
            (255, 1),
            (1, 255),
            (99, 40),
            (121, 254),
            (65535, 3),
        ];
        for (from, to) in steps {
            let mut table = [0u16; 64];
            table.fill(from);
            let mut out = [0u16; 64];
            out.fill(to);
            let r = Requantise::new(&table, &out, (1, 1));
            for start in (-2048i32..2048).step_by(64).chain([-32768, 32704]) {
                let block: Block = std::array::from_fn(|k| (start + k as i32) as i16);
                let source = ComponentBlocks {
                    table,
                    rows: vec![std::slice::from_ref(&block)],
                };
                let mut got = [[0i16; 64]];
                r.row(&source, 0, &mut got);
                assert_eq!(
                    got[0],
                    block.map(|c| exact(c, from, to)),
                    "{from} -> {to} from {start}"
                );
            }
        }
    }

    /// JPEG's 2-D DCT of an 8x8 block of samples (natural order), straight from its
    /// definition, and its inverse.
    fn cos(n: usize, k: usize) -> f64 {
        (std::f64::consts::PI * (2 * n + 1) as f64 * k as f64 / 16.0).cos()
    }
    fn c(k: usize) -> f64 {
        if k == 0 { 0.5f64.sqrt() } else { 1.0 }
    }
    fn dct(samples: &[f64; 64]) -> [f64; 64] {
        std::array::from_fn(|i| {
            let (v, u) = (i / 8, i % 8);
            let mut s = 0.0;
            for y in 0..8 {
                for x in 0..8 {
                    s += samples[8 * y + x] * cos(x, u) * cos(y, v);
                }
            }
            s * c(u) * c(v) / 4.0
        })
    }
    fn idct(coefficients: &Block) -> [f64; 64] {
        std::array::from_fn(|i| {
            let (y, x) = (i / 8, i % 8);
            let mut s = 0.0;
            for v in 0..8 {
                for u in 0..8 {
                    s += c(u) * c(v) * f64::from(coefficients[8 * v + u]) * cos(x, u) * cos(y, v);
                }
            }
            s / 4.0
        })
    }

    #[test]
    fn halving_in_coefficients_is_the_box_mean_of_the_samples() {
        // Two blocks of coefficients as a file holds them (the lower rows of the first all
        // zero, as in most blocks), side by side and one above the other: the halved block
        // must be the DCT of the 2:1 box mean of their samples.
        let a: Block = std::array::from_fn(|i| {
            if i < 24 {
                ((i * 37) % 61) as i16 - 30
            } else {
                0
            }
        });
        let b: Block = std::array::from_fn(|i| ((i * i * 11) % 41) as i16 - 20);
        let (sa, sb) = (idct(&a), idct(&b));
        for across in [true, false] {
            let at = |x: usize, y: usize| {
                // Sample (x, y) of the 16-wide (or 16-tall) pair.
                let (blk, x, y) = if across {
                    (x / 8, x % 8, y)
                } else {
                    (y / 8, x, y % 8)
                };
                if blk == 0 {
                    sa[8 * y + x]
                } else {
                    sb[8 * y + x]
                }
            };
            let mean: [f64; 64] = std::array::from_fn(|i| {
                let (y, x) = (i / 8, i % 8);
                if across {
                    (at(2 * x, y) + at(2 * x + 1, y)) / 2.0
                } else {
                    (at(x, 2 * y) + at(x, 2 * y + 1)) / 2.0
                }
            });
            let want = dct(&mean);
            let got = if across {
                halve_across(&a.map(f32::from), &b.map(f32::from), &HALVING)
            } else {
                halve_down(&a, &b, &[1.0; 64], &HALVING)
            };
            for k in 0..64 {
                assert!(
                    (f64::from(got[k]) - want[k]).abs() < 0.01,
                    "across {across}, coefficient {k}: {} != {}",
                    got[k],
                    want[k]
                );
            }
        }
    }
}
