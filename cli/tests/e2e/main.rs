//! imgflex end to end: the real binary, run as a user runs it, against a moto server,
//! `imgflex dev` on loopback, cargo-lambda, cfn-lint, node and headless Chromium.
//!
//! The binary is the one cargo built for these tests (`CARGO_BIN_EXE_imgflex`), never a
//! nested `cargo build`. One test binary for all of them, so the suite links once.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

mod build;
mod day_two;
mod deploy;
mod dev;
mod edge;
mod ops;
mod signing;
mod stack_config;
mod templates;
mod transform;
mod url;
mod url_vectors;
mod version;

mod support {
    //! The shared helpers, and the binary under test.

    use std::path::Path;
    use std::process::Command;

    pub use imgflex_tests::*;

    /// The `imgflex` binary cargo built alongside these tests.
    pub const IMGFLEX: &str = env!("CARGO_BIN_EXE_imgflex");

    /// A command running the binary under test with a clean environment.
    pub fn imgflex() -> Command {
        imgflex_at(Path::new(IMGFLEX))
    }

    /// The binary against a moto server at `endpoint`, with `home` as HOME and working dir.
    pub fn aws_cli(endpoint: &str, home: &Path) -> Command {
        with_aws(imgflex(), endpoint, home)
    }
}
