//! The stored variants of originals in the variants bucket: listing the keys a target covers
//! (`Target::covers`, in core, decides), deleting them. Only keys that parse as canonical
//! variant keys are ever touched, and only a `VariantsBucket` is accepted: the originals
//! bucket cannot be named.
//! `purge` and `upload` (replacing an original) call it.

use aws_sdk_s3::Client;
use imgflex_core::Target;

use crate::buckets;
use crate::deployed::VariantsBucket;
use crate::error::CliError;
use crate::output::Output;

/// The stored variants `targets` cover, listed by prefix page by page.
pub async fn variants_of(
    s3: &Client,
    bucket: &VariantsBucket,
    targets: &[Target],
) -> Result<Vec<String>, CliError> {
    let mut keys = Vec::new();
    for target in targets {
        for key in buckets::list_keys(s3, bucket.name(), &target.purge_prefix()).await? {
            if target.covers(&key) && !keys.contains(&key) {
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
    let bar = out.progress(
        "deleting variants {bar:30} {pos}/{len}",
        Some(keys.len() as u64),
    );
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
