//! `imgflex stats` and `imgflex logs`: the real binary against a stack deployed on a moto
//! server, reading what the stack's services would have written: CloudFront standard logs
//! and S3 access logs in the logs bucket, the handler's lines in its log group.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::Command;

use crate::support::{Moto, aws_cli, fixture, json_ok, run};
use serde_json::Value;

const REGION: &str = "eu-west-1";

/// A moto server with `imgflex` deployed on it (its distribution made by hand, as moto's
/// CloudFormation skips CloudFront), and the deploy's summary.
struct Deployed {
    moto: Moto,
    home: tempfile::TempDir,
    summary: Value,
}

impl Deployed {
    fn new() -> Deployed {
        let moto = Moto::start();
        let home = tempfile::tempdir().unwrap();
        let zip = home.path().join("handler.zip");
        crate::support::aws_state(
            &moto.endpoint,
            REGION,
            &["fake-handler-zip", zip.to_str().unwrap()],
        );
        crate::support::aws_state(&moto.endpoint, REGION, &["edge-resources", "imgflex"]);
        let (summary, _) = json_ok(aws_cli(&moto.endpoint, home.path()).args([
            "deploy",
            "--region",
            REGION,
            "--yes",
            "--handler-zip",
            zip.to_str().unwrap(),
        ]));
        Deployed {
            moto,
            home,
            summary,
        }
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = aws_cli(&self.moto.endpoint, self.home.path());
        cmd.args(["--region", REGION]).args(args);
        cmd
    }

    fn state(&self, args: &[&str]) -> Value {
        crate::support::aws_state(&self.moto.endpoint, REGION, args)
    }

    fn logs_bucket(&self) -> String {
        let state = self.state(&["inspect"]);
        state["buckets"]
            .as_object()
            .unwrap()
            .keys()
            .find(|b| b.contains("logs"))
            .unwrap_or_else(|| panic!("no logs bucket in {state}"))
            .clone()
    }

    fn put_gzip(&self, bucket: &str, key: &str, text: &[u8]) {
        let path = self.home.path().join("upload.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        self.state(&["put", bucket, key, path.to_str().unwrap()]);
    }

    fn put_plain(&self, bucket: &str, key: &str, text: &str) {
        let path = self.home.path().join("upload.txt");
        std::fs::write(&path, text).unwrap();
        self.state(&["put", bucket, key, path.to_str().unwrap()]);
    }
}

fn top(list: &Value) -> Vec<(String, u64)> {
    list["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// The fixture's three log files (tests/fixtures/cloudfront-logs/README.md tells their
/// story and the summary counted by hand) under this distribution's names, beside a file
/// of last week (never downloaded: listing starts after it) and the variants bucket's
/// access logs (two PUTs in the window, one outside it, one GET).
#[test]
fn stats_reports_the_window_of_the_cloudfront_logs_as_counted_by_hand() {
    let world = Deployed::new();
    let id = world.summary["distribution_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bucket = world.logs_bucket();
    let dir = fixture("cloudfront-logs");
    for name in [
        "E2EXAMPLE123.2026-11-30-11.K3M8Q2XA",
        "E2EXAMPLE123.2026-11-30-18.R7TN4W1C",
        "E2EXAMPLE123.2026-12-01-09.Z5B9D6FE",
    ] {
        let text = std::fs::read(dir.join(name)).unwrap();
        let ours = name.replace("E2EXAMPLE123", &id);
        world.put_gzip(&bucket, &format!("cloudfront/{ours}.gz"), &text);
    }
    // Last week's file: a read of it would add a thousand requests.
    let old_row = "2026-11-23\t10:00:00\tFRA56-P5\t100\t192.0.2.1\tGET\td1.cloudfront.net\t/photos/cat.jpg\t200\t-\tcurl\t-\t-\tHit\tid\td1.cloudfront.net\thttps\t10\t0.001\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t1\t0.001\tHit\timage/jpeg\t100\t-\t-\n";
    let old = format!("#Version: 1.0\n{}\n{}", fields(), old_row.repeat(1000));
    world.put_gzip(
        &bucket,
        &format!("cloudfront/{id}.2026-11-23-10.OLD.gz"),
        old.as_bytes(),
    );
    let access = |time: &str, op: &str| {
        format!(
            "79a5 variants [{time} +0000] 192.0.2.3 arn:aws:sts::123456789012:assumed-role/r/imgflex-resize 3E57 {op} _v/photos/cat.jpg/w400.webp \"{} /_v/photos/cat.jpg/w400.webp HTTP/1.1\" 200 - - 18702 41 20 \"-\" \"aws-sdk-rust\" -\n",
            if op.contains("PUT") { "PUT" } else { "GET" }
        )
    };
    world.put_plain(
        &bucket,
        "s3/variants/2026-11-30-18-15-00-5C1F9E6A2B3D4E5F",
        &[
            access("30/Nov/2026:18:02:11", "REST.PUT.OBJECT"),
            access("30/Nov/2026:18:02:12", "REST.GET.OBJECT"),
            access("30/Nov/2026:18:10:04", "REST.PUT.OBJECT"),
        ]
        .concat(),
    );
    world.put_plain(
        &bucket,
        "s3/variants/2026-11-29-08-00-00-0A1B2C3D4E5F6A7B",
        &access("29/Nov/2026:08:00:00", "REST.PUT.OBJECT"),
    );

    let (report, stderr) =
        json_ok(&mut world.cli(&["stats", "--since", "24h", "--until", "2026-12-01T12:00:00Z"]));
    assert_eq!(report["distribution"], id.as_str(), "{stderr}");
    assert_eq!(report["since"], "2026-11-30T12:00:00Z");
    assert_eq!(report["files"], 3, "{report}");
    assert_eq!(report["requests"], 37, "{report}");
    assert_eq!(report["hits"], 18);
    assert_eq!(report["misses"], 7);
    assert_eq!(report["errors"], 6);
    assert_eq!(report["function_generated"], 5);
    assert_eq!(report["other_results"], 1);
    let ratio = report["hit_ratio"].as_f64().unwrap();
    assert!((ratio - 0.72).abs() < 1e-9, "{ratio}");
    assert_eq!(report["origin_shield_hits"], 1);
    assert_eq!(report["viewer_disconnects"], 1);
    assert_eq!(report["bytes_out"], 2_721_125);
    assert_eq!(
        report["status"],
        serde_json::json!({"2xx": 24, "3xx": 2, "4xx": 7, "5xx": 3, "other": 1})
    );
    assert_eq!(report["skipped"], 1);
    assert_eq!(report["outside_window"], 1);
    assert_eq!(report["renders"], 2);
    // Both spellings of the 400-pixel WebP are one canonical variant.
    assert_eq!(
        top(&report["top_variants"]),
        pairs(&[
            (
                "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp",
                10
            ),
            (
                "_v/photos/cat.jpg/w800_inside_center_q50_bgffffff_e0.avif",
                3
            ),
            (
                // No `fm`: the default, `auto`; the log has no Accept, so any format.
                "_v/photos/dog.png/w200_h200_cover_center_bgffffff_e0_auto.*",
                3
            ),
        ]),
        "{report}"
    );
    assert_eq!(
        top(&report["top_originals"]),
        pairs(&[
            ("photos/cat.jpg", 4),
            ("photos/dog.png", 3),
            ("banners/sale banner.jpg", 2)
        ])
    );
    assert_eq!(
        top(&report["top_4xx"])[0],
        ("/photos/cat.jpg?w=abc".to_string(), 3)
    );
    assert_eq!(top(&report["top_4xx"]).len(), 5);
    assert_eq!(
        top(&report["top_5xx"]),
        pairs(&[("/photos/huge.jpg?w=2000&fm=avif", 3)])
    );
    assert_eq!(report["top_variants"]["exact"], true);

    // As text: the same numbers, for a person.
    let (code, text, _) =
        run(&mut world.cli(&["stats", "--since", "24h", "--until", "2026-12-01T12:00:00Z"]));
    assert_eq!(code, 0);
    assert!(text.contains("72.0%"), "{text}");
    assert!(text.contains("banners/sale banner.jpg"), "{text}");

    // A window with no logs is a warning and zeros, not an error.
    let (empty, stderr) = json_ok(&mut world.cli(&["stats", "--until", "2026-06-01T00:00:00Z"]));
    assert_eq!(empty["requests"], 0);
    assert!(stderr.contains("no CloudFront log files"), "{stderr}");
    let (code, _, stderr) = run(&mut world.cli(&["stats", "--until", "yesterday"]));
    assert_eq!(code, 2, "{stderr}");
}

fn fields() -> &'static str {
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end"
}

fn request_line(status: u16, path: &str, source: &str, error: Option<&str>) -> String {
    let mut line = serde_json::json!({
        "method": "GET", "path": path, "status": status, "source": source,
        "fetch_ms": 12, "transform_ms": 80, "store_ms": 8, "in_bytes": 40000, "out_bytes": 9000,
    });
    if let Some(error) = error {
        line["error"] = error.into();
    }
    line.to_string()
}

/// The handler's lines of the last hour, newest last, without the platform's START/REPORT
/// lines; `--status` and `--key` narrow them; a line from two hours ago is not shown.
#[test]
fn logs_shows_the_handler_lines_filtered_by_status_and_key() {
    let world = Deployed::new();
    let events = serde_json::json!([
        [
            7200,
            request_line(200, "/_v/photos/old.jpg/w1.webp", "render", None)
        ],
        [600, "START RequestId: 6c1d Version: $LATEST"],
        [
            599,
            request_line(
                200,
                "/_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp",
                "render",
                None
            )
        ],
        [
            598,
            "REPORT RequestId: 6c1d Duration: 102.1 ms Billed Duration: 103 ms"
        ],
        [
            400,
            request_line(
                404,
                "/_v/photos/gone.jpg/w400_inside_center_q75_bgffffff_e0.webp",
                "",
                None
            )
        ],
        [
            300,
            request_line(
                502,
                "/_v/photos/huge.jpg/w2000_inside_center_q50_bgffffff_e0.avif",
                "render",
                Some("decode: the image is 40000x40000, over the 40 megapixel limit")
            )
        ],
        [
            200,
            request_line(
                200,
                "/_v/banners/sale%20banner.jpg/w640_inside_center_q80_bgffffff_e0.jpg",
                "variants",
                None
            )
        ],
        [
            100,
            "2026-12-01T11:58:20.000Z 6c1e Task timed out after 28.03 seconds"
        ],
    ]);
    let file = world.home.path().join("events.json");
    std::fs::write(&file, events.to_string()).unwrap();
    world.state(&[
        "put-log-events",
        "/aws/lambda/imgflex-resize",
        file.to_str().unwrap(),
    ]);

    let lines = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["logs", "--output", "json"];
        all.extend_from_slice(args);
        let (code, out, err) = run(&mut world.cli(&all));
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = lines(&[]);
    let shown: Vec<String> = all
        .iter()
        .map(|l| {
            l["path"]
                .as_str()
                .or(l["message"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(shown.len(), 5, "{shown:?}");
    assert!(shown[0].starts_with("/_v/photos/cat.jpg/"), "{shown:?}");
    assert!(shown[4].contains("Task timed out"), "{shown:?}");

    let five = lines(&["--status", "5xx"]);
    assert_eq!(five.len(), 1);
    assert_eq!(five[0]["status"], 502);
    assert!(five[0]["error"].as_str().unwrap().contains("megapixel"));
    assert_eq!(lines(&["--status", "404"]).len(), 1);
    let banners = lines(&["--key", "banners/sale banner.jpg"]);
    assert_eq!(banners.len(), 1, "{banners:?}");
    assert_eq!(banners[0]["source"], "variants");
    assert_eq!(lines(&["--since", "3h"]).len(), 6);
    assert_eq!(lines(&["--since", "3h", "--limit", "2"]).len(), 2);

    // As text: one line per request, its error under it.
    let (code, text, _) = run(&mut world.cli(&["logs", "--status", "5xx"]));
    assert_eq!(code, 0);
    assert!(text.contains("502 render"), "{text}");
    assert!(text.contains("    error: decode:"), "{text}");
    let (code, _, err) = run(&mut world.cli(&["logs", "--status", "9xx"]));
    assert_eq!(code, 1);
    assert!(err.contains("`9xx` is not a status"), "{err}");
}

/// Without a stack, each says so and what to do.
#[test]
fn stats_and_logs_without_a_stack_are_one_clear_error() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    for command in ["stats", "logs"] {
        let (code, _, err) =
            run(aws_cli(&moto.endpoint, home.path()).args([command, "--region", REGION]));
        assert_eq!(code, 1, "{command}: {err}");
        assert!(
            err.contains("no stack `imgflex` in eu-west-1"),
            "{command}: {err}"
        );
        assert!(err.contains("hint: deploy it"), "{command}: {err}");
    }
}

fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn level(report: &Value, check: &str) -> String {
    findings(report)
        .into_iter()
        .find(|(c, _)| c == check)
        .unwrap_or_else(|| panic!("no {check} in {report}"))
        .1
}

/// doctor on moto's deploy: what moto's CloudFormation skipped (the function URL, the
/// Lambda permissions, the bucket policies; the hand-made distribution's missing origin
/// access control) fails, each with its hint; put in place the way the template would,
/// each passes (but the origin access control, which moto cannot keep); then broken on
/// purpose (an open function URL, a policy for another distribution), each fails again.
#[test]
fn doctor_names_each_broken_link_and_passes_once_it_is_mended() {
    let world = Deployed::new();
    let doctor = || {
        let (code, out, err) = run(&mut world.cli(&["doctor", "--output", "json"]));
        let report: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}\n{err}"));
        (code, report)
    };
    let (code, before) = doctor();
    assert_eq!(code, 1, "{before}");
    assert_eq!(level(&before, "credentials"), "ok", "{before}");
    assert_eq!(level(&before, "stacks"), "ok", "{before}");
    for check in [
        "function-url",
        "lambda-permissions",
        "origin-access-control",
        "originals-policy",
        "variants-policy",
    ] {
        assert_eq!(level(&before, check), "fail", "{check}: {before}");
    }
    assert_eq!(level(&before, "web-acl"), "ok", "{before}");
    assert_eq!(level(&before, "certificate"), "ok", "{before}");
    let hint = |report: &Value, check: &str| -> String {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .unwrap()["hint"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        hint(&before, "function-url").contains("imgflex deploy"),
        "{before}"
    );

    let id = world.summary["distribution_id"].as_str().unwrap();
    let arn = format!("arn:aws:cloudfront::123456789012:distribution/{id}");
    let function = "imgflex-resize";
    world.state(&["function-url", function, "AWS_IAM"]);
    for action in ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"] {
        world.state(&["lambda-permission", function, action, &arn]);
    }
    for bucket in ["originals_bucket", "variants_bucket"] {
        world.state(&[
            "cloudfront-read-policy",
            world.summary[bucket].as_str().unwrap(),
            &arn,
        ]);
    }
    let (code, mended) = doctor();
    let failed: Vec<(String, String)> = findings(&mended)
        .into_iter()
        .filter(|(_, l)| l == "fail")
        .collect();
    // moto keeps no origin access control on a distribution's origins (it drops the field),
    // so that one check cannot pass here; its passing case is a unit test.
    assert_eq!(
        failed,
        [("origin-access-control".to_string(), "fail".to_string())],
        "{mended}"
    );
    assert_eq!(code, 1, "{mended}");
    assert_eq!(mended["failures"], 1);

    // Broken on purpose: the function URL opened to anyone, the variants bucket granted to
    // another distribution.
    world.state(&["function-url", function, "NONE"]);
    world.state(&[
        "cloudfront-read-policy",
        world.summary["variants_bucket"].as_str().unwrap(),
        "arn:aws:cloudfront::123456789012:distribution/EOTHER",
    ]);
    let (code, broken) = doctor();
    assert_eq!(code, 1);
    assert_eq!(level(&broken, "function-url"), "fail");
    assert!(
        broken.to_string().contains("anyone can call it"),
        "{broken}"
    );
    assert_eq!(level(&broken, "variants-policy"), "fail");
    assert_eq!(level(&broken, "originals-policy"), "ok");
    assert_eq!(broken["failures"], 3, "{broken}");

    // As text: one line a check, the hint under a failure, the count as the error.
    let (code, text, err) = run(&mut world.cli(&["doctor"]));
    assert_eq!(code, 1);
    assert!(text.contains("FAIL  function-url"), "{text}");
    assert!(err.contains("error: 3 of"), "{err}");
}

/// `--follow` prints the window, then each new line once as it arrives, until stopped.
#[test]
fn logs_follow_prints_each_new_line_once_as_it_arrives() {
    let world = Deployed::new();
    let put = |ago: u64, line: String| {
        let file = world.home.path().join("events.json");
        std::fs::write(&file, serde_json::json!([[ago, line]]).to_string()).unwrap();
        world.state(&[
            "put-log-events",
            "/aws/lambda/imgflex-resize",
            file.to_str().unwrap(),
        ]);
    };
    put(
        60,
        request_line(200, "/_v/photos/a.jpg/w1.webp", "render", None),
    );
    let mut child = world
        .cli(&["logs", "--follow", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
    let first: Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(first["path"], "/_v/photos/a.jpg/w1.webp");
    put(
        5,
        request_line(502, "/_v/photos/b.jpg/w1.webp", "render", Some("boom")),
    );
    let second: Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(second["status"], 502, "{second}");
    // A few more polls: nothing is printed twice.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(rx.try_recv().is_err());
    child.kill().unwrap();
    child.wait().unwrap();
}
