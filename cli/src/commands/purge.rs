//! `imgflex purge`: deletes stored variants (and only variants) from the variants bucket,
//! then invalidates them at the CDN. The originals bucket is never named here: `purge` is
//! handed a `VariantsBucket`, and deletes only keys that parse as canonical variant keys.

use std::fmt;
use std::io::IsTerminal;

use imgflex_core::Target;
use serde::Serialize;

use crate::aws::{Aws, runtime};
use crate::cdn;
use crate::cli::{GlobalArgs, PurgeArgs};
use crate::deployed::{Needs, locate};
use crate::error::CliError;
use crate::output::{Output, ask};
use crate::variants::{delete_variants, variants_of};

#[derive(Debug, Serialize)]
struct Report {
    dry_run: bool,
    variants_bucket: String,
    deleted: Vec<String>,
    invalidation_id: Option<String>,
    invalidation_paths: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        writeln!(
            f,
            "{verb} {} variant(s) from s3://{}",
            self.deleted.len(),
            self.variants_bucket
        )?;
        if self.dry_run {
            for key in &self.deleted {
                writeln!(f, "  {key}")?;
            }
            return write!(f, "dry run: nothing was deleted or invalidated");
        }
        if self.deleted.is_empty() {
            return write!(
                f,
                "no stored variant matched, so nothing was invalidated; `imgflex invalidate` with the same path clears copies the CDN may still hold"
            );
        }
        match &self.invalidation_id {
            Some(id) => write!(
                f,
                "invalidation {id}: {}",
                self.invalidation_paths.join(" ")
            ),
            None => write!(f, "no distribution: nothing to invalidate"),
        }
    }
}

pub fn run(args: PurgeArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let targets = cdn::targets(&args.paths)?;
    let paths = cdn::invalidation_paths(&targets)?;
    let everything = targets
        .iter()
        .any(|t| matches!(t, Target::Prefix(p) if p.is_empty()));
    runtime()?.block_on(async {
        let aws = Aws::connect(global).await?;
        let needs = Needs {
            variants: true,
            ..Needs::default()
        };
        let loc = locate(&aws, &args.location, needs).await?;
        let Some(bucket) = loc.variants else {
            return Err(CliError::new("no variants bucket"));
        };
        if let Some(id) = &loc.distribution_id {
            let hosts = crate::deployed::distribution_hosts(&aws, id).await?;
            cdn::check_hosts(&args.paths, &hosts, id)?;
        }
        let s3 = aws.s3();
        let keys = variants_of(&s3, &bucket, &targets).await?;
        let mut report = Report {
            dry_run: args.dry_run,
            variants_bucket: bucket.name().to_string(),
            deleted: keys,
            invalidation_id: None,
            invalidation_paths: paths,
        };
        if args.dry_run {
            return out.data(&report);
        }
        if everything && !args.yes {
            let question = format!(
                "purge every variant in s3://{} ({} objects) and invalidate the whole CDN?",
                bucket.name(),
                report.deleted.len()
            );
            if !std::io::stdin().is_terminal() {
                return Err(CliError::new(format!(
                    "not purging everything without confirmation ({} variants)",
                    report.deleted.len()
                ))
                .hint("run it on a terminal to be asked, or pass `--yes`"));
            }
            if !ask(&question) {
                return Err(CliError::new("nothing was purged"));
            }
        }
        if report.deleted.is_empty() {
            report.invalidation_paths.clear();
            // Nothing stored matched: an invalidation would cost a request and change nothing
            // imgflex knows of; `invalidate` is there for copies the CDN may still hold.
            return out.data(&report);
        }
        delete_variants(&s3, &bucket, &report.deleted, out).await?;
        if let Some(distribution_id) = &loc.distribution_id {
            let (id, _) = cdn::create(&aws, distribution_id, &report.invalidation_paths).await?;
            report.invalidation_id = Some(id);
        }
        out.data(&report)
    })
}
