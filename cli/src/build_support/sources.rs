//! The handler's sources, bundled into this binary by `build.rs`: unpacking them for the
//! cross build, their digest, and the hash of a build's inputs that names its zip.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cli::Arch;
use crate::error::CliError;

/// `core/`, `handler/`, `Cargo.lock`, `rust-toolchain.toml` and a two-member workspace
/// manifest, as a `.tar.gz`; empty when this binary was built outside the workspace.
const BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/handler-src.tar.gz"));

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

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
}
