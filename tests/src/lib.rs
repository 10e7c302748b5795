//! Shared helpers for imgflex's end-to-end tests: finding the real `imgflex` binary and the
//! fixtures every implementation of the grammar is held to.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the directory holding the top `Cargo.toml`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
}

/// `tests/fixtures/…`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}

/// The `imgflex` binary, built once per test process with the same profile as the tests.
///
/// Cargo only hands a package the paths of its own binaries (`CARGO_BIN_EXE_*`), and the CLI
/// is another package, so we ask cargo to build it and tell us where it put it (what the
/// `escargot` crate does, in a dozen lines). A no-op build takes well under a second.
pub fn imgflex_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "imgflex",
                "--bin",
                "imgflex",
                "--message-format=json",
            ])
            .output()
            .expect("run cargo build for the imgflex binary");
        assert!(
            out.status.success(),
            "cargo build -p imgflex failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| {
                msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "imgflex"
            })
            .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no imgflex executable")
    })
}

/// A command running the real `imgflex` binary, with no AWS settings leaking in from the
/// developer's environment.
pub fn imgflex() -> Command {
    let mut cmd = Command::new(imgflex_bin());
    for var in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "IMGFLEX_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}
