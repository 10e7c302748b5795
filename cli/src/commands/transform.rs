//! `imgflex transform`: one URL's transform on a local file, through the same grammar and
//! pipeline as the Lambda.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use imgflex_core::{Format, Route, route_target};
use imgflex_handler::pipeline::transform;
use serde::Serialize;

use crate::cli::{GlobalArgs, TransformArgs};
use crate::config::load_policy;
use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, Serialize)]
struct Transformed {
    output: PathBuf,
    key: String,
    format: Format,
    width: u32,
    height: u32,
    bytes: usize,
    ms: f64,
    /// `g=auto`: the window saliency chose in the resized image (left, top, width, height),
    /// so a surprising crop can be explained.
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<[u32; 4]>,
    /// 1 for a still; an animated output's frame count (`anim=1` on an animated source).
    frames: u32,
}

impl fmt::Display for Transformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote `{}`: {}x{} {}, {} bytes in {:.1} ms",
            self.output.display(),
            self.width,
            self.height,
            self.format,
            self.bytes,
            self.ms
        )?;
        if self.frames > 1 {
            write!(f, ", {} frames", self.frames)?;
        }
        if let Some([x, y, w, h]) = self.window {
            write!(
                f,
                "; smart crop: the {w}x{h} window at ({x}, {y}) of the resized image"
            )?;
        }
        Ok(())
    }
}

/// `-o -`: the image goes to stdout, and the report to stderr.
fn to_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Whether `output` names the file `input` is (so writing it would destroy the original).
/// An output that does not exist yet can only be the input through its folder and name.
fn same_file(input: &Path, output: &Path) -> bool {
    let Ok(input) = input.canonicalize() else {
        return false;
    };
    if let Ok(output) = output.canonicalize() {
        return output == input;
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), output.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name) == input,
        _ => false,
    }
}

/// The format a file name's extension promises, when it names one.
fn promised(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => Some(Format::Jpeg),
        "png" => Some(Format::Png),
        "webp" => Some(Format::Webp),
        "avif" => Some(Format::Avif),
        _ => None,
    }
}

pub fn run(args: TransformArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    // One image, as in the Lambda: its settings keep freed buffers mapped, so the decoder's
    // and the resizer's scratch are not faulted in and zeroed twice (a quarter of a
    // progressive 10 MP transform under glibc's defaults, measured with perf).
    imgflex_handler::memory::tune_allocator(imgflex_handler::memory::Workload::OneAtATime);
    let stdout = to_stdout(&args.output_file);
    if !stdout && same_file(&args.input, &args.output_file) {
        return Err(CliError::new(format!(
            "`-o {}` is the input file: writing it would replace the original",
            args.output_file.display()
        ))
        .hint("write the variant to another file, or `-o -` for stdout"));
    }
    let policy = load_policy(global.config.as_deref())?;
    let name = args
        .input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CliError::new(format!("`{}` is not a file", args.input.display())))?;
    let query = args.query.strip_prefix('?').unwrap_or(&args.query);
    // The file's name stands for the original's key: its extension decides whether it is an
    // image and what `fm=auto` falls back to, as it would for a deployed original.
    let target = format!("/{}?{query}", imgflex_core::encode_key(&name));
    let variant = match route_target(&target, args.accept.as_deref(), &policy) {
        Ok(Route::Variant(v)) => v,
        Ok(Route::Original { .. }) => {
            return Err(CliError::new("the query is empty: nothing to transform")
                .hint("give the parameters as in a URL, e.g. 'w=300&fm=webp'"));
        }
        Err(e) => {
            return Err(
                CliError::new(format!("{} (the edge answers {})", e.kind, e.status())).hint(
                    "`imgflex url` shows how any URL is read; the README lists every parameter",
                ),
            );
        }
    };
    let bytes = std::fs::read(&args.input)
        .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", args.input.display())))?;
    out.verbose(format_args!("key: {}", variant.uri()));

    let started = Instant::now();
    let result = transform(&bytes, &variant.spec, &policy.limits).map_err(|e| {
        CliError::new(format!(
            "`{}`: {e} (the handler answers {})",
            args.input.display(),
            e.status()
        ))
    })?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let report = Transformed {
        output: args.output_file.clone(),
        key: variant.key(),
        format: result.format,
        width: result.width,
        height: result.height,
        bytes: result.bytes.len(),
        ms,
        window: result.window.map(|r| [r.x, r.y, r.width, r.height]),
        frames: result.frames,
    };
    if stdout {
        // The bytes own stdout; the report (text or JSON) goes to stderr.
        let mut lock = std::io::stdout().lock();
        std::io::Write::write_all(&mut lock, &result.bytes)
            .and_then(|()| std::io::Write::flush(&mut lock))
            .map_err(|e| CliError::new(format!("cannot write to stdout: {e}")))?;
        out.report(&report);
        return Ok(());
    }
    if let Some(ext) = promised(&args.output_file).filter(|f| *f != result.format) {
        out.warn(format!(
            "`{}` gets {} bytes, but its extension says {}: viewers and servers go by the name",
            args.output_file.display(),
            result.format,
            ext
        ));
    }
    write_atomically(&args.output_file, &result.bytes)?;
    out.data(&report)
}

/// Writes the output whole or not at all.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    crate::files::write_atomically(path, bytes)
        .map_err(|e| CliError::new(format!("cannot write `{}`: {e}", path.display())))
}
