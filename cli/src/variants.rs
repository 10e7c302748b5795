//! The stored variants of originals in the variants bucket: which keys a target covers,
//! listing them, deleting them. Only keys that parse as canonical variant keys are ever
//! touched, and only a `VariantsBucket` is accepted: the originals bucket cannot be named.
//! `purge` and `upload` (replacing an original) call it.

use aws_sdk_s3::Client;
use imgflex_core::{Target, parse_canonical};

use crate::buckets;
use crate::deployed::VariantsBucket;
use crate::error::CliError;
use crate::output::Output;

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
