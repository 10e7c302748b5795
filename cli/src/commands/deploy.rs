//! `imgflex deploy`: bootstrap stack, handler zip, edge (WAF) stack in us-east-1, main stack,
//! each brought to its template through a change set with every parameter set from
//! imgflex.toml (so nothing deployed is silently put back), then the URLs the user needs.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;

use crate::aws::{Aws, EDGE_REGION, runtime, sdk_error};
use crate::build_support::sha256_file;
use crate::cli::{Arch, DeployArgs, GlobalArgs};
use crate::config::{Config, load, refused};
use crate::deployed::{
    BOOTSTRAP_STACK, Deployed, check_stack_name, distribution_domain, edge_stack,
    legacy_edge_stack, web_acl_arn,
};
use crate::domain::{DnsRecord, check_certificate, records};
use crate::error::CliError;
use crate::output::Output;
use crate::regions::cdn_logs_stay_in_region;
use crate::retained::{self, ROLE_CDN_LOGS, ROLE_ORIGINALS};
use crate::stack::{Choices, Outcome, Plan, StackInfo, Target, apply, blocked, describe};
use crate::stack_config::{
    MAX_PARAMETER_BYTES, Param, Setting, Source, StackSettings, check_parameter_sizes,
};
use crate::templates::{Rendered, render};

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
    /// The originals bucket was not created by this deploy: found retained after a
    /// `destroy`, kept from the stack, or named in `[originals]`.
    originals_note: Option<String>,
    /// Where CloudFront's standard logs go, when not the logs bucket of the stack's region.
    cdn_logs_note: Option<String>,
    dns_records: Vec<DnsRecord>,
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
        if let Some(note) = &self.originals_note {
            writeln!(f, "{note}")?;
        }
        if let Some(note) = &self.cdn_logs_note {
            writeln!(f, "{note}")?;
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
        if !self.dns_records.is_empty() {
            writeln!(
                f,
                "\ncreate these DNS records (or Route 53 alias A and AAAA records to the same target, hosted zone {}):",
                crate::domain::CLOUDFRONT_HOSTED_ZONE
            )?;
            for r in &self.dns_records {
                writeln!(f, "  {} {} {}", r.name, r.kind, r.target)?;
            }
        }
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
    if let Some(region) = &global.region {
        crate::aws::check_region(region, "--region")?;
    }
    // Everything that can be refused without AWS is refused here, before the first call:
    // the file, the flags, the sizes of what travels to CloudFormation, Lambda and
    // CloudFront, and the handler zip.
    let config = load(global.config.as_deref())?;
    let mut settings = config.stack_settings(&args.set)?;
    if let Some(arch) = args.arch {
        settings.architecture = Setting {
            value: arch.name().to_string(),
            source: Source::Flag("--arch".into()),
        };
    }
    let arch = if settings.architecture.value == "x86_64" {
        Arch::X86_64
    } else {
        Arch::Arm64
    };
    let rendered = render(&config.policy)?;
    check_sizes(&config, &rendered, &settings)?;
    if let Some(zip) = &args.handler_zip {
        check_handler_zip(zip, arch)?;
    }
    runtime()?.block_on(deploy(
        args, arch, global, out, &config, &settings, &rendered,
    ))
}

/// The Lambda's environment: every key and value together, at most 4 KB.
pub const MAX_LAMBDA_ENVIRONMENT_BYTES: usize = 4096;
/// A template sent in the request body (not from S3) is at most 51,200 bytes.
pub const MAX_TEMPLATE_BODY_BYTES: usize = 51_200;

/// The limits on what the policy and settings turn into, each named when it is passed:
/// the policy as a CloudFormation parameter and as the Lambda's environment, every other
/// parameter, and the templates (the edge function's 10 KB is checked by `render`).
fn check_sizes(
    config: &Config,
    rendered: &Rendered,
    settings: &StackSettings,
) -> Result<(), CliError> {
    check_policy_size(&config.policy.to_json(), &config.source().to_string())?;
    // The region only changes Origin Shield's default, a few bytes: any region sizes it.
    let main = settings.main_parameters(EDGE_REGION);
    check_parameter_sizes(&main, "main").map_err(refused)?;
    check_parameter_sizes(&settings.edge_parameters(), "edge").map_err(refused)?;
    for (name, body) in [
        ("main", &rendered.main),
        ("edge", &rendered.edge),
        ("bootstrap", &rendered.bootstrap),
    ] {
        if body.len() > MAX_TEMPLATE_BODY_BYTES {
            return Err(CliError::new(format!(
                "the rendered {name} template is {} bytes; CloudFormation takes at most {MAX_TEMPLATE_BODY_BYTES} in a request",
                body.len()
            ))
            .hint("this is a defect of imgflex: please report it with `imgflex render`'s output"));
        }
    }
    Ok(())
}

/// The policy as the `HandlerPolicy` parameter, and inside the handler's environment.
fn check_policy_size(json: &str, file: &str) -> Result<(), CliError> {
    if json.len() > MAX_PARAMETER_BYTES {
        return Err(CliError::new(format!(
            "the policy ({file}) is {} bytes as JSON; it travels to the handler as the `HandlerPolicy` parameter, and CloudFormation takes at most {MAX_PARAMETER_BYTES} bytes in one parameter",
            json.len()
        ))
        .hint("fewer or shorter presets and widths make it smaller; `imgflex render` shows it"));
    }
    // Lambda measures the variables as one compact JSON object, so the policy counts with
    // its quotes escaped. Bucket names are not known before the stack exists; 63 bytes is
    // S3's longest.
    let longest_bucket = "b".repeat(63);
    let environment = serde_json::json!({
        "IMGFLEX_ORIGINALS_BUCKET": longest_bucket,
        "IMGFLEX_VARIANTS_BUCKET": longest_bucket,
        "IMGFLEX_POLICY": json,
    })
    .to_string()
    .len();
    if environment > MAX_LAMBDA_ENVIRONMENT_BYTES {
        return Err(CliError::new(format!(
            "the handler's environment would be up to {environment} bytes (the policy ({file}) as JSON is {} of them, the two bucket names up to 63 each); Lambda takes at most {MAX_LAMBDA_ENVIRONMENT_BYTES} bytes of environment",
            json.len()
        ))
        .hint("fewer or shorter presets and widths make the policy smaller; `imgflex render` shows it"));
    }
    Ok(())
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
        .hint("build one with `imgflex build`, or leave out --handler-zip (and check `handler.architecture` / --arch)")
    })
}

/// Lambda keeps this much of an account's concurrency unreserved, whatever is asked.
const UNRESERVED_FLOOR: i64 = 100;

/// How much concurrency the handler can reserve: what the account has unreserved, plus what
/// the handler holds already, less the floor Lambda keeps.
fn reservable(unreserved: i64, held: i64) -> i64 {
    (unreserved + held - UNRESERVED_FLOOR).max(0)
}

/// The reservation a deploy makes when `handler.reserved_concurrency` is not set: a
/// ceiling on renders at once, so a burst of new variants cannot take the whole account's
/// concurrency from its other functions (and a floor, so they cannot starve the handler).
pub const DEFAULT_RESERVED_CONCURRENCY: u32 = 50;

/// The reservation to deploy. Set in imgflex.toml: refused up front when the account cannot
/// give it (it would fail the stack halfway). Not set: the default where the account can
/// spare it, else none, and a warning that says why and what to do. Accounts (and
/// emulators) that do not answer GetAccountSettings get what was configured (no
/// reservation by default).
async fn check_concurrency(
    aws: &Aws,
    reserved: &Setting<u32>,
    function: &str,
    out: &Output,
) -> Result<Setting<u32>, CliError> {
    let auto = reserved.source == Source::Default;
    if reserved.value == 0 && !auto {
        return Ok(reserved.clone());
    }
    let lambda = aws.lambda();
    let unreserved = match lambda.get_account_settings().send().await {
        Ok(r) => r
            .account_limit()
            .and_then(|l| l.unreserved_concurrent_executions()),
        Err(e) => {
            out.verbose(format!(
                "could not read the account's Lambda concurrency ({}); not checking handler.reserved_concurrency",
                imgflex_core::error_chain(&e)
            ));
            None
        }
    };
    let Some(unreserved) = unreserved else {
        return Ok(reserved.clone());
    };
    let held = match lambda
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
    {
        Ok(r) => r.reserved_concurrent_executions().unwrap_or(0),
        Err(_) => 0,
    };
    let can = reservable(i64::from(unreserved), i64::from(held));
    if auto {
        if can >= i64::from(DEFAULT_RESERVED_CONCURRENCY) {
            out.status(format!(
                "handler: {DEFAULT_RESERVED_CONCURRENCY} concurrent renders reserved (the default; `handler.reserved_concurrency` sets another, 0 none)"
            ));
            return Ok(Setting {
                value: DEFAULT_RESERVED_CONCURRENCY,
                source: Source::Default,
            });
        }
        out.warn(format!(
            "this account can reserve {can} concurrent executions for the handler ({unreserved} unreserved, of which Lambda keeps {UNRESERVED_FLOOR}), fewer than the default {DEFAULT_RESERVED_CONCURRENCY}: the handler is deployed with no reservation and shares the account's concurrency, so a burst of new variants can throttle your other functions. Ask AWS for a higher \"Concurrent executions\" quota (Service Quotas, Lambda), then set `handler.reserved_concurrency`"
        ));
        return Ok(Setting {
            value: 0,
            source: Source::Default,
        });
    }
    if i64::from(reserved.value) > can {
        return Err(CliError::new(format!(
            "`handler.reserved_concurrency` is {} ({}), but this account can reserve at most {can} for the handler: {unreserved} of its concurrency is unreserved, and Lambda keeps {UNRESERVED_FLOOR} of that for unreserved functions",
            reserved.value, reserved.source
        ))
        .hint("lower it (0 means no reservation), or ask AWS for a higher \"Concurrent executions\" quota in Service Quotas"));
    }
    Ok(reserved.clone())
}

/// The edge stack's `DistributionId`: the main stack's distribution, once there is one.
fn distribution_param(id: Option<&str>) -> Param {
    match id {
        Some(id) => computed("DistributionId", id, found("the main stack")),
        None => computed("DistributionId", "", Source::Default),
    }
}

fn found(what: &str) -> Source {
    Source::Found(what.to_string())
}

fn computed(name: &'static str, value: impl Into<String>, source: Source) -> Param {
    Param {
        name,
        value: value.into(),
        key: "",
        source,
    }
}

/// The originals bucket the main stack will use, and what to tell the user about it.
struct Originals {
    param: Param,
    /// Not created by the stack: the CLI grants the distribution read access itself.
    bring_your_own: bool,
    note: Option<String>,
}

impl Originals {
    /// The bucket `value` (from `source`), which the stack does not create.
    fn existing(value: &str, source: Source, note: Option<String>) -> Originals {
        Originals {
            param: Param {
                name: "OriginalsBucketName",
                value: value.to_string(),
                key: "originals.bucket",
                source,
            },
            bring_your_own: true,
            note,
        }
    }

    /// No bucket given: the stack creates one.
    fn created() -> Originals {
        Originals {
            bring_your_own: false,
            ..Originals::existing("", Source::Default, None)
        }
    }
}

/// Which originals bucket: the one `[originals]` names; else the one the deployed stack
/// already uses; else, for a new stack, one a `destroy` of the same stack name retained
/// (found by its tags); else none, and the stack creates one.
async fn choose_originals(
    aws: &Aws,
    settings: &StackSettings,
    current: Option<&StackInfo>,
    name: &str,
    region: &str,
) -> Result<Originals, CliError> {
    let s3 = aws.s3();
    if let Some(bucket) = &settings.originals_bucket {
        let b = &bucket.value;
        match retained::bucket_region(&s3, b).await? {
            None => {
                return Err(CliError::new(format!(
                    "the originals bucket `{b}` ({}) does not exist",
                    bucket.source
                ))
                .hint(
                    "create it first, or remove `[originals] bucket` to let the stack create one",
                ));
            }
            Some(r) if r != region => {
                return Err(CliError::new(format!(
                    "the originals bucket `{b}` ({}) is in {r}, the stack in {region}",
                    bucket.source
                ))
                .hint(format!(
                    "deploy the stack to {r} (`--region {r}`), or use a bucket in {region}"
                )));
            }
            Some(_) => {}
        }
        let note = format!(
            "originals: s3://{b}, your bucket ({}); its policy gets one statement for this distribution, the others are kept",
            bucket.source
        );
        return Ok(Originals::existing(b, bucket.source.clone(), Some(note)));
    }
    if let Some(stack) = current {
        return Ok(match stack.parameters.get("OriginalsBucketName") {
            Some(deployed) if !deployed.is_empty() => {
                Originals::existing(deployed, found("the deployed stack"), None)
            }
            _ => Originals::created(),
        });
    }
    let kept = retained::find(&s3, name, region, ROLE_ORIGINALS).await?;
    let Some((bucket, older)) = kept.split_last() else {
        return Ok(Originals::created());
    };
    let objects = crate::buckets::count_label(&s3, bucket)
        .await
        .unwrap_or_else(|_| "its objects uncounted".to_string());
    let older = if older.is_empty() {
        String::new()
    } else {
        format!(
            "; {} older ones are left alone: {}",
            older.len(),
            older.join(", ")
        )
    };
    let note = format!(
        "originals: reusing s3://{bucket} ({objects}), kept when `{name}` was destroyed{older}"
    );
    Ok(Originals::existing(
        bucket,
        found("kept by an earlier destroy"),
        Some(note),
    ))
}

/// The handler zip and its sha256: the one given, or the one built (or reused) for `arch`.
fn handler_zip(args: &DeployArgs, arch: Arch, out: &Output) -> Result<(PathBuf, String), CliError> {
    match &args.handler_zip {
        Some(zip) => {
            let sha = sha256_file(zip)
                .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", zip.display())))?;
            Ok((zip.clone(), sha))
        }
        None => {
            let built = crate::build_support::ensure(arch, None, out)?;
            Ok((built.zip, built.sha256))
        }
    }
}

async fn deploy(
    args: DeployArgs,
    arch: Arch,
    global: &GlobalArgs,
    out: &Output,
    config: &Config,
    settings: &StackSettings,
    rendered: &Rendered,
) -> Result<(), CliError> {
    // Region and credentials are known (no call is made for them), then the zip is built,
    // before the first call: a missing cross toolchain stops the deploy with nothing created.
    let aws = Aws::connect(global).await?;
    // What the policy exposes, once the deploy can go ahead (an error comes first).
    if let Some(warning) = crate::variant_space::warning(&config.policy) {
        out.warn(format_args!("{warning}"));
    }
    if config.policy.signing != imgflex_core::Signing::Off {
        // The stack's KeyValueStore starts empty: until it holds a key every URL that needs
        // a signature is refused. Keys are not made here (a deploy never writes secrets).
        out.warn(format_args!(
            "signing = \"{}\": URLs that need a signature are refused until the stack has a key; \
             `imgflex keys list` shows them, `imgflex keys rotate` makes one",
            config.policy.signing.as_str()
        ));
    }
    let (zip, sha256) = handler_zip(&args, arch, out)?;
    let account = aws.account().await?;
    let region = aws.region().to_string();
    let name = args.stack.stack_name.clone();
    out.status(format!(
        "deploying `{name}` to account {account}, {region}{}",
        if args.dry_run { " (dry run)" } else { "" }
    ));
    if let Some(note) = settings.origin_shield_note(&region) {
        out.status(note);
    }
    if let Some(domain) = &settings.domain {
        check_certificate(&aws, domain).await?;
    }
    let reserved = check_concurrency(
        &aws,
        &settings.reserved_concurrency,
        &format!("{name}-resize"),
        out,
    )
    .await?;
    let settings = &StackSettings {
        reserved_concurrency: reserved,
        ..settings.clone()
    };
    let configured = settings.main_parameters(&region);
    let choices = Choices {
        yes: args.yes,
        dry_run: args.dry_run,
        allow_replace: args.allow_replace,
    };
    let mut stacks = Vec::new();
    let cfn = aws.cloudformation();
    let edge_name = edge_stack(&name, &region);
    let edge_cfn = aws.cloudformation_in(EDGE_REGION);

    // A stack that cannot be changed now stops the deploy before anything is touched.
    let current = describe(&cfn, &name).await?;
    if let Some(err) = current.as_ref().and_then(|info| blocked(info, &region)) {
        return Err(err);
    }
    for (client, stack, stack_region) in [
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
    let legacy = legacy_edge_stack(&name);
    if describe(&edge_cfn, &legacy).await?.is_some() {
        out.warn(format!(
            "stack `{legacy}` ({EDGE_REGION}) is the edge stack of an earlier imgflex, named without the region; `{name}` in {region} now uses `{edge_name}`. Once no other region's `{name}` uses it, delete it: aws cloudformation delete-stack --stack-name {legacy} --region {EDGE_REGION}"
        ));
    }
    let originals = choose_originals(&aws, settings, current.as_ref(), &name, &region).await?;
    if let Some(note) = &originals.note {
        out.status(note);
    }

    // 1. The artifacts bucket.
    let target = Target {
        cfn: &cfn,
        region: &region,
        name: BOOTSTRAP_STACK,
        template: &rendered.bootstrap,
        parameters: vec![
            computed("ArtifactExpirationDays", "365", Source::Default),
            computed("NoncurrentVersionDays", "30", Source::Default),
        ],
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

    // 2. The handler zip (built or checked in `run`), uploaded under its sha256.
    let handler_key = format!("handlers/{}/{sha256}.zip", arch.name());
    let handler_uploaded = if args.dry_run {
        false
    } else {
        upload_zip(&aws, &artifacts, &handler_key, &zip, out).await?
    };

    // 3. The WAF web ACL, in us-east-1 whatever the main region; in the regions whose
    // buckets cannot receive CloudFront's standard logs, also the bucket that does.
    let cdn_logs_elsewhere = !cdn_logs_stay_in_region(&region);
    let mut edge_parameters = settings.edge_parameters();
    edge_parameters.push(computed(
        "CreateLogsBucket",
        if cdn_logs_elsewhere { "true" } else { "false" },
        found(&format!("the region: {region}")),
    ));
    // The CDN's 5xx alarm lives with the WAF's (CloudFront's metrics are in us-east-1) and
    // needs the distribution, which the main stack makes after this one: known from the
    // last deploy, or given on a second pass below.
    let known_distribution = match &current {
        Some(_) => Deployed::find(&aws, &name)
            .await?
            .and_then(|d| d.distribution_id),
        None => None,
    };
    edge_parameters.push(distribution_param(known_distribution.as_deref()));
    let target = Target {
        cfn: &edge_cfn,
        region: EDGE_REGION,
        name: &edge_name,
        template: &rendered.edge,
        parameters: edge_parameters.clone(),
    };
    let (outcome, plan) = apply(&target, choices, out).await?;
    stacks.push(StackResult {
        name: edge_name.clone(),
        region: EDGE_REGION.into(),
        outcome,
        plan,
    });
    let edge = describe(&edge_cfn, &edge_name).await?;
    let acl = match &edge {
        Some(edge) => web_acl_arn(&aws, edge).await?,
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
    let cdn_logs = if cdn_logs_elsewhere {
        let output = edge
            .as_ref()
            .and_then(|e| e.outputs.get("CdnLogsBucketName").cloned());
        let bucket = match output {
            Some(b) => Some(b),
            None => retained::find(
                &aws.s3_in(EDGE_REGION),
                &edge_name,
                EDGE_REGION,
                ROLE_CDN_LOGS,
            )
            .await?
            .pop(),
        };
        match (bucket, args.dry_run) {
            (Some(b), _) => Some(b),
            (None, true) => None,
            (None, false) => {
                return Err(CliError::new(format!(
                    "stack `{edge_name}` ({EDGE_REGION}) has no CloudFront logs bucket"
                ))
                .hint(format!(
                    "look at its events in the CloudFormation console ({EDGE_REGION})"
                )));
            }
        }
    } else {
        None
    };
    let cdn_logs_note = cdn_logs_elsewhere.then(|| {
        format!(
            "CloudFront cannot deliver standard logs to a bucket in {region}: they go to {} in {EDGE_REGION} (the edge stack's); S3 access logs stay in {region}",
            cdn_logs.as_deref().map_or_else(|| "a bucket".to_string(), |b| format!("s3://{b}"))
        )
    });

    // 4. The main stack.
    let mut parameters = vec![
        computed(
            "ArtifactsBucket",
            artifacts.clone(),
            found("the bootstrap stack"),
        ),
        computed(
            "HandlerKey",
            handler_key.clone(),
            found("the handler zip's sha256"),
        ),
        Param {
            name: "HandlerPolicy",
            value: config.policy.to_json(),
            key: "",
            source: config.source(),
        },
        computed("WebAclArn", acl.clone(), found("the edge stack")),
        computed(
            "CloudFrontLogsBucketDomain",
            cdn_logs
                .as_ref()
                .map_or_else(String::new, |b| format!("{b}.s3.amazonaws.com")),
            if cdn_logs_elsewhere {
                found("the edge stack")
            } else {
                Source::Default
            },
        ),
        originals.param.clone(),
    ];
    parameters.extend(configured);
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

    // What the main stack now holds: read once, for the edge stack's second pass and the
    // summary.
    let deployed = if args.dry_run {
        None
    } else {
        Deployed::find(&aws, &name).await?
    };

    // 5. The edge stack again, when the main stack's distribution is new to it (a first
    // deploy): its 5xx alarm.
    if let Some(d) = &deployed {
        let distribution = d.distribution_id.clone();
        if let Some(id) = distribution.filter(|id| known_distribution.as_deref() != Some(id)) {
            out.status(format!(
                "the edge stack's CDN 5xx alarm watches distribution {id}: updating `{edge_name}`"
            ));
            for p in &mut edge_parameters {
                if p.name == "DistributionId" {
                    *p = distribution_param(Some(&id));
                }
            }
            let target = Target {
                cfn: &edge_cfn,
                region: EDGE_REGION,
                name: &edge_name,
                template: &rendered.edge,
                parameters: edge_parameters,
            };
            let (outcome, plan) = apply(&target, choices, out).await?;
            stacks.push(StackResult {
                name: edge_name.clone(),
                region: EDGE_REGION.into(),
                outcome,
                plan,
            });
        }
    }

    let mut summary = Summary {
        dry_run: args.dry_run,
        account: account.clone(),
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
        originals_note: originals.note.clone(),
        cdn_logs_note,
        dns_records: Vec::new(),
        example_upload: None,
        example_url: None,
    };
    if args.dry_run {
        return out.data(&summary);
    }
    if let Some(d) = deployed {
        if let Some(id) = &d.distribution_id {
            let domain = distribution_domain(&aws, id).await?;
            if let (Some(domain), Some(custom)) = (&domain, &settings.domain) {
                summary.dns_records = records(custom, domain);
            }
            summary.cdn_url = domain.map(|domain| format!("https://{domain}"));
            if originals.bring_your_own {
                let bucket = &originals.param.value;
                let sid = retained::statement_id(&name, &region);
                let statement = retained::read_statement(bucket, &name, &region, &account, id);
                if retained::set_statement(&aws.s3(), bucket, &sid, Some(statement)).await? {
                    out.status(format!(
                        "s3://{bucket}: its policy now lets this distribution read it (statement `{sid}`; every other statement kept)"
                    ));
                }
            }
        } else if originals.bring_your_own {
            out.warn(format!(
                "no distribution found for `{name}`, so s3://{} was not given a read statement for it; run `imgflex deploy` again once `imgflex status` shows the distribution",
                originals.param.value
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// GetAccountSettings (not in moto) on recorded exchanges: the default reservation is
    /// made where the account can spare it, and skipped with a warning where it cannot.
    fn lambda_replay(unreserved: u32) -> crate::aws::Aws {
        use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
        use aws_smithy_types::body::SdkBody;
        let event = |uri: &str, status: u16, body: String| {
            ReplayEvent::new(
                http::Request::builder()
                    .uri(uri)
                    .body(SdkBody::empty())
                    .unwrap_or_else(|e| panic!("{e}")),
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .header(
                        "x-amzn-errortype",
                        if status == 404 {
                            "ResourceNotFoundException"
                        } else {
                            ""
                        },
                    )
                    .body(SdkBody::from(body))
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        };
        crate::aws::Aws::replaying(StaticReplayClient::new(vec![
            event(
                "https://lambda.eu-west-1.amazonaws.com/2016-08-19/account-settings",
                200,
                format!(
                    r#"{{"AccountLimit":{{"ConcurrentExecutions":{unreserved},"UnreservedConcurrentExecutions":{unreserved}}},"AccountUsage":{{"FunctionCount":1}}}}"#
                ),
            ),
            event(
                "https://lambda.eu-west-1.amazonaws.com/2019-09-30/functions/s-resize/concurrency",
                404,
                r#"{"Message":"Function not found"}"#.into(),
            ),
        ]))
    }

    #[test]
    fn the_default_reservation_is_made_only_where_the_account_can_spare_it() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let out = Output {
            format: crate::cli::OutputFormat::Text,
            quiet: true,
            verbose: 0,
        };
        let default = Setting {
            value: 0,
            source: Source::Default,
        };
        let got = |unreserved: u32, setting: &Setting<u32>| {
            rt.block_on(check_concurrency(
                &lambda_replay(unreserved),
                setting,
                "s-resize",
                &out,
            ))
        };
        let big = got(1000, &default).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(big.value, DEFAULT_RESERVED_CONCURRENCY);
        // A new account's 10 (or 100): nothing to reserve, so none, with the warning.
        assert_eq!(got(10, &default).map(|s| s.value).ok(), Some(0));
        assert_eq!(got(149, &default).map(|s| s.value).ok(), Some(0));
        assert_eq!(got(150, &default).map(|s| s.value).ok(), Some(50));
        // Asked for in imgflex.toml: given, or refused up front with the numbers.
        let asked = Setting {
            value: 80,
            source: Source::File("imgflex.toml:3".into()),
        };
        assert_eq!(got(1000, &asked).map(|s| s.value).ok(), Some(80));
        let refused = got(150, &asked)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(refused.contains("can reserve at most 50"), "{refused}");
    }

    // The edge function's 10 KB is reached first by any policy `imgflex.toml` can express
    // today (e2e: stack_config.rs), so these limits are checked here on the JSON itself.
    #[test]
    fn a_reservation_leaves_lambdas_floor() {
        // A new account: 1000 in all, nothing reserved yet.
        assert_eq!(reservable(1000, 0), 900);
        // The handler already holds 50: it may keep them and take 900 more.
        assert_eq!(reservable(950, 50), 900);
        // An account with the new-account limit of 10 can reserve nothing.
        assert_eq!(reservable(10, 0), 0);
    }

    #[test]
    fn the_policy_is_sized_as_a_parameter_and_as_the_environment() {
        assert!(check_policy_size("{}", "imgflex.toml").is_ok());
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(4100));
        let e = check_policy_size(&big, "imgflex.toml").unwrap_err();
        assert!(
            e.message.contains("`HandlerPolicy` parameter"),
            "{}",
            e.message
        );
        // Under 4,096 bytes, but every quote is escaped inside the environment's JSON.
        let quoted = format!("{{{}}}", vec!["\"k\":1"; 600].join(","));
        assert!(quoted.len() < MAX_PARAMETER_BYTES, "{}", quoted.len());
        let e = check_policy_size(&quoted, "imgflex.toml").unwrap_err();
        assert!(
            e.message.contains("handler's environment would be up to"),
            "{}",
            e.message
        );
    }
}
