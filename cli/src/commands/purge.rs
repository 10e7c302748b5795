//! `imgflex purge`: deletes stored variants (and only variants) from the variants bucket,
//! then invalidates them at the CDN. The originals bucket is never named here: `purge` is
//! handed a `VariantsBucket`, and deletes only keys that parse as canonical variant keys.

use std::fmt;
use std::io::IsTerminal;

use aws_sdk_s3::Client;
use imgflex_core::{Target, parse_canonical};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::aws::{Aws, runtime};
use crate::buckets;
use crate::cli::{GlobalArgs, PurgeArgs};
use crate::commands::invalidate;
use crate::deployed::{Needs, VariantsBucket, locate};
use crate::error::CliError;
use crate::output::Output;
use crate::stack::ask;

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

/// Whether `key` (in the variants bucket) is a variant `target` covers: a canonical variant
/// key, of an original the target names. Anything else is left alone, whatever bucket this is.
pub fn covers(target: &Target, key: &str) -> bool {
    let Ok(variant) = parse_canonical(key) else {
        return false;
    };
    match target {
        Target::Original(original) => variant.original == *original,
        Target::Prefix(prefix) => variant.original.starts_with(prefix.as_str()),
        Target::Variant(canonical) => key == canonical,
    }
}

/// The stored variants `targets` cover, listed by prefix page by page.
pub async fn variants_of(
    s3: &Client,
    bucket: &VariantsBucket,
    targets: &[Target],
) -> Result<Vec<String>, CliError> {
    let mut keys = Vec::new();
    for target in targets {
        for key in buckets::list_keys(s3, bucket.name(), &target.purge_prefix()).await? {
            if covers(target, &key) && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// Deletes `keys` from the variants bucket, with a progress bar on a terminal.
pub async fn delete_variants(
    s3: &Client,
    bucket: &VariantsBucket,
    keys: &[String],
    out: &Output,
) -> Result<usize, CliError> {
    if keys.is_empty() {
        return Ok(0);
    }
    let bar = (std::io::stderr().is_terminal() && !out.quiet).then(|| {
        let bar = ProgressBar::new(keys.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("deleting variants {bar:30} {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let n = buckets::delete(s3, bucket.name(), buckets::ids(keys)?, |done| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(n)
}

pub fn run(args: PurgeArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let targets = invalidate::targets(&args.paths)?;
    let paths = invalidate::invalidation_paths(&targets)?;
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
        delete_variants(&s3, &bucket, &report.deleted, out).await?;
        if let Some(distribution_id) = &loc.distribution_id {
            let (id, _) =
                invalidate::create(&aws, distribution_id, &report.invalidation_paths).await?;
            report.invalidation_id = Some(id);
        }
        out.data(&report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    #[test]
    fn only_canonical_variants_of_the_target_are_covered() {
        let v = "photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp";
        assert!(covers(&t("/photos/cat.jpg"), v));
        assert!(covers(&t("/photos/*"), v));
        assert!(covers(&t("/*"), v));
        assert!(covers(&t(&format!("/{v}")), v));
        assert!(!covers(&t("/photos/dog.jpg"), v));
        assert!(!covers(&t("/videos/*"), v));
        // Originals, even under the prefix, are never variants.
        assert!(!covers(&t("/photos/*"), "photos/cat.jpg"));
        assert!(!covers(&t("/*"), "photos/cat.jpg/notes.txt"));
        // A different original whose name starts like this one.
        assert!(!covers(
            &t("/photos/cat.jpg"),
            "photos/cat.jpg.png/w400_inside_center_q75_bgffffff_e0.webp"
        ));
    }
}
