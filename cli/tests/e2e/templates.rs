//! The rendered templates: the AWS facts of DESIGN §1 are in them, cfn-lint accepts them, the
//! generated edge function agrees with the URL table under node, and the main stack deploys
//! on a moto server.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Moto, imgflex, python, tool, workspace_root};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

pub(crate) fn render(config: Option<&Path>) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = imgflex();
    cmd.args(["render", "--output", "json", "--out"])
        .arg(dir.path());
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).unwrap();
    (dir, report)
}

fn load(path: PathBuf) -> Yaml {
    let text = std::fs::read_to_string(&path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

/// Every Allow statement of every IAM/bucket policy document in the template.
fn statements(template: &Yaml) -> Vec<(String, Yaml)> {
    let mut out = Vec::new();
    for (name, res) in template["Resources"].as_hash().unwrap() {
        let props = &res["Properties"];
        let mut docs = vec![props["PolicyDocument"].clone()];
        if let Some(policies) = props["Policies"].as_vec() {
            docs.extend(policies.iter().map(|p| p["PolicyDocument"].clone()));
        }
        for doc in docs {
            for st in doc["Statement"].as_vec().into_iter().flatten() {
                out.push((s(name).to_string(), st.clone()));
            }
        }
    }
    out
}

fn list(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(items) => items.iter().map(|i| format!("{i:?}")).collect(),
        Yaml::BadValue => vec![],
        other => vec![format!("{other:?}")],
    }
}

/// Each parameter's `Default` in a rendered template, as the string CloudFormation shows.
pub(crate) fn defaults(template: &Path) -> std::collections::BTreeMap<String, String> {
    let y = load(template.to_path_buf());
    y["Parameters"]
        .as_hash()
        .unwrap()
        .iter()
        .filter_map(|(name, p)| {
            let value = match &p["Default"] {
                Yaml::String(v) => v.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                Yaml::BadValue => return None,
                other => panic!("default {other:?}"),
            };
            Some((s(name).to_string(), value))
        })
        .collect()
}

#[test]
fn the_stack_settings_have_their_resources() {
    let (dir, _) = render(None);
    let main = load(dir.path().join("main.yaml"));
    let edge = load(dir.path().join("edge.yaml"));
    let r = &main["Resources"];
    let dist = &r["Distribution"]["Properties"]["DistributionConfig"];

    // Origin Shield on every origin, only when a region is given.
    for origin in dist["Origins"].as_vec().unwrap() {
        let shield = format!("{:?}", origin["OriginShield"]);
        assert!(
            shield.contains("HasOriginShield") && shield.contains("OriginShieldRegion"),
            "{:?}: {shield}",
            origin["Id"]
        );
    }
    assert!(format!("{:?}", dist["ViewerCertificate"]).contains("MinimumProtocolVersion"));

    // Client hints: every response asks for the hints `w=auto` and `dpr=auto` read, with CORS
    // or without; the Vary that lists them only without (CloudFront's CORS owns Vary).
    let custom = format!(
        "{:?}",
        r["ImageResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["CustomHeadersConfig"]
    );
    let value = |v: &str| format!("String(\"{v}\")");
    assert_eq!(
        custom.matches(&value(imgflex_core::ACCEPT_CH)).count(),
        2,
        "{custom}"
    );
    assert_eq!(
        custom.matches(&value(imgflex_core::VARY)).count(),
        1,
        "{custom}"
    );
    assert!(format!("{:?}", dist["Logging"]).contains("CloudFrontLogsBucketDomain"));

    // A bucket of the team's own instead of a created one: the created bucket and its policy
    // are conditional, and everything that names the originals follows the condition.
    for name in ["OriginalsBucket", "OriginalsBucketPolicy"] {
        assert_eq!(s(&r[name]["Condition"]), "CreateOriginalsBucket", "{name}");
    }
    let env = format!(
        "{:?}",
        r["ResizeFunction"]["Properties"]["Environment"]["Variables"]["IMGFLEX_ORIGINALS_BUCKET"]
    );
    assert!(
        env.contains("CreateOriginalsBucket") && env.contains("OriginalsBucketName"),
        "{env}"
    );
    for (name, st) in statements(&main) {
        if name == "HandlerRole" && format!("{st:?}").contains("Originals") {
            assert!(
                format!("{:?}", st["Resource"]).contains("CreateOriginalsBucket"),
                "{st:?}"
            );
        }
    }
    // The buckets a destroy keeps carry the tags the next deploy finds them by.
    for (bucket, role) in [
        ("OriginalsBucket", "originals"),
        ("LogsBucket", "logs"),
        ("VariantsBucket", "variants"),
    ] {
        let tags = format!("{:?}", r[bucket]["Properties"]["Tags"]);
        for needle in ["imgflex:stack", "imgflex:region", "imgflex:role", role] {
            assert!(tags.contains(needle), "{bucket}: {tags}");
        }
    }

    // WAF: one IP set per list and family, each conditional; the rules in their order.
    let er = &edge["Resources"];
    let ipsets: Vec<(String, String)> = er
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, res)| s(&res["Type"]) == "AWS::WAFv2::IPSet")
        .map(|(name, res)| (s(name).to_string(), s(&res["Condition"]).to_string()))
        .collect();
    assert_eq!(ipsets.len(), 4, "{ipsets:?}");
    for (name, condition) in &ipsets {
        assert!(condition.starts_with("Has"), "{name}: {condition}");
    }
    let acl = er
        .as_hash()
        .unwrap()
        .values()
        .find(|res| s(&res["Type"]) == "AWS::WAFv2::WebACL")
        .unwrap();
    let rules = format!("{:?}", acl["Properties"]["Rules"]);
    let order: Vec<usize> = [
        "allow-ipv4",
        "allow-ipv6",
        "block-ipv4",
        "block-ipv6",
        "allow-countries",
        "block-countries",
        "rate-limit-per-ip",
        "aws-common-rule-set",
        "aws-known-bad-inputs",
    ]
    .iter()
    .map(|name| {
        rules
            .find(&format!("\"{name}\""))
            .unwrap_or_else(|| panic!("{name} missing"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "rules out of order: {order:?}"
    );
    assert!(
        rules.contains("GeoMatchStatement") && rules.contains("NotStatement"),
        "{rules}"
    );
    assert!(rules.contains("IPSetReferenceStatement"), "{rules}");
    // The CloudFront logs bucket of the regions that cannot receive them: conditional, tagged.
    let cdn_logs = &er["CdnLogsBucket"];
    assert_eq!(s(&cdn_logs["Condition"]), "CreateCdnLogsBucket");
    assert!(format!("{:?}", cdn_logs["Properties"]["Tags"]).contains("cdn-logs"));
    assert_ne!(
        s(&cdn_logs["Properties"]["OwnershipControls"]["Rules"][0]["ObjectOwnership"]),
        "BucketOwnerEnforced"
    );
}

#[test]
fn the_design_facts_are_in_the_templates() {
    let (dir, report) = render(None);
    let main = load(dir.path().join("main.yaml"));
    let edge = load(dir.path().join("edge.yaml"));
    let bootstrap = load(dir.path().join("bootstrap.yaml"));
    let r = &main["Resources"];
    let dist = &r["Distribution"]["Properties"]["DistributionConfig"];

    // Origin access control on every origin: S3 for both buckets, lambda for the function URL.
    assert_eq!(
        s(
            &r["S3OriginAccessControl"]["Properties"]["OriginAccessControlConfig"]["OriginAccessControlOriginType"]
        ),
        "s3"
    );
    assert_eq!(
        s(
            &r["LambdaOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]["OriginAccessControlOriginType"]
        ),
        "lambda"
    );
    let origins = dist["Origins"].as_vec().unwrap();
    assert_eq!(origins.len(), 3);
    for origin in origins {
        let oac = format!("{:?}", origin["OriginAccessControlId"]);
        let want = if s(&origin["Id"]) == "resize" {
            "LambdaOriginAccessControl"
        } else {
            "S3OriginAccessControl"
        };
        assert!(oac.contains(want), "origin {:?} uses {oac}", origin["Id"]);
    }
    assert_eq!(
        s(&r["ResizeFunctionUrl"]["Properties"]["AuthType"]),
        "AWS_IAM"
    );

    // Failover on 403 (S3's answer for a missing key to a principal without ListBucket) and 404.
    let group = &dist["OriginGroups"]["Items"][0];
    let codes: Vec<i64> = group["FailoverCriteria"]["StatusCodes"]["Items"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .collect();
    assert!(codes.contains(&403) && codes.contains(&404), "{codes:?}");
    let members: Vec<&str> = group["Members"]["Items"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| s(&m["OriginId"]))
        .collect();
    assert_eq!(members, ["variants", "resize"]);
    assert_eq!(
        s(&dist["DefaultCacheBehavior"]["TargetOriginId"]),
        s(&group["Id"])
    );

    // Both Lambda permissions, for CloudFront, with the distribution as the source.
    let mut actions = Vec::new();
    for (_, res) in r.as_hash().unwrap() {
        if s(&res["Type"]) == "AWS::Lambda::Permission" {
            let p = &res["Properties"];
            assert_eq!(s(&p["Principal"]), "cloudfront.amazonaws.com");
            assert!(format!("{:?}", p["SourceArn"]).contains("distribution/${Distribution}"));
            actions.push(s(&p["Action"]).to_string());
        }
    }
    actions.sort();
    assert_eq!(
        actions,
        ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    );

    // WAF: CLOUDFRONT scope, in a template that refuses any region but us-east-1.
    let acl = edge["Resources"]
        .as_hash()
        .unwrap()
        .values()
        .find(|res| s(&res["Type"]) == "AWS::WAFv2::WebACL")
        .unwrap();
    assert_eq!(s(&acl["Properties"]["Scope"]), "CLOUDFRONT");
    let rules = format!("{:?}", acl["Properties"]["Rules"]);
    for rule in [
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "RateBasedStatement",
    ] {
        assert!(rules.contains(rule), "{rule} missing");
    }
    assert!(
        format!("{:?}", edge["Rules"]).contains("us-east-1"),
        "edge.yaml must refuse other regions"
    );
    assert!(
        format!("{:?}", edge).contains("aws-waf-logs-"),
        "WAF logs only to aws-waf-logs-* groups"
    );

    // Standard logging needs ACLs: not BucketOwnerEnforced on the logs bucket.
    let ownership =
        s(&r["LogsBucket"]["Properties"]["OwnershipControls"]["Rules"][0]["ObjectOwnership"]);
    assert_ne!(ownership, "BucketOwnerEnforced");
    assert!(!dist["Logging"]["Bucket"].is_badvalue());

    // TLS-only bucket policies everywhere; no s3:* granted, no wildcard resource in the role.
    for template in [&main, &bootstrap] {
        for (name, res) in template["Resources"].as_hash().unwrap() {
            if s(&res["Type"]) == "AWS::S3::BucketPolicy" {
                let text = format!("{:?}", res["Properties"]["PolicyDocument"]);
                assert!(
                    text.contains("aws:SecureTransport") && text.contains("Deny"),
                    "{name:?} is not TLS-only"
                );
            }
        }
        for (name, st) in statements(template) {
            if s(&st["Effect"]) == "Allow" {
                assert!(
                    !list(&st["Action"])
                        .iter()
                        .any(|a| a.contains("s3:*") || a == "String(\"*\")"),
                    "{name} allows {:?}",
                    st["Action"]
                );
            }
        }
    }
    for (name, st) in statements(&main) {
        if name == "HandlerRole" {
            assert!(
                !list(&st["Resource"]).iter().any(|r| r == "String(\"*\")"),
                "wildcard resource in {st:?}"
            );
        }
    }
    let bucket_count = r
        .as_hash()
        .unwrap()
        .values()
        .filter(|res| s(&res["Type"]) == "AWS::S3::Bucket")
        .count();
    let policy_count = r
        .as_hash()
        .unwrap()
        .values()
        .filter(|res| s(&res["Type"]) == "AWS::S3::BucketPolicy")
        .count();
    assert_eq!(
        bucket_count, policy_count,
        "every bucket has a (TLS-only) policy"
    );

    // The cache key is the URI alone.
    let key = &r["UriOnlyCachePolicy"]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"];
    assert_eq!(s(&key["QueryStringsConfig"]["QueryStringBehavior"]), "none");
    assert_eq!(s(&key["HeadersConfig"]["HeaderBehavior"]), "none");
    assert_eq!(s(&key["CookiesConfig"]["CookieBehavior"]), "none");
    // ...while the origin also gets the viewer's URL from the edge function, where the
    // handler's 302 for an oversize output points (not the Host header: OAC to a function
    // URL refuses it).
    let behavior = &dist["DefaultCacheBehavior"];
    let (name, policy) = r
        .as_hash()
        .unwrap()
        .iter()
        .find(|(_, res)| s(&res["Type"]) == "AWS::CloudFront::OriginRequestPolicy")
        .expect("an origin request policy");
    assert!(format!("{:?}", behavior["OriginRequestPolicyId"]).contains(s(name)));
    let forwarded = &policy["Properties"]["OriginRequestPolicyConfig"];
    assert_eq!(
        s(&forwarded["HeadersConfig"]["HeaderBehavior"]),
        "whitelist"
    );
    let headers: Vec<&str> = forwarded["HeadersConfig"]["Headers"]
        .as_vec()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert_eq!(headers, [imgflex_core::VIEWER_URL_HEADER]);
    assert_eq!(
        s(&forwarded["QueryStringsConfig"]["QueryStringBehavior"]),
        "none"
    );

    // HTTPS only, HTTP/2 and 3, the viewer-request function attached.
    assert_eq!(
        s(&dist["DefaultCacheBehavior"]["ViewerProtocolPolicy"]),
        "https-only"
    );
    assert_eq!(s(&dist["HttpVersion"]), "http2and3");
    let assoc = &dist["DefaultCacheBehavior"]["FunctionAssociations"][0];
    assert_eq!(s(&assoc["EventType"]), "viewer-request");
    let function = &r["EdgeFunction"]["Properties"];
    assert_eq!(
        s(&function["FunctionConfig"]["Runtime"]),
        "cloudfront-js-2.0"
    );
    let code = s(&function["FunctionCode"]);
    assert_eq!(
        code.trim_end(),
        std::fs::read_to_string(dir.path().join("edge-function.js"))
            .unwrap()
            .trim_end()
    );
    assert!(
        code.contains("selectRequestOriginById(\"originals\")"),
        "plain originals go to the `originals` origin"
    );
    assert!(origins.iter().any(|o| s(&o["Id"]) == "originals"));
    assert!(
        code.contains(&format!("[\"{}\"]", imgflex_core::VIEWER_URL_HEADER)),
        "the edge function sets the header the origin request policy forwards"
    );
    let js = std::fs::read_to_string(dir.path().join("edge-function.js")).unwrap();
    assert_eq!(
        report["function_bytes"].as_u64().unwrap() as usize,
        js.len()
    );
    assert!(report["function_bytes"].as_u64().unwrap() <= 10 * 1024);

    // The Lambda: provided.al2023, arm64 unless told otherwise; originals retained.
    let lambda = &r["ResizeFunction"]["Properties"];
    assert_eq!(s(&lambda["Runtime"]), "provided.al2023");
    assert_eq!(s(&main["Parameters"]["Architecture"]["Default"]), "arm64");
    assert_eq!(s(&r["OriginalsBucket"]["DeletionPolicy"]), "Retain");
    assert_eq!(
        s(&r["OriginalsBucket"]["Properties"]["VersioningConfiguration"]["Status"]),
        "Enabled"
    );
}

#[test]
fn cfn_lint_accepts_every_rendered_template() {
    let (dir, _) = render(None);
    let out = Command::new(tool("cfn-lint"))
        .args(["main.yaml", "edge.yaml", "bootstrap.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_main_stack_deploys_on_moto() {
    let moto = Moto::start();
    let (dir, _) = render(None);
    let out = Command::new(python())
        .arg(workspace_root().join("tests/moto/deploy_check.py"))
        .arg(dir.path().join("main.yaml"))
        .args(["--endpoint", &moto.endpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "CREATE_COMPLETE", "{report:#}");
    for resource in [
        "OriginalsBucket",
        "VariantsBucket",
        "LogsBucket",
        "HandlerRole",
        "ResizeFunction",
        "HandlerLogGroup",
    ] {
        assert_eq!(
            report["exists"][resource], true,
            "{resource} missing: {report:#}"
        );
    }
    assert_eq!(report["function"]["Runtime"], "provided.al2023");
    assert_eq!(report["function"]["Handler"], "bootstrap");
    assert!(
        report["environment"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "IMGFLEX_VARIANTS_BUCKET")
    );
    // The outputs the CLI reads. moto skips CloudFront, so `DistributionId` cannot resolve
    // there; everything else must.
    for output in [
        "OriginalsBucketName",
        "VariantsBucketName",
        "LogsBucketName",
        "FunctionName",
        "FunctionArn",
        "LogGroupName",
        "EdgeFunctionName",
        "Region",
    ] {
        assert!(
            report["outputs"][output].is_string(),
            "output {output} missing: {report:#}"
        );
    }
}

#[test]
fn the_alarms_are_in_the_templates() {
    let (dir, _) = render(None);
    let main = load(dir.path().join("main.yaml"));
    let edge = load(dir.path().join("edge.yaml"));

    /// An alarm's (or a metric's) dimensions, as (name, value) pairs in template order.
    fn dimensions(metric: &Yaml) -> Vec<(String, String)> {
        metric["Dimensions"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|d| (s(&d["Name"]).to_string(), s(&d["Value"]).to_string()))
            .collect()
    }
    fn refs(y: &Yaml) -> Vec<&str> {
        y.as_vec().unwrap().iter().map(s).collect()
    }

    // One topic per stack, because an alarm can only notify a topic in its own region:
    // unencrypted (CloudWatch cannot publish to an aws/sns-encrypted topic), the skip
    // documented; the email subscription only with an address; a policy letting CloudWatch
    // (and, in us-east-1, Budgets) publish for this account only.
    for (template, topic, subscription, policy, publishers) in [
        (
            &main,
            "AlarmTopic",
            "AlarmEmailSubscription",
            "AlarmTopicPolicy",
            vec!["cloudwatch.amazonaws.com"],
        ),
        (
            &edge,
            "EdgeAlarmTopic",
            "EdgeAlarmEmailSubscription",
            "EdgeAlarmTopicPolicy",
            vec!["cloudwatch.amazonaws.com", "budgets.amazonaws.com"],
        ),
    ] {
        let r = &template["Resources"];
        assert_eq!(s(&r[topic]["Type"]), "AWS::SNS::Topic");
        assert_eq!(
            s(&r[topic]["Properties"]["TopicName"]),
            "${AWS::StackName}-alarms"
        );
        assert!(
            r[topic]["Properties"]["KmsMasterKeyId"].is_badvalue(),
            "{topic}: CloudWatch cannot publish to a topic encrypted with aws/sns"
        );
        let skips = format!("{:?}", r[topic]["Metadata"]["checkov"]["skip"]);
        assert!(skips.contains("CKV_AWS_26"), "{topic}: {skips}");

        let email = &template["Parameters"]["AlarmEmail"];
        assert_eq!(s(&email["Type"]), "String");
        assert_eq!(s(&email["Default"]), "");
        assert!(
            s(&email["AllowedPattern"]).starts_with("^$|"),
            "an empty AlarmEmail must be allowed"
        );
        assert!(format!("{:?}", template["Conditions"]["HasAlarmEmail"]).contains("AlarmEmail"));
        let sub = &r[subscription];
        assert_eq!(s(&sub["Type"]), "AWS::SNS::Subscription");
        assert_eq!(s(&sub["Condition"]), "HasAlarmEmail");
        assert_eq!(s(&sub["Properties"]["Protocol"]), "email");
        assert_eq!(s(&sub["Properties"]["TopicArn"]), topic);
        assert_eq!(s(&sub["Properties"]["Endpoint"]), "AlarmEmail");

        let pol = &r[policy];
        assert_eq!(s(&pol["Type"]), "AWS::SNS::TopicPolicy");
        assert_eq!(refs(&pol["Properties"]["Topics"]), [topic]);
        let policy_statements = pol["Properties"]["PolicyDocument"]["Statement"]
            .as_vec()
            .unwrap();
        assert_eq!(
            policy_statements.len(),
            1,
            "{policy}: {policy_statements:?}"
        );
        let st = &policy_statements[0];
        assert_eq!(s(&st["Effect"]), "Allow");
        assert_eq!(s(&st["Action"]), "sns:Publish");
        assert_eq!(s(&st["Resource"]), topic);
        let mut services = list(&st["Principal"]["Service"]);
        services.sort();
        let mut want: Vec<String> = publishers
            .iter()
            .map(|p| format!("String({p:?})"))
            .collect();
        want.sort();
        assert_eq!(services, want, "{policy}");
        assert_eq!(
            s(&st["Condition"]["StringEquals"]["aws:SourceAccount"]),
            "AWS::AccountId"
        );

        assert_eq!(s(&template["Outputs"]["AlarmTopicArn"]["Value"]), topic);
    }

    // The plain (one-metric) alarms: what they watch and when they fire.
    let function = vec![("FunctionName".to_string(), "ResizeFunction".to_string())];
    let web_acl_metric =
        s(&edge["Resources"]["WebAcl"]["Properties"]["VisibilityConfig"]["MetricName"]);
    for (
        template,
        topic,
        name,
        suffix,
        namespace,
        metric,
        dims,
        stat,
        threshold,
        operator,
        periods,
        datapoints,
    ) in [
        (
            &main,
            "AlarmTopic",
            "HandlerErrorsAlarm",
            "handler-errors",
            "AWS/Lambda",
            "Errors",
            function.clone(),
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
            1,
            1,
        ),
        (
            &main,
            "AlarmTopic",
            "HandlerThrottlesAlarm",
            "handler-throttles",
            "AWS/Lambda",
            "Throttles",
            function.clone(),
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
            1,
            1,
        ),
        (
            &edge,
            "EdgeAlarmTopic",
            "CdnErrorRateAlarm",
            "cdn-5xx",
            "AWS/CloudFront",
            "5xxErrorRate",
            vec![
                ("DistributionId".to_string(), "DistributionId".to_string()),
                ("Region".to_string(), "Global".to_string()),
            ],
            "Average",
            5,
            "GreaterThanThreshold",
            3,
            2,
        ),
        // A CLOUDFRONT-scope web ACL's metrics have no Region dimension; WebACL is the ACL's
        // metric name.
        (
            &edge,
            "EdgeAlarmTopic",
            "WafBlockedAlarm",
            "waf-blocked",
            "AWS/WAFV2",
            "BlockedRequests",
            vec![
                ("WebACL".to_string(), web_acl_metric.to_string()),
                ("Rule".to_string(), "ALL".to_string()),
            ],
            "Sum",
            1000,
            "GreaterThanThreshold",
            1,
            1,
        ),
    ] {
        let alarm = &template["Resources"][name];
        assert_eq!(s(&alarm["Type"]), "AWS::CloudWatch::Alarm", "{name}");
        let p = &alarm["Properties"];
        assert_eq!(s(&p["AlarmName"]), format!("${{AWS::StackName}}-{suffix}"));
        assert!(!s(&p["AlarmDescription"]).is_empty(), "{name}");
        assert_eq!(s(&p["Namespace"]), namespace, "{name}");
        assert_eq!(s(&p["MetricName"]), metric, "{name}");
        assert_eq!(dimensions(p), dims, "{name}");
        assert_eq!(s(&p["Statistic"]), stat, "{name}");
        assert_eq!(p["Period"].as_i64(), Some(300), "{name}");
        assert_eq!(p["Threshold"].as_i64(), Some(threshold), "{name}");
        assert_eq!(s(&p["ComparisonOperator"]), operator, "{name}");
        assert_eq!(p["EvaluationPeriods"].as_i64(), Some(periods), "{name}");
        assert_eq!(p["DatapointsToAlarm"].as_i64(), Some(datapoints), "{name}");
        assert_eq!(s(&p["TreatMissingData"]), "notBreaching", "{name}");
        assert_eq!(refs(&p["AlarmActions"]), [topic], "{name}");
        assert_eq!(refs(&p["OKActions"]), [topic], "{name}");
    }
    assert_eq!(
        s(&edge["Resources"]["WebAcl"]["Properties"]["Name"]),
        "${AWS::StackName}-web-acl"
    );
    // The CDN alarm needs the distribution, which does not exist on the very first deploy.
    assert_eq!(
        s(&edge["Resources"]["CdnErrorRateAlarm"]["Condition"]),
        "HasDistribution"
    );
    let distribution = &edge["Parameters"]["DistributionId"];
    assert_eq!(s(&distribution["Type"]), "String");
    assert_eq!(s(&distribution["Default"]), "");
    assert!(format!("{:?}", edge["Conditions"]["HasDistribution"]).contains("DistributionId"));
    for name in [
        "HandlerErrorsAlarm",
        "HandlerThrottlesAlarm",
        "HandlerDurationAlarm",
    ] {
        assert!(
            main["Resources"][name]["Condition"].is_badvalue(),
            "{name} is always there"
        );
    }
    assert!(edge["Resources"]["WafBlockedAlarm"]["Condition"].is_badvalue());

    // Duration: p99 above 80% of the Timeout parameter. CloudFormation cannot multiply, so
    // metric math divides the p99 (ms) by the timeout (s) and compares with a fixed 800.
    let duration = &main["Resources"]["HandlerDurationAlarm"];
    assert_eq!(s(&duration["Type"]), "AWS::CloudWatch::Alarm");
    let p = &duration["Properties"];
    assert_eq!(s(&p["AlarmName"]), "${AWS::StackName}-handler-duration");
    assert!(!s(&p["AlarmDescription"]).is_empty());
    for single in [
        "Namespace",
        "MetricName",
        "Statistic",
        "ExtendedStatistic",
        "Period",
    ] {
        assert!(
            p[single].is_badvalue(),
            "a metric-math alarm has no top-level {single}"
        );
    }
    let queries = p["Metrics"].as_vec().unwrap();
    assert_eq!(queries.len(), 2, "{queries:?}");
    let m1 = &queries[0];
    assert_eq!(s(&m1["Id"]), "m1");
    assert_eq!(m1["ReturnData"].as_bool(), Some(false));
    let stat = &m1["MetricStat"];
    assert_eq!(s(&stat["Metric"]["Namespace"]), "AWS/Lambda");
    assert_eq!(s(&stat["Metric"]["MetricName"]), "Duration");
    assert_eq!(dimensions(&stat["Metric"]), function);
    assert_eq!(stat["Period"].as_i64(), Some(300));
    assert_eq!(s(&stat["Stat"]), "p99");
    let e1 = &queries[1];
    assert_eq!(s(&e1["Id"]), "e1");
    assert_eq!(e1["ReturnData"].as_bool(), Some(true));
    let expression = s(&e1["Expression"]);
    assert!(
        expression.contains("m1") && expression.contains("${Timeout}"),
        "{expression}"
    );
    assert_eq!(p["Threshold"].as_i64(), Some(800));
    assert_eq!(s(&p["ComparisonOperator"]), "GreaterThanThreshold");
    assert_eq!(p["EvaluationPeriods"].as_i64(), Some(3));
    assert_eq!(p["DatapointsToAlarm"].as_i64(), Some(2));
    assert_eq!(s(&p["TreatMissingData"]), "notBreaching");
    assert_eq!(refs(&p["AlarmActions"]), ["AlarmTopic"]);
    assert_eq!(refs(&p["OKActions"]), ["AlarmTopic"]);
    // ...and Timeout is the function's own timeout, in seconds.
    assert_eq!(
        s(&main["Resources"]["ResizeFunction"]["Properties"]["Timeout"]),
        "Timeout"
    );
    assert_eq!(s(&main["Parameters"]["Timeout"]["Type"]), "Number");

    // The monthly budget: only with an amount, the whole account's cost, to the edge topic.
    let budget_usd = &edge["Parameters"]["MonthlyBudgetUsd"];
    assert_eq!(s(&budget_usd["Type"]), "Number");
    assert_eq!(budget_usd["Default"].as_i64(), Some(0));
    assert_eq!(budget_usd["MinValue"].as_i64(), Some(0));
    assert!(format!("{:?}", edge["Conditions"]["HasBudget"]).contains("MonthlyBudgetUsd"));
    let budget = &edge["Resources"]["MonthlyBudget"];
    assert_eq!(s(&budget["Type"]), "AWS::Budgets::Budget");
    assert_eq!(s(&budget["Condition"]), "HasBudget");
    assert_eq!(s(&budget["DependsOn"]), "EdgeAlarmTopicPolicy");
    let b = &budget["Properties"]["Budget"];
    assert_eq!(s(&b["BudgetName"]), "${AWS::StackName}-monthly");
    assert_eq!(s(&b["BudgetType"]), "COST");
    assert_eq!(s(&b["TimeUnit"]), "MONTHLY");
    assert_eq!(s(&b["BudgetLimit"]["Amount"]), "MonthlyBudgetUsd");
    assert_eq!(s(&b["BudgetLimit"]["Unit"]), "USD");
    assert!(
        b["CostFilters"].is_badvalue(),
        "a per-stack filter needs activated cost allocation tags"
    );
    let notifications: Vec<String> = budget["Properties"]["NotificationsWithSubscribers"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|n| {
            let note = &n["Notification"];
            let subscribers: Vec<String> = n["Subscribers"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|sub| format!("{} {}", s(&sub["SubscriptionType"]), s(&sub["Address"])))
                .collect();
            format!(
                "{} {} {} {} -> {}",
                s(&note["NotificationType"]),
                s(&note["ComparisonOperator"]),
                note["Threshold"].as_i64().unwrap(),
                s(&note["ThresholdType"]),
                subscribers.join(", ")
            )
        })
        .collect();
    assert_eq!(
        notifications,
        [
            "ACTUAL GREATER_THAN 80 PERCENTAGE -> SNS EdgeAlarmTopic",
            "FORECASTED GREATER_THAN 100 PERCENTAGE -> SNS EdgeAlarmTopic",
        ]
    );
}
