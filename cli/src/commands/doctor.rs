//! `imgflex doctor`: the deployment's settings read back from AWS and checked against what
//! the request path needs, each check ok, warn or fail with what to do, so a broken link
//! is named before a viewer finds it.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::aws::{Aws, EDGE_REGION, error_code, runtime};
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::deployed::{Deployed, check_stack_name, edge_stack, web_acl_arn};
use crate::domain::check_certificate;
use crate::error::CliError;
use crate::output::Output;
use crate::stack::{State, describe};
use crate::stack_config::{Domain, Setting, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Finding {
    check: &'static str,
    level: Level,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        level: Level::Ok,
        detail: detail.into(),
        hint: None,
    }
}

fn warn(check: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Finding {
    Finding {
        check,
        level: Level::Warn,
        detail: detail.into(),
        hint: Some(hint.into()),
    }
}

fn fail(check: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Finding {
    Finding {
        check,
        level: Level::Fail,
        detail: detail.into(),
        hint: Some(hint.into()),
    }
}

#[derive(Debug, Serialize)]
struct Report {
    stack: String,
    region: String,
    findings: Vec<Finding>,
    warnings: usize,
    failures: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .findings
            .iter()
            .map(|c| c.check.len())
            .max()
            .unwrap_or(0);
        for c in &self.findings {
            let label = match c.level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            writeln!(f, "{label}  {:width$}  {}", c.check, c.detail)?;
            if let Some(hint) = &c.hint {
                writeln!(f, "      {:width$}  hint: {hint}", "")?;
            }
        }
        write!(
            f,
            "{} checks: {} failed, {} warnings",
            self.findings.len(),
            self.failures,
            self.warnings
        )
    }
}

pub fn run(args: DoctorArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    check_stack_name(&args.stack.stack_name)?;
    let (region, findings) = runtime()?.block_on(diagnose(&args.stack.stack_name, global))?;
    let count = |l: Level| findings.iter().filter(|c| c.level == l).count();
    let report = Report {
        stack: args.stack.stack_name.clone(),
        region,
        warnings: count(Level::Warn),
        failures: count(Level::Fail),
        findings,
    };
    out.data(&report)?;
    if report.failures > 0 {
        let err = CliError::new(format!(
            "{} of {} checks failed",
            report.failures,
            report.findings.len()
        ))
        .hint("each failed check says what to do; `imgflex deploy` puts back what the stack owns");
        // Printed as the result already under `--output json`.
        return Err(err.reported());
    }
    Ok(())
}

/// Every check, in the order a request meets what it checks. Without credentials or a
/// stack there is nothing further to check: that is the one finding.
async fn diagnose(stack: &str, global: &GlobalArgs) -> Result<(String, Vec<Finding>), CliError> {
    let aws = Aws::connect(global).await?;
    let region = aws.region().to_string();
    let mut findings = Vec::new();
    let account = match aws.account().await {
        Ok(account) => {
            findings.push(ok(
                "credentials",
                format!("account {account}, region {region}"),
            ));
            account
        }
        Err(e) => {
            findings.push(fail(
                "credentials",
                e.message,
                e.hint.unwrap_or_else(|| "check the AWS credentials".into()),
            ));
            return Ok((region, findings));
        }
    };
    let Some(deployed) = Deployed::find(&aws, stack).await? else {
        findings.push(fail(
            "stacks",
            format!("no stack `{stack}` in {region}"),
            format!("deploy it: imgflex deploy --region {region}"),
        ));
        return Ok((region, findings));
    };
    let edge_name = edge_stack(stack, &region);
    let edge = describe(&aws.cloudformation_in(EDGE_REGION), &edge_name).await?;
    findings.push(stacks(stack, &deployed, &edge_name, edge.as_ref()));

    let distribution = match &deployed.distribution_id {
        Some(id) => read_distribution(&aws, id).await,
        None => Err("the stack has no distribution".to_string()),
    };
    let dist_arn = deployed
        .distribution_id
        .as_ref()
        .map(|id| format!("arn:aws:cloudfront::{account}:distribution/{id}"));

    if let Some(function) = &deployed.function_name {
        findings.push(function_url(&aws, function).await);
        findings.push(lambda_permissions(&aws, function, dist_arn.as_deref()).await);
        findings.push(handler_code(&aws, function).await);
        findings.push(concurrency(&aws, function).await);
    } else {
        findings.push(fail(
            "function",
            "the stack has no resize function",
            "`imgflex deploy` creates it",
        ));
    }
    match &distribution {
        Ok(config) => findings.push(origin_access(config)),
        Err(why) => findings.push(fail(
            "origin-access-control",
            why.clone(),
            "`imgflex status` shows where the stack stands",
        )),
    }
    for (role, bucket) in [
        ("originals", &deployed.originals_bucket),
        ("variants", &deployed.variants_bucket),
    ] {
        if let Some(bucket) = bucket {
            findings.push(bucket_policy(&aws, role, bucket, dist_arn.as_deref()).await);
        }
    }
    if let Some(bucket) = &deployed.logs_bucket {
        findings.push(logs_bucket(&aws, bucket).await);
    }
    let acl = match &edge {
        Some(edge) => web_acl_arn(&aws, edge).await.ok().flatten(),
        None => None,
    };
    findings.push(web_acl(distribution.as_ref().ok(), acl.as_deref()));
    let aliases: Vec<String> = deployed
        .stack
        .parameters
        .get("Aliases")
        .map(|a| {
            a.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let certificate = deployed
        .stack
        .parameters
        .get("AcmCertificateArn")
        .filter(|c| !c.is_empty())
        .cloned();
    findings.push(match &certificate {
        None => ok(
            "certificate",
            "no custom domain: the cloudfront.net certificate",
        ),
        Some(arn) => {
            let domain = Domain {
                aliases: Setting {
                    value: aliases.clone(),
                    source: Source::Found("the deployed stack".into()),
                },
                certificate_arn: Setting {
                    value: arn.clone(),
                    source: Source::Found("the deployed stack".into()),
                },
            };
            match check_certificate(&aws, &domain).await {
                Ok(()) => ok(
                    "certificate",
                    format!("ISSUED in {EDGE_REGION}, covers {}", aliases.join(", ")),
                ),
                Err(e) => fail(
                    "certificate",
                    e.message,
                    e.hint.unwrap_or_else(|| "check `[domain]`".into()),
                ),
            }
        }
    });
    let domain = distribution.as_ref().ok().and_then(|c| c.domain.clone());
    for alias in &aliases {
        findings.push(dns(alias, domain.as_deref()).await);
    }
    Ok((region, findings))
}

fn stacks(
    stack: &str,
    deployed: &Deployed,
    edge_name: &str,
    edge: Option<&crate::stack::StackInfo>,
) -> Finding {
    let main = &deployed.stack;
    let broken = |s: &crate::stack::StackInfo| {
        matches!(s.state(), State::Failed | State::Busy) || s.status.contains("ROLLBACK")
    };
    match edge {
        None => fail(
            "stacks",
            format!(
                "`{stack}` is {}, but its edge stack `{edge_name}` ({EDGE_REGION}) does not exist",
                main.status
            ),
            "run `imgflex deploy` to create it (it holds the web ACL)",
        ),
        Some(e) if broken(main) || broken(e) => fail(
            "stacks",
            format!(
                "`{stack}` is {}, `{edge_name}` is {}",
                main.status, e.status
            ),
            "`imgflex status` shows the reason; `imgflex deploy` says what to do with a failed stack",
        ),
        Some(e) => ok(
            "stacks",
            format!("`{stack}` {}, `{edge_name}` {}", main.status, e.status),
        ),
    }
}

/// The parts of the distribution's configuration the checks read.
#[derive(Debug)]
struct DistributionView {
    domain: Option<String>,
    web_acl: String,
    /// (origin id, domain, OAC id).
    origins: Vec<(String, String, String)>,
}

async fn read_distribution(aws: &Aws, id: &str) -> Result<DistributionView, String> {
    let got = aws
        .cloudfront()
        .get_distribution()
        .id(id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read distribution {id}: {}",
                imgflex_core::error_chain(&e)
            )
        })?;
    let d = got
        .distribution()
        .ok_or_else(|| format!("distribution {id} has no configuration"))?;
    let config = d
        .distribution_config()
        .ok_or_else(|| format!("distribution {id} has no configuration"))?;
    let origins = config
        .origins()
        .map(|o| {
            o.items()
                .iter()
                .map(|o| {
                    (
                        o.id().to_string(),
                        o.domain_name().to_string(),
                        o.origin_access_control_id().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(DistributionView {
        domain: Some(d.domain_name().to_string()),
        web_acl: config.web_acl_id().unwrap_or_default().to_string(),
        origins,
    })
}

async fn function_url(aws: &Aws, function: &str) -> Finding {
    const CHECK: &str = "function-url";
    match aws
        .lambda()
        .get_function_url_config()
        .function_name(function)
        .send()
        .await
    {
        Ok(c) if c.auth_type().as_str() == "AWS_IAM" => ok(
            CHECK,
            format!(
                "{} answers only signed requests (AWS_IAM)",
                c.function_url()
            ),
        ),
        Ok(c) => fail(
            CHECK,
            format!(
                "{} has auth type {}: anyone can call it, past the CDN, the WAF and the signatures",
                c.function_url(),
                c.auth_type().as_str()
            ),
            "set it back to AWS_IAM: `imgflex deploy` does (the template's), or `aws lambda update-function-url-config --auth-type AWS_IAM`",
        ),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => fail(
            CHECK,
            format!(
                "`{function}` has no function URL: the CDN's fallback origin is gone, and no variant can be rendered"
            ),
            "run `imgflex deploy` to create it again",
        ),
        Err(e) => warn(
            CHECK,
            format!(
                "cannot read the function URL: {}",
                imgflex_core::error_chain(&e)
            ),
            "the credentials need lambda:GetFunctionUrlConfig",
        ),
    }
}

/// Both grants an origin access control needs: `lambda:InvokeFunctionUrl` and (since
/// October 2025) `lambda:InvokeFunction`, each for this distribution only.
async fn lambda_permissions(aws: &Aws, function: &str, dist_arn: Option<&str>) -> Finding {
    const CHECK: &str = "lambda-permissions";
    let policy = match aws
        .lambda()
        .get_policy()
        .function_name(function)
        .send()
        .await
    {
        Ok(p) => p.policy().unwrap_or_default().to_string(),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => String::new(),
        Err(e) => {
            return warn(
                CHECK,
                format!(
                    "cannot read the function's policy: {}",
                    imgflex_core::error_chain(&e)
                ),
                "the credentials need lambda:GetPolicy",
            );
        }
    };
    let statements = statements(&policy);
    let Some(arn) = dist_arn else {
        return fail(
            CHECK,
            "no distribution to grant",
            "`imgflex status` shows where the stack stands",
        );
    };
    let missing: Vec<&str> = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
        .into_iter()
        .filter(|action| {
            !statements
                .iter()
                .any(|s| grants(s, action, "cloudfront.amazonaws.com") && mentions(s, arn))
        })
        .collect();
    if missing.is_empty() {
        ok(
            CHECK,
            "CloudFront may invoke the function URL and the function, for this distribution only",
        )
    } else {
        fail(
            CHECK,
            format!(
                "no {} for cloudfront.amazonaws.com from {arn}: every render through the CDN is a 403",
                missing.join(" or ")
            ),
            "run `imgflex deploy` (the template grants both)",
        )
    }
}

/// The statements of a policy document (JSON text; none when it is empty or not JSON).
fn statements(policy: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(policy).unwrap_or(Value::Null);
    match &doc["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Object(_) => vec![doc["Statement"].clone()],
        _ => Vec::new(),
    }
}

/// An Allow statement for `principal` (a service) with `action` among its actions.
fn grants(statement: &Value, action: &str, principal: &str) -> bool {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    statement["Effect"] == "Allow"
        && list(&statement["Action"])
            .iter()
            .any(|a| a == action || a == "*")
        && (list(&statement["Principal"]["Service"])
            .iter()
            .any(|p| p == principal)
            || statement["Principal"] == principal)
}

/// Whether the statement's condition names `arn` (as `AWS:SourceArn`, any operator).
fn mentions(statement: &Value, arn: &str) -> bool {
    fn walk(v: &Value, arn: &str) -> bool {
        match v {
            Value::String(s) => s == arn,
            Value::Array(a) => a.iter().any(|v| walk(v, arn)),
            Value::Object(o) => o.values().any(|v| walk(v, arn)),
            _ => false,
        }
    }
    walk(&statement["Condition"], arn)
}

async fn handler_code(aws: &Aws, function: &str) -> Finding {
    const CHECK: &str = "handler-code";
    let conf = match aws
        .lambda()
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
    {
        Ok(c) => c,
        Err(e) => {
            return warn(
                CHECK,
                format!(
                    "cannot read `{function}`: {}",
                    imgflex_core::error_chain(&e)
                ),
                "the credentials need lambda:GetFunctionConfiguration",
            );
        }
    };
    let arch = conf
        .architectures()
        .first()
        .map_or("arm64", |a| a.as_str())
        .to_string();
    let deployed = conf
        .code_sha256()
        .and_then(crate::build_support::base64_to_hex);
    let local = crate::build_support::newest_local_zip(&arch);
    match (local, deployed) {
        (None, _) => ok(
            CHECK,
            format!("no local {arch} build to compare (`imgflex build` makes one)"),
        ),
        (Some(zip), Some(sha)) => match crate::build_support::sha256_file(&zip) {
            Ok(local) if local == sha => ok(
                CHECK,
                format!("the deployed code is the local build `{}`", zip.display()),
            ),
            Ok(_) => warn(
                CHECK,
                format!(
                    "the deployed code differs from the local build `{}`",
                    zip.display()
                ),
                "`imgflex deploy` sends the local one (if it is the one you want)",
            ),
            Err(e) => warn(
                CHECK,
                format!("cannot read `{}`: {e}", zip.display()),
                "rebuild it with `imgflex build`",
            ),
        },
        (Some(_), None) => warn(
            CHECK,
            "Lambda reports no code hash",
            "`imgflex status` shows the function",
        ),
    }
}

async fn concurrency(aws: &Aws, function: &str) -> Finding {
    const CHECK: &str = "concurrency";
    let lambda = aws.lambda();
    let reserved = lambda
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
        .ok()
        .and_then(|c| c.reserved_concurrent_executions());
    let account = match lambda.get_account_settings().send().await {
        Ok(a) => a,
        Err(e) => {
            return warn(
                CHECK,
                format!(
                    "cannot read the account's Lambda limits ({}); the function reserves {}",
                    imgflex_core::error_chain(&e),
                    reserved.map_or("nothing".into(), |r| r.to_string())
                ),
                "the credentials need lambda:GetAccountSettings",
            );
        }
    };
    let limit = account.account_limit();
    let total = limit.map_or(0, |l| l.concurrent_executions());
    let unreserved = limit
        .and_then(|l| l.unreserved_concurrent_executions())
        .unwrap_or(0);
    match reserved {
        None | Some(0) => warn(
            CHECK,
            format!(
                "no reserved concurrency: one burst of renders may take all {total} of the account's executions"
            ),
            "set `handler.reserved_concurrency` (50 is the default where the account can spare it)",
        ),
        Some(r) if unreserved < 100 => warn(
            CHECK,
            format!(
                "reserves {r} of {total}; {unreserved} left unreserved for every other function"
            ),
            "lower `handler.reserved_concurrency`, or ask for a higher quota (Service Quotas, Lambda concurrent executions)",
        ),
        Some(r) => ok(
            CHECK,
            format!("reserves {r} of the account's {total} ({unreserved} unreserved)"),
        ),
    }
}

fn origin_access(config: &DistributionView) -> Finding {
    const CHECK: &str = "origin-access-control";
    let needs: Vec<&(String, String, String)> = config
        .origins
        .iter()
        .filter(|(_, domain, _)| domain.contains(".s3.") || domain.contains(".lambda-url."))
        .collect();
    let bare: Vec<String> = needs
        .iter()
        .filter(|(_, _, oac)| oac.is_empty())
        .map(|(id, domain, _)| format!("{id} ({domain})"))
        .collect();
    if needs.is_empty() {
        return fail(
            CHECK,
            "the distribution has no S3 or function URL origin",
            "it is not the stack's distribution, or was edited: `imgflex deploy` puts it back",
        );
    }
    if bare.is_empty() {
        ok(
            CHECK,
            format!("all {} origins sign their requests", needs.len()),
        )
    } else {
        fail(
            CHECK,
            format!(
                "no origin access control on {}: the bucket or the function URL refuses CloudFront",
                bare.join(", ")
            ),
            "run `imgflex deploy` (the template attaches one to every origin)",
        )
    }
}

async fn bucket_policy(
    aws: &Aws,
    role: &'static str,
    bucket: &str,
    dist_arn: Option<&str>,
) -> Finding {
    let check = if role == "originals" {
        "originals-policy"
    } else {
        "variants-policy"
    };
    let policy = match aws.s3().get_bucket_policy().bucket(bucket).send().await {
        Ok(p) => p.policy().unwrap_or_default().to_string(),
        Err(e) if error_code(&e) == Some("NoSuchBucketPolicy") => String::new(),
        Err(e) => {
            return warn(
                check,
                format!(
                    "cannot read the policy of s3://{bucket}: {}",
                    imgflex_core::error_chain(&e)
                ),
                "the credentials need s3:GetBucketPolicy",
            );
        }
    };
    let statements = statements(&policy);
    let reads: Vec<&Value> = statements
        .iter()
        .filter(|s| grants(s, "s3:GetObject", "cloudfront.amazonaws.com"))
        .collect();
    let Some(arn) = dist_arn else {
        return fail(
            check,
            "no distribution to grant",
            "`imgflex status` shows where the stack stands",
        );
    };
    if reads.iter().any(|s| s["Condition"].is_null()) {
        return fail(
            check,
            format!(
                "s3://{bucket} lets CloudFront read it with no condition: any distribution, of any account"
            ),
            "scope the statement with `AWS:SourceArn` to this distribution (`imgflex deploy` does for the stack's buckets)",
        );
    }
    if reads.iter().any(|s| mentions(s, arn)) {
        ok(
            check,
            format!("s3://{bucket}: readable by this distribution only"),
        )
    } else {
        fail(
            check,
            format!("s3://{bucket} has no statement letting {arn} read it: the CDN gets 403s"),
            "run `imgflex deploy` (for your own bucket it adds the one statement it needs)",
        )
    }
}

/// CloudFront's standard logs are delivered with an ACL grant: a bucket whose ACLs are
/// disabled (`BucketOwnerEnforced`) receives none.
async fn logs_bucket(aws: &Aws, bucket: &str) -> Finding {
    const CHECK: &str = "logs-bucket";
    match aws
        .s3()
        .get_bucket_ownership_controls()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(c) => {
            let rules: Vec<String> = c
                .ownership_controls()
                .map(|o| {
                    o.rules()
                        .iter()
                        .map(|r| r.object_ownership().as_str().to_string())
                        .collect()
                })
                .unwrap_or_default();
            if rules.iter().any(|r| r == "BucketOwnerEnforced") {
                fail(
                    CHECK,
                    format!(
                        "s3://{bucket} has ACLs disabled (BucketOwnerEnforced): CloudFront cannot deliver its logs, and `imgflex stats` has nothing to read"
                    ),
                    "set its object ownership to BucketOwnerPreferred (the template's): `imgflex deploy`",
                )
            } else {
                ok(
                    CHECK,
                    format!(
                        "s3://{bucket} accepts CloudFront's log delivery ({})",
                        rules.join(", ")
                    ),
                )
            }
        }
        Err(e) if error_code(&e) == Some("OwnershipControlsNotFoundError") => ok(
            CHECK,
            format!(
                "s3://{bucket} has ACLs enabled (no ownership controls): CloudFront can deliver its logs"
            ),
        ),
        Err(e) => warn(
            CHECK,
            format!(
                "cannot read the ownership of s3://{bucket}: {}",
                imgflex_core::error_chain(&e)
            ),
            "the credentials need s3:GetBucketOwnershipControls",
        ),
    }
}

fn web_acl(config: Option<&DistributionView>, expected: Option<&str>) -> Finding {
    const CHECK: &str = "web-acl";
    let Some(config) = config else {
        return fail(
            CHECK,
            "no distribution to check",
            "`imgflex status` shows where the stack stands",
        );
    };
    let attached = config.web_acl.as_str();
    if attached.is_empty() {
        return fail(
            CHECK,
            "the distribution has no web ACL: no rate limit, no common rule set",
            "run `imgflex deploy` (the edge stack's web ACL is attached by the main stack)",
        );
    }
    // CLOUDFRONT-scope ACLs live in us-east-1 under `global/`.
    if !attached.contains(":us-east-1:") || !attached.contains(":global/webacl/") {
        return fail(
            CHECK,
            format!(
                "the distribution's web ACL `{attached}` is not a CLOUDFRONT-scope ACL of us-east-1"
            ),
            "a distribution takes a global ACL only: `imgflex deploy` attaches the edge stack's",
        );
    }
    match expected {
        Some(arn) if arn == attached => ok(
            CHECK,
            format!("the edge stack's ACL is attached ({attached})"),
        ),
        Some(arn) => warn(
            CHECK,
            format!("the distribution has `{attached}`, not the edge stack's `{arn}`"),
            "someone attached another ACL; `imgflex deploy` attaches the stack's again",
        ),
        None => warn(
            CHECK,
            format!("`{attached}` is attached, but the edge stack's ACL cannot be found"),
            "`imgflex status` shows the edge stack",
        ),
    }
}

/// An alias resolves to the distribution's addresses (a CNAME or an alias record to it).
async fn dns(alias: &str, domain: Option<&str>) -> Finding {
    const CHECK: &str = "dns";
    let Some(domain) = domain else {
        return warn(
            CHECK,
            format!("{alias}: the distribution's name is not known"),
            "`imgflex status`",
        );
    };
    let resolve = |name: String| async move {
        tokio::net::lookup_host((name.as_str(), 443))
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>())
    };
    let (theirs, ours) = match (
        resolve(alias.to_string()).await,
        resolve(domain.to_string()).await,
    ) {
        (Ok(theirs), Ok(ours)) => (theirs, ours),
        (Err(e), _) | (_, Err(e)) => {
            return warn(
                CHECK,
                format!("{alias}: cannot resolve ({e})"),
                format!(
                    "create a CNAME from {alias} to {domain} (or a Route 53 alias record), or check this machine's DNS"
                ),
            );
        }
    };
    if theirs.iter().any(|ip| ours.contains(ip)) {
        ok(
            CHECK,
            format!("{alias} resolves to the distribution ({domain})"),
        )
    } else {
        fail(
            CHECK,
            format!("{alias} resolves to {theirs:?}, none of the distribution's addresses"),
            format!("point {alias} at {domain}: a CNAME, or a Route 53 alias record"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_judged_by_action_principal_and_source() {
        let arn = "arn:aws:cloudfront::123456789012:distribution/E1";
        let policy = format!(
            r#"{{"Statement":[
                {{"Effect":"Allow","Principal":{{"Service":"cloudfront.amazonaws.com"}},"Action":"lambda:InvokeFunctionUrl","Condition":{{"ArnLike":{{"AWS:SourceArn":"{arn}"}}}}}},
                {{"Effect":"Allow","Principal":{{"Service":["cloudfront.amazonaws.com"]}},"Action":["s3:GetObject"],"Condition":{{"StringEquals":{{"AWS:SourceArn":"arn:aws:cloudfront::123456789012:distribution/E2"}}}}}},
                {{"Effect":"Deny","Principal":"*","Action":"*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}
            ]}}"#
        );
        let s = statements(&policy);
        assert_eq!(s.len(), 3);
        assert!(grants(
            &s[0],
            "lambda:InvokeFunctionUrl",
            "cloudfront.amazonaws.com"
        ));
        assert!(mentions(&s[0], arn));
        assert!(!grants(
            &s[0],
            "lambda:InvokeFunction",
            "cloudfront.amazonaws.com"
        ));
        assert!(grants(&s[1], "s3:GetObject", "cloudfront.amazonaws.com"));
        assert!(!mentions(&s[1], arn));
        assert!(!grants(&s[2], "s3:GetObject", "cloudfront.amazonaws.com"));
        assert!(statements("").is_empty());
        assert!(statements("not json").is_empty());
    }

    #[test]
    fn every_bucket_and_function_origin_needs_its_access_control() {
        let view = |oacs: [&str; 3]| DistributionView {
            domain: None,
            web_acl: String::new(),
            origins: vec![
                (
                    "variants".into(),
                    "v.s3.eu-west-1.amazonaws.com".into(),
                    oacs[0].into(),
                ),
                (
                    "originals".into(),
                    "o.s3.eu-west-1.amazonaws.com".into(),
                    oacs[1].into(),
                ),
                (
                    "resize".into(),
                    "abc.lambda-url.eu-west-1.on.aws".into(),
                    oacs[2].into(),
                ),
            ],
        };
        assert_eq!(origin_access(&view(["E1", "E1", "E2"])).level, Level::Ok);
        let bare = origin_access(&view(["E1", "", "E2"]));
        assert_eq!(bare.level, Level::Fail);
        assert!(bare.detail.contains("originals (o.s3."), "{}", bare.detail);
        let foreign = DistributionView {
            domain: None,
            web_acl: String::new(),
            origins: vec![("web".into(), "example.com".into(), String::new())],
        };
        assert_eq!(origin_access(&foreign).level, Level::Fail);
    }

    #[test]
    fn an_acl_must_be_global_and_the_stacks() {
        let view = |acl: &str| DistributionView {
            domain: None,
            web_acl: acl.into(),
            origins: Vec::new(),
        };
        let ours = "arn:aws:wafv2:us-east-1:1:global/webacl/x-web-acl/1";
        assert_eq!(web_acl(Some(&view(ours)), Some(ours)).level, Level::Ok);
        assert_eq!(web_acl(Some(&view("")), Some(ours)).level, Level::Fail);
        assert_eq!(
            web_acl(
                Some(&view("arn:aws:wafv2:eu-west-1:1:regional/webacl/x/1")),
                Some(ours)
            )
            .level,
            Level::Fail
        );
        assert_eq!(
            web_acl(
                Some(&view("arn:aws:wafv2:us-east-1:1:global/webacl/other/2")),
                Some(ours)
            )
            .level,
            Level::Warn
        );
    }
}
