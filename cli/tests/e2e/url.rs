//! `imgflex url`, run as a user runs it: the real binary, its stdout, stderr and exit code.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use predicates::prelude::*;

fn imgflex() -> Command {
    let mut cmd = Command::new(crate::support::IMGFLEX);
    cmd.env("NO_COLOR", "1").env_remove("IMGFLEX_CONFIG");
    cmd
}

const KEY: &str = "/_v/photos/cat.jpg/w400_h300_cover_center_q75_bgffffff_e0.webp\n";

#[test]
fn two_spellings_print_the_same_key() {
    imgflex()
        .args([
            "url",
            "photos/cat.jpg",
            "width=400&fit=cover&h=300&format=webp",
        ])
        .assert()
        .success()
        .stdout(KEY)
        .stderr("");
    imgflex()
        .args(["url", "photos/cat.jpg", "h=300&w=400&fm=webp"])
        .assert()
        .success()
        .stdout(KEY);
    imgflex()
        .args(["url", "/photos/cat.jpg/w_400,h_300/cat.webp"])
        .assert()
        .success()
        .stdout(KEY);
    imgflex()
        .args([
            "url",
            "https://d111.cloudfront.net/photos/cat.jpg?h=300&w=400&fm=webp",
        ])
        .assert()
        .success()
        .stdout(KEY);
}

#[test]
fn unknown_parameter_exits_1_naming_it() {
    imgflex()
        .args(["url", "photos/cat.jpg", "w=400&utm_source=x"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("unknown parameter `utm_source`"))
        .stderr(predicate::str::contains("400"))
        .stderr(predicate::str::contains("hint:"));
}

#[test]
fn json_output_has_the_resolved_spec() {
    let out = imgflex()
        .args([
            "url",
            "photos/cat.jpg",
            "w=400&dpr=2",
            "--accept",
            "image/webp",
            "--output",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["route"], "variant");
    assert_eq!(
        v["key"],
        "_v/photos/cat.jpg/w800_inside_center_q75_bgffffff_e0_auto.webp"
    );
    assert_eq!(v["spec"]["width"], 800);
    assert_eq!(v["spec"]["format"], "webp");
    assert_eq!(v["vary_accept"], true);
    assert_eq!(v["content_type"], "image/webp");
}

#[test]
fn json_refusal_is_data_and_still_exits_1() {
    let out = imgflex()
        .args(["--output", "json", "url", "photos/cat.jpg", "w=5000"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["status"], 400);
    assert_eq!(v["param"], "w");
}

#[test]
fn plain_original() {
    imgflex()
        .args(["url", "photos/cat.jpg"])
        .assert()
        .success()
        .stdout("/photos/cat.jpg\n");
    let out = imgflex()
        .args(["url", "docs/a b.pdf", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["route"], "original");
    assert_eq!(v["uri"], "/docs/a%20b.pdf");
    assert_eq!(v["key"], "docs/a b.pdf");
}

#[test]
fn policy_from_config_file_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imgflex.toml"), "widths = [320, 640]\n").unwrap();
    // ./imgflex.toml is picked up when present…
    imgflex()
        .current_dir(dir.path())
        .args(["url", "a.jpg", "w=300&fm=webp"])
        .assert()
        .success()
        .stdout("/_v/a.jpg/w320_inside_center_q75_bgffffff_e0.webp\n");
    // …and --config names another one.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[presets.card]\nw = 800\nh = 600\n").unwrap();
    imgflex()
        .args(["url", "a.jpg", "p=card&fm=webp", "--config"])
        .arg(&other)
        .assert()
        .success()
        .stdout("/_v/a.jpg/w800_h600_cover_center_q75_bgffffff_e0.webp\n");
}

#[test]
fn malformed_policy_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgflex.toml");
    std::fs::write(&path, "max_width = 4096\nmax_height = \"big\"\n").unwrap();
    imgflex()
        .args(["url", "a.jpg", "w=1", "--config"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("imgflex.toml:2"))
        .stderr(predicate::str::contains("hint:"));
}

#[test]
fn missing_config_file_is_a_clear_error() {
    imgflex()
        .args([
            "url",
            "a.jpg",
            "w=1",
            "--config",
            "/nonexistent/imgflex.toml",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot read `/nonexistent/imgflex.toml`",
        ));
}

#[test]
fn usage_errors_exit_2() {
    imgflex().args(["url"]).assert().code(2);
    imgflex()
        .args(["url", "a.jpg", "--output", "yaml"])
        .assert()
        .code(2);
    imgflex().args(["frobnicate"]).assert().code(2);
    imgflex()
        .args(["url", "a.jpg", "-q", "-v"])
        .assert()
        .code(2);
}

#[test]
fn help_lists_only_real_subcommands_and_the_global_flags() {
    let out = imgflex()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    for flag in [
        "--region",
        "--profile",
        "--endpoint-url",
        "--output",
        "--verbose",
        "--quiet",
        "--config",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("url"));
}

#[test]
fn a_variant_uri_or_viewer_control_characters_are_explained_not_echoed() {
    // A variant's own URI is refused at the edge; the hint says what to ask for instead.
    imgflex()
        .args([
            "url",
            "/_v/photos/cat.jpg/w400_h300_cover_center_q75_bgffffff_e0.webp",
        ])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("reserved for variants"))
        .stderr(predicate::str::contains("is where variants live"));
    // CR/LF in a name: shown escaped, never written raw to the terminal.
    imgflex()
        .args(["url", "photos/cat.jpg", "%0D%0ASet-Cookie:%20a=1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "unknown parameter `\\r\\nSet-Cookie: a`",
        ))
        .stderr(predicate::str::contains("\r").not());
}
