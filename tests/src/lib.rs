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
        let mut cmd = Command::new(cargo);
        scrub_cargo_env(&mut cmd);
        let out = cmd
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

/// A tool the test suite needs from outside Rust: `.venv/bin/NAME` (what `.ci/setup`
/// installs, pinned) if present, else `NAME` on `PATH`. Panics with the install command
/// when neither exists: a missing tool is a failed test, not a skipped one.
pub fn tool(name: &str) -> PathBuf {
    let venv = workspace_root().join(".venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!("`{name}` is not installed; run `bash .ci/setup` (installs the pinned test tools into .venv)")
    })
}

/// A moto server on a free loopback port, killed when dropped.
#[derive(Debug)]
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not listen on {port} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody is listening on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// The python interpreter of `.venv` (which has boto3 with moto), else `python3`.
pub fn python() -> PathBuf {
    let venv = workspace_root().join(".venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// The binary with fake credentials and an endpoint (a moto server), isolated from the
/// developer's own AWS files and from the instance metadata service; `home` is its HOME and
/// working directory.
pub fn aws_cli(endpoint: &str, home: &Path) -> Command {
    let mut cmd = imgflex();
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .current_dir(home)
        .stdin(std::process::Stdio::null())
        .args(["--endpoint-url", endpoint]);
    cmd
}

/// Runs a command to its end: exit code, stdout, stderr.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run the command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs with `--output json`, which must succeed; the JSON and stderr.
pub fn json_ok(cmd: &mut Command) -> (serde_json::Value, String) {
    let (code, stdout, stderr) = run(cmd.args(["--output", "json"]));
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    (
        serde_json::from_str(&stdout).expect("stdout is JSON"),
        stderr,
    )
}

/// tests/moto/aws_state.py: arranges what moto cannot (DESIGN §7) and reads its state.
pub fn aws_state(endpoint: &str, region: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(workspace_root().join("tests/moto/aws_state.py"))
        .args(["--endpoint", endpoint, "--region", region])
        .args(args)
        .output()
        .expect("run aws_state.py");
    assert!(
        out.status.success(),
        "aws_state.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("aws_state.py prints JSON")
}

/// Removes the package variables `cargo test` hands a test process (CARGO_MANIFEST_DIR,
/// CARGO_PKG_*, …) from a command that runs cargo. Passed on, cargo takes them for a changed
/// environment and rebuilds every crate that reads one (ring, then the whole TLS and AWS SDK
/// chain): minutes, on every run that alternates with a plain build.
pub fn scrub_cargo_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            cmd.env_remove(name.as_ref());
        }
    }
}
