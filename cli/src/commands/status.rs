//! `imgflex status`: where a deployment stands, read from CloudFormation, CloudFront, WAF
//! and Lambda; "not deployed" is an answer, not an error.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::alarms::{self, Alarm};
use crate::aws::{Aws, EDGE_REGION, error_code, runtime, sdk_error};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::deployed::{BOOTSTRAP_STACK, Deployed, check_stack_name, edge_stack, web_acl_arn};
use crate::error::CliError;
use crate::output::Output;
use crate::stack::{StackInfo, describe};

#[derive(Debug, Serialize)]
struct StackLine {
    name: String,
    region: String,
    /// `NOT_DEPLOYED` when there is no such stack.
    status: String,
    last_updated: Option<String>,
    drift: Option<String>,
    reason: Option<String>,
}

impl StackLine {
    fn new(name: &str, region: &str, info: Option<&StackInfo>) -> StackLine {
        StackLine {
            name: name.to_string(),
            region: region.to_string(),
            status: info.map_or_else(|| "NOT_DEPLOYED".into(), |s| s.status.clone()),
            last_updated: info.and_then(|s| s.last_updated.clone()),
            drift: info.and_then(|s| s.drift.clone()),
            reason: info.and_then(|s| s.reason.clone()),
        }
    }
}

#[derive(Debug, Serialize)]
struct DistributionLine {
    id: String,
    status: String,
    enabled: bool,
    domain: String,
    aliases: Vec<String>,
    web_acl: Option<String>,
}

#[derive(Debug, Serialize)]
struct WafLine {
    arn: String,
    rules: Vec<String>,
}

#[derive(Debug, Serialize)]
struct FunctionLine {
    name: String,
    state: Option<String>,
    architecture: Option<String>,
    memory_mb: Option<i32>,
    /// The deployed zip's sha256 in hex, the form `build` and `deploy` print (Lambda's
    /// CodeSha256 is the same digest in base64).
    code_sha256: Option<String>,
    url: Option<String>,
    /// The newest local handler zip for the architecture, when there is one.
    local_zip: Option<PathBuf>,
    /// Whether the deployed code is that local zip.
    matches_local: Option<bool>,
}

#[derive(Debug, Serialize)]
struct InvalidationLine {
    id: String,
    status: String,
    created: String,
}

#[derive(Debug, Serialize)]
struct Report {
    stack: String,
    region: String,
    deployed: bool,
    stacks: Vec<StackLine>,
    distribution: Option<DistributionLine>,
    web_acl: Option<WafLine>,
    function: Option<FunctionLine>,
    invalidations_in_flight: Vec<InvalidationLine>,
    originals_bucket: Option<String>,
    variants_bucket: Option<String>,
    alarms: Vec<Alarm>,
    /// Why some alarms could not be read (a permission, a region), when so.
    alarms_unread: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.stacks {
            let status = if s.status == "NOT_DEPLOYED" {
                "not deployed"
            } else {
                &s.status
            };
            write!(f, "stack {:<28} {:<10} {status}", s.name, s.region)?;
            if let Some(t) = &s.last_updated {
                write!(f, "  (last change {t})")?;
            }
            if let Some(d) = s.drift.as_deref().filter(|d| *d != "NOT_CHECKED") {
                write!(f, "  drift: {d}")?;
            }
            if let Some(r) = &s.reason {
                write!(f, "\n      reason: {r}")?;
            }
            writeln!(f)?;
        }
        if !self.deployed {
            return write!(
                f,
                "`{}` is not deployed in {}: run `imgflex deploy --region {}`",
                self.stack, self.region, self.region
            );
        }
        match &self.distribution {
            Some(d) => {
                writeln!(
                    f,
                    "distribution {}: {}, {}, https://{}",
                    d.id,
                    d.status,
                    if d.enabled { "enabled" } else { "DISABLED" },
                    d.domain
                )?;
                if !d.aliases.is_empty() {
                    writeln!(f, "  aliases: {}", d.aliases.join(", "))?;
                }
                writeln!(
                    f,
                    "  web ACL: {}",
                    d.web_acl
                        .as_deref()
                        .unwrap_or("NONE (not protected by WAF)")
                )?;
            }
            None => writeln!(f, "distribution: not found")?,
        }
        if let Some(w) = &self.web_acl {
            writeln!(f, "WAF rules: {}", w.rules.join(", "))?;
        }
        match &self.function {
            Some(func) => {
                writeln!(
                    f,
                    "function {}: {}, {}, {} MB",
                    func.name,
                    func.state.as_deref().unwrap_or("?"),
                    func.architecture.as_deref().unwrap_or("?"),
                    func.memory_mb.map_or("?".into(), |m| m.to_string())
                )?;
                if let Some(url) = &func.url {
                    writeln!(f, "  function URL: {url}")?;
                }
                match (&func.local_zip, func.matches_local) {
                    (Some(zip), Some(true)) => {
                        writeln!(f, "  code: same as the local build `{}`", zip.display())?;
                    }
                    (Some(zip), _) => writeln!(
                        f,
                        "  code: differs from the local build `{}` (`imgflex deploy` updates it)",
                        zip.display()
                    )?,
                    (None, _) => writeln!(
                        f,
                        "  code sha256: {} (no local build to compare)",
                        func.code_sha256.as_deref().unwrap_or("?")
                    )?,
                }
            }
            None => writeln!(f, "function: not found")?,
        }
        let firing = self.alarms.iter().filter(|a| a.firing()).count();
        if self.alarms.is_empty() {
            writeln!(f, "alarms: none found")?;
        } else {
            writeln!(
                f,
                "alarms: {} ({})",
                self.alarms.len(),
                if firing == 0 {
                    "none in ALARM".to_string()
                } else {
                    format!("{firing} in ALARM: `imgflex logs --status 5xx` for the handler's side")
                }
            )?;
            for a in &self.alarms {
                write!(f, "  {:<17} {} ({})", a.state, a.name, a.region)?;
                if a.firing()
                    && let Some(reason) = &a.reason
                {
                    write!(f, ": {reason}")?;
                }
                writeln!(f)?;
            }
        }
        for why in &self.alarms_unread {
            writeln!(f, "  alarms not read: {why}")?;
        }
        if self.invalidations_in_flight.is_empty() {
            write!(f, "invalidations in flight: none")
        } else {
            write!(f, "invalidations in flight:")?;
            for i in &self.invalidations_in_flight {
                write!(f, "\n  {} {} (since {})", i.id, i.status, i.created)?;
            }
            Ok(())
        }
    }
}

pub fn run(args: StatusArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    check_stack_name(&args.stack.stack_name)?;
    runtime()?.block_on(status(args, global, out))
}

async fn status(args: StatusArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let aws = Aws::connect(global).await?;
    let name = args.stack.stack_name;
    let region = aws.region().to_string();
    let edge_name = edge_stack(&name, &region);
    let bootstrap = describe(&aws.cloudformation(), BOOTSTRAP_STACK).await?;
    let edge = describe(&aws.cloudformation_in(EDGE_REGION), &edge_name).await?;
    let deployed = Deployed::find(&aws, &name).await?;

    let mut report = Report {
        stack: name.clone(),
        region: region.clone(),
        deployed: deployed.is_some(),
        stacks: vec![
            StackLine::new(BOOTSTRAP_STACK, &region, bootstrap.as_ref()),
            StackLine::new(&edge_name, EDGE_REGION, edge.as_ref()),
            StackLine::new(&name, &region, deployed.as_ref().map(|d| &d.stack)),
        ],
        distribution: None,
        web_acl: None,
        function: None,
        invalidations_in_flight: Vec::new(),
        originals_bucket: None,
        variants_bucket: None,
        alarms: Vec::new(),
        alarms_unread: Vec::new(),
    };
    let Some(deployed) = deployed else {
        return out.data(&report);
    };
    report.originals_bucket = deployed.originals_bucket.clone();
    report.variants_bucket = deployed.variants_bucket.clone();

    if let Some(id) = &deployed.distribution_id {
        report.distribution = distribution(&aws, id).await?;
        report.invalidations_in_flight = invalidations(&aws, id).await?;
    }
    let acl = match (&report.distribution, &edge) {
        (Some(d), _) if d.web_acl.is_some() => d.web_acl.clone(),
        (_, Some(edge)) => web_acl_arn(&aws, edge).await?,
        _ => None,
    };
    if let Some(arn) = acl {
        report.web_acl = waf(&aws, &arn).await?;
    }
    if let Some(function) = &deployed.function_name {
        report.function = lambda(&aws, function, out).await?;
    }
    // An alarm that cannot be read (no cloudwatch:DescribeAlarms) is said, not fatal: the
    // rest of the status stands.
    for (region, prefix) in [
        (region.as_str(), format!("{name}-handler-")),
        (EDGE_REGION, format!("{edge_name}-")),
    ] {
        match alarms::read(&aws, region, &prefix).await {
            Ok(found) => report.alarms.extend(found),
            Err(e) => report.alarms_unread.push(e.message),
        }
    }
    out.data(&report)
}

async fn distribution(aws: &Aws, id: &str) -> Result<Option<DistributionLine>, CliError> {
    let d = match aws.cloudfront().get_distribution().id(id).send().await {
        Ok(r) => r,
        Err(e) if error_code(&e) == Some("NoSuchDistribution") => return Ok(None),
        Err(e) => return Err(sdk_error(&format!("cannot read distribution `{id}`"), e)),
    };
    let Some(d) = d.distribution() else {
        return Ok(None);
    };
    let config = d.distribution_config();
    Ok(Some(DistributionLine {
        id: d.id().to_string(),
        status: d.status().to_string(),
        enabled: config.is_some_and(|c| c.enabled()),
        domain: d.domain_name().to_string(),
        aliases: config
            .and_then(|c| c.aliases())
            .map(|a| a.items().to_vec())
            .unwrap_or_default(),
        web_acl: config
            .and_then(|c| c.web_acl_id())
            .filter(|w| !w.is_empty())
            .map(str::to_string),
    }))
}

/// Invalidations not yet done. AWS says `Completed`, moto `COMPLETED`: compare without case.
async fn invalidations(aws: &Aws, id: &str) -> Result<Vec<InvalidationLine>, CliError> {
    let list = aws
        .cloudfront()
        .list_invalidations()
        .distribution_id(id)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot list the invalidations of `{id}`"), e))?;
    Ok(list
        .invalidation_list()
        .map(|l| l.items())
        .unwrap_or_default()
        .iter()
        .filter(|i| !i.status().eq_ignore_ascii_case("completed"))
        .map(|i| InvalidationLine {
            id: i.id().to_string(),
            status: i.status().to_string(),
            created: i.create_time().to_string(),
        })
        .collect())
}

/// `arn:aws:wafv2:us-east-1:ACCOUNT:global/webacl/NAME/ID` → (NAME, ID).
fn acl_name_and_id(arn: &str) -> Option<(&str, &str)> {
    let resource = arn.split(':').nth(5)?;
    let mut parts = resource.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("global"), Some("webacl"), Some(name), Some(id)) => Some((name, id)),
        _ => None,
    }
}

async fn waf(aws: &Aws, arn: &str) -> Result<Option<WafLine>, CliError> {
    let Some((name, id)) = acl_name_and_id(arn) else {
        return Ok(None);
    };
    let acl = match aws
        .wafv2_edge()
        .get_web_acl()
        .name(name)
        .id(id)
        .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if error_code(&e) == Some("WAFNonexistentItemException") => return Ok(None),
        Err(e) => return Err(sdk_error(&format!("cannot read web ACL `{name}`"), e)),
    };
    Ok(acl.web_acl().map(|acl| WafLine {
        arn: arn.to_string(),
        rules: acl.rules().iter().map(|r| r.name().to_string()).collect(),
    }))
}

async fn lambda(aws: &Aws, name: &str, out: &Output) -> Result<Option<FunctionLine>, CliError> {
    let client = aws.lambda();
    let conf = match client
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(c) => c,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(sdk_error(&format!("cannot read function `{name}`"), e)),
    };
    let url = match client
        .get_function_url_config()
        .function_name(name)
        .send()
        .await
    {
        Ok(u) => Some(u.function_url().to_string()),
        Err(e) => {
            out.verbose(format!(
                "no function URL for `{name}`: {}",
                imgflex_core::error_chain(&e)
            ));
            None
        }
    };
    let architecture = conf.architectures().first().map(|a| a.as_str().to_string());
    let local_zip =
        crate::build_support::newest_local_zip(architecture.as_deref().unwrap_or("arm64"));
    let code_sha256 = conf
        .code_sha256()
        .and_then(crate::build_support::base64_to_hex);
    let matches_local = match (&local_zip, &code_sha256) {
        (Some(zip), Some(deployed_sha)) => crate::build_support::sha256_file(zip)
            .ok()
            .map(|hex| &hex == deployed_sha),
        _ => None,
    };
    Ok(Some(FunctionLine {
        name: name.to_string(),
        state: conf.state().map(|s| s.as_str().to_string()),
        architecture,
        memory_mb: conf.memory_size(),
        code_sha256,
        url,
        local_zip,
        matches_local,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_acl_arns() {
        assert_eq!(
            acl_name_and_id(
                "arn:aws:wafv2:us-east-1:123456789012:global/webacl/imgflex-edge-web-acl/a1b2-c3"
            ),
            Some(("imgflex-edge-web-acl", "a1b2-c3"))
        );
        assert_eq!(
            acl_name_and_id("arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"),
            None
        );
        assert_eq!(acl_name_and_id("nonsense"), None);
    }

    #[test]
    fn lambda_sha_is_base64_of_the_bytes() {
        // sha256("") in hex and in Lambda's base64.
        assert_eq!(
            crate::build_support::base64_to_hex("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
                .as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(crate::build_support::base64_to_hex("not base64!"), None);
    }
}
