//! The tools the cross build needs (cargo-lambda, Zig, the Rust target, `nasm` for x86_64),
//! where they are found, and the command that installs each missing one.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::Arch;
use crate::error::CliError;

/// The cargo-lambda `.ci/setup` installs and the install hints name. It brings Zig along
/// (the `ziglang` Python package).
pub const CARGO_LAMBDA_PIN: &str = "1.9.2";

/// A tool the cross build needs and does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    CargoLambda,
    /// cargo-lambda's cross linker; the cargo-lambda pip package installs it.
    Zig,
    Target {
        triple: &'static str,
        toolchain: Option<String>,
    },
    /// mozjpeg's and rav1e's x86_64 assembly.
    Nasm,
}

impl Missing {
    fn what(&self) -> String {
        match self {
            Missing::CargoLambda => "`cargo-lambda` is not installed".into(),
            Missing::Zig => "`zig` (the cross linker cargo-lambda uses) is not installed".into(),
            Missing::Target {
                triple,
                toolchain: Some(toolchain),
            } => format!("the Rust target `{triple}` is not installed for toolchain `{toolchain}`"),
            Missing::Target {
                triple,
                toolchain: None,
            } => format!("the Rust target `{triple}` is not installed"),
            Missing::Nasm => {
                "`nasm` (for mozjpeg's and rav1e's x86_64 assembly) is not installed".into()
            }
        }
    }

    fn install(&self) -> String {
        match self {
            Missing::CargoLambda => format!("`pip install cargo-lambda=={CARGO_LAMBDA_PIN}`"),
            Missing::Zig => "`pip install ziglang`".into(),
            Missing::Target {
                triple,
                toolchain: Some(toolchain),
            } => format!("`rustup target add {triple} --toolchain {toolchain}`"),
            Missing::Target {
                triple,
                toolchain: None,
            } => format!("`rustup target add {triple}`"),
            Missing::Nasm => "`apt-get install nasm` (macOS: `brew install nasm`)".into(),
        }
    }
}

/// One error naming everything missing, with the command that installs each.
pub fn missing_error(missing: &[Missing]) -> CliError {
    let what: Vec<String> = missing.iter().map(Missing::what).collect();
    let install: Vec<String> = missing.iter().map(Missing::install).collect();
    CliError::new(format!("cannot build the handler: {}", what.join("; ")))
        .hint(format!("run {}", install.join(", then ")))
}

/// How the build's tools are reached: cargo-lambda's path, and the `PATH` its process (and
/// our checks) run with.
#[derive(Debug)]
pub struct Tools {
    pub cargo_lambda: Option<PathBuf>,
    pub path: OsString,
}

impl Tools {
    /// cargo-lambda from the checkout's `.venv/bin` (the pinned one `.ci/setup` installs)
    /// if there is one, else from `PATH`. With the venv's, its `bin` goes first on `PATH`
    /// too, so cargo-lambda's `python3 -m ziglang` finds the venv's Zig.
    pub fn find(checkout: Option<&Path>, path: &OsStr) -> Tools {
        let name = format!("cargo-lambda{}", std::env::consts::EXE_SUFFIX);
        if let Some(venv_bin) = checkout.map(|c| c.join(".venv/bin")) {
            let venv_tool = venv_bin.join(&name);
            if venv_tool.is_file() {
                let dirs = std::iter::once(venv_bin).chain(std::env::split_paths(path));
                let path = std::env::join_paths(dirs).unwrap_or_else(|_| path.to_os_string());
                return Tools {
                    cargo_lambda: Some(venv_tool),
                    path,
                };
            }
        }
        Tools {
            cargo_lambda: find_on_path(&name, path),
            path: path.to_os_string(),
        }
    }

    /// Everything `cargo lambda build` for `arch` needs that is not there; `src` is the
    /// unpacked workspace (its `rust-toolchain.toml` picks the compiler).
    pub fn missing(&self, arch: Arch, src: &Path, toolchain: Option<String>) -> Vec<Missing> {
        let mut missing = Vec::new();
        if self.cargo_lambda.is_none() {
            missing.push(Missing::CargoLambda);
        }
        // `pip install cargo-lambda` brings Zig; only name it on its own when cargo-lambda
        // is there without it.
        if self.cargo_lambda.is_some() && !self.has_zig() {
            missing.push(Missing::Zig);
        }
        if !self.has_target(arch, src) {
            missing.push(Missing::Target {
                triple: arch.triple(),
                toolchain,
            });
        }
        if arch == Arch::X86_64 && find_on_path("nasm", &self.path).is_none() {
            missing.push(Missing::Nasm);
        }
        missing
    }

    /// Where cargo-zigbuild (inside cargo-lambda) looks: `python3 -m ziglang`, then `zig`,
    /// each overridable as cargo-zigbuild allows.
    fn has_zig(&self) -> bool {
        let python = std::env::var_os("CARGO_ZIGBUILD_PYTHON_PATH").unwrap_or("python3".into());
        let zig = std::env::var_os("CARGO_ZIGBUILD_ZIG_PATH").unwrap_or("zig".into());
        let answers = |program: &OsStr, args: &[&str]| {
            let Some(program) = self.resolve(program) else {
                return false;
            };
            Command::new(program)
                .args(args)
                .env("PATH", &self.path)
                .output()
                .is_ok_and(|out| out.status.success() && !out.stdout.trim_ascii().is_empty())
        };
        answers(&python, &["-m", "ziglang", "version"]) || answers(&zig, &["version"])
    }

    /// Whether the compiler `src` selects has the standard library for `arch`.
    fn has_target(&self, arch: Arch, src: &Path) -> bool {
        let Ok(sysroot) = self.rustc(src, &["--print", "sysroot"]) else {
            return false;
        };
        Path::new(sysroot.trim())
            .join("lib/rustlib")
            .join(arch.triple())
            .join("lib")
            .is_dir()
    }

    /// `rustc ARGS` run in `src`, so that its `rust-toolchain.toml` applies.
    pub fn rustc(&self, src: &Path, args: &[&str]) -> Result<String, CliError> {
        let rustc = std::env::var_os("RUSTC").unwrap_or("rustc".into());
        let out = Command::new(&rustc)
            .args(args)
            .current_dir(src)
            .env("PATH", &self.path)
            .output()
            .map_err(|e| {
                CliError::new(format!("cannot run `rustc`: {e}"))
                    .hint("install Rust with rustup: https://rustup.rs")
            })?;
        if !out.status.success() {
            return Err(CliError::new(format!(
                "`rustc {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn resolve(&self, program: &OsStr) -> Option<PathBuf> {
        if Path::new(program).components().count() > 1 {
            return Path::new(program).is_file().then(|| PathBuf::from(program));
        }
        find_on_path(&program.to_string_lossy(), &self.path)
    }
}

/// The variables cargo sets for the crate it runs (we may be under `cargo run` or a test),
/// which must not reach the cargo inside cargo-lambda: build scripts that watch them (ring's
/// `rerun-if-env-changed=CARGO_MANIFEST_DIR`) would rebuild half the dependency tree each
/// time they come and go. Cargo's own settings (`CARGO_HOME`, `CARGO_TARGET_DIR`,
/// `CARGO_PROFILE_*`, ...) pass through.
pub fn inherited_crate_vars(names: impl Iterator<Item = OsString>) -> Vec<OsString> {
    const EXACT: [&str; 9] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    const PREFIXES: [&str; 4] = [
        "CARGO_PKG_",
        "CARGO_BIN_EXE_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
    ];
    names
        .filter(|name| {
            name.to_str().is_some_and(|name| {
                EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
            })
        })
        .collect()
}

pub fn find_on_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cargo_lambda_comes_from_the_checkout_venv_first() {
        let dir = tempfile::tempdir().unwrap();
        let (checkout, elsewhere) = (dir.path().join("repo"), dir.path().join("bin"));
        std::fs::create_dir_all(checkout.join(".venv/bin")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("cargo-lambda"), "").unwrap();
        let path = std::env::join_paths([&elsewhere]).unwrap();

        let tools = Tools::find(Some(&checkout), &path);
        assert_eq!(tools.cargo_lambda, Some(elsewhere.join("cargo-lambda")));
        assert_eq!(tools.path, path);

        std::fs::write(checkout.join(".venv/bin/cargo-lambda"), "").unwrap();
        let tools = Tools::find(Some(&checkout), &path);
        assert_eq!(
            tools.cargo_lambda,
            Some(checkout.join(".venv/bin/cargo-lambda"))
        );
        let dirs: Vec<_> = std::env::split_paths(&tools.path).collect();
        assert_eq!(dirs, [checkout.join(".venv/bin"), elsewhere.clone()]);

        assert_eq!(Tools::find(None, OsStr::new("")).cargo_lambda, None);
    }

    #[test]
    fn missing_tools_are_named_with_their_install_command() {
        let err = missing_error(&[Missing::CargoLambda]);
        assert_eq!(
            err.to_string(),
            "error: cannot build the handler: `cargo-lambda` is not installed\n  \
             hint: run `pip install cargo-lambda==1.9.2`"
        );
        let err = missing_error(&[Missing::Target {
            triple: "aarch64-unknown-linux-gnu",
            toolchain: Some("1.95.0".into()),
        }]);
        assert_eq!(
            err.hint.as_deref(),
            Some("run `rustup target add aarch64-unknown-linux-gnu --toolchain 1.95.0`")
        );
        let err = missing_error(&[Missing::Zig, Missing::Nasm]);
        assert_eq!(
            err.message,
            "cannot build the handler: `zig` (the cross linker cargo-lambda uses) is not \
             installed; `nasm` (for mozjpeg's and rav1e's x86_64 assembly) is not installed"
        );
        assert_eq!(
            err.hint.as_deref(),
            Some(
                "run `pip install ziglang`, then `apt-get install nasm` (macOS: `brew install nasm`)"
            )
        );
    }

    #[test]
    fn only_the_running_crates_cargo_variables_are_scrubbed() {
        let names = [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_BIN_EXE_imgflex",
            "OUT_DIR",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_PROFILE_RELEASE_LTO",
            "PATH",
        ];
        let scrubbed = inherited_crate_vars(names.iter().map(OsString::from));
        assert_eq!(
            scrubbed,
            [
                "CARGO_MANIFEST_DIR",
                "CARGO_PKG_NAME",
                "CARGO_BIN_EXE_imgflex",
                "OUT_DIR"
            ]
        );
    }
}
