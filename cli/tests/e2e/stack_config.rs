//! The stack as configuration: `imgflex.toml`'s stack tables reach every parameter of both
//! stacks (and the resources moto keeps), a value changed behind imgflex's back is shown and
//! kept unless confirmed, `destroy` then `deploy` reuses the retained originals, a team's
//! own bucket keeps its policy, the limits are checked before AWS is called, and the AWS
//! connection fails fast and clearly (an unknown profile, a hung endpoint). The real binary
//! against a moto server on loopback.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Moto, aws_cli, imgflex, json_ok, run, workspace_root};
use serde_json::Value;

const REGION: &str = "eu-west-1";

fn state(moto: &Moto, args: &[&str]) -> Value {
    crate::support::aws_state(&moto.endpoint, REGION, args)
}

fn fake_zip(moto: &Moto, dir: &Path) -> PathBuf {
    let zip = dir.join("handler.zip");
    state(moto, &["fake-handler-zip", zip.to_str().unwrap()]);
    zip
}

fn deploy(moto: &Moto, home: &Path, zip: &Path, stack: &str, extra: &[&str]) -> Command {
    let mut cmd = aws_cli(&moto.endpoint, home);
    cmd.args(["deploy", "--region", REGION, "--stack-name", stack])
        .arg("--handler-zip")
        .arg(zip)
        .args(extra);
    cmd
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.starts_with(needle)).unwrap() + 1
}

#[test]
fn every_setting_reaches_the_stacks_and_a_console_edit_is_kept_unless_confirmed() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    let edge = state(&moto, &["edge-resources", "shop"]);
    let cert = state(
        &moto,
        &["import-certificate", "img.example.com", "*.cdn.example.com"],
    );
    let arn = cert["arn"].as_str().unwrap();
    let config = format!(
        r#"max_width = 2000

[domain]
aliases = ["img.example.com", "a.cdn.example.com"]
certificate_arn = "{arn}"

[handler]
memory = 4096
reserved_concurrency = 20
log_retention_days = 14

[cdn]
origin_shield_region = "eu-central-1"
cors_origins = ["https://app.example.com"]
minimum_tls = "TLSv1.2_2025"

[waf]
rate_limit = 500
allow_ips = ["203.0.113.7"]
block_ips = ["198.51.100.0/24", "2001:db8::/32"]
block_countries = ["kp"]

[storage]
variants_expiration_days = 30
"#
    );
    std::fs::write(home.path().join("imgflex.toml"), &config).unwrap();

    let (summary, stderr) = json_ok(&mut deploy(&moto, home.path(), &zip, "shop", &["--yes"]));
    let main = state(&moto, &["parameters", "shop", REGION]);
    for (key, value) in [
        ("MemorySize", "4096"),
        ("ReservedConcurrency", "20"),
        ("LogRetentionDays", "14"),
        ("OriginShieldRegion", "eu-central-1"),
        ("CorsAllowedOrigins", "https://app.example.com"),
        ("Aliases", "img.example.com,a.cdn.example.com"),
        ("AcmCertificateArn", arn),
        ("MinimumProtocolVersion", "TLSv1.2_2025"),
        ("VariantsExpirationDays", "30"),
        ("PriceClass", "PriceClass_100"),
        ("OriginalsBucketName", ""),
    ] {
        assert_eq!(main[key], value, "{key}: {main}\n{stderr}");
    }
    assert!(
        main["HandlerPolicy"]
            .as_str()
            .unwrap()
            .contains("\"max_width\":2000")
    );
    let waf = crate::support::aws_state(
        &moto.endpoint,
        "us-east-1",
        &["parameters", "shop-eu-west-1-edge", "us-east-1"],
    );
    for (key, value) in [
        ("RateLimit", "500"),
        ("AllowIpv4", "203.0.113.7/32"),
        ("AllowIpv6", ""),
        ("BlockIpv4", "198.51.100.0/24"),
        ("BlockIpv6", "2001:db8::/32"),
        ("BlockCountries", "KP"),
        ("AllowCountries", ""),
        ("CreateLogsBucket", "false"),
    ] {
        assert_eq!(waf[key], value, "{key}: {waf}");
    }
    // What moto's Lambda and CloudWatch Logs keep (its CloudFormation skips CloudFront and WAF).
    let function = state(&moto, &["function", "shop-resize"]);
    assert_eq!(function["memory"], 4096, "{function}");
    assert_eq!(function["reserved_concurrency"], 20, "{function}");
    assert_eq!(
        state(&moto, &["log-group", "/aws/lambda/shop-resize"])["retention"],
        14
    );
    // The DNS records to create, for each alias.
    let domain = edge["domain"].as_str().unwrap();
    assert_eq!(
        summary["dns_records"],
        serde_json::json!([
            {"name": "img.example.com", "kind": "CNAME", "target": domain, "route53_alias_zone": "Z2FDTNDATAQYW2"},
            {"name": "a.cdn.example.com", "kind": "CNAME", "target": domain, "route53_alias_zone": "Z2FDTNDATAQYW2"},
        ])
    );

    // Someone sets 3008 MB in the console.
    state(
        &moto,
        &["set-parameter", "shop", REGION, "MemorySize", "3008"],
    );
    assert_eq!(state(&moto, &["function", "shop-resize"])["memory"], 3008);

    // The dry run shows exactly that change, where its new value comes from, and changes nothing.
    let memory_line = line_of(&config, "memory = 4096");
    let (plan, stderr) = json_ok(&mut deploy(
        &moto,
        home.path(),
        &zip,
        "shop",
        &["--dry-run"],
    ));
    let changes = plan["stacks"][2]["plan"]["parameters"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["name"], "MemorySize");
    assert_eq!(changes[0]["old"], "3008");
    assert_eq!(changes[0]["new"], "4096");
    assert_eq!(changes[0]["key"], "handler.memory");
    assert_eq!(changes[0]["source"], format!("imgflex.toml:{memory_line}"));
    assert!(
        stderr.contains(&format!(
            "MemorySize: 3008 -> 4096  (imgflex.toml:{memory_line}, handler.memory)"
        )),
        "{stderr}"
    );
    assert_eq!(
        state(&moto, &["parameters", "shop", REGION])["MemorySize"],
        "3008"
    );

    // Without a terminal and without --yes: refused, the console's value kept.
    let (code, _, stderr) = run(&mut deploy(&moto, home.path(), &zip, "shop", &[]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("not changing the deployed parameters of `shop` without confirmation: MemorySize (handler.memory)"),
        "{stderr}"
    );
    assert!(stderr.contains("put it in imgflex.toml"), "{stderr}");
    assert_eq!(
        state(&moto, &["parameters", "shop", REGION])["MemorySize"],
        "3008"
    );
    assert_eq!(state(&moto, &["function", "shop-resize"])["memory"], 3008);

    // A flag for one run can keep it too: then nothing differs and nothing is asked.
    let (kept, stderr) = json_ok(&mut deploy(
        &moto,
        home.path(),
        &zip,
        "shop",
        &["--set", "handler.memory=3008"],
    ));
    assert_eq!(kept["stacks"][2]["outcome"], "unchanged", "{stderr}");

    // Confirmed: the file's value again.
    let (_, stderr) = json_ok(&mut deploy(&moto, home.path(), &zip, "shop", &["--yes"]));
    assert_eq!(
        state(&moto, &["parameters", "shop", REGION])["MemorySize"],
        "4096",
        "{stderr}"
    );
    assert_eq!(state(&moto, &["function", "shop-resize"])["memory"], 4096);
}

#[test]
fn a_certificate_that_does_not_cover_an_alias_stops_the_deploy_before_any_stack() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    let cert = state(&moto, &["import-certificate", "img.example.com"]);
    std::fs::write(
        home.path().join("imgflex.toml"),
        format!(
            "[domain]\naliases = [\"img.example.com\", \"www.example.com\"]\ncertificate_arn = \"{}\"\n",
            cert["arn"].as_str().unwrap()
        ),
    )
    .unwrap();
    let (code, _, stderr) = run(&mut deploy(&moto, home.path(), &zip, "shop", &["--yes"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("does not cover www.example.com"),
        "{stderr}"
    );
    assert_eq!(state(&moto, &["inspect"])["stacks"], serde_json::json!({}));
}

#[test]
fn destroy_then_deploy_reuses_the_retained_originals() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    state(&moto, &["edge-resources", "imgflex"]);
    let (first, stderr) = json_ok(&mut deploy(&moto, home.path(), &zip, "imgflex", &["--yes"]));
    let originals = first["originals_bucket"].as_str().unwrap().to_string();
    // With no stack tables, every parameter that has a template default was sent with it:
    // the CLI's defaults and the templates' are the same. (Origin Shield's region is the
    // stack's own, which the template cannot know; the rest imgflex computes.)
    let (rendered, _) = crate::templates::render(None);
    for (template, stack, region) in [
        ("main.yaml", "imgflex", REGION),
        ("edge.yaml", "imgflex-eu-west-1-edge", "us-east-1"),
        ("bootstrap.yaml", "imgflex-bootstrap", REGION),
    ] {
        let sent =
            crate::support::aws_state(&moto.endpoint, region, &["parameters", stack, region]);
        for (name, default) in crate::templates::defaults(&rendered.path().join(template)) {
            match name.as_str() {
                "OriginShieldRegion" => assert_eq!(sent[&name], REGION),
                "HandlerPolicy" | "WebAclArn" => {}
                // The main stack's distribution, given on the first deploy's second pass.
                "DistributionId" => assert_eq!(sent[&name], first["distribution_id"]),
                _ => assert_eq!(sent[&name], default.as_str(), "{template} {name}: {sent}"),
            }
        }
    }
    let tags = state(&moto, &["bucket-tags", &originals]);
    assert_eq!(tags["imgflex:role"], "originals", "{tags}\n{stderr}");
    for (key, fixture) in [
        ("photo.jpg", "rotated-exif6.jpg"),
        ("a/b.jpg", "arithmetic.jpg"),
    ] {
        let path = workspace_root().join("tests/fixtures").join(fixture);
        state(&moto, &["put", &originals, key, path.to_str().unwrap()]);
    }
    let before = state(&moto, &["objects", &originals]);

    // The dry run lists what goes and what stays, and changes nothing.
    let snapshot = state(&moto, &["inspect"]);
    let (plan, _) = json_ok(aws_cli(&moto.endpoint, home.path()).args([
        "destroy",
        "--region",
        REGION,
        "--dry-run",
    ]));
    assert_eq!(plan["dry_run"], true);
    let delete = plan["delete"].to_string();
    let keep = plan["keep"].to_string();
    assert!(delete.contains("stack `imgflex` (eu-west-1)"), "{delete}");
    assert!(delete.contains("imgflex-eu-west-1-edge"), "{delete}");
    assert!(
        keep.contains(&originals) && keep.contains("uses it again"),
        "{keep}"
    );
    assert!(!delete.contains(&originals), "{delete}");
    assert_eq!(
        state(&moto, &["inspect"]),
        snapshot,
        "a dry run changes nothing"
    );

    let (report, stderr) = json_ok(
        aws_cli(&moto.endpoint, home.path()).args(["destroy", "--region", REGION, "--yes"]),
    );
    assert_eq!(report["kept_originals"]["bucket"], originals.as_str());
    assert!(stderr.contains("stopped new renders"), "{stderr}");
    let after = state(&moto, &["inspect"]);
    assert_eq!(
        after["stacks"],
        serde_json::json!({"imgflex-bootstrap@eu-west-1": "CREATE_COMPLETE"}),
        "{after}"
    );

    // The next deploy of the same stack finds the bucket by its tags and says so.
    let (second, stderr) = json_ok(&mut deploy(&moto, home.path(), &zip, "imgflex", &["--yes"]));
    assert_eq!(second["originals_bucket"], originals.as_str(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "originals: reusing s3://{originals} (2 objects), kept when `imgflex` was destroyed"
        )),
        "{stderr}"
    );
    assert_eq!(
        state(&moto, &["objects", &originals]),
        before,
        "byte for byte"
    );
    assert_eq!(
        state(&moto, &["parameters", "imgflex", REGION])["OriginalsBucketName"],
        originals.as_str()
    );
    // Not the stack's bucket any more, so the CLI gave the distribution read access itself.
    let policy = state(&moto, &["bucket-policy", &originals]);
    let statement = &policy["Statement"][0];
    assert_eq!(
        statement["Sid"], "ImgflexCloudFrontReadimgflexeuwest1",
        "{policy}"
    );
    assert!(
        statement["Condition"]["StringEquals"]["AWS:SourceArn"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "distribution/{}",
                second["distribution_id"].as_str().unwrap()
            ))
    );
    // And again: the deployed choice is kept, nothing changes.
    let (third, stderr) = json_ok(&mut deploy(&moto, home.path(), &zip, "imgflex", &["--yes"]));
    assert_eq!(third["stacks"][2]["outcome"], "unchanged", "{stderr}");

    // Destroyed again: the statement leaves with the stack, the images stay.
    json_ok(aws_cli(&moto.endpoint, home.path()).args(["destroy", "--region", REGION, "--yes"]));
    assert_eq!(state(&moto, &["bucket-policy", &originals]), Value::Null);
    assert_eq!(state(&moto, &["objects", &originals]), before);
}

#[test]
fn a_rerun_of_destroy_finishes_what_an_interrupted_one_left() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    state(&moto, &["edge-resources", "imgflex"]);
    let (first, stderr) = json_ok(&mut deploy(&moto, home.path(), &zip, "imgflex", &["--yes"]));
    let originals = first["originals_bucket"].as_str().unwrap().to_string();
    let after_deploy = state(&moto, &["inspect"]);
    let logs = after_deploy["buckets"]
        .as_object()
        .unwrap()
        .keys()
        .find(|b| b.contains("logsbucket"))
        .unwrap_or_else(|| panic!("no logs bucket: {after_deploy}\n{stderr}"))
        .clone();
    let photo = workspace_root().join("tests/fixtures/rotated-exif6.jpg");
    state(
        &moto,
        &[
            "put",
            &logs,
            "cloudfront/E1.2026-12-01-00.abc.gz",
            photo.to_str().unwrap(),
        ],
    );
    // The main stack is gone, its retained logs bucket (with a late delivery) and the edge
    // stack are not: what a destroy that died after deleting the stack leaves.
    state(&moto, &["delete-stack", "imgflex", REGION]);

    let (report, stderr) = json_ok(
        aws_cli(&moto.endpoint, home.path()).args(["destroy", "--region", REGION, "--yes"]),
    );
    let emptied: Vec<&str> = report["emptied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(emptied, [logs.as_str()], "{report}\n{stderr}");
    assert_eq!(
        report["deleted_stacks"],
        serde_json::json!(["imgflex-eu-west-1-edge"])
    );
    assert_eq!(report["kept_originals"]["bucket"], originals.as_str());
    let after = state(&moto, &["inspect"]);
    assert!(after["buckets"].get(&logs).is_none(), "{after}");
    assert!(after["buckets"].get(&originals).is_some(), "{after}");

    // Nothing left to do: it says so, and names what it keeps.
    let (code, text, _) =
        run(aws_cli(&moto.endpoint, home.path()).args(["destroy", "--region", REGION, "--yes"]));
    assert_eq!(code, 0);
    assert!(text.contains("nothing to destroy"), "{text}");
    assert!(text.contains(&originals), "{text}");
}

#[test]
fn where_cloudfront_cannot_log_the_logs_go_to_us_east_1() {
    const CAPE_TOWN: &str = "af-south-1";
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    crate::support::aws_state(&moto.endpoint, CAPE_TOWN, &["edge-resources", "imgflex"]);
    let (summary, stderr) = json_ok(
        aws_cli(&moto.endpoint, home.path())
            .args(["deploy", "--region", CAPE_TOWN, "--yes", "--handler-zip"])
            .arg(&zip),
    );
    let note = summary["cdn_logs_note"]
        .as_str()
        .unwrap_or_else(|| panic!("{summary}\n{stderr}"));
    assert!(
        note.contains("cannot deliver standard logs to a bucket in af-south-1"),
        "{note}"
    );
    assert!(note.contains("us-east-1"), "{note}");
    let edge = crate::support::aws_state(
        &moto.endpoint,
        "us-east-1",
        &["parameters", "imgflex-af-south-1-edge", "us-east-1"],
    );
    assert_eq!(edge["CreateLogsBucket"], "true");
    let main = crate::support::aws_state(
        &moto.endpoint,
        CAPE_TOWN,
        &["parameters", "imgflex", CAPE_TOWN],
    );
    let domain = main["CloudFrontLogsBucketDomain"].as_str().unwrap();
    let bucket = domain
        .strip_suffix(".s3.amazonaws.com")
        .unwrap_or_else(|| panic!("{domain}"));
    let tags = state(&moto, &["bucket-tags", bucket]);
    assert_eq!(tags["imgflex:role"], "cdn-logs", "{tags}");
    // Origin Shield: AWS's choice for Cape Town is Ireland.
    assert_eq!(main["OriginShieldRegion"], "eu-west-1");

    let (report, stderr) = json_ok(
        aws_cli(&moto.endpoint, home.path()).args(["destroy", "--region", CAPE_TOWN, "--yes"]),
    );
    let emptied = report["emptied"].to_string();
    assert!(
        emptied.contains(bucket) && emptied.contains("us-east-1"),
        "{emptied}\n{stderr}"
    );
    assert!(state(&moto, &["inspect"])["buckets"].get(bucket).is_none());
}

#[test]
fn a_teams_own_bucket_keeps_its_policy_and_is_never_deleted() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let zip = fake_zip(&moto, home.path());
    state(&moto, &["edge-resources", "imgflex"]);
    let theirs = state(&moto, &["owned-bucket", "team-originals"]);
    std::fs::write(
        home.path().join("imgflex.toml"),
        "[originals]\nbucket = \"team-originals\"\n",
    )
    .unwrap();
    let (summary, stderr) = json_ok(&mut deploy(&moto, home.path(), &zip, "imgflex", &["--yes"]));
    assert_eq!(summary["originals_bucket"], "team-originals", "{stderr}");
    let policy = state(&moto, &["bucket-policy", "team-originals"]);
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{policy}");
    assert_eq!(
        statements[0], theirs["Statement"][0],
        "the team's statement, untouched"
    );
    assert_eq!(
        statements[1]["Principal"]["Service"],
        "cloudfront.amazonaws.com"
    );

    // --delete-originals does not delete a bucket imgflex did not make.
    let (code, _, stderr) = run(aws_cli(&moto.endpoint, home.path()).args([
        "destroy",
        "--region",
        REGION,
        "--yes",
        "--delete-originals",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("was not created by imgflex"), "{stderr}");
    json_ok(aws_cli(&moto.endpoint, home.path()).args(["destroy", "--region", REGION, "--yes"]));
    assert_eq!(state(&moto, &["bucket-policy", "team-originals"]), theirs);

    // A bucket in another region, or none at all: refused before any stack is touched.
    std::fs::write(
        home.path().join("imgflex.toml"),
        "[originals]\nbucket = \"no-such-bucket\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&mut deploy(&moto, home.path(), &zip, "imgflex", &["--yes"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`no-such-bucket` (imgflex.toml:2) does not exist"),
        "{stderr}"
    );
}

#[test]
fn what_is_too_big_for_aws_is_refused_before_any_call() {
    let home = tempfile::tempdir().unwrap();
    let zip = home.path().join("handler.zip");
    // No endpoint and no credentials: reaching AWS would fail differently.
    let refuse = |config: &str, extra: &[&str]| {
        std::fs::write(home.path().join("imgflex.toml"), config).unwrap();
        let (code, out, stderr) = run(imgflex()
            .current_dir(home.path())
            .env_remove("AWS_ACCESS_KEY_ID")
            .args(["deploy", "--region", REGION, "--handler-zip"])
            .arg(&zip)
            .args(extra));
        assert_eq!(code, 1, "{out}{stderr}");
        assert!(!stderr.contains("credentials"), "{stderr}");
        stderr
    };
    // 60 presets: the policy is compiled into the edge function, whose 10 KB CloudFront
    // limit is the first to give (before the 4,096 bytes of the `HandlerPolicy` parameter and
    // the 4 KB of the handler's environment, which deploy.rs's unit tests check).
    let presets: String = (0..60)
        .map(|i| {
            format!(
                "[presets.preset-{i:03}]\nw = {}\nh = 300\nfit = \"cover\"\n",
                100 + i
            )
        })
        .collect();
    let stderr = refuse(&presets, &[]);
    assert!(stderr.contains("the edge function would be"), "{stderr}");
    // A WAF list over one parameter's 4,096 bytes, named with the key and the flag.
    let cidrs: Vec<String> = (0..400)
        .map(|i| format!("\"10.{}.{}.0/24\"", i / 256, i % 256))
        .collect();
    let flag = format!("waf.block_ips=[{}]", cidrs.join(","));
    let stderr = refuse("", &["--set", &flag]);
    assert!(stderr.contains("`BlockIpv4` (`waf.block_ips`)"), "{stderr}");
    assert!(stderr.contains("--set waf.block_ips"), "{stderr}");
    // A bad value names its line; an unknown key is refused.
    let stderr = refuse("\n[handler]\nmemory = 64\n", &[]);
    assert!(
        stderr.contains("imgflex.toml:3") && stderr.contains("handler.memory"),
        "{stderr}"
    );
    let stderr = refuse("", &["--set", "handler.memroy=1024"]);
    assert!(stderr.contains("not a stack setting"), "{stderr}");
}

#[test]
fn an_unknown_profile_and_a_hung_endpoint_fail_fast_and_clearly() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    // The environment has keys; --profile still decides, as with the AWS CLI.
    let (code, _, stderr) = run(aws_cli(&moto.endpoint, home.path()).args([
        "status",
        "--region",
        REGION,
        "--profile",
        "nope",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the AWS profile `nope` does not exist"),
        "{stderr}"
    );
    std::fs::write(
        home.path().join("no-credentials"),
        "[team]\naws_access_key_id = profilekey\naws_secret_access_key = profilesecret\n",
    )
    .unwrap();
    let (code, _, stderr) = run(aws_cli(&moto.endpoint, home.path()).args([
        "status",
        "--region",
        REGION,
        "--profile",
        "nope",
    ]));
    assert_eq!(code, 1);
    assert!(stderr.contains("the profiles here are team"), "{stderr}");
    let (code, _, stderr) = run(aws_cli(&moto.endpoint, home.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["status", "--region", REGION, "--profile", "team"]));
    assert_eq!(code, 0, "{stderr}");

    // A paused server accepts the connection and never answers.
    let pid = moto.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let (code, _, stderr) =
        run(aws_cli(&moto.endpoint, home.path()).args(["status", "--region", REGION]));
    let took = started.elapsed();
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("did not answer in time"), "{stderr}");
    assert!(stderr.contains("hint: check the network"), "{stderr}");
    // A bound on ending at all (a hang would otherwise stall the suite), not a performance
    // figure: the timeouts allow 3 attempts of 15 s.
    assert!(took < Duration::from_secs(120), "took {took:?}");
}
