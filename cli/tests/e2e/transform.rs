//! `imgflex transform` and `imgflex bench`, run as a user runs them.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::fixture;

fn imgflex() -> Command {
    let mut cmd = Command::new(crate::support::IMGFLEX);
    cmd.env("NO_COLOR", "1").env_remove("IMGFLEX_CONFIG");
    cmd
}

#[test]
fn transform_writes_the_variant_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("thumb.webp");
    let json = imgflex()
        .args(["--output", "json", "transform"])
        .arg(fixture("golden/rocket-w300.sharp.jpg"))
        .args(["w=120&h=120&fm=webp", "-o"])
        .arg(&out)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(120), Some(120))
    );
    assert_eq!(v["format"], "webp");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(v["bytes"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(&bytes[8..12], b"WEBP");
    assert!(
        v["key"]
            .as_str()
            .unwrap()
            .ends_with("w120_h120_cover_center_q75_bgffffff_e0.webp")
    );
}

#[test]
fn transform_reads_an_avif_original_as_displayed() {
    // Stored 240x160, with `irot` and `imir` that amount to a transpose: 160x240 displayed,
    // so `w=80` is 80x120.
    let json = imgflex()
        .args(["--output", "json", "transform"])
        .arg(fixture("avif/rocket-240x160-irot1-imir0.avif"))
        .args(["w=80&fm=webp", "-o", "-"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(&json.stdout[8..12], b"WEBP");
    // The report is on stderr, after any warning lines.
    let stderr = String::from_utf8(json.stderr).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stderr[stderr.find('{').unwrap()..]).unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(80), Some(120))
    );
}

#[test]
fn transform_to_stdout_refuses_the_input_and_warns_on_a_misleading_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rocket.jpg");
    std::fs::copy(fixture("golden/rocket-w300.sharp.jpg"), &input).unwrap();
    let original = std::fs::read(&input).unwrap();

    // `-o -`: the image on stdout, the report on stderr.
    let out = imgflex()
        .arg("transform")
        .arg(&input)
        .args(["w=64&fm=webp", "-o", "-"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(&out.stdout[..4], b"RIFF");
    assert_eq!(&out.stdout[8..12], b"WEBP");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrote `-`: 64x"), "{stderr}");

    // Onto the input: refused, the original untouched (also through another spelling).
    for spelling in [input.clone(), dir.path().join(".").join("rocket.jpg")] {
        imgflex()
            .arg("transform")
            .arg(&input)
            .args(["w=64", "-o"])
            .arg(&spelling)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::contains("is the input file"));
    }
    assert_eq!(std::fs::read(&input).unwrap(), original);

    // WebP bytes into `.jpg`: written, with a warning.
    let misnamed = dir.path().join("out.jpg");
    imgflex()
        .arg("transform")
        .arg(&input)
        .args(["w=64&fm=webp", "-o"])
        .arg(&misnamed)
        .assert()
        .success()
        .stderr(predicate::str::contains("extension says jpeg"));
    assert_eq!(&std::fs::read(&misnamed).unwrap()[8..12], b"WEBP");

    // With --output json, a failure is one JSON object on stdout too.
    let out = imgflex()
        .args(["--output", "json", "transform"])
        .arg(dir.path().join("missing.jpg"))
        .args(["w=64", "-o"])
        .arg(dir.path().join("x.jpg"))
        .assert()
        .code(1)
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot read"),
        "{v}"
    );
}

#[test]
fn transform_with_accept_negotiates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.img");
    imgflex()
        .arg("transform")
        .arg(fixture("golden/astronaut-w128.sharp.png"))
        .args(["w=64", "--accept", "image/webp", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("64x64 webp"));
}

#[test]
fn bad_input_exits_1_with_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jpg");
    // A progressive photo cut in its last AC refinement scans, which a 1/2-scale decode
    // (w=1000 of 2560) does not read: refused all the same (in its own folder: this one must
    // stay empty).
    let inputs = tempfile::tempdir().unwrap();
    let cut_progressive = inputs.path().join("cut-progressive.jpg");
    let whole = std::fs::read(fixture("corpus/cups-2560x1600.jpg")).unwrap();
    std::fs::write(&cut_progressive, &whole[..whole.len() * 9 / 10]).unwrap();
    let cases: [(PathBuf, &str, &str); 5] = [
        (
            fixture("hostile/truncated.jpg"),
            "w=100",
            "corrupt or truncated",
        ),
        (cut_progressive, "w=1000", "corrupt or truncated"),
        (
            fixture("hostile/bomb-60000x60000.png"),
            "w=100",
            "over the limit",
        ),
        (fixture("hostile/error-page.jpg"), "w=100", "HTML"),
        (
            fixture("golden/rocket-w300.sharp.jpg"),
            "w=100&utm_source=x",
            "unknown parameter `utm_source`",
        ),
    ];
    for (input, query, says) in cases {
        imgflex()
            .arg("transform")
            .arg(&input)
            .args([query, "-o"])
            .arg(&out)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::contains(says));
        assert!(!out.exists(), "{} left an output behind", input.display());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no temporary file either"
        );
    }
    imgflex()
        .args(["transform", "/nonexistent.jpg", "w=1", "-o"])
        .arg(&out)
        .assert()
        .code(1);
    imgflex()
        .args(["transform", "x.jpg", "w=1"])
        .assert()
        .code(2);
}

#[test]
fn bench_writes_compare_py_rows() {
    let corpus = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("golden/rocket-w300.sharp.jpg"),
        corpus.path().join("rocket-300x200.jpg"),
    )
    .unwrap();
    std::fs::copy(
        fixture("golden/astronaut-w128.sharp.png"),
        corpus.path().join("astronaut-128x128.png"),
    )
    .unwrap();
    std::fs::write(corpus.path().join("notes.txt"), "not an image").unwrap();
    let json = corpus.path().join("rows.json");
    imgflex()
        .args([
            "-q",
            "bench",
            "--ops",
            "thumb,png-small,decode-only",
            "--reps",
            "1",
            "--corpus",
        ])
        .arg(corpus.path())
        .arg("--json")
        .arg(&json)
        .assert()
        .success()
        .stdout(predicate::str::contains("5 cells"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        5,
        "thumb and decode-only for both, png-small for the PNG"
    );
    for row in rows {
        for field in ["image", "op", "median_ms", "out_bytes", "out_w", "out_h"] {
            assert!(!row[field].is_null(), "{field} missing in {row}");
        }
    }
    assert_eq!(
        v["build"], "debug",
        "the tests run a debug build, and the report says so"
    );
    let thumb = rows
        .iter()
        .find(|r| r["op"] == "thumb" && r["image"] == "astronaut-128x128.png")
        .unwrap();
    assert_eq!(
        (thumb["out_w"].as_u64(), thumb["out_h"].as_u64()),
        (Some(300), Some(300)),
        "thumb enlarges, as sharp's does"
    );
    // --reference: an AVIF cell is compared too (decoded by rav1d). The reference here is
    // our own output under sharp's file name, so its SSIM is 1; before AVIF input existed,
    // AVIF cells had none.
    let reference = tempfile::tempdir().unwrap();
    imgflex()
        .arg("transform")
        .arg(corpus.path().join("rocket-300x200.jpg"))
        .args(["w=800&fm=avif&q=50&enlarge=1", "-o"])
        .arg(reference.path().join("rocket-300x200.jpg.avif.avif"))
        .assert()
        .success();
    let rows_avif = corpus.path().join("rows-avif.json");
    std::fs::remove_file(corpus.path().join("astronaut-128x128.png")).unwrap();
    imgflex()
        .args(["-q", "bench", "--ops", "avif", "--reps", "1", "--corpus"])
        .arg(corpus.path())
        .arg("--reference")
        .arg(reference.path())
        .arg("--json")
        .arg(&rows_avif)
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rows_avif).unwrap()).unwrap();
    let ssim = v["rows"][0]["ssim"].as_f64();
    assert!(
        ssim.is_some_and(|s| s > 0.99),
        "the AVIF cell against itself: {ssim:?} in {v}"
    );
    imgflex()
        .args(["bench", "--ops", "nope", "--corpus"])
        .arg(corpus.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown op `nope`"));
}

#[test]
fn bench_times_anim_on_animations_only() {
    let corpus = tempfile::tempdir().unwrap();
    // notime: 24 frames of 14x25. rocket: a still, which `anim` skips.
    std::fs::copy(
        fixture("corpus/notime-14x25.gif"),
        corpus.path().join("notime-14x25.gif"),
    )
    .unwrap();
    std::fs::copy(
        fixture("golden/rocket-w300.sharp.jpg"),
        corpus.path().join("rocket-300x200.jpg"),
    )
    .unwrap();
    // The reference is our own output under sharp's file name: every frame matches, so the
    // mean SSIM over the 24 frames is 1.
    let reference = tempfile::tempdir().unwrap();
    imgflex()
        .arg("transform")
        .arg(corpus.path().join("notime-14x25.gif"))
        .args(["w=400&fm=webp&q=75&anim=1&enlarge=1", "-o"])
        .arg(reference.path().join("notime-14x25.gif.anim.webp"))
        .assert()
        .success();
    let json = corpus.path().join("rows.json");
    imgflex()
        .args(["-q", "bench", "--ops", "anim", "--reps", "1", "--corpus"])
        .arg(corpus.path())
        .arg("--reference")
        .arg(reference.path())
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "the still is skipped: {v}");
    let row = &rows[0];
    assert_eq!(row["image"], "notime-14x25.gif");
    assert_eq!(
        (row["out_w"].as_u64(), row["frames"].as_u64()),
        (Some(400), Some(24)),
        "{row}"
    );
    let ssim = row["ssim"].as_f64();
    assert!(ssim.is_some_and(|s| s > 0.99), "{ssim:?} in {row}");
}
