//! Packs the resize Lambda's sources into the binary for `imgflex build`: `core/` and
//! `handler/`, `Cargo.lock`, `rust-toolchain.toml` and a workspace manifest with just those
//! two members, as one deterministic `$OUT_DIR/handler-src.tar.gz`. An installed `imgflex`
//! then builds the handler of its own version (the one its templates expect) with no
//! checkout around.
//!
//! Left out of each crate: `target/`, dotfiles, and the `tests/`, `benches/` and `examples/`
//! directories (the Lambda build needs none of them, and test fixtures can be large).

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

const CRATES: [&str; 2] = ["core", "handler"];
const NOT_BUILT: [&str; 4] = ["tests", "benches", "examples", "target"];

fn main() -> Result<(), Box<dyn Error>> {
    let cli_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = cli_dir.parent().ok_or("cli/ has no parent directory")?;
    let bundle = PathBuf::from(std::env::var("OUT_DIR")?).join("handler-src.tar.gz");
    for input in [
        "core",
        "handler",
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
    ] {
        println!("cargo::rerun-if-changed=../{input}");
    }

    // A copy of this crate without its workspace (a registry package): `imgflex build`
    // says it has nothing to build.
    if !root.join("handler/Cargo.toml").is_file() {
        println!("cargo::warning=no handler sources next to cli/: `imgflex build` will not work");
        fs::write(&bundle, b"")?;
        return Ok(());
    }

    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("Cargo.toml".into(), workspace_manifest(root)?.into_bytes()),
        ("Cargo.lock".into(), fs::read(root.join("Cargo.lock"))?),
        (
            "rust-toolchain.toml".into(),
            fs::read(root.join("rust-toolchain.toml"))?,
        ),
    ];
    for krate in CRATES {
        collect(root, &root.join(krate), true, &mut files)?;
    }
    files.sort();

    let mut tar = tar::Builder::new(GzEncoder::new(
        fs::File::create(&bundle)?,
        Compression::best(),
    ));
    for (path, bytes) in &files {
        // Fixed metadata, so the same sources give the same bytes.
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, path, bytes.as_slice())?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

/// The root manifest with `members` cut down to core and handler; its shared dependency
/// versions, lints and profiles stay as they are.
fn workspace_manifest(root: &Path) -> Result<String, Box<dyn Error>> {
    let mut manifest: toml::Table = toml::from_str(&fs::read_to_string(root.join("Cargo.toml"))?)?;
    let workspace = manifest
        .get_mut("workspace")
        .and_then(toml::Value::as_table_mut)
        .ok_or("the root Cargo.toml has no [workspace]")?;
    workspace.insert(
        "members".into(),
        toml::Value::Array(CRATES.iter().map(|c| (*c).into()).collect()),
    );
    workspace.remove("default-members");
    // The test helpers crate is not bundled, and only the (stripped) dev-dependencies used it.
    if let Some(deps) = workspace
        .get_mut("dependencies")
        .and_then(toml::Value::as_table_mut)
    {
        deps.remove("imgflex-tests");
    }
    Ok(format!(
        "# Written by imgflex's build.rs: the workspace manifest, with only core and handler.\n{}",
        toml::to_string(&manifest)?
    ))
}

/// A crate manifest without its `[dev-dependencies]`: the tests are not bundled, and their
/// helpers (`imgflex-tests`) live outside the two bundled crates.
fn without_dev_dependencies(manifest: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut table: toml::Table = toml::from_str(std::str::from_utf8(manifest)?)?;
    table.remove("dev-dependencies");
    Ok(toml::to_string(&table)?.into_bytes())
}

fn collect(
    root: &Path,
    dir: &Path,
    crate_top: bool,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || (crate_top && NOT_BUILT.contains(&name.as_ref())) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, false, files)?;
        } else if path.is_file() {
            let relative = path.strip_prefix(root)?;
            let relative = relative
                .to_str()
                .ok_or_else(|| format!("non-UTF-8 path `{}`", relative.display()))?
                .replace('\\', "/");
            let bytes = fs::read(&path)?;
            let bytes = if crate_top && name == "Cargo.toml" {
                without_dev_dependencies(&bytes)?
            } else {
                bytes
            };
            files.push((relative, bytes));
        }
    }
    Ok(())
}
