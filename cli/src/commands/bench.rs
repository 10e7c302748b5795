//! `imgflex bench`: the pipeline on a folder of images, with the ops and JSON rows of
//! `../shared/bench` (sharp's reference benchmark), so the two compare cell by cell.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use imgflex_core::{Format, Policy, Route, route_target};
use imgflex_handler::pipeline::{
    Acceleration, Limits, Pixels, animation_frames, decode_animation, decode_full, transform,
};
use serde::Serialize;

use crate::cli::BenchArgs;
use crate::error::CliError;
use crate::output::Output;

/// The ops of `../shared/bench/README.md`, as imgflex queries. sharp enlarges small inputs
/// for thumb, card, avif and png-small (its default), so those say `enlarge=1`; hero does not.
/// `smart` is card with the crop placed by saliency (`g=auto`), against sharp's
/// `position: 'attention'` (`tools/bench/sharp-smart.js`); its rows carry the window chosen.
/// `anim` keeps every frame of an animated GIF or WebP (`anim=1`), against sharp's
/// `animated: true` (`tools/bench/sharp-anim.js`), and runs on animated files only.
const OPS: [(&str, &str); 8] = [
    ("thumb", "w=300&fm=jpeg&q=80&enlarge=1"),
    ("card", "w=800&h=600&fit=cover&fm=webp&q=75&enlarge=1"),
    (
        "smart",
        "w=800&h=600&fit=cover&g=auto&fm=webp&q=75&enlarge=1",
    ),
    ("hero", "w=1920&fm=jpeg&q=82"),
    ("avif", "w=800&fm=avif&q=50&enlarge=1"),
    ("png-small", "w=256&fm=png&enlarge=1"),
    ("anim", "w=400&fm=webp&q=75&anim=1&enlarge=1"),
    ("decode-only", ""),
];

/// AVIF encodes take seconds: fewer timed runs, as the sharp side does.
const AVIF_REPS: usize = 5;

#[derive(Debug, Serialize, serde::Deserialize)]
struct Row {
    image: String,
    op: String,
    median_ms: f64,
    out_bytes: usize,
    out_w: u32,
    out_h: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rss_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssim: Option<f64>,
    /// The smart crop's window in the resized image: left, top, width, height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<[u32; 4]>,
    /// Frames in an animated output (the `anim` op).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frames: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Report {
    /// Whether the codecs ran with their SIMD: figures from a build without it are not the
    /// pipeline's.
    acceleration: Acceleration,
    /// `release` or `debug`: what the figures are of (see [`CHECKED_BUILD`]).
    build: &'static str,
    rows: Vec<Row>,
}

/// A debug build keeps overflow checks and debug assertions in our crates, and the resizer's
/// kernels are generic code compiled into ours, so they run with our checks: picos hero took
/// 117 ms in a debug build and 105 ms in the release build the Lambda runs (104 ms in a debug
/// build without the handler's checks, so that is the whole difference). Its figures are not
/// the pipeline's.
const CHECKED_BUILD: bool = cfg!(debug_assertions);

const CHECKED_BUILD_WARNING: &str = "this imgflex is a debug build: our crates keep their overflow \
     checks, which slow the resizer's kernels compiled into them, so these times are not the \
     Lambda's; for figures to compare, build with `cargo build --release -p imgflex` and run \
     target/release/imgflex bench";

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "codecs: {}, build: {}", self.acceleration, self.build)?;
        writeln!(
            f,
            "{:28} {:11} {:>9} {:>10} {:>11} {:>8} {:>6}",
            "image", "op", "ms", "bytes", "size", "rss MB", "ssim"
        )?;
        for r in &self.rows {
            let opt = |v: Option<f64>, digits: usize| {
                v.map_or("-".to_string(), |v| format!("{v:.digits$}"))
            };
            writeln!(
                f,
                "{:28} {:11} {:>9.1} {:>10} {:>11} {:>8} {:>6}",
                r.image,
                r.op,
                r.median_ms,
                r.out_bytes,
                format!("{}x{}", r.out_w, r.out_h),
                opt(r.peak_rss_mb, 1),
                opt(r.ssim, 3)
            )?;
        }
        write!(f, "{} cells", self.rows.len())
    }
}

pub fn run(args: BenchArgs, out: &Output) -> Result<(), CliError> {
    let ops: Vec<(&str, &str)> = if args.ops.is_empty() {
        OPS.to_vec()
    } else {
        args.ops
            .iter()
            .map(|name| {
                OPS.iter()
                    .find(|(op, _)| op == name)
                    .copied()
                    .ok_or_else(|| {
                        let names: Vec<&str> = OPS.iter().map(|(op, _)| *op).collect();
                        CliError::new(format!("unknown op `{name}`"))
                            .hint(format!("ops are {}", names.join(", ")))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    if args.reps == 0 {
        return Err(CliError::new("`--reps` must be at least 1"));
    }
    let limits = Limits::default();
    if let Some(which) = &args.cell {
        // The child: one cell, its row as one JSON line, under the Lambda's allocator
        // settings (one image at a time), which is what it measures.
        imgflex_handler::memory::tune_allocator(imgflex_handler::memory::Workload::OneAtATime);
        let (image, op) = which
            .rsplit_once(':')
            .ok_or_else(|| CliError::new("--cell takes IMAGE:OP"))?;
        let path = args.corpus.join(image);
        let bytes = std::fs::read(&path)
            .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", path.display())))?;
        let query = ops
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, q)| *q)
            .unwrap_or_default();
        let row = cell(
            image,
            &bytes,
            op,
            query,
            args.reps,
            &limits,
            args.reference.as_deref(),
        )?;
        return out.json(&row);
    }
    let images = images(&args.corpus)?;
    let acceleration = Acceleration::of_this_build();
    for line in acceleration.missing() {
        out.status(format_args!("warning: {line}"));
    }
    if CHECKED_BUILD {
        out.status(format_args!("warning: {CHECKED_BUILD_WARNING}"));
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find this executable: {e}")))?;
    let mut rows = Vec::new();
    for path in &images {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (op, _) in &ops {
            if *op == "png-small" && !name.to_ascii_lowercase().ends_with(".png") {
                continue;
            }
            if *op == "anim" && !is_animated(path, &limits)? {
                continue;
            }
            out.status(format_args!("{name} {op}"));
            rows.push(child_cell(&exe, &args, &name, op)?);
        }
    }
    let report = Report {
        acceleration,
        build: if CHECKED_BUILD { "debug" } else { "release" },
        rows,
    };
    if let Some(file) = &args.json {
        let json =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::new(e.to_string()))?;
        std::fs::write(file, json + "\n")
            .map_err(|e| CliError::new(format!("cannot write `{}`: {e}", file.display())))?;
    }
    out.data(&report)
}

/// Runs one cell in a fresh process: the allocator of a long-running process keeps what
/// earlier cells freed, so an in-process peak would be the run's, not the cell's.
fn child_cell(exe: &Path, args: &BenchArgs, image: &str, op: &str) -> Result<Row, CliError> {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--output", "json", "bench", "--corpus"])
        .arg(&args.corpus)
        .args([
            "--reps",
            &args.reps.to_string(),
            "--ops",
            op,
            "--cell",
            &format!("{image}:{op}"),
        ]);
    if let Some(reference) = &args.reference {
        cmd.arg("--reference").arg(reference);
    }
    let output = cmd
        .output()
        .map_err(|e| CliError::new(format!("cannot run the bench child: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::new(
            stderr.trim().trim_start_matches("error: ").to_string(),
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| CliError::new(format!("bench child printed no row: {e}")))
}

/// Whether `anim` applies: an animated GIF or WebP, asked of the container (no frame decoded).
fn is_animated(path: &Path, limits: &Limits) -> Result<bool, CliError> {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    if !(lower.ends_with(".gif") || lower.ends_with(".webp")) {
        return Ok(false);
    }
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", path.display())))?;
    // A file the pipeline refuses is no animation to time; the other ops report why.
    Ok(animation_frames(&bytes, limits).is_ok_and(|frames| frames.is_some()))
}

fn images(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::new(format!("cannot read `{}`: {e}", dir.display()))
            .hint("pass a folder of images with --corpus DIR")
    })?;
    let mut images: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(imgflex_core::image_extension)
                    .is_some()
        })
        .collect();
    images.sort();
    if images.is_empty() {
        return Err(CliError::new(format!("no images in `{}`", dir.display()))
            .hint("the bench reads .jpg, .png, .webp, .gif and .avif files"));
    }
    Ok(images)
}

fn cell(
    name: &str,
    bytes: &[u8],
    op: &str,
    query: &str,
    reps: usize,
    limits: &Limits,
    reference: Option<&Path>,
) -> Result<Row, CliError> {
    let failed = |e: &dyn fmt::Display| CliError::new(format!("`{name}` {op}: {e}"));
    let spec = if query.is_empty() {
        None
    } else {
        match route_target(
            &format!("/{}?{query}", imgflex_core::encode_key(name)),
            None,
            &Policy::default(),
        ) {
            Ok(Route::Variant(v)) => Some(v.spec),
            Ok(_) => None,
            Err(e) => return Err(failed(&e)),
        }
    };
    let reps = if spec.as_ref().is_some_and(|s| s.format == Format::Avif) {
        reps.min(AVIF_REPS)
    } else {
        reps
    };
    type Cell = (Vec<u8>, u32, u32, Option<[u32; 4]>, u32);
    let run = || -> Result<Cell, CliError> {
        match &spec {
            Some(spec) => transform(bytes, spec, limits)
                .map(|o| {
                    let window = o.window.map(|r| [r.x, r.y, r.width, r.height]);
                    (o.bytes, o.width, o.height, window, o.frames)
                })
                .map_err(|e| failed(&e)),
            None => decode_full(bytes, limits)
                .map(|p| (p.data, p.width, p.height, None, 1))
                .map_err(|e| failed(&e)),
        }
    };
    let mut output = run()?; // warm-up
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let started = Instant::now();
        output = run()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    // A fresh process per cell, so the high-water mark is this cell's (plus the binary).
    let peak_rss_mb = status_mb("VmHWM:");
    let ssim = match (&spec, reference) {
        (Some(spec), Some(dir)) => ssim_against(
            &output.0,
            &dir.join(format!("{name}.{op}.{}", sharp_ext(spec.format))),
            limits,
        ),
        _ => None,
    };
    Ok(Row {
        image: name.to_string(),
        op: op.to_string(),
        median_ms: (times[times.len() / 2] * 10_000.0).round() / 10_000.0,
        out_bytes: output.0.len(),
        out_w: output.1,
        out_h: output.2,
        peak_rss_mb,
        ssim,
        window: output.3,
        frames: (output.4 > 1).then_some(output.4),
    })
}

/// sharp names its outputs by libvips' format names.
fn sharp_ext(format: Format) -> &'static str {
    match format {
        Format::Jpeg => "jpeg",
        Format::Png => "png",
        Format::Webp => "webp",
        Format::Avif => "avif",
    }
}

/// SSIM of our output against sharp's (1 / (1 + DSSIM), dssim's multi-scale SSIM in L*a*b*),
/// both decoded by the pipeline's own decoders (AVIF by rav1d); an animation is judged frame
/// by frame, the mean of its frames. Cells whose sizes or frame counts differ, or with no
/// reference file, have none.
fn ssim_against(ours: &[u8], reference: &Path, limits: &Limits) -> Option<f64> {
    let frames = |bytes: &[u8]| -> Option<Vec<Pixels>> {
        match decode_animation(bytes, limits).ok()? {
            Some(animation) => Some(animation.frames.into_iter().map(|(p, _)| p).collect()),
            None => decode_full(bytes, limits).ok().map(|p| vec![p]),
        }
    };
    let theirs = frames(&std::fs::read(reference).ok()?)?;
    let ours = frames(ours)?;
    if theirs.len() != ours.len() {
        return None;
    }
    let mut sum = 0.0;
    for (theirs, ours) in theirs.iter().zip(&ours) {
        sum += ssim(theirs, ours)?;
    }
    Some((sum / ours.len() as f64 * 10_000.0).round() / 10_000.0)
}

fn ssim(theirs: &Pixels, ours: &Pixels) -> Option<f64> {
    if (ours.width, ours.height) != (theirs.width, theirs.height) {
        return None;
    }
    let dssim = dssim_core::Dssim::new();
    let image = |p: &Pixels| {
        let rgb: Vec<rgb::RGB8> = match p.channels {
            1 => p.data.iter().map(|&v| rgb::RGB8::new(v, v, v)).collect(),
            3 => p
                .data
                .chunks_exact(3)
                .map(|c| rgb::RGB8::new(c[0], c[1], c[2]))
                .collect(),
            // Judge what a viewer sees: alpha over white.
            _ => p
                .data
                .chunks_exact(4)
                .map(|c| {
                    let a = u32::from(c[3]);
                    let over = |v: u8| ((u32::from(v) * a + 255 * (255 - a) + 127) / 255) as u8;
                    rgb::RGB8::new(over(c[0]), over(c[1]), over(c[2]))
                })
                .collect(),
        };
        dssim.create_image_rgb(&rgb, p.width as usize, p.height as usize)
    };
    let (value, _) = dssim.compare(&image(theirs)?, image(ours)?);
    Some(1.0 / (1.0 + f64::from(value)))
}

/// A `/proc/self/status` memory line, in MB.
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}
