//! Which codecs of this build run with their SIMD or assembly: a build without them works,
//! several times slower, and must say so (`imgflex --version`, `bench`, `dev`) rather than
//! pass for a fast one.
//!
//! Two can be missing. libjpeg-turbo's x86_64 SIMD is NASM source: mozjpeg-sys builds
//! without it, with only a cargo warning, when `nasm` is absent, and cargo keeps that build
//! after `nasm` is installed. rav1e's and rav1d's x86_64 assembly is NASM too, behind the
//! `nasm` feature (handler/Cargo.toml). On arm64 libjpeg-turbo's and rav1e's are GNU
//! assembler and always built; rav1d's cannot be built from its published crate, so AV1
//! decodes there in Rust alone whatever the build (nothing a user can turn on).
#![allow(unsafe_code)]

use std::fmt;

unsafe extern "C" {
    // libjpeg-turbo's own answer (jsimd.c, or jsimd_none.c in a build without SIMD): whether
    // the integer IDCT, the decoder's main cost, runs in SIMD on this CPU. Linked from the
    // static libjpeg that mozjpeg-sys builds.
    fn jsimd_can_idct_islow() -> std::ffi::c_int;
}

/// What this build's codecs run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Acceleration {
    /// libjpeg-turbo (JPEG decode and encode) with its SIMD.
    pub jpeg_simd: bool,
    /// rav1e (AVIF encode) with its assembly, and on x86_64 rav1d (AVIF decode) with its.
    pub avif_asm: bool,
}

impl Acceleration {
    /// Asks the codecs themselves (libjpeg-turbo at run time: it also checks the CPU).
    pub fn of_this_build() -> Acceleration {
        // SAFETY: a C function with no arguments, the one libjpeg calls itself before every
        // IDCT; it reads the CPU flags once into a static (mozjpeg-sys builds it with
        // NO_GETENV, so no environment variable can change the answer).
        let jpeg_simd = unsafe { jsimd_can_idct_islow() } != 0;
        Acceleration {
            jpeg_simd,
            avif_asm: cfg!(any(target_arch = "aarch64", feature = "nasm")),
        }
    }

    /// What is missing and how to get it, one line each; empty when complete.
    pub fn missing(self) -> Vec<&'static str> {
        let mut lines = Vec::new();
        if !self.jpeg_simd {
            lines.push(
                "JPEG runs without SIMD (mozjpeg-sys was built without `nasm`): full-size \
                 decodes take up to twice as long; install nasm (`apt-get install nasm`), then \
                 `cargo clean -p mozjpeg-sys` and build again",
            );
        }
        if !self.avif_asm {
            lines.push(
                "AVIF encodes and decodes without assembly (an x86_64 build without the \
                 `nasm` feature): slower; with nasm installed, build with `--features nasm`",
            );
        }
        lines
    }
}

impl fmt::Display for Acceleration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = |on: bool| if on { "yes" } else { "NO" };
        write!(
            f,
            "jpeg simd: {}, avif asm: {}",
            said(self.jpeg_simd),
            said(self.avif_asm)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parts_are_named_with_the_fix() {
        let none = Acceleration {
            jpeg_simd: false,
            avif_asm: false,
        };
        let lines = none.missing();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("cargo clean -p mozjpeg-sys"));
        assert!(lines[1].contains("--features nasm"));
        assert_eq!(none.to_string(), "jpeg simd: NO, avif asm: NO");
        let all = Acceleration {
            jpeg_simd: true,
            avif_asm: true,
        };
        assert!(all.missing().is_empty());
    }
}
