//! Where a deployment lives: the stack names, and the buckets, function and distribution read
//! from the main stack (outputs first, its resources second), so every command finds them
//! the same way.

use serde::Serialize;

use crate::aws::{Aws, EDGE_REGION, sdk_error};
use crate::cli::LocationArgs;
use crate::error::CliError;
use crate::stack::{StackInfo, describe};

/// One artifacts stack per account and region, shared by every imgflex stack in it.
pub const BOOTSTRAP_STACK: &str = "imgflex-bootstrap";

/// The us-east-1 stack that holds the WAF web ACL of the main stack `main` in `region`. The
/// region is in the name: one stack name deployed in two regions must not share (and then,
/// destroyed in one, delete) one web ACL.
pub fn edge_stack(main: &str, region: &str) -> String {
    format!("{main}-{region}-edge")
}

/// What the edge stack was called before it carried the region.
pub fn legacy_edge_stack(main: &str) -> String {
    format!("{main}-edge")
}

/// Stack names become part of resource names (`NAME-resize`, `NAME-REGION-edge`, the web
/// ACL's `NAME-REGION-edge-web-acl`), whose own limits leave 40 characters for the name.
pub fn check_stack_name(name: &str) -> Result<(), CliError> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(CliError::new(format!("invalid stack name `{name}`")).hint(
            "use 1 to 40 letters, digits and hyphens, starting with a letter (for example `imgflex-staging`)",
        ))
    }
}

/// The main stack and what the other commands need from it.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    #[serde(skip)]
    pub stack: StackInfo,
    pub region: String,
    pub originals_bucket: Option<String>,
    pub variants_bucket: Option<String>,
    pub logs_bucket: Option<String>,
    pub function_name: Option<String>,
    pub distribution_id: Option<String>,
}

impl Deployed {
    /// The deployment of `stack` in the configured region; `None` when there is no stack.
    pub async fn find(aws: &Aws, stack: &str) -> Result<Option<Deployed>, CliError> {
        let Some(info) = describe(&aws.cloudformation(), stack).await? else {
            return Ok(None);
        };
        let distribution_id = match info.value("DistributionId", "Distribution") {
            Some(id) => Some(id),
            None => distribution_by_comment(aws, stack).await?,
        };
        Ok(Some(Deployed {
            region: aws.region().to_string(),
            // A bucket the stack did not create is its `OriginalsBucketName` parameter.
            originals_bucket: info
                .value("OriginalsBucketName", "OriginalsBucket")
                .or_else(|| {
                    info.parameters
                        .get("OriginalsBucketName")
                        .filter(|b| !b.is_empty())
                        .cloned()
                }),
            variants_bucket: info.value("VariantsBucketName", "VariantsBucket"),
            logs_bucket: info.value("LogsBucketName", "LogsBucket"),
            function_name: info.value("FunctionName", "ResizeFunction"),
            distribution_id,
            stack: info,
        }))
    }

    pub fn comment(stack: &str, region: &str) -> String {
        format!("imgflex {stack} ({region})")
    }
}

/// The distribution the main template creates carries `imgflex STACK (REGION)` as its
/// comment: the way back to it when the stack has neither the output nor the resource id.
///
/// Exists for moto, whose CloudFormation skips CloudFront resources and gives change-set
/// stacks no outputs (DESIGN §7; tests create the distribution by hand). On AWS the main
/// stack always has the `DistributionId` output, so this never runs there.
async fn distribution_by_comment(aws: &Aws, stack: &str) -> Result<Option<String>, CliError> {
    let wanted = Deployed::comment(stack, aws.region());
    let cloudfront = aws.cloudfront();
    let mut marker: Option<String> = None;
    loop {
        let page = cloudfront
            .list_distributions()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error("cannot list CloudFront distributions", e))?;
        let Some(list) = page.distribution_list() else {
            return Ok(None);
        };
        if let Some(found) = list.items().iter().find(|d| d.comment() == wanted) {
            return Ok(Some(found.id().to_string()));
        }
        match list.next_marker() {
            Some(next) if list.is_truncated() && Some(next) != marker.as_deref() => {
                marker = Some(next.to_string());
            }
            _ => return Ok(None),
        }
    }
}

/// Every host a distribution answers on: its cloudfront.net domain and its aliases.
pub async fn distribution_hosts(aws: &Aws, id: &str) -> Result<Vec<String>, CliError> {
    match aws.cloudfront().get_distribution().id(id).send().await {
        Ok(r) => Ok(r
            .distribution()
            .map(|d| {
                let mut hosts = vec![d.domain_name().to_string()];
                if let Some(aliases) = d.distribution_config().and_then(|c| c.aliases()) {
                    hosts.extend(aliases.items().iter().cloned());
                }
                hosts
            })
            .unwrap_or_default()),
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchDistribution") => Ok(Vec::new()),
        Err(e) => Err(sdk_error(&format!("cannot read distribution `{id}`"), e)),
    }
}

/// The domain a distribution answers on.
pub async fn distribution_domain(aws: &Aws, id: &str) -> Result<Option<String>, CliError> {
    match aws.cloudfront().get_distribution().id(id).send().await {
        Ok(r) => Ok(r.distribution().map(|d| d.domain_name().to_string())),
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchDistribution") => Ok(None),
        Err(e) => Err(sdk_error(&format!("cannot read distribution `{id}`"), e)),
    }
}

/// The ARN of the edge stack's web ACL: its output, else the ACL of that name in WAF.
///
/// The listing exists for moto, whose CloudFormation skips WAFv2 resources and gives
/// change-set stacks no outputs (DESIGN §7). On AWS the edge stack always has the `WebAclArn`
/// output, so the listing never runs there.
pub async fn web_acl_arn(aws: &Aws, edge: &StackInfo) -> Result<Option<String>, CliError> {
    if let Some(arn) = edge.outputs.get("WebAclArn").filter(|a| !a.is_empty()) {
        return Ok(Some(arn.clone()));
    }
    let name = format!("{}-web-acl", edge.name);
    let waf = aws.wafv2_edge();
    let mut marker: Option<String> = None;
    loop {
        let page = waf
            .list_web_acls()
            .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
            .set_next_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("cannot list WAF web ACLs in {EDGE_REGION}"), e))?;
        if let Some(acl) = page
            .web_acls()
            .iter()
            .find(|a| a.name() == Some(name.as_str()))
        {
            return Ok(acl.arn().map(str::to_string));
        }
        match page.next_marker() {
            Some(next) if !page.web_acls().is_empty() && Some(next) != marker.as_deref() => {
                marker = Some(next.to_string());
            }
            _ => return Ok(None),
        }
    }
}

/// The variants bucket: the only bucket `purge` is given, so it cannot delete an original
/// by mistake. Built only from the stack's variants bucket or `--variants-bucket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantsBucket(String);

impl VariantsBucket {
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// What a day-to-day command needs from the deployment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub originals: bool,
    pub variants: bool,
    pub distribution: bool,
}

/// The deployment's places, from overrides first and the stack second.
#[derive(Debug, Clone, Default)]
pub struct Locations {
    pub originals: Option<String>,
    pub variants: Option<VariantsBucket>,
    pub distribution_id: Option<String>,
    /// `https://DOMAIN`, when the distribution is known.
    pub cdn: Option<String>,
}

/// Finds what `needs` asks for; an error that says how to fix it when something is missing.
pub async fn locate(aws: &Aws, args: &LocationArgs, needs: Needs) -> Result<Locations, CliError> {
    let name = &args.stack.stack_name;
    check_stack_name(name)?;
    let given = |o: &Option<String>| o.as_ref().filter(|v| !v.is_empty()).cloned();
    let mut loc = Locations {
        originals: given(&args.originals_bucket),
        variants: given(&args.variants_bucket).map(VariantsBucket),
        distribution_id: given(&args.distribution_id),
        cdn: None,
    };
    let complete = (!needs.originals || loc.originals.is_some())
        && (!needs.variants || loc.variants.is_some())
        && (!needs.distribution || loc.distribution_id.is_some());
    if !complete {
        let Some(d) = Deployed::find(aws, name).await? else {
            return Err(CliError::new(format!(
                "no imgflex stack `{name}` in {}",
                aws.region()
            ))
            .hint(
                "deploy one with `imgflex deploy`, name yours with `--stack-name` (and `--region`), \
                 or give `--originals-bucket`, `--variants-bucket` and `--distribution-id`",
            ));
        };
        loc.originals = loc.originals.or(d.originals_bucket);
        loc.variants = loc.variants.or(d.variants_bucket.map(VariantsBucket));
        loc.distribution_id = loc.distribution_id.or(d.distribution_id);
        let missing = [
            (
                needs.originals && loc.originals.is_none(),
                "originals bucket",
                "--originals-bucket",
            ),
            (
                needs.variants && loc.variants.is_none(),
                "variants bucket",
                "--variants-bucket",
            ),
            (
                needs.distribution && loc.distribution_id.is_none(),
                "distribution",
                "--distribution-id",
            ),
        ];
        if let Some((_, what, flag)) = missing.iter().find(|m| m.0) {
            return Err(CliError::new(format!("stack `{name}` has no {what}"))
                .hint(format!("check it with `imgflex status`, or give `{flag}`")));
        }
    }
    if loc.originals.is_some()
        && loc.originals.as_deref() == loc.variants.as_ref().map(VariantsBucket::name)
    {
        return Err(CliError::new(
            "the originals bucket and the variants bucket are the same bucket",
        )
        .hint("variants are deleted by `purge`: they must live in a bucket of their own"));
    }
    if let Some(id) = &loc.distribution_id {
        loc.cdn = distribution_domain(aws, id)
            .await?
            .map(|domain| format!("https://{domain}"));
    }
    Ok(loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names() {
        for good in ["imgflex", "imgflex-staging", "a", &"a".repeat(40)] {
            assert!(check_stack_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "a_b", "a-", "a.b", &"a".repeat(41), "café"] {
            assert!(check_stack_name(bad).is_err(), "{bad}");
        }
    }
}
