//! `imgflex render`: the templates as `deploy` would send them, written out for review.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{GlobalArgs, RenderArgs};
use crate::config::load_policy;
use crate::edge::MAX_FUNCTION_BYTES;
use crate::error::CliError;
use crate::output::Output;
use crate::templates::render;

#[derive(Debug, Serialize)]
struct Report {
    out_dir: PathBuf,
    files: Vec<PathBuf>,
    function_bytes: usize,
    function_limit: usize,
    /// What one original can become under the policy (`imgflex url --policy` explains).
    variant_space: imgflex_core::VariantSpace,
    #[serde(skip)]
    variant_line: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rendered {} files into `{}` (edge function: {} of {} bytes)",
            self.files.len(),
            self.out_dir.display(),
            self.function_bytes,
            self.function_limit
        )?;
        for file in &self.files {
            writeln!(f, "  {}", file.display())?;
        }
        writeln!(f, "{}", self.variant_line)?;
        write!(
            f,
            "lint them with: cfn-lint {}/*.yaml",
            self.out_dir.display()
        )
    }
}

pub fn run(args: RenderArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let policy = load_policy(global.config.as_deref())?;
    let rendered = render(&policy)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::new(format!("cannot create `{}`: {e}", args.out.display())))?;
    let files = [
        ("main.yaml", &rendered.main),
        ("edge.yaml", &rendered.edge),
        ("bootstrap.yaml", &rendered.bootstrap),
        ("edge-function.js", &rendered.function_code),
    ]
    .into_iter()
    .map(|(name, text)| write(&args.out.join(name), text))
    .collect::<Result<Vec<_>, _>>()?;
    let (variant_space, variant_line) = crate::variant_space::summary(&policy);
    out.data(&Report {
        out_dir: args.out,
        files,
        function_bytes: rendered.function_code.len(),
        function_limit: MAX_FUNCTION_BYTES,
        variant_space,
        variant_line,
    })
}

/// Writes through a temporary file and a rename, so a reviewer never sees half a template.
fn write(path: &Path, text: &str) -> Result<PathBuf, CliError> {
    crate::files::write_atomically(path, text.as_bytes())
        .map_err(|e| CliError::new(format!("cannot write `{}`: {e}", path.display())))?;
    Ok(path.to_path_buf())
}
