//! `imgflex upload`, `invalidate` and `purge`: the real binary against a moto server, with the
//! bucket and distribution overrides a stack managed elsewhere would use. What is judged is
//! what moto ends up holding: objects, their bytes and content types, invalidation paths.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use crate::support::{Moto, aws_cli, fixture, json_ok, run, test_image};
use serde_json::Value;

const REGION: &str = "eu-west-1";
const ORIGINALS: &str = "ops-originals";
const VARIANTS: &str = "ops-variants";

struct World {
    moto: Moto,
    home: tempfile::TempDir,
    distribution: String,
}

impl World {
    fn new() -> World {
        let moto = Moto::start();
        let home = tempfile::tempdir().unwrap();
        let world = World {
            moto,
            home,
            distribution: String::new(),
        };
        world.state(&["make-buckets", ORIGINALS, VARIANTS]);
        let edge = world.state(&["edge-resources", "ops"]);
        World {
            distribution: edge["distribution_id"].as_str().unwrap().to_string(),
            ..world
        }
    }

    fn state(&self, args: &[&str]) -> Value {
        crate::support::aws_state(&self.moto.endpoint, REGION, args)
    }

    /// The command with the overrides, as for a stack managed elsewhere.
    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = aws_cli(&self.moto.endpoint, self.home.path());
        cmd.args(["--region", REGION])
            .args(args)
            .args([
                "--originals-bucket",
                ORIGINALS,
                "--variants-bucket",
                VARIANTS,
            ])
            .args(["--distribution-id", &self.distribution]);
        cmd
    }

    fn objects(&self, bucket: &str) -> Value {
        self.state(&["objects", bucket])
    }

    fn invalidated(&self) -> Vec<Vec<String>> {
        self.state(&["invalidations", &self.distribution])
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let mut paths: Vec<String> = i["paths"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect();
                paths.sort();
                paths
            })
            .collect()
    }

    fn put_variant(&self, key: &str) {
        let file = test_image("notime-14x25.gif");
        self.state(&["put", VARIANTS, key, file.to_str().unwrap()]);
    }
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

const A: &str = "photos/rocket.jpg";
const A_VARIANTS: [&str; 2] = [
    "_v/photos/rocket.jpg/w400_inside_center_q75_bgffffff_e0.webp",
    "_v/photos/rocket.jpg/w100_h100_cover_center_q75_bgffffff_e0_auto.avif",
];
const B_VARIANT: &str = "_v/photos/more/anemone.png/w200_inside_center_bgffffff_e0_auto.png";
const OTHER_VARIANT: &str = "_v/other/x.jpg/w200_inside_center_q75_bgffffff_e0.jpg";
// Not a canonical variant key: purge must leave it alone whatever prefix is purged.
const STRAY: &str = "photos/readme.txt";
// A variant of the first layout (before `_v/`): no URI reaches it; only `/*` clears it.
const LEGACY_VARIANT: &str = "photos/rocket.jpg/w300_inside_center_q75_bgffffff_e0.webp";

#[test]
fn upload_a_directory_then_invalidate_and_purge_exactly_what_was_asked() {
    let w = World::new();
    let dir = w.home.path().join("site");
    std::fs::create_dir_all(dir.join("more")).unwrap();
    std::fs::copy(test_image("rocket-640x427.jpg"), dir.join("rocket.jpg")).unwrap();
    std::fs::copy(test_image("notime-14x25.gif"), dir.join("notime.gif")).unwrap();
    std::fs::copy(
        test_image("anemone-600x520.png"),
        dir.join("more/anemone.png"),
    )
    .unwrap();
    // A text file named like an image: sniffed and refused, the batch goes on.
    std::fs::write(dir.join("notes.jpg"), "meeting notes, not a JPEG\n").unwrap();
    // A photo cut off at a third (its header is whole): the handler would refuse it for
    // every URL, so upload decodes every pixel, as the handler does, and refuses it too.
    std::fs::copy(fixture("hostile/truncated.jpg"), dir.join("cut.jpg")).unwrap();
    // Noise, stored uncompressed: over 16 MB, so it goes up in parallel parts.
    let big = dir.join("big.png");
    w.state(&["big-png", big.to_str().unwrap(), "2600", "2200"]);

    let (code, stdout, stderr) = run(w
        .cli(&[
            "upload",
            "--recursive",
            "--prefix",
            "photos/",
            "--output",
            "json",
        ])
        .arg(&dir));
    assert_eq!(code, 1, "two files refused: exit 1\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let refused = report["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0]["key"], "photos/cut.jpg");
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("decode"),
        "{refused:?}"
    );
    assert_eq!(refused[1]["key"], "photos/notes.jpg");

    let stored = w.objects(ORIGINALS);
    assert_eq!(
        keys(&stored),
        [
            "photos/big.png",
            "photos/more/anemone.png",
            "photos/notime.gif",
            "photos/rocket.jpg"
        ]
    );
    for (key, file, content_type) in [
        ("photos/rocket.jpg", dir.join("rocket.jpg"), "image/jpeg"),
        ("photos/notime.gif", dir.join("notime.gif"), "image/gif"),
        (
            "photos/more/anemone.png",
            dir.join("more/anemone.png"),
            "image/png",
        ),
        ("photos/big.png", big.clone(), "image/png"),
    ] {
        assert_eq!(stored[key]["sha256"], sha256(&file), "{key}");
        assert_eq!(stored[key]["content_type"], content_type, "{key}");
    }
    let uploaded = report["uploaded"].as_array().unwrap();
    let big_row = uploaded
        .iter()
        .find(|u| u["key"] == "photos/big.png")
        .unwrap();
    assert_eq!(big_row["multipart"], true);
    assert_eq!(
        (big_row["width"].as_u64(), big_row["height"].as_u64()),
        (Some(2600), Some(2200))
    );
    let rocket = uploaded.iter().find(|u| u["key"] == A).unwrap();
    assert_eq!(rocket["multipart"], false);
    assert_eq!(
        (rocket["width"].as_u64(), rocket["height"].as_u64()),
        (Some(640), Some(427))
    );
    let url = rocket["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://") && url.ends_with("/photos/rocket.jpg"),
        "{url}"
    );
    assert_eq!(
        rocket["example"].as_str().unwrap(),
        format!("{url}?w=400&fm=auto")
    );
    assert!(
        w.invalidated().is_empty(),
        "new originals need no invalidation"
    );

    // Invalidate: a key, a prefix and a CDN URL, in one request.
    let (inv, _) = json_ok(&mut w.cli(&[
        "invalidate",
        "/photos/rocket.jpg",
        "photos/more/*",
        &format!("{url}?w=300"),
    ]));
    assert!(!inv["invalidation_id"].as_str().unwrap().is_empty());
    assert_eq!(
        w.invalidated(),
        [[
            "/_v/photos/more/*",
            "/_v/photos/rocket.jpg/*",
            "/photos/more/*",
            "/photos/rocket.jpg",
        ]]
    );
    // --wait polls until done (moto says COMPLETED where AWS says Completed).
    let (inv, _) = json_ok(&mut w.cli(&["invalidate", "/photos/notime.gif", "--wait"]));
    assert!(
        inv["status"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("completed")
    );

    // Purge. Variants of two originals under photos/, one elsewhere, and a stray.
    for key in A_VARIANTS
        .iter()
        .chain([&B_VARIANT, &OTHER_VARIANT, &LEGACY_VARIANT, &STRAY])
    {
        w.put_variant(key);
    }
    let originals_before = w.objects(ORIGINALS);

    let (dry, _) = json_ok(&mut w.cli(&["purge", "/photos/rocket.jpg", "--dry-run"]));
    let mut would: Vec<&str> = dry["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    would.sort();
    let mut want = A_VARIANTS.to_vec();
    want.sort();
    assert_eq!(would, want);
    assert_eq!(
        keys(&w.objects(VARIANTS)).len(),
        6,
        "a dry run deletes nothing"
    );
    let invalidations = w.invalidated().len();

    let (purged, _) = json_ok(&mut w.cli(&["purge", "/photos/rocket.jpg"]));
    assert_eq!(purged["deleted"].as_array().unwrap().len(), 2);
    assert_eq!(
        keys(&w.objects(VARIANTS)),
        [OTHER_VARIANT, B_VARIANT, STRAY, LEGACY_VARIANT]
    );
    assert_eq!(w.invalidated().len(), invalidations + 1);

    let (purged, _) = json_ok(&mut w.cli(&["purge", "/photos/*"]));
    assert_eq!(purged["deleted"], serde_json::json!([B_VARIANT]));
    assert_eq!(
        keys(&w.objects(VARIANTS)),
        [OTHER_VARIANT, STRAY, LEGACY_VARIANT]
    );
    assert_eq!(
        w.objects(ORIGINALS),
        originals_before,
        "originals untouched"
    );

    // Everything needs a yes; without a terminal, it is refused and nothing goes.
    let (code, _, stderr) = run(&mut w.cli(&["purge", "/*"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("pass `--yes`"), "{stderr}");
    assert_eq!(
        keys(&w.objects(VARIANTS)),
        [OTHER_VARIANT, STRAY, LEGACY_VARIANT]
    );
    let (all, _) = json_ok(&mut w.cli(&["purge", "/*", "--yes"]));
    assert_eq!(
        all["deleted"],
        serde_json::json!([OTHER_VARIANT, LEGACY_VARIANT])
    );
    assert_eq!(keys(&w.objects(VARIANTS)), [STRAY]);
    assert_eq!(
        w.objects(ORIGINALS),
        originals_before,
        "originals untouched"
    );

    // Replacing an original purges its variants and invalidates it.
    for key in A_VARIANTS {
        w.put_variant(key);
    }
    let replacement = w.home.path().join("rocket.jpg");
    std::fs::copy(test_image("cups-2560x1600.jpg"), &replacement).unwrap();
    let (up, _) = json_ok(w.cli(&["upload", "--key", A]).arg(&replacement));
    assert_eq!(up["uploaded"][0]["replaced"], true);
    assert_eq!(up["uploaded"][0]["variants_purged"], 2);
    assert!(up["invalidation_id"].is_string());
    assert_eq!(keys(&w.objects(VARIANTS)), [STRAY]);
    assert_eq!(w.objects(ORIGINALS)[A]["sha256"], sha256(&replacement));
    assert_eq!(
        w.invalidated().last().unwrap(),
        &["/_v/photos/rocket.jpg/*", "/photos/rocket.jpg"]
    );
}

#[test]
fn upload_says_what_it_skips_and_urls_and_purges_stay_on_this_distribution() {
    let w = World::new();
    let dir = w.home.path().join("site");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(test_image("rocket-640x427.jpg"), dir.join("rocket.jpg")).unwrap();
    std::fs::copy(test_image("rocket-640x427.jpg"), dir.join(".hidden.jpg")).unwrap();
    std::fs::copy(
        test_image("anemone-600x520.png"),
        dir.join("sub/anemone.png"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.jpg"), "not a JPEG\n").unwrap();
    // An AVIF original stored 240x160 with an `irot` of three quarter turns: uploaded (its
    // every pixel decoded first, as for any format), and displayed 160x240.
    std::fs::copy(
        fixture("avif/rocket-240x160-irot3.avif"),
        dir.join("turned.avif"),
    )
    .unwrap();

    // `--prefix pics` is a folder; what is left out is said; the refusal's reason is on
    // stderr with the error, the report (naming it too) on stdout.
    let (code, stdout, stderr) = run(w.cli(&["upload", "--prefix", "pics"]).arg(&dir));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("pics/rocket.jpg"), "{stdout}");
    assert!(!stdout.contains("picsrocket"), "{stdout}");
    assert!(
        stdout.contains("KiB"),
        "binary units, as the progress bar: {stdout}"
    );
    assert!(
        !stdout.contains("refused `"),
        "reasons are not on stdout: {stdout}"
    );
    assert!(
        stderr.contains("refused `") && stderr.contains("notes.jpg"),
        "{stderr}"
    );
    assert!(stderr.contains("sub`: a folder (`--recursive`"), "{stderr}");
    assert!(stderr.contains(".hidden.jpg`: hidden"), "{stderr}");
    assert_eq!(
        keys(&w.objects(ORIGINALS)),
        ["pics/rocket.jpg", "pics/turned.avif"]
    );
    let (turned, _) = json_ok(&mut w.cli(&["srcset", "pics/turned.avif"]));
    assert_eq!(
        (turned["width"].as_u64(), turned["height"].as_u64()),
        (Some(160), Some(240))
    );
    // Per file, what a front end wants: a srcset of the policy's widths up to the original's
    // 640 px, with fm=auto, in a ready <img>.
    assert!(stdout.contains("<img src=\""), "{stdout}");
    assert!(stdout.contains("?w=320&fm=auto 320w, "), "{stdout}");
    let (srcset, _) = json_ok(&mut w.cli(&["srcset", "pics/rocket.jpg"]));
    assert_eq!(
        (srcset["width"].as_u64(), srcset["height"].as_u64()),
        (Some(640), Some(427))
    );
    assert_eq!(srcset["widths"], serde_json::json!([320, 640]));
    assert!(
        srcset["img"]
            .as_str()
            .unwrap()
            .contains("width=\"640\" height=\"427\"")
    );
    let (code, _, stderr) = run(&mut w.cli(&["srcset", "pics/nope.jpg"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no original `pics/nope.jpg`"), "{stderr}");

    // The same folder again: what is stored with the same bytes is skipped, not replaced,
    // so nothing is purged or invalidated.
    let before_rerun = w.invalidated().len();
    let (code, stdout, _) = run(w
        .cli(&["upload", "--prefix", "pics", "--output", "json"])
        .arg(&dir));
    assert_eq!(code, 1, "notes.jpg is still refused");
    let again: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(again["uploaded"][0]["unchanged"], true, "{again}");
    assert_eq!(again["uploaded"][0]["replaced"], false);
    assert_eq!(w.invalidated().len(), before_rerun);

    // A URL on another host is refused, not invalidated on this distribution.
    let before = w.invalidated().len();
    let (code, _, stderr) = run(&mut w.cli(&["invalidate", "https://example.com/pics/rocket.jpg"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is on example.com, not on this stack's distribution"),
        "{stderr}"
    );
    // Purging what has no stored variant deletes nothing and invalidates nothing.
    let (report, _) = json_ok(&mut w.cli(&["purge", "/pics/nothing.jpg"]));
    assert_eq!(report["deleted"], serde_json::json!([]));
    assert_eq!(report["invalidation_id"], Value::Null);
    let (code, text, _) = run(&mut w.cli(&["purge", "/pics/nothing.jpg"]));
    assert_eq!(code, 0);
    assert!(text.contains("nothing was invalidated"), "{text}");
    assert_eq!(w.invalidated().len(), before);
}

#[test]
fn a_rerun_replaces_only_what_changed_and_many_replacements_widen_to_a_folder() {
    let w = World::new();
    let dir = w.home.path().join("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..16 {
        std::fs::copy(
            test_image("anemone-600x520.png"),
            dir.join(format!("{i:02}.png")),
        )
        .unwrap();
    }
    let (first, _) = json_ok(w.cli(&["upload", "--prefix", "icons"]).arg(&dir));
    assert_eq!(first["uploaded"].as_array().unwrap().len(), 16);
    assert!(w.invalidated().is_empty());
    // All 16 changed: one invalidation, of their folder (16 wildcards would be refused).
    for i in 0..16 {
        std::fs::copy(
            test_image("astronaut-512x512.png"),
            dir.join(format!("{i:02}.png")),
        )
        .unwrap();
    }
    let (second, stderr) = json_ok(w.cli(&["upload", "--prefix", "icons"]).arg(&dir));
    assert!(
        second["uploaded"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["replaced"] == true),
        "{second}"
    );
    assert_eq!(w.invalidated(), [["/_v/icons/*", "/icons/*"]], "{stderr}");
    assert_eq!(
        second["invalidation_paths"],
        serde_json::json!(["/icons/*", "/_v/icons/*"])
    );
}

#[test]
fn a_multipart_upload_left_by_a_cut_run_is_aborted_by_the_next() {
    let w = World::new();
    let big = w.home.path().join("big.png");
    w.state(&["big-png", big.to_str().unwrap(), "2600", "2200"]);
    w.state(&["start-multipart", ORIGINALS, "big.png"]);
    assert_eq!(
        w.state(&["multipart-uploads", ORIGINALS])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (report, stderr) = json_ok(w.cli(&["upload"]).arg(&big));
    assert_eq!(report["uploaded"][0]["multipart"], true);
    assert!(
        stderr.contains("aborted an unfinished upload of `big.png`"),
        "{stderr}"
    );
    assert_eq!(
        w.state(&["multipart-uploads", ORIGINALS]),
        serde_json::json!([])
    );
    assert_eq!(keys(&w.objects(ORIGINALS)), ["big.png"]);
}

#[test]
fn an_aws_error_says_its_code_message_and_request_id_and_v_says_more() {
    let w = World::new();
    let purge = |extra: &[&str]| {
        let mut cmd = aws_cli(&w.moto.endpoint, w.home.path());
        cmd.args(["--region", REGION]).args(extra).args([
            "purge",
            "/x.jpg",
            "--variants-bucket",
            "no-such-bucket",
        ]);
        run(&mut cmd)
    };
    let (code, stdout, stderr) = purge(&[]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("NoSuchBucket: The specified bucket does not exist (request id "),
        "{stderr}"
    );
    assert!(!stderr.contains("detail:"), "{stderr}");
    let (code, stdout, stderr) = purge(&["-v", "--output", "json"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("  detail: service error: NoSuchBucket"),
        "{stderr}"
    );
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request id"),
        "{error}"
    );
    assert!(
        error["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("NoSuchBucket"),
        "{error}"
    );
}

#[test]
fn bad_input_is_one_clear_error_and_writes_nothing() {
    let w = World::new();
    let good = w.home.path().join("rocket.jpg");
    std::fs::copy(test_image("rocket-640x427.jpg"), &good).unwrap();

    // A missing file among good ones: nothing is uploaded at all.
    let (code, _, stderr) = run(w
        .cli(&["upload"])
        .arg(&good)
        .arg(w.home.path().join("missing.jpg")));
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: cannot read `"), "{stderr}");
    assert!(stderr.contains("missing.jpg"), "{stderr}");
    assert_eq!(w.objects(ORIGINALS), serde_json::json!({}));

    // Paths that name no original: refused before any call.
    for bad in ["/photos/../etc/passwd.jpg", "/pho*tos/cat.jpg", ""] {
        let (code, _, stderr) = run(&mut w.cli(&["invalidate", bad]));
        assert_eq!(code, 1, "{bad}: {stderr}");
        assert!(
            stderr.contains("is not a path imgflex serves"),
            "{bad}: {stderr}"
        );
        let (code, _, _) = run(&mut w.cli(&["purge", bad]));
        assert_eq!(code, 1, "{bad}");
    }
    assert!(w.invalidated().is_empty());

    // --key with a directory is a usage error (exit 2).
    let (code, _, stderr) = run(w.cli(&["upload", "--key", "a.jpg"]).arg(w.home.path()));
    assert_eq!(code, 2, "{stderr}");

    // No stack and no overrides: what to do instead.
    let (code, _, stderr) = run(aws_cli(&w.moto.endpoint, w.home.path())
        .args(["--region", REGION, "upload"])
        .arg(&good));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no imgflex stack `imgflex` in eu-west-1"),
        "{stderr}"
    );
    assert!(stderr.contains("--originals-bucket"), "{stderr}");
    assert_eq!(w.objects(ORIGINALS), serde_json::json!({}));

    // Signing keys where the stack has no KeyValueStore (moto's CloudFormation skips
    // CloudFront types): one clear error, found before anything is written.
    for action in [&["keys", "rotate"][..], &["keys", "list"][..]] {
        let (code, _, stderr) = run(aws_cli(&w.moto.endpoint, w.home.path())
            .args(["--region", REGION])
            .args(action));
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("has no signing-key store `imgflex-eu-west-1-keys`")
                && stderr.contains("imgflex deploy"),
            "{stderr}"
        );
    }
}
