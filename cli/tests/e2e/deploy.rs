//! `imgflex deploy`, `status` and `destroy`: the real binary against a moto server on
//! loopback (`--endpoint-url`), from a fresh account to a destroyed stack, and the ways
//! they must refuse. moto's gaps are arranged around by tests/moto/aws_state.py, each
//! workaround documented there; the CLI runs exactly as it does against AWS.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Moto, aws_cli, imgflex, json_ok, run, workspace_root};
use serde_json::Value;

const REGION: &str = "eu-west-1";

fn cli(moto: &Moto, home: &Path) -> Command {
    aws_cli(&moto.endpoint, home)
}

fn aws_state(moto: &Moto, args: &[&str]) -> Value {
    crate::support::aws_state(&moto.endpoint, REGION, args)
}

fn fake_zip(moto: &Moto, dir: &Path) -> PathBuf {
    let zip = dir.join("handler.zip");
    aws_state(moto, &["fake-handler-zip", zip.to_str().unwrap()]);
    zip
}

fn outcomes(summary: &Value) -> Vec<(String, String)> {
    summary["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn deploy_redeploy_change_status_and_destroy() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    let zip = zip.to_str().unwrap();

    // Before anything: status answers "not deployed", successfully.
    let (status, _) = json_ok(cli(&moto, home.path()).args(["status", "--region", REGION]));
    assert_eq!(status["deployed"], false);
    assert!(
        status["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "NOT_DEPLOYED")
    );

    // A dry run shows three change sets and leaves no stack, bucket or object behind.
    let (plan, stderr) = json_ok(cli(&moto, home.path()).args([
        "deploy",
        "--region",
        REGION,
        "--dry-run",
        "--handler-zip",
        zip,
    ]));
    assert_eq!(
        outcomes(&plan),
        pairs(&[
            ("imgflex-bootstrap", "previewed"),
            ("imgflex-eu-west-1-edge", "previewed"),
            ("imgflex", "previewed")
        ])
    );
    assert!(stderr.contains("Add      OriginalsBucket"), "{stderr}");
    let state = aws_state(&moto, &["inspect"]);
    assert_eq!(state["stacks"], serde_json::json!({}), "{state}");
    assert_eq!(state["buckets"], serde_json::json!({}), "{state}");

    // The first deploy: bootstrap, zip upload, edge stack in us-east-1, main stack.
    let edge = aws_state(&moto, &["edge-resources", "imgflex"]);
    let (first, stderr) = json_ok(cli(&moto, home.path()).args([
        "deploy",
        "--region",
        REGION,
        "--yes",
        "--handler-zip",
        zip,
    ]));
    assert_eq!(
        outcomes(&first),
        pairs(&[
            ("imgflex-bootstrap", "created"),
            ("imgflex-eu-west-1-edge", "created"),
            ("imgflex", "created"),
            // Once more, with the distribution the main stack made: its 5xx alarm.
            ("imgflex-eu-west-1-edge", "updated"),
        ]),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the edge stack's CDN 5xx alarm watches distribution {}",
            edge["distribution_id"].as_str().unwrap()
        )),
        "{stderr}"
    );
    let edge_params = crate::support::aws_state(
        &moto.endpoint,
        "us-east-1",
        &["parameters", "imgflex-eu-west-1-edge", "us-east-1"],
    );
    assert_eq!(edge_params["DistributionId"], edge["distribution_id"]);
    assert_eq!(first["handler_uploaded"], true);
    assert_eq!(
        first["cdn_url"].as_str().unwrap(),
        format!("https://{}", edge["domain"].as_str().unwrap())
    );
    assert_eq!(first["web_acl_arn"], edge["web_acl_arn"]);
    assert_eq!(first["function_name"], "imgflex-resize");
    let originals = first["originals_bucket"].as_str().unwrap().to_string();
    let variants = first["variants_bucket"].as_str().unwrap().to_string();
    assert!(
        first["example_url"]
            .as_str()
            .unwrap()
            .ends_with("/photo.jpg?w=400&fm=auto")
    );
    assert!(stderr.contains("change set for stack `imgflex` (eu-west-1, create)"));
    let state = aws_state(&moto, &["inspect"]);
    let artifacts = state["buckets"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(name, _)| name.contains("artifacts"))
        .map(|(_, objects)| objects.clone())
        .unwrap();
    let key = first["handler_key"].as_str().unwrap();
    assert!(key.starts_with("handlers/arm64/") && key.ends_with(".zip"));
    // Addressed by content: the key names the sha256 of the bytes stored under it.
    assert_eq!(
        format!("handlers/arm64/{}.zip", artifacts[key].as_str().unwrap()),
        key
    );

    // Again, nothing changed: "no changes" everywhere, the zip not uploaded twice.
    let (again, stderr) = json_ok(cli(&moto, home.path()).args([
        "deploy",
        "--region",
        REGION,
        "--yes",
        "--handler-zip",
        zip,
    ]));
    assert_eq!(
        outcomes(&again),
        pairs(&[
            ("imgflex-bootstrap", "unchanged"),
            ("imgflex-eu-west-1-edge", "unchanged"),
            ("imgflex", "unchanged")
        ]),
        "{stderr}"
    );
    assert_eq!(again["handler_uploaded"], false);
    assert!(!stderr.contains("change set for stack"), "{stderr}");

    // A changed policy: the main stack's change set shows the parameter and the edge
    // function whose code is compiled from it.
    std::fs::write(home.path().join("imgflex.toml"), "max_width = 2000\n").unwrap();
    let (changed, stderr) = json_ok(cli(&moto, home.path()).args([
        "deploy",
        "--region",
        REGION,
        "--yes",
        "--handler-zip",
        zip,
    ]));
    assert_eq!(
        outcomes(&changed)[2],
        ("imgflex".to_string(), "updated".to_string())
    );
    let main_plan = &changed["stacks"][2]["plan"];
    let params: Vec<&str> = main_plan["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["HandlerPolicy"]);
    assert!(
        main_plan["parameters"][0]["new"]
            .as_str()
            .unwrap()
            .contains("\"max_width\":2000")
    );
    assert!(stderr.contains("HandlerPolicy:"), "{stderr}");
    assert!(stderr.contains("Modify   EdgeFunction"), "{stderr}");

    // Status after: every stack, the distribution, its WAF rules, the function.
    let (status, _) = json_ok(cli(&moto, home.path()).args(["status", "--region", REGION]));
    assert_eq!(status["deployed"], true);
    assert_eq!(status["stacks"][2]["status"], "UPDATE_COMPLETE");
    assert_eq!(status["distribution"]["domain"], edge["domain"]);
    assert_eq!(status["distribution"]["enabled"], true);
    // CloudWatch answers in CBOR, which moto cannot: the alarms are "not read", and the
    // rest of the status stands (the states themselves are a replay test in alarms.rs).
    assert_eq!(status["alarms"], serde_json::json!([]), "{status}");
    let unread = status["alarms_unread"].as_array().unwrap();
    assert_eq!(unread.len(), 2, "{status}");
    assert!(
        unread.iter().all(|m| m
            .as_str()
            .unwrap()
            .starts_with("cannot read the alarms in ")),
        "{status}"
    );
    assert_eq!(status["distribution"]["web_acl"], edge["web_acl_arn"]);
    assert_eq!(
        status["web_acl"]["rules"],
        serde_json::json!(["aws-common-rule-set", "aws-known-bad-inputs"])
    );
    assert_eq!(status["function"]["name"], "imgflex-resize");
    assert_eq!(status["function"]["state"], "Active");
    // The code's sha256 in hex, the form `build` and `deploy` print (Lambda says base64).
    let sha = status["function"]["code_sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sha}"
    );
    assert_eq!(status["originals_bucket"], originals.as_str());
    let (code, text, _) = run(cli(&moto, home.path()).args(["status", "--region", REGION]));
    assert_eq!(code, 0);
    assert!(text.contains("invalidations in flight: none"), "{text}");

    // Images and variants, then destroy: it refuses without a terminal or --yes ...
    let photo = workspace_root().join("tests/fixtures/rotated-exif6.jpg");
    aws_state(
        &moto,
        &["put", &originals, "photo.jpg", photo.to_str().unwrap()],
    );
    aws_state(
        &moto,
        &[
            "put",
            &variants,
            "_v/photo.jpg/w400_inside_center_q75_bgffffff_e0.webp",
            photo.to_str().unwrap(),
        ],
    );
    let before = aws_state(&moto, &["inspect"]);
    let (code, _, stderr) = run(cli(&moto, home.path()).args(["destroy", "--region", REGION]));
    assert_eq!(code, 1);
    assert!(stderr.contains("pass `--yes`"), "{stderr}");
    assert_eq!(
        aws_state(&moto, &["inspect"]),
        before,
        "a refusal changes nothing"
    );

    // ... and with it deletes both stacks, keeps the originals byte for byte.
    let (report, _) =
        json_ok(cli(&moto, home.path()).args(["destroy", "--region", REGION, "--yes"]));
    assert_eq!(
        report["deleted_stacks"],
        serde_json::json!(["imgflex", "imgflex-eu-west-1-edge"])
    );
    assert_eq!(report["kept_originals"]["bucket"], originals.as_str());
    assert_eq!(report["kept_originals"]["objects"], 1);
    let after = aws_state(&moto, &["inspect"]);
    assert_eq!(after["buckets"][&originals], before["buckets"][&originals]);
    assert!(after["buckets"].get(&variants).is_none(), "{after}");
    assert_eq!(
        after["stacks"],
        serde_json::json!({"imgflex-bootstrap@eu-west-1": "CREATE_COMPLETE"})
    );
    let (status, _) = json_ok(cli(&moto, home.path()).args(["status", "--region", REGION]));
    assert_eq!(status["deployed"], false);
}

#[test]
fn missing_credentials_or_region_is_one_clear_error() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(cli(&moto, home.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["status", "--region", REGION]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.starts_with("error: no AWS credentials found"),
        "{stderr}"
    );
    assert!(stderr.contains("aws configure"), "{stderr}");
    assert!(!stderr.contains("panicked"));

    let (code, _, stderr) = run(cli(&moto, home.path()).args(["deploy", "--dry-run"]));
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: no AWS region is configured"),
        "{stderr}"
    );
    assert!(stderr.contains("--region"), "{stderr}");
}

#[test]
fn a_busy_stack_and_a_destructive_change_are_refused() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    let zip = zip.to_str().unwrap();
    let deploy = |extra: &[&str]| {
        let mut cmd = cli(&moto, home.path());
        cmd.args(["deploy", "--region", REGION, "--yes", "--handler-zip", zip])
            .args(["--stack-name", "shop"])
            .args(extra);
        run(&mut cmd)
    };

    // A stack left mid-create by an earlier failure: one message, nothing touched.
    aws_state(&moto, &["stuck-stack", "shop"]);
    let (code, _, stderr) = deploy(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("stack `shop` (eu-west-1) is busy: CREATE_IN_PROGRESS"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");

    // A deployed stack whose template once had one more bucket: removing it loses data.
    let moto = Moto::start();
    let deploy = |extra: &[&str]| {
        let mut cmd = cli(&moto, home.path());
        cmd.args(["deploy", "--region", REGION, "--yes", "--handler-zip", zip])
            .args(["--stack-name", "shop"])
            .args(extra);
        run(&mut cmd)
    };
    aws_state(&moto, &["edge-resources", "shop"]);
    let (code, _, stderr) = deploy(&[]);
    assert_eq!(code, 0, "{stderr}");
    let legacy = aws_state(&moto, &["add-legacy-bucket", "shop"]);
    let legacy = legacy["legacy"][0].as_str().unwrap().to_string();
    let before = aws_state(&moto, &["inspect"]);
    let (code, _, stderr) = deploy(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("would replace or delete resources that hold data: `LegacyBucket`"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-replace"), "{stderr}");
    assert_eq!(
        aws_state(&moto, &["inspect"]),
        before,
        "nothing was changed"
    );

    let (code, _, stderr) = deploy(&["--allow-replace"]);
    assert_eq!(code, 0, "{stderr}");
    let after = aws_state(&moto, &["inspect"]);
    assert!(after["buckets"].get(&legacy).is_none(), "{after}");
}

#[test]
fn a_bad_region_or_a_missing_toolchain_is_refused_before_any_call() {
    // No endpoint, no credentials: a region that is not one is refused first, as JSON too.
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(imgflex()
        .current_dir(home.path())
        .args(["status", "--region", "mars-1", "--output", "json"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`mars-1` (--region) is not an AWS region"),
        "{stderr}"
    );
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mars-1"),
        "{error}"
    );

    // No cargo-lambda (nor rustc) on PATH and no --handler-zip: the deploy stops before it
    // creates anything, even a dry run's change set.
    let moto = Moto::start();
    let (code, _, stderr) = run(cli(&moto, home.path()).env("PATH", "/usr/bin:/bin").args([
        "deploy",
        "--region",
        REGION,
        "--dry-run",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot run `rustc`") || stderr.contains("cannot build the handler"),
        "{stderr}"
    );
    assert_eq!(
        aws_state(&moto, &["inspect"])["stacks"],
        serde_json::json!({})
    );
}

#[test]
fn a_bad_handler_zip_or_stack_name_is_refused_before_any_call() {
    let home = tempfile::tempdir().unwrap();
    let not_zip = home.path().join("handler.zip");
    std::fs::write(&not_zip, b"not a zip").unwrap();
    // No endpoint and no credentials: these must fail before AWS is ever asked.
    let (code, _, stderr) = run(imgflex()
        .current_dir(home.path())
        .args(["deploy", "--region", REGION, "--handler-zip"])
        .arg(&not_zip));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("is not a handler zip for arm64"),
        "{stderr}"
    );
    let (code, _, stderr) = run(imgflex().current_dir(home.path()).args([
        "deploy",
        "--region",
        REGION,
        "--stack-name",
        "my_stack",
    ]));
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid stack name `my_stack`"), "{stderr}");
}
