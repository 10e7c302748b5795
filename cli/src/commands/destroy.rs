//! `imgflex destroy`: empties the buckets of generated data, deletes the main and edge
//! stacks, and keeps the originals unless told otherwise, saying what it kept.

use std::fmt;
use std::io::IsTerminal;

use serde::Serialize;

use crate::aws::{Aws, EDGE_REGION, runtime, sdk_error};
use crate::buckets;
use crate::cli::{DestroyArgs, GlobalArgs};
use crate::deployed::{BOOTSTRAP_STACK, Deployed, check_stack_name, edge_stack};
use crate::error::CliError;
use crate::output::{Output, ask};
use crate::stack::{delete_stack, describe};

#[derive(Debug, Default, Serialize)]
struct Report {
    stack: String,
    region: String,
    deleted_stacks: Vec<String>,
    /// Bucket → objects (versions included) deleted from it.
    emptied: Vec<(String, usize)>,
    /// The originals bucket, when kept, and how many objects it holds.
    kept_originals: Option<(String, usize)>,
    deleted_originals: Option<(String, usize)>,
    kept_stacks: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.deleted_stacks.is_empty() {
            return write!(
                f,
                "nothing to destroy: `{}` is not deployed in {}",
                self.stack, self.region
            );
        }
        for (bucket, n) in &self.emptied {
            writeln!(f, "emptied and deleted s3://{bucket} ({n} objects)")?;
        }
        for s in &self.deleted_stacks {
            writeln!(f, "deleted stack {s}")?;
        }
        if let Some((bucket, n)) = &self.deleted_originals {
            writeln!(
                f,
                "deleted the originals bucket s3://{bucket} ({n} objects)"
            )?;
        }
        if let Some((bucket, n)) = &self.kept_originals {
            writeln!(
                f,
                "kept the originals bucket s3://{bucket} ({n} objects); `imgflex destroy --delete-originals` deletes it"
            )?;
        }
        for s in &self.kept_stacks {
            writeln!(
                f,
                "kept stack {s} (shared by every imgflex stack in this account and region)"
            )?;
        }
        Ok(())
    }
}

pub fn run(args: DestroyArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    check_stack_name(&args.stack.stack_name)?;
    runtime()?.block_on(destroy(args, global, out))
}

async fn destroy(args: DestroyArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let aws = Aws::connect(global).await?;
    let name = args.stack.stack_name.clone();
    let region = aws.region().to_string();
    let edge_name = edge_stack(&name);
    let edge_cfn = aws.cloudformation_in(EDGE_REGION);
    let deployed = Deployed::find(&aws, &name).await?;
    let edge = describe(&edge_cfn, &edge_name).await?;
    let mut report = Report {
        stack: name.clone(),
        region: region.clone(),
        ..Report::default()
    };
    if deployed.is_none() && edge.is_none() {
        return out.data(&report);
    }

    let originals = deployed.as_ref().and_then(|d| d.originals_bucket.clone());
    let mut what = vec![];
    if deployed.is_some() {
        what.push(format!("stack `{name}` ({region})"));
    }
    if edge.is_some() {
        what.push(format!("stack `{edge_name}` ({EDGE_REGION})"));
    }
    let plan = format!(
        "delete {}, with every cached variant and log{}",
        what.join(" and "),
        match (&originals, args.delete_originals) {
            (Some(b), true) => format!(", AND EVERY ORIGINAL IMAGE in s3://{b}"),
            (Some(b), false) => format!(" (the originals in s3://{b} are kept)"),
            (None, _) => String::new(),
        }
    );
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(format!(
                "not destroying without confirmation; this would {plan}"
            ))
            .hint("run it on a terminal to be asked, or pass `--yes`"));
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

    let s3 = aws.s3();
    if let Some(d) = &deployed {
        // CloudFormation cannot delete a bucket with objects in it: empty what is ours to
        // empty (generated variants, access logs), and never the originals here.
        for bucket in [&d.variants_bucket].into_iter().flatten() {
            if Some(bucket) == originals.as_ref() || !buckets::exists(&s3, bucket).await? {
                continue;
            }
            let ids = buckets::list_versions(&s3, bucket).await?;
            let total = ids.len();
            out.status(format!("emptying s3://{bucket} ({total} objects)"));
            let n = buckets::delete(&s3, bucket, ids, |_| {}).await?;
            report.emptied.push((bucket.clone(), n));
        }
        out.status(format!("deleting stack `{name}` ({region})"));
        delete_stack(&aws.cloudformation(), &name, out).await?;
        report.deleted_stacks.push(name.clone());
    }
    // The stack retains the logs bucket (a deleted stack must not lose logs written
    // while it was being deleted); destroy was asked to clear it, so it goes last.
    if let Some(bucket) = deployed.as_ref().and_then(|d| d.logs_bucket.clone())
        && Some(&bucket) != originals.as_ref()
        && buckets::exists(&s3, &bucket).await?
    {
        let ids = buckets::list_versions(&s3, &bucket).await?;
        out.status(format!(
            "emptying and deleting s3://{bucket} ({} objects)",
            ids.len()
        ));
        let n = buckets::delete(&s3, &bucket, ids, |_| {}).await?;
        s3.delete_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("cannot delete s3://{bucket}"), e))?;
        report.emptied.push((bucket, n));
    }
    if edge.is_some() {
        out.status(format!("deleting stack `{edge_name}` ({EDGE_REGION})"));
        delete_stack(&edge_cfn, &edge_name, out).await?;
        report.deleted_stacks.push(edge_name.clone());
    }

    if let Some(bucket) = originals
        && buckets::exists(&s3, &bucket).await?
    {
        let ids = buckets::list_versions(&s3, &bucket).await?;
        let n = ids.len();
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
            report.deleted_originals = Some((bucket, n));
        } else {
            report.kept_originals = Some((bucket, n));
        }
    }
    if describe(&aws.cloudformation(), BOOTSTRAP_STACK)
        .await?
        .is_some()
    {
        report
            .kept_stacks
            .push(format!("{BOOTSTRAP_STACK} ({region})"));
    }
    out.data(&report)
}
