//! `imgflex destroy`: stops the renders, empties the buckets of generated data, deletes the
//! main and edge stacks, and keeps the originals unless told otherwise, saying what it kept.
//! Each step can be run again: a rerun after any failure finds what is left (a stack in
//! DELETE_FAILED, a retained logs bucket found by its tags) and finishes the job.

use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;

use crate::aws::{Aws, EDGE_REGION, poll_interval, runtime, sdk_error};
use crate::buckets;
use crate::cli::{DestroyArgs, GlobalArgs};
use crate::deployed::{BOOTSTRAP_STACK, Deployed, check_stack_name, edge_stack, legacy_edge_stack};
use crate::error::CliError;
use crate::output::{Output, ask};
use crate::retained::{self, ROLE_CDN_LOGS, ROLE_LOGS, ROLE_ORIGINALS};
use crate::stack::{delete_stack, describe};

/// A bucket and how many objects (versions included) it held.
#[derive(Debug, Clone, Serialize)]
struct BucketCount {
    bucket: String,
    region: String,
    objects: usize,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    stack: String,
    region: String,
    dry_run: bool,
    /// What goes (with `--dry-run`: what would go).
    delete: Vec<String>,
    /// What stays, and why.
    keep: Vec<String>,
    deleted_stacks: Vec<String>,
    /// Buckets emptied and deleted.
    emptied: Vec<BucketCount>,
    kept_originals: Option<BucketCount>,
    deleted_originals: Option<BucketCount>,
    kept_stacks: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.delete.is_empty() {
            write!(
                f,
                "nothing to destroy: `{}` is not deployed in {}",
                self.stack, self.region
            )?;
            for k in &self.keep {
                write!(f, "\nkept: {k}")?;
            }
            return Ok(());
        }
        if self.dry_run {
            writeln!(
                f,
                "dry run: nothing was changed. `imgflex destroy` would delete:"
            )?;
            for d in &self.delete {
                writeln!(f, "  - {d}")?;
            }
            writeln!(f, "and keep:")?;
            for k in &self.keep {
                writeln!(f, "  - {k}")?;
            }
            return Ok(());
        }
        for b in &self.emptied {
            writeln!(
                f,
                "emptied and deleted s3://{} ({} objects)",
                b.bucket, b.objects
            )?;
        }
        for s in &self.deleted_stacks {
            writeln!(f, "deleted stack {s}")?;
        }
        if let Some(b) = &self.deleted_originals {
            writeln!(
                f,
                "deleted the originals bucket s3://{} ({} objects)",
                b.bucket, b.objects
            )?;
        }
        if let Some(b) = &self.kept_originals {
            writeln!(
                f,
                "kept the originals bucket s3://{} ({} objects); `imgflex deploy` of `{}` in {} uses it again, `imgflex destroy --delete-originals` deletes it",
                b.bucket, b.objects, self.stack, self.region
            )?;
        }
        for s in &self.kept_stacks {
            writeln!(f, "kept stack {s}")?;
        }
        Ok(())
    }
}

pub fn run(args: DestroyArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    check_stack_name(&args.stack.stack_name)?;
    runtime()?.block_on(destroy(args, global, out))
}

/// A bucket to empty and delete, in its region.
#[derive(Debug, Clone)]
struct Doomed {
    bucket: String,
    region: String,
    s3: aws_sdk_s3::Client,
}

async fn destroy(args: DestroyArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let aws = Aws::connect(global).await?;
    let name = args.stack.stack_name.clone();
    let region = aws.region().to_string();
    let edge_name = edge_stack(&name, &region);
    let edge_cfn = aws.cloudformation_in(EDGE_REGION);
    let s3 = aws.s3();
    let edge_s3 = aws.s3_in(EDGE_REGION);
    let deployed = Deployed::find(&aws, &name).await?;
    let edge = describe(&edge_cfn, &edge_name).await?;
    let mut report = Report {
        stack: name.clone(),
        region: region.clone(),
        dry_run: args.dry_run,
        ..Report::default()
    };

    // What is there: from the stacks, else (a rerun after a partial destroy) from the tags
    // the templates put on the buckets they retain, the account's buckets read once for both.
    let logs = deployed.as_ref().and_then(|d| d.logs_bucket.clone());
    let originals = deployed.as_ref().and_then(|d| d.originals_bucket.clone());
    let kept = if logs.is_none() || originals.is_none() {
        retained::find_roles(&s3, &name, &region, &[ROLE_LOGS, ROLE_ORIGINALS]).await?
    } else {
        Vec::new()
    };
    let kept_as = |role: &str| -> Vec<String> {
        kept.iter()
            .filter(|(_, r)| r == role)
            .map(|(b, _)| b.clone())
            .collect()
    };
    let logs = logs.map_or_else(|| kept_as(ROLE_LOGS), |b| vec![b]);
    let originals = originals.or_else(|| kept_as(ROLE_ORIGINALS).pop());
    // The us-east-1 CloudFront logs bucket exists only where the edge stack was asked for it
    // (or, with the edge stack gone, in the regions that need it): only then is it looked for.
    let cdn_logs_made = match &edge {
        Some(e) => e.parameters.get("CreateLogsBucket").map(String::as_str) == Some("true"),
        None => !crate::regions::cdn_logs_stay_in_region(&region),
    };
    let cdn_logs = match edge
        .as_ref()
        .and_then(|e| e.outputs.get("CdnLogsBucketName").cloned())
    {
        Some(b) => vec![b],
        None if cdn_logs_made => {
            retained::find(&edge_s3, &edge_name, EDGE_REGION, ROLE_CDN_LOGS).await?
        }
        None => Vec::new(),
    };
    // A bucket the stack did not create (`[originals] bucket`, or one reused after an
    // earlier destroy) is only given a statement of ours, which goes with the stack.
    let bring_your_own = deployed.as_ref().is_some_and(|d| {
        d.stack
            .parameters
            .get("OriginalsBucketName")
            .is_some_and(|v| !v.is_empty())
    });
    let originals_ours = match (&originals, args.delete_originals) {
        (Some(b), true) => retained::tags(&s3, b)
            .await
            .is_some_and(|t| retained::is_ours(&t, &name, &region, ROLE_ORIGINALS)),
        _ => false,
    };
    let mut doomed: Vec<Doomed> = Vec::new();
    for b in logs.iter().filter(|b| Some(*b) != originals.as_ref()) {
        doomed.push(Doomed {
            bucket: b.clone(),
            region: region.clone(),
            s3: s3.clone(),
        });
    }
    let mut doomed_edge: Vec<Doomed> = Vec::new();
    for b in &cdn_logs {
        doomed_edge.push(Doomed {
            bucket: b.clone(),
            region: EDGE_REGION.into(),
            s3: edge_s3.clone(),
        });
    }

    if deployed.is_some() {
        report.delete.push(format!("stack `{name}` ({region}): the handler, the distribution, the variants bucket and every cached variant"));
    }
    if edge.is_some() {
        report.delete.push(format!(
            "stack `{edge_name}` ({EDGE_REGION}): the web ACL and its logs"
        ));
    }
    for d in doomed.iter().chain(&doomed_edge) {
        report
            .delete
            .push(format!("s3://{} ({}): access logs", d.bucket, d.region));
    }
    match (&originals, args.delete_originals) {
        (Some(b), true) if originals_ours => report
            .delete
            .push(format!("s3://{b} ({region}): EVERY ORIGINAL IMAGE, every version")),
        (Some(b), true) => {
            return Err(CliError::new(format!(
                "s3://{b} was not created by imgflex for `{name}` in {region}: `--delete-originals` only deletes a bucket imgflex made"
            ))
            .hint("delete your own bucket yourself (S3 console or `aws s3 rb`); run `imgflex destroy` without --delete-originals"));
        }
        (Some(b), false) if bring_your_own && deployed.is_some() => report.keep.push(format!(
            "s3://{b} ({region}), the originals: not the stack's, so only imgflex's statement leaves its policy"
        )),
        (Some(b), false) => report.keep.push(format!(
            "s3://{b} ({region}), the originals: the next `imgflex deploy` of `{name}` in {region} uses it again"
        )),
        (None, _) => {}
    }
    if describe(&aws.cloudformation(), BOOTSTRAP_STACK)
        .await?
        .is_some()
    {
        report.keep.push(format!(
            "stack {BOOTSTRAP_STACK} ({region}): shared by every imgflex stack in this account and region"
        ));
    }
    let legacy = legacy_edge_stack(&name);
    if describe(&edge_cfn, &legacy).await?.is_some() {
        report.keep.push(format!(
            "stack `{legacy}` ({EDGE_REGION}): an earlier imgflex's edge stack, maybe another region's; delete it yourself once no `{name}` uses it"
        ));
    }
    if report.delete.is_empty() || args.dry_run {
        return out.data(&report);
    }

    let plan = format!("delete {}", report.delete.join("; "));
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(format!(
                "not destroying without confirmation; this would {plan}"
            ))
            .hint("run it on a terminal to be asked, or pass `--yes` (`--dry-run` lists what goes and what stays)"));
        }
        if !ask(&format!("{plan}?")) {
            return Err(CliError::new("nothing was deleted"));
        }
        if let (true, Some(bucket)) = (args.delete_originals, &originals) {
            eprint!("type the originals bucket's name to delete it with every image: ");
            let mut typed = String::new();
            let _ = std::io::stdin().read_line(&mut typed);
            if typed.trim() != bucket {
                return Err(CliError::new("the name did not match; nothing was deleted"));
            }
        }
    }

    if let Some(d) = &deployed {
        // 1. No more renders: a render finishing after the variants bucket was emptied
        // would put an object back and fail the bucket's delete.
        if let Some(function) = &d.function_name {
            stop_renders(&aws, function, out).await?;
        }
        // 2. The stack's own data: CloudFormation cannot delete a bucket with objects in it.
        let variants = d
            .variants_bucket
            .clone()
            .filter(|v| Some(v) != originals.as_ref());
        if let Some(v) = &variants {
            let n = empty(&s3, v, out).await?;
            report.emptied.push(BucketCount {
                bucket: v.clone(),
                region: region.clone(),
                objects: n,
            });
        }
        if bring_your_own
            && let Some(b) = &originals
            && buckets::exists(&s3, b).await?
        {
            let sid = retained::statement_id(&name, &region);
            if retained::set_statement(&s3, b, &sid, None).await? {
                out.status(format!(
                    "s3://{b}: removed imgflex's statement `{sid}` from its policy"
                ));
            }
        }
        // 3. The stack. A late write (a render that was already running) can still fail
        // the variants bucket's delete once: empty it again and delete again.
        out.status(format!("deleting stack `{name}` ({region})"));
        let cfn = aws.cloudformation();
        if let Err(first) = delete_stack(&cfn, &name, out).await {
            let Some(v) = &variants else {
                return Err(first);
            };
            out.status(format!(
                "the delete failed ({}); emptying s3://{v} again and retrying",
                first.message
            ));
            empty(&s3, v, out).await?;
            delete_stack(&cfn, &name, out).await?;
        }
        report.deleted_stacks.push(name.clone());
    }
    // 4. The logs, retained by the stack so that late deliveries cannot fail its delete;
    // they go now, after the distribution, with retries for deliveries still landing.
    for d in &doomed {
        let n = empty_and_delete(d, out).await?;
        report.emptied.push(BucketCount {
            bucket: d.bucket.clone(),
            region: d.region.clone(),
            objects: n,
        });
    }
    if edge.is_some() {
        out.status(format!("deleting stack `{edge_name}` ({EDGE_REGION})"));
        delete_stack(&edge_cfn, &edge_name, out).await?;
        report.deleted_stacks.push(edge_name.clone());
    }
    for d in &doomed_edge {
        let n = empty_and_delete(d, out).await?;
        report.emptied.push(BucketCount {
            bucket: d.bucket.clone(),
            region: d.region.clone(),
            objects: n,
        });
    }

    if let Some(bucket) = originals
        && buckets::exists(&s3, &bucket).await?
    {
        let ids = buckets::list_versions(&s3, &bucket).await?;
        let n = ids.len();
        let count = BucketCount {
            bucket: bucket.clone(),
            region: region.clone(),
            objects: n,
        };
        if args.delete_originals {
            out.status(format!(
                "deleting every original in s3://{bucket} ({n} objects)"
            ));
            buckets::delete(&s3, &bucket, ids, |_| {}).await?;
            s3.delete_bucket()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("cannot delete s3://{bucket}"), e))?;
            report.deleted_originals = Some(count);
        } else {
            report.kept_originals = Some(count);
        }
    }
    if describe(&aws.cloudformation(), BOOTSTRAP_STACK)
        .await?
        .is_some()
    {
        report
            .kept_stacks
            .push(format!("{BOOTSTRAP_STACK} ({region}) (shared by every imgflex stack in this account and region)"));
    }
    out.data(&report)
}

/// Reserved concurrency 0: Lambda throttles every new invocation of the handler.
async fn stop_renders(aws: &Aws, function: &str, out: &Output) -> Result<(), CliError> {
    match aws
        .lambda()
        .put_function_concurrency()
        .function_name(function)
        .reserved_concurrent_executions(0)
        .send()
        .await
    {
        Ok(_) => {
            out.status(format!(
                "stopped new renders: `{function}` throttled (reserved concurrency 0)"
            ));
            Ok(())
        }
        Err(e) if crate::aws::error_code(&e) == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(sdk_error(
            &format!("cannot stop the handler `{function}`"),
            e,
        )),
    }
}

/// Deletes every version in `bucket`; how many there were.
async fn empty(s3: &aws_sdk_s3::Client, bucket: &str, out: &Output) -> Result<usize, CliError> {
    if !buckets::exists(s3, bucket).await? {
        return Ok(0);
    }
    let ids = buckets::list_versions(s3, bucket).await?;
    out.status(format!("emptying s3://{bucket} ({} objects)", ids.len()));
    buckets::delete(s3, bucket, ids, |_| {}).await
}

/// Empties and deletes a bucket, emptying again when an object arrived in between (a log
/// delivery): at most five rounds.
async fn empty_and_delete(d: &Doomed, out: &Output) -> Result<usize, CliError> {
    let mut total = 0;
    for round in 1..=5 {
        total += empty(&d.s3, &d.bucket, out).await?;
        match d.s3.delete_bucket().bucket(&d.bucket).send().await {
            Ok(_) => return Ok(total),
            Err(e) if crate::aws::error_code(&e) == Some("NoSuchBucket") => return Ok(total),
            Err(e) if crate::aws::error_code(&e) == Some("BucketNotEmpty") && round < 5 => {
                tokio::time::sleep(poll_interval(Duration::from_secs(2))).await;
            }
            Err(e) => return Err(sdk_error(&format!("cannot delete s3://{}", d.bucket), e)),
        }
    }
    Ok(total)
}
