//! What `imgflex build` needs around cargo-lambda: the handler's sources bundled into this
//! binary (by `build.rs`), the hash of a build's inputs, the tools the cross build needs and
//! how to install each, and the inspection of the zip it produces.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::cli::Arch;
use crate::error::CliError;

/// The cargo-lambda `.ci/setup` installs and the install hints name. It brings Zig along
/// (the `ziglang` Python package).
pub const CARGO_LAMBDA_PIN: &str = "1.9.2";

/// `core/`, `handler/`, `Cargo.lock`, `rust-toolchain.toml` and a two-member workspace
/// manifest, as a `.tar.gz`; empty when this binary was built outside the workspace.
const BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/handler-src.tar.gz"));

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    pub fn triple(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// cargo-lambda's shortcut for the target.
    pub fn cargo_lambda_flag(self) -> &'static str {
        match self {
            Arch::Arm64 => "--arm64",
            Arch::X86_64 => "--x86-64",
        }
    }

    /// `e_machine` in the ELF header of a binary for this architecture.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Arm64 => 0xB7,
            Arch::X86_64 => 0x3E,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The bundled sources

/// The handler's sources as files, sorted by path (`/`-separated, relative to the
/// workspace root).
#[derive(Debug)]
pub struct Sources {
    files: Vec<(String, Vec<u8>)>,
}

impl Sources {
    pub fn bundled() -> Result<Sources, CliError> {
        if BUNDLE.is_empty() {
            return Err(
                CliError::new("this `imgflex` was built without the handler's sources").hint(
                    "install it from a checkout of the repository: `cargo install --path cli`",
                ),
            );
        }
        Sources::from_tar_gz(BUNDLE)
            .map_err(|e| CliError::new(format!("the bundled handler sources are unreadable: {e}")))
    }

    pub fn from_tar_gz(bytes: &[u8]) -> std::io::Result<Sources> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let mut files = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.to_string_lossy().replace('\\', "/");
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            files.push((path, data));
        }
        files.sort();
        Ok(Sources { files })
    }

    /// A sha256 over every path and its bytes, unambiguous (lengths included).
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        for (path, data) in &self.files {
            hash.update((path.len() as u64).to_le_bytes());
            hash.update(path.as_bytes());
            hash.update((data.len() as u64).to_le_bytes());
            hash.update(data);
        }
        hex(&hash.finalize())
    }

    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, d)| d.as_slice())
    }

    /// The toolchain `rust-toolchain.toml` pins (`1.95.0`), for install hints.
    pub fn toolchain(&self) -> Option<String> {
        let text = std::str::from_utf8(self.file("rust-toolchain.toml")?).ok()?;
        let table: toml::Table = toml::from_str(text).ok()?;
        Some(
            table
                .get("toolchain")?
                .get("channel")?
                .as_str()?
                .to_string(),
        )
    }

    /// Writes the files under `dir`, unless an earlier run already did. The tree appears
    /// whole or not at all: written beside `dir`, then renamed into place.
    pub fn unpack(&self, dir: &Path) -> Result<(), CliError> {
        if dir.join("Cargo.toml").is_file() {
            return Ok(());
        }
        let fail = |e: std::io::Error| {
            CliError::new(format!(
                "cannot unpack the handler sources into `{}`: {e}",
                dir.display()
            ))
        };
        let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        for (path, data) in &self.files {
            let file = tmp.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(fail)?;
            }
            std::fs::write(&file, data).map_err(fail)?;
        }
        match std::fs::rename(&tmp, dir) {
            Ok(()) => Ok(()),
            // Another run got there first with the same files.
            Err(_) if dir.join("Cargo.toml").is_file() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => Err(fail(e)),
        }
    }
}

/// What names a build: the sources, the architecture and the compiler (`rustc -vV`, which
/// carries the version and commit). Same inputs, same zip; anything else is a new build.
pub fn input_hash(sources_digest: &str, arch: Arch, rustc_version: &str) -> String {
    let mut hash = Sha256::new();
    for (field, value) in [
        ("imgflex-build", "1"),
        ("sources", sources_digest),
        ("target", arch.triple()),
        ("rustc", rustc_version.trim()),
    ] {
        hash.update(format!("{field} {}\n", value.len()));
        hash.update(value);
    }
    hex(&hash.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hex(&hash.finalize())),
            n => hash.update(&buf[..n]),
        }
    }
}

/// The imgflex checkout holding `start`, if any: the nearest directory up whose
/// `handler/Cargo.toml` is package `imgflex-handler`.
pub fn find_checkout(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("handler/Cargo.toml")).ok()?;
        let manifest: toml::Table = toml::from_str(&manifest).ok()?;
        let name = manifest.get("package")?.get("name")?.as_str()?;
        (name == "imgflex-handler" && dir.join("Cargo.toml").is_file()).then(|| dir.to_path_buf())
    })
}

// ---------------------------------------------------------------------------------------
// Tools

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

// ---------------------------------------------------------------------------------------
// The zip

/// Why a zip is not a Lambda package for the architecture it should be.
#[derive(Debug, PartialEq, Eq)]
pub enum ZipProblem {
    Unreadable(String),
    NoBootstrap,
    NotExecutable,
    NotElf,
    WrongMachine { expected: u16, found: u16 },
}

impl fmt::Display for ZipProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZipProblem::Unreadable(e) => write!(f, "it is not a readable zip: {e}"),
            ZipProblem::NoBootstrap => write!(f, "it has no `bootstrap` at its root"),
            ZipProblem::NotExecutable => write!(f, "its `bootstrap` is not executable"),
            ZipProblem::NotElf => write!(f, "its `bootstrap` is not a 64-bit little-endian ELF"),
            ZipProblem::WrongMachine { expected, found } => write!(
                f,
                "its `bootstrap` is for ELF machine `{found:#x}`, not `{expected:#x}`"
            ),
        }
    }
}

/// Checks what Lambda's `provided.al2023` runtime needs: an executable file named
/// `bootstrap` at the zip's root, an ELF for `arch`.
pub fn inspect_zip<R: Read + Seek>(zip: R, arch: Arch) -> Result<(), ZipProblem> {
    let mut archive =
        zip::ZipArchive::new(zip).map_err(|e| ZipProblem::Unreadable(e.to_string()))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|_| ZipProblem::NoBootstrap)?;
    // Lambda execs the file; zips made without Unix modes are refused rather than guessed.
    if entry.unix_mode().is_none_or(|mode| mode & 0o111 == 0) {
        return Err(ZipProblem::NotExecutable);
    }
    let mut header = [0u8; 20];
    entry
        .read_exact(&mut header)
        .map_err(|_| ZipProblem::NotElf)?;
    // e_ident: magic, EI_CLASS 2 (64-bit), EI_DATA 1 (little-endian); e_machine at 18.
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err(ZipProblem::NotElf);
    }
    let found = u16::from_le_bytes([header[18], header[19]]);
    if found != arch.elf_machine() {
        return Err(ZipProblem::WrongMachine {
            expected: arch.elf_machine(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{Cursor, Write};

    use super::*;

    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, path, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn the_bundle_holds_a_two_member_workspace() {
        let sources = Sources::bundled().unwrap();
        let manifest = std::str::from_utf8(sources.file("Cargo.toml").unwrap()).unwrap();
        let manifest: toml::Table = toml::from_str(manifest).unwrap();
        assert_eq!(
            manifest["workspace"]["members"],
            toml::Value::Array(vec!["core".into(), "handler".into()])
        );
        for needed in [
            "Cargo.lock",
            "core/Cargo.toml",
            "handler/Cargo.toml",
            "handler/src/bin/bootstrap.rs",
        ] {
            assert!(sources.file(needed).is_some(), "{needed} is not bundled");
        }
        assert!(
            !sources
                .files
                .iter()
                .any(|(p, _)| p.starts_with("cli/") || p.contains("/tests/")),
            "only what the Lambda build needs is bundled"
        );
        assert_eq!(sources.toolchain().as_deref(), Some("1.95.0"));
    }

    #[test]
    fn the_digest_follows_paths_and_contents_not_archive_order() {
        let digest =
            |files: &[(&str, &[u8])]| Sources::from_tar_gz(&tar_gz(files)).unwrap().digest();
        let base = digest(&[("a.rs", b"fn a() {}"), ("b.rs", b"fn b() {}")]);
        assert_eq!(
            base,
            digest(&[("b.rs", b"fn b() {}"), ("a.rs", b"fn a() {}")])
        );
        assert_ne!(
            base,
            digest(&[("a.rs", b"fn a() {} "), ("b.rs", b"fn b() {}")])
        );
        assert_ne!(
            base,
            digest(&[("a.rs", b"fn a() {}"), ("c.rs", b"fn b() {}")])
        );
        // Lengths are hashed, so moving bytes between a name and its contents shows.
        assert_ne!(digest(&[("ab", b"c")]), digest(&[("a", b"bc")]));
    }

    #[test]
    fn the_input_hash_changes_with_each_input() {
        let rustc = "rustc 1.95.0 (abc 2026-01-01)\nhost: x86_64-unknown-linux-gnu\n";
        let base = input_hash("s1", Arch::Arm64, rustc);
        assert_eq!(base.len(), 64);
        assert_eq!(base, input_hash("s1", Arch::Arm64, &format!("{rustc}\n")));
        assert_ne!(base, input_hash("s2", Arch::Arm64, rustc));
        assert_ne!(base, input_hash("s1", Arch::X86_64, rustc));
        assert_ne!(base, input_hash("s1", Arch::Arm64, "rustc 1.96.0"));
    }

    #[test]
    fn unpacking_writes_every_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources::from_tar_gz(&tar_gz(&[
            ("Cargo.toml", b"[workspace]"),
            ("handler/src/lib.rs", b"//! x"),
        ]))
        .unwrap();
        let src = dir.path().join("src");
        sources.unpack(&src).unwrap();
        assert_eq!(
            std::fs::read(src.join("handler/src/lib.rs")).unwrap(),
            b"//! x"
        );
        // A second run leaves the tree alone.
        std::fs::write(src.join("marker"), b"").unwrap();
        sources.unpack(&src).unwrap();
        assert!(src.join("marker").is_file());
    }

    #[test]
    fn a_checkout_is_found_from_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("handler/src")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::write(
            root.join("handler/Cargo.toml"),
            "[package]\nname = \"imgflex-handler\"\n",
        )
        .unwrap();
        assert_eq!(
            find_checkout(&root.join("handler/src")).as_deref(),
            Some(root)
        );
        std::fs::write(
            root.join("handler/Cargo.toml"),
            "[package]\nname = \"other\"\n",
        )
        .unwrap();
        assert_eq!(find_checkout(&root.join("handler/src")), None);
    }

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

    fn zip_with(name: &str, mode: u32, contents: &[u8]) -> Cursor<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        writer.start_file(name, options).unwrap();
        writer.write_all(contents).unwrap();
        let mut cursor = writer.finish().unwrap();
        cursor.set_position(0);
        cursor
    }

    fn elf(machine: u16) -> Vec<u8> {
        let mut header = b"\x7fELF\x02\x01\x01\x00".to_vec();
        header.resize(18, 0);
        header.extend(machine.to_le_bytes());
        header.resize(64, 0);
        header
    }

    #[test]
    fn a_lambda_zip_has_an_executable_bootstrap_elf_for_its_arch() {
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, &elf(0xB7)), Arch::Arm64),
            Ok(())
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, &elf(0x3E)), Arch::X86_64),
            Ok(())
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, &elf(0x3E)), Arch::Arm64),
            Err(ZipProblem::WrongMachine {
                expected: 0xB7,
                found: 0x3E
            })
        );
        assert_eq!(
            inspect_zip(
                zip_with("bootstrap/bootstrap", 0o755, &elf(0xB7)),
                Arch::Arm64
            ),
            Err(ZipProblem::NoBootstrap)
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o644, &elf(0xB7)), Arch::Arm64),
            Err(ZipProblem::NotExecutable)
        );
        assert_eq!(
            inspect_zip(
                zip_with("bootstrap", 0o755, b"#!/bin/sh\necho hi\n"),
                Arch::Arm64
            ),
            Err(ZipProblem::NotElf)
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, b"\x7fELF"), Arch::Arm64),
            Err(ZipProblem::NotElf)
        );
        assert!(matches!(
            inspect_zip(Cursor::new(b"not a zip".to_vec()), Arch::Arm64),
            Err(ZipProblem::Unreadable(_))
        ));
    }
}
