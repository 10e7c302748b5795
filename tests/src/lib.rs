//! Shared helpers for imgflex's end-to-end tests (`cli/tests/e2e`, `handler/tests/lambda.rs`):
//! the fixtures, the pinned outside tools, a moto server, loopback ports without races.
//!
//! The binaries under test come from cargo itself (`CARGO_BIN_EXE_*` in the test that runs
//! them), never from a nested `cargo build`: this crate only turns such a path into a
//! command with a clean environment.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// A real image of the committed test corpus (`tests/fixtures/corpus`; its README says what
/// each one covers and where it comes from).
pub fn test_image(name: &str) -> PathBuf {
    let path = fixture("corpus").join(name);
    assert!(path.is_file(), "no test image `{}`", path.display());
    path
}

/// A command running the `imgflex` binary at `bin` (the caller's `CARGO_BIN_EXE_imgflex`),
/// with no AWS settings or config leaking in from the developer's environment.
pub fn imgflex_at(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for var in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "IMGFLEX_CONFIG",
        "IMGFLEX_KEYRING",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// `cmd` with fake credentials and an endpoint (a moto server), isolated from the developer's
/// own AWS files and from the instance metadata service; `home` is its HOME and working
/// directory. Polling (stack events, invalidations) runs every few milliseconds: moto
/// answers at once, and the CLI's seconds-long default is for AWS.
pub fn with_aws(mut cmd: Command, endpoint: &str, home: &Path) -> Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("IMGFLEX_POLL_MS", "20")
        .env("HOME", home)
        .current_dir(home)
        .stdin(Stdio::null())
        .args(["--endpoint-url", endpoint]);
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

/// A moto server on a loopback port it picked itself (`tests/moto/server.py`), stopped when
/// dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    // Held open: the server stops when it closes, so it never outlives this test process.
    stdin: Option<ChildStdin>,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/moto/server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/moto/server.py");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the moto server's port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            panic!("tests/moto/server.py printed {line:?}, not a port (is moto installed? run `bash .ci/setup`)")
        });
        Moto {
            child,
            stdin,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Moto {
    /// The server's process id (a test pauses it to play a hung endpoint).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `start` with a loopback port nobody listens on, for a server that cannot bind port 0
/// and say which port it got. A port picked and handed on is free only until someone binds
/// it, so picking is serialised within the test process until `start` returns (which must be
/// once its server listens): two tests can never be handed the same port. Servers that can
/// bind port 0 themselves (moto via `Moto`, `imgflex dev --port 0`) should.
pub fn with_free_port<T>(start: impl FnOnce(u16) -> T) -> T {
    static PICKING: Mutex<()> = Mutex::new(());
    let _picking = PICKING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port");
    start(port)
}

/// Waits until something accepts connections on the loopback `port`, or panics naming `what`.
pub fn wait_listening(port: u16, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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
