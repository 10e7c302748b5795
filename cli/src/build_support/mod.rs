//! The resize Lambda's zip, which `build` and `deploy` both need, one job a module: building
//! or reusing it (`handler_zip`), the handler's sources bundled into this binary and the hash
//! of a build's inputs (`sources`), the tools the cross build needs and how to install each
//! (`tools`), and the inspection of the zip it produces (`packaging`).

mod handler_zip;
mod packaging;
mod sources;
mod tools;

pub use handler_zip::ensure;
pub use packaging::inspect_zip;
pub use sources::{Sources, find_checkout, hex, input_hash, sha256_file};
pub use tools::{Missing, Tools, inherited_crate_vars, missing_error};

use crate::cli::Arch;

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

    /// The handler's cargo features for this target: on x86_64, the AVIF encoder's NASM
    /// assembly (`nasm` is checked before the build); arm64's assembly is always built.
    pub fn cargo_features(self) -> &'static [&'static str] {
        match self {
            Arch::Arm64 => &[],
            Arch::X86_64 => &["--features", "nasm"],
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

/// Lambda reports CodeSha256 as base64; imgflex names zips by the hex of the same digest.
pub fn base64_to_hex(b64: &str) -> Option<String> {
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).ok()?;
    Some(hex(&bytes))
}

/// The newest zip `imgflex build` left for `arch` in this checkout or the user cache.
pub fn newest_local_zip(arch: &str) -> Option<std::path::PathBuf> {
    let mut dirs = Vec::new();
    if let Some(checkout) = std::env::current_dir()
        .ok()
        .and_then(|cwd| find_checkout(&cwd))
    {
        dirs.push(checkout.join("target/imgflex/handler"));
    }
    if let Some(cache) = dirs::cache_dir() {
        dirs.push(cache.join("imgflex/handler"));
    }
    let prefix = format!("imgflex-handler-{arch}-");
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".zip")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}
