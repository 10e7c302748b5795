//! The resize Lambda's zip, cross-compiled with cargo-lambda from the handler sources bundled
//! in this binary, and kept under a hash of its inputs so an unchanged handler is never built
//! twice: what `imgflex build` prints and `imgflex deploy` uploads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use super::{Sources, Tools, find_checkout, input_hash, inspect_zip, missing_error, sha256_file};
use crate::cli::Arch;
use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Built,
    Reused,
}

#[derive(Debug, Serialize)]
pub struct Report {
    outcome: Outcome,
    pub zip: PathBuf,
    arch: &'static str,
    pub bytes: u64,
    /// The zip's own hash: what `deploy` addresses it by.
    pub sha256: String,
    /// The hash of what went into it (sources, target, compiler): what names the file.
    inputs: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.outcome {
            Outcome::Built => "built",
            Outcome::Reused => "reused",
        };
        writeln!(
            f,
            "{verb} `{}` ({}, {})",
            self.zip.display(),
            self.arch,
            indicatif::BinaryBytes(self.bytes)
        )?;
        write!(f, "sha256 {}", self.sha256)
    }
}

/// The handler's zip for `arch`: reused when one built from the same inputs is there,
/// built otherwise.
pub fn ensure(arch: Arch, out_dir: Option<&Path>, out: &Output) -> Result<Report, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::new(format!("cannot read the current directory: {e}")))?;
    let checkout = find_checkout(&cwd);
    let cache = dirs::cache_dir()
        .map(|dir| dir.join("imgflex"))
        .ok_or_else(|| {
            CliError::new("cannot tell where the user cache directory is")
                .hint("set `XDG_CACHE_HOME` (or `HOME`)")
        })?;
    let out_dir = match (out_dir, &checkout) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(checkout)) => checkout.join("target/imgflex/handler"),
        (None, None) => cache.join("handler"),
    };

    let sources = Sources::bundled()?;
    let digest = sources.digest();
    let src = cache.join("src").join(&digest[..16]);
    sources.unpack(&src)?;
    out.verbose(format!("handler sources: `{}`", src.display()));

    let tools = Tools::find(
        checkout.as_deref(),
        &std::env::var_os("PATH").unwrap_or_default(),
    );
    let rustc_version = tools.rustc(&src, &["-vV"])?;
    let inputs = input_hash(&digest, arch, &rustc_version);
    let zip = out_dir.join(format!(
        "imgflex-handler-{}-{}.zip",
        arch.name(),
        &inputs[..16]
    ));

    let outcome = match check_zip(&zip, arch) {
        Ok(()) => Outcome::Reused,
        Err(why) => {
            if zip.exists() {
                out.verbose(format!("rebuilding: `{}`: {why}", zip.display()));
            }
            let missing = tools.missing(arch, &src, sources.toolchain());
            if !missing.is_empty() {
                return Err(missing_error(&missing));
            }
            build(&tools, &src, &cache, arch, &zip, out)?;
            Outcome::Built
        }
    };

    let bytes = std::fs::metadata(&zip)
        .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", zip.display())))?
        .len();
    let sha256 = sha256_file(&zip)
        .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", zip.display())))?;
    Ok(Report {
        outcome,
        zip,
        arch: arch.name(),
        bytes,
        sha256,
        inputs,
    })
}

/// Whether `zip` is already a good package for `arch`; the reason it is not otherwise.
fn check_zip(zip: &Path, arch: Arch) -> Result<(), String> {
    let file = std::fs::File::open(zip).map_err(|e| e.to_string())?;
    inspect_zip(std::io::BufReader::new(file), arch).map_err(|problem| problem.to_string())
}

/// Runs `cargo lambda build` in `src` and moves its zip to `zip`.
fn build(
    tools: &Tools,
    src: &Path,
    cache: &Path,
    arch: Arch,
    zip: &Path,
    out: &Output,
) -> Result<(), CliError> {
    let Some(cargo_lambda) = &tools.cargo_lambda else {
        return Err(crate::build_support::missing_error(&[
            crate::build_support::Missing::CargoLambda,
        ]));
    };
    // Compiled dependencies are kept across builds (and across handler versions) in the
    // cache, away from any checkout's `target/` and its lock; CARGO_TARGET_DIR wins.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("target"));
    let lambda_dir = cache.join(format!("lambda-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&lambda_dir);

    let mut cmd = Command::new(cargo_lambda);
    cmd.args(["lambda", "build", "--release", arch.cargo_lambda_flag()])
        .args(arch.cargo_features())
        .args(["--output-format", "zip", "-p", "imgflex-handler", "--bin"])
        .args(["bootstrap", "--lambda-dir"])
        .arg(&lambda_dir)
        .current_dir(src)
        .env("PATH", &tools.path)
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdin(Stdio::null());
    for var in super::inherited_crate_vars(std::env::vars_os().map(|(k, _)| k)) {
        cmd.env_remove(var);
    }
    out.status(format!(
        "building the handler for {} with cargo lambda (minutes when cold{})",
        arch.name(),
        if out.verbose > 0 {
            ""
        } else {
            "; -v shows the compiler"
        }
    ));
    out.verbose(format!("in `{}`: {cmd:?}", src.display()));
    let started = Instant::now();
    let result = if out.verbose > 0 {
        // Its output is progress: all of it to stderr, so stdout stays the result.
        cmd.stdout(std::io::stderr())
            .stderr(Stdio::inherit())
            .status()
    } else {
        cmd.output().map(|output| {
            if !output.status.success() {
                let text = String::from_utf8_lossy(&output.stderr);
                let lines: Vec<&str> = text.lines().collect();
                for line in &lines[lines.len().saturating_sub(30)..] {
                    eprintln!("{line}");
                }
            }
            output.status
        })
    };
    let status = result
        .map_err(|e| CliError::new(format!("cannot run `{}`: {e}", cargo_lambda.display())))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&lambda_dir);
        let hint = if out.verbose > 0 {
            "its output is above"
        } else {
            "the end of its output is above; run again with `-v` for all of it"
        };
        return Err(CliError::new(format!("`cargo lambda build` failed ({status})")).hint(hint));
    }
    out.verbose(format!(
        "cargo lambda build took {:.0} s",
        started.elapsed().as_secs_f64()
    ));

    let built = lambda_dir.join("bootstrap/bootstrap.zip");
    let moved = check_zip(&built, arch)
        .map_err(|why| {
            CliError::new(format!(
                "cargo lambda produced `{}`, but {why}",
                built.display()
            ))
        })
        .and_then(|()| place(&built, zip));
    let _ = std::fs::remove_dir_all(&lambda_dir);
    moved
}

/// Copies `from` to `to` through a temporary file and a rename, so a zip at its final name
/// is always whole.
fn place(from: &Path, to: &Path) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::new(format!("cannot write `{}`: {e}", to.display()));
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    crate::files::copy_atomically(from, to).map_err(fail)
}
