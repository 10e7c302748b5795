//! `imgflex deploy`: bootstrap stack, handler zip, edge (WAF) stack in us-east-1, main stack,
//! each brought to its template through a change set, then the URLs the user needs.

use std::fmt;
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;

use crate::aws::{Aws, EDGE_REGION, runtime, sdk_error};
use crate::build_support::sha256_file;
use crate::cli::{Arch, DeployArgs, GlobalArgs};
use crate::config::load_policy;
use crate::deployed::{
    BOOTSTRAP_STACK, Deployed, check_stack_name, distribution_domain, edge_stack, web_acl_arn,
};
use crate::error::CliError;
use crate::output::Output;
use crate::stack::{Choices, Outcome, Plan, Target, apply, blocked, describe};
use crate::templates::render;

#[derive(Debug, Serialize)]
struct StackResult {
    name: String,
    region: String,
    outcome: Outcome,
    plan: Plan,
}

#[derive(Debug, Serialize)]
struct Summary {
    dry_run: bool,
    account: String,
    region: String,
    stacks: Vec<StackResult>,
    handler_key: String,
    handler_uploaded: bool,
    cdn_url: Option<String>,
    distribution_id: Option<String>,
    originals_bucket: Option<String>,
    variants_bucket: Option<String>,
    function_name: Option<String>,
    web_acl_arn: Option<String>,
    example_upload: Option<String>,
    example_url: Option<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.stacks {
            let what = match s.outcome {
                Outcome::Unchanged => "no changes",
                Outcome::Created => "created",
                Outcome::Updated => "updated",
                Outcome::Previewed => "previewed (change set deleted)",
            };
            writeln!(f, "{:<28} {:<10} {what}", s.name, s.region)?;
        }
        if self.dry_run {
            return write!(
                f,
                "dry run: nothing was created, uploaded or changed; run without --dry-run to deploy"
            );
        }
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unknown)".into());
        writeln!(f)?;
        match &self.cdn_url {
            Some(url) => writeln!(f, "CDN:              {url}")?,
            None => writeln!(
                f,
                "CDN:              (no distribution found in the stack; `imgflex status` tells more)"
            )?,
        }
        writeln!(
            f,
            "originals bucket: {}",
            or_unknown(&self.originals_bucket)
        )?;
        writeln!(f, "variants bucket:  {}", or_unknown(&self.variants_bucket))?;
        writeln!(f, "function:         {}", or_unknown(&self.function_name))?;
        if let Some(cmd) = &self.example_upload {
            writeln!(f, "\nput an image in place:\n  {cmd}")?;
        }
        if let Some(url) = &self.example_url {
            write!(f, "then fetch it resized:\n  {url}")?;
        }
        Ok(())
    }
}

pub fn run(args: DeployArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    check_stack_name(&args.stack.stack_name)?;
    let policy = load_policy(global.config.as_deref())?;
    let rendered = render(&policy)?;
    if let Some(zip) = &args.handler_zip {
        check_handler_zip(zip, args.arch)?;
    }
    runtime()?.block_on(deploy(args, global, out, &policy, &rendered))
}

fn check_handler_zip(zip: &Path, arch: Arch) -> Result<(), CliError> {
    let file = std::fs::File::open(zip).map_err(|e| {
        CliError::new(format!(
            "cannot read the handler zip `{}`: {e}",
            zip.display()
        ))
    })?;
    crate::build_support::inspect_zip(std::io::BufReader::new(file), arch).map_err(|problem| {
        CliError::new(format!(
            "`{}` is not a handler zip for {}: {problem}",
            zip.display(),
            arch.name()
        ))
        .hint("build one with `imgflex build`, or leave out --handler-zip")
    })
}

async fn deploy(
    args: DeployArgs,
    global: &GlobalArgs,
    out: &Output,
    policy: &imgflex_core::Policy,
    rendered: &crate::templates::Rendered,
) -> Result<(), CliError> {
    let aws = Aws::connect(global).await?;
    let account = aws.account().await?;
    let region = aws.region().to_string();
    let name = args.stack.stack_name.clone();
    out.status(format!(
        "deploying `{name}` to account {account}, {region}{}",
        if args.dry_run { " (dry run)" } else { "" }
    ));
    let choices = Choices {
        yes: args.yes,
        dry_run: args.dry_run,
        allow_replace: args.allow_replace,
    };
    let mut stacks = Vec::new();
    let cfn = aws.cloudformation();
    let edge_name = edge_stack(&name);
    let edge_cfn = aws.cloudformation_in(EDGE_REGION);

    // A stack that cannot be changed now stops the deploy before anything is touched.
    for (client, stack, stack_region) in [
        (&cfn, name.as_str(), region.as_str()),
        (&edge_cfn, edge_name.as_str(), EDGE_REGION),
        (&cfn, BOOTSTRAP_STACK, region.as_str()),
    ] {
        if let Some(err) = describe(client, stack)
            .await?
            .and_then(|info| blocked(&info, stack_region))
        {
            return Err(err);
        }
    }

    // 1. The artifacts bucket.
    let target = Target {
        cfn: &cfn,
        region: &region,
        name: BOOTSTRAP_STACK,
        template: &rendered.bootstrap,
        parameters: Vec::new(),
    };
    let (outcome, plan) = apply(&target, choices, out).await?;
    stacks.push(StackResult {
        name: BOOTSTRAP_STACK.into(),
        region: region.clone(),
        outcome,
        plan,
    });
    let artifacts = match describe(&cfn, BOOTSTRAP_STACK).await? {
        Some(info) => info.value("ArtifactsBucketName", "ArtifactsBucket"),
        None => None,
    };
    let artifacts = match (artifacts, args.dry_run) {
        (Some(bucket), _) => bucket,
        // A dry run on a fresh account: the bucket does not exist yet; any name shows the plan.
        (None, true) => "imgflex-artifacts-to-be-created".to_string(),
        (None, false) => {
            return Err(CliError::new(format!(
                "stack `{BOOTSTRAP_STACK}` has no artifacts bucket"
            ))
            .hint(format!(
                "delete stack `{BOOTSTRAP_STACK}` in {region} (it only holds handler zips) and run again"
            )));
        }
    };

    // 2. The handler zip, addressed by its content.
    let (zip, sha256) = match &args.handler_zip {
        Some(zip) => {
            let sha = sha256_file(zip)
                .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", zip.display())))?;
            (zip.clone(), sha)
        }
        None => {
            let built = crate::build_support::ensure(args.arch, None, out)?;
            (built.zip, built.sha256)
        }
    };
    let handler_key = format!("handlers/{}/{sha256}.zip", args.arch.name());
    let handler_uploaded = if args.dry_run {
        false
    } else {
        upload_zip(&aws, &artifacts, &handler_key, &zip, out).await?
    };

    // 3. The WAF web ACL, in us-east-1 whatever the main region.
    let target = Target {
        cfn: &edge_cfn,
        region: EDGE_REGION,
        name: &edge_name,
        template: &rendered.edge,
        parameters: Vec::new(),
    };
    let (outcome, plan) = apply(&target, choices, out).await?;
    stacks.push(StackResult {
        name: edge_name.clone(),
        region: EDGE_REGION.into(),
        outcome,
        plan,
    });
    let acl = match describe(&edge_cfn, &edge_name).await? {
        Some(edge) => web_acl_arn(&aws, &edge).await?,
        None => None,
    };
    let acl = match (acl, args.dry_run) {
        (Some(arn), _) => arn,
        (None, true) => String::new(),
        (None, false) => {
            return Err(CliError::new(format!(
                "stack `{edge_name}` ({EDGE_REGION}) has no web ACL"
            ))
            .hint(format!(
                "look at its events in the CloudFormation console ({EDGE_REGION}); deleting `{edge_name}` and running again recreates it"
            )));
        }
    };

    // 4. The main stack.
    let parameters = vec![
        ("ArtifactsBucket".to_string(), artifacts.clone()),
        ("HandlerKey".to_string(), handler_key.clone()),
        ("Architecture".to_string(), args.arch.name().to_string()),
        ("HandlerPolicy".to_string(), policy.to_json()),
        ("WebAclArn".to_string(), acl.clone()),
    ];
    let target = Target {
        cfn: &cfn,
        region: &region,
        name: &name,
        template: &rendered.main,
        parameters,
    };
    let (outcome, plan) = apply(&target, choices, out).await?;
    stacks.push(StackResult {
        name: name.clone(),
        region: region.clone(),
        outcome,
        plan,
    });

    let mut summary = Summary {
        dry_run: args.dry_run,
        account,
        region: region.clone(),
        stacks,
        handler_key,
        handler_uploaded,
        cdn_url: None,
        distribution_id: None,
        originals_bucket: None,
        variants_bucket: None,
        function_name: None,
        web_acl_arn: (!acl.is_empty()).then_some(acl),
        example_upload: None,
        example_url: None,
    };
    if !args.dry_run {
        if let Some(d) = Deployed::find(&aws, &name).await? {
            if let Some(id) = &d.distribution_id {
                summary.cdn_url = distribution_domain(&aws, id)
                    .await?
                    .map(|domain| format!("https://{domain}"));
            }
            summary.distribution_id = d.distribution_id;
            summary.originals_bucket = d.originals_bucket;
            summary.variants_bucket = d.variants_bucket;
            summary.function_name = d.function_name;
        }
        let stack_flag = if name == "imgflex" {
            String::new()
        } else {
            format!(" --stack-name {name}")
        };
        summary.example_upload = Some(format!("imgflex upload photo.jpg{stack_flag}"));
        summary.example_url = summary
            .cdn_url
            .as_ref()
            .map(|cdn| format!("{cdn}/photo.jpg?w=400&fm=auto"));
    }
    out.data(&summary)
}

/// Uploads the zip unless the bucket already has it; whether it did.
async fn upload_zip(
    aws: &Aws,
    bucket: &str,
    key: &str,
    zip: &Path,
    out: &Output,
) -> Result<bool, CliError> {
    let s3 = aws.s3();
    if crate::buckets::object_exists(&s3, bucket, key).await? {
        out.status(format!("handler zip already in s3://{bucket}/{key}"));
        return Ok(false);
    }
    let body = ByteStream::from_path(zip)
        .await
        .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", zip.display())))?;
    out.status(format!("uploading the handler zip to s3://{bucket}/{key}"));
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/zip")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            sdk_error(
                &format!("cannot upload the handler zip to s3://{bucket}"),
                e,
            )
        })?;
    Ok(true)
}
