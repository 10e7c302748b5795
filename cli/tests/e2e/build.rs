//! `imgflex build`, the real binary and the real cross build: an arm64 zip whose `bootstrap`
//! is an aarch64 ELF at the zip's root, reused on a second run; and the missing-tool message
//! before any build starts.
//!
//! The first build on a machine is a release cross-build of the handler (minutes); compiled
//! dependencies stay in the user cache directory, so later runs take seconds.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{imgflex, python, tool, workspace_root};
use serde_json::Value;

/// `PATH` with `dir` in front.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest)))
        .unwrap()
}

fn build(out_dir: &Path) -> Value {
    let cargo_lambda = tool("cargo-lambda");
    let out: Output = imgflex()
        .current_dir(workspace_root())
        .env("PATH", path_with(cargo_lambda.parent().unwrap()))
        .args(["build", "--output", "json", "--out"])
        .arg(out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imgflex build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What Python's zipfile (not our own reader) sees in the zip.
fn inspect(zip: &Path) -> Value {
    const SCRIPT: &str = r#"
import hashlib, json, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    info = z.getinfo("bootstrap")
    head = z.open(info).read(20)
    names = z.namelist()
print(json.dumps({
    "names": names,
    "mode": info.external_attr >> 16,
    "magic": head[:4].hex(),
    "class": head[4],
    "machine": int.from_bytes(head[18:20], "little"),
    "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
}))
"#;
    let out = Command::new(python())
        .args(["-c", SCRIPT])
        .arg(zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot read `{}` as a zip:\n{}",
        zip.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn build_makes_an_arm64_lambda_zip_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();

    let first = build(dir.path());
    assert_eq!(first["outcome"], "built", "{first:#}");
    assert_eq!(first["arch"], "arm64");
    let zip = PathBuf::from(first["zip"].as_str().unwrap());
    assert_eq!(zip.parent(), Some(dir.path()), "the zip goes to --out");

    let facts = inspect(&zip);
    assert_eq!(
        facts["names"],
        serde_json::json!(["bootstrap"]),
        "{facts:#}"
    );
    assert_eq!(facts["magic"], "7f454c46", "bootstrap is an ELF");
    assert_eq!(facts["class"], 2, "a 64-bit ELF");
    assert_eq!(facts["machine"], 0xB7, "e_machine is EM_AARCH64");
    assert_ne!(
        facts["mode"].as_u64().unwrap() & 0o111,
        0,
        "bootstrap is executable"
    );
    assert_eq!(facts["sha256"], first["sha256"]);
    let bytes = std::fs::metadata(&zip).unwrap().len();
    assert_eq!(first["bytes"], bytes);
    assert!(
        bytes < 8_000_000,
        "the zip is {bytes} bytes, over issue 7's 8 MB target"
    );

    let second = build(dir.path());
    assert_eq!(second["outcome"], "reused", "{second:#}");
    assert_eq!(second["zip"], first["zip"]);
    assert_eq!(second["sha256"], first["sha256"]);
    assert_eq!(second["inputs"], first["inputs"]);
}

#[test]
fn a_missing_cargo_lambda_is_named_with_its_install_command_before_any_build() {
    // A PATH with rustc and nothing else, run outside any checkout (so no `.venv` either).
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(tool("rustc"), bin.join("rustc")).unwrap();

    let out = imgflex()
        .current_dir(dir.path())
        .env("PATH", &bin)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env_remove("CARGO_TARGET_DIR")
        .args(["build", "--out"])
        .arg(dir.path().join("zips"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("error: cannot build the handler: `cargo-lambda` is not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: run `pip install cargo-lambda=="),
        "{stderr}"
    );
    assert!(!dir.path().join("zips").exists(), "nothing was built");
}
