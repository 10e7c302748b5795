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

#[test]
fn help_reads_as_the_readme_does() {
    let (code, top, _) = run(imgflex().arg("--help"));
    assert_eq!(code, 0);
    // `dev` first, as the README starts with it; the AWS flags under their own heading.
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(commands.first(), Some(&"dev"), "{top}");
    assert!(top.contains("Global options:"), "{top}");
    // Offline commands keep their own flags apart from the global ones.
    let (_, url, _) = run(imgflex().args(["url", "--help"]));
    let (own, global) = url.split_once("Global options:").unwrap();
    assert!(own.contains("--accept"), "{url}");
    assert!(
        global.contains("--region") && !own.contains("--region"),
        "{url}"
    );
    // Examples keep their lines.
    assert!(
        url.lines()
            .any(|l| l.trim() == "imgflex url photos/cat.jpg 'w=400&h=300&fm=webp'"),
        "{url}"
    );
    let (_, bench, _) = run(imgflex().args(["bench", "--help"]));
    assert!(!bench.contains("../shared"), "{bench}");
    assert_eq!(bench.matches("[default: .]").count(), 1, "{bench}");
}

#[test]
fn completions_and_the_man_page_come_from_the_parser() {
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef imgflex"),
        ("fish", "complete -c imgflex"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, script, _) = run(imgflex().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}");
        assert!(script.contains(needle), "{shell}: {script}");
        // Every command is completed, the newest too.
        assert!(
            script.contains("deploy") && script.contains("completions"),
            "{shell}"
        );
    }
    let (code, _, stderr) = run(imgflex().args(["completions", "tcsh"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, page, _) = run(imgflex().arg("man"));
    assert_eq!(code, 0);
    assert!(
        page.starts_with(".ie") || page.contains(".TH imgflex"),
        "{page}"
    );
    assert!(
        page.contains("deploy") && page.contains("destroy"),
        "{page}"
    );
}
