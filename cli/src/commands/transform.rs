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
        )
    }
}

pub fn run(args: TransformArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
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
    write_atomically(&args.output_file, &result.bytes)?;
    out.data(&Transformed {
        output: args.output_file,
        key: variant.key(),
        format: result.format,
        width: result.width,
        height: result.height,
        bytes: result.bytes.len(),
        ms,
    })
}

/// Writes the output whole or not at all.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    crate::files::write_atomically(path, bytes)
        .map_err(|e| CliError::new(format!("cannot write `{}`: {e}", path.display())))
}
