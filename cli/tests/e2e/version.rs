//! `imgflex --version` says whether the codecs run with their SIMD, so a build made without
//! `nasm` cannot pass for a fast one.

use crate::support::{imgflex, run};

#[test]
fn version_says_whether_the_codecs_have_their_simd() {
    let (code, stdout, _) = run(imgflex().arg("--version"));
    assert_eq!(code, 0);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(concat!("imgflex ", env!("CARGO_PKG_VERSION")))
    );
    let codecs = lines.next().unwrap();
    let said = |part: &str| {
        codecs
            .split(", ")
            .find_map(|p| p.trim_start_matches("codecs: ").strip_prefix(part))
            .map(str::to_string)
    };
    let (jpeg, avif) = (said("jpeg simd: "), said("avif asm: "));
    assert!(
        matches!(jpeg.as_deref(), Some("yes" | "NO"))
            && matches!(avif.as_deref(), Some("yes" | "NO")),
        "{stdout}"
    );
    // Whatever is missing is named with its fix, one warning line each.
    let warnings: Vec<&str> = lines.filter(|l| l.starts_with("warning: ")).collect();
    let missing =
        usize::from(jpeg.as_deref() == Some("NO")) + usize::from(avif.as_deref() == Some("NO"));
    assert_eq!(warnings.len(), missing, "{stdout}");
    if jpeg.as_deref() == Some("NO") {
        assert!(stdout.contains("`cargo clean -p mozjpeg-sys`"), "{stdout}");
    }
    if avif.as_deref() == Some("NO") {
        assert!(stdout.contains("--features nasm"), "{stdout}");
    }
    // `-V` is the version alone, for scripts.
    let (_, short, _) = run(imgflex().arg("-V"));
    assert_eq!(short.trim(), concat!("imgflex ", env!("CARGO_PKG_VERSION")));
}
