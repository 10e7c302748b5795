//! The CDN side of keeping images fresh: what users type (keys, prefixes, CDN URLs) mapped by
//! `imgflex-core` to the CloudFront paths covering originals and all their variants, one
//! invalidation request for them, and waiting for it. `invalidate`, `purge` and `upload` all
//! call it.

use std::time::{Duration, Instant};

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use imgflex_core::Target;

use crate::aws::{Aws, sdk_error};
use crate::error::CliError;
use crate::output::Output;

/// CloudFront accepts at most 3,000 paths per invalidation (15 of them wildcards).
const MAX_PATHS: usize = 3000;
const MAX_WILDCARDS: usize = 15;

/// Parses every PATH first: one bad path and nothing is sent.
pub fn targets(paths: &[String]) -> Result<Vec<Target>, CliError> {
    paths
        .iter()
        .map(|p| {
            Target::parse(p).map_err(|e| {
                CliError::new(format!("`{p}` is not a path imgflex serves: {e}")).hint(
                    "give an original's key (`photos/cat.jpg`), a prefix (`/photos/*`) or a CDN URL",
                )
            })
        })
        .collect()
}

/// The CloudFront paths covering `targets`, without duplicates, in the order given.
pub fn invalidation_paths(targets: &[Target]) -> Result<Vec<String>, CliError> {
    let mut paths: Vec<String> = Vec::new();
    for path in targets.iter().flat_map(Target::invalidation_paths) {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    let wildcards = paths.iter().filter(|p| p.ends_with('*')).count();
    if paths.len() > MAX_PATHS || wildcards > MAX_WILDCARDS {
        return Err(CliError::new(format!(
            "{} paths ({wildcards} with `*`) is more than one invalidation takes ({MAX_PATHS}, {MAX_WILDCARDS} with `*`)",
            paths.len()
        ))
        .hint("invalidate a common prefix instead (`/photos/*`), or split the list"));
    }
    Ok(paths)
}

/// Sends one invalidation; its id and status.
pub async fn create(
    aws: &Aws,
    distribution_id: &str,
    paths: &[String],
) -> Result<(String, String), CliError> {
    let reference = format!(
        "imgflex-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let batch = InvalidationBatch::builder()
        .caller_reference(reference)
        .paths(
            Paths::builder()
                .quantity(i32::try_from(paths.len()).unwrap_or(i32::MAX))
                .set_items(Some(paths.to_vec()))
                .build()
                .map_err(|e| CliError::new(format!("cannot build the invalidation: {e}")))?,
        )
        .build()
        .map_err(|e| CliError::new(format!("cannot build the invalidation: {e}")))?;
    let answer = aws
        .cloudfront()
        .create_invalidation()
        .distribution_id(distribution_id)
        .invalidation_batch(batch)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot invalidate on `{distribution_id}`"), e))?;
    let invalidation = answer
        .invalidation()
        .ok_or_else(|| CliError::new("CloudFront answered without an invalidation"))?;
    Ok((
        invalidation.id().to_string(),
        invalidation.status().to_string(),
    ))
}

/// Polls until the invalidation is done. AWS says `Completed`, moto `COMPLETED`: compare
/// without case (the SDK's waiter compares exactly and would never return on moto).
pub async fn wait(
    aws: &Aws,
    distribution_id: &str,
    id: &str,
    out: &Output,
) -> Result<String, CliError> {
    let started = Instant::now();
    let spinner = out.progress("{spinner} [{elapsed}] {msg}", None);
    match &spinner {
        Some(s) => s.set_message(format!("waiting for invalidation {id}")),
        None => out.status(format!("waiting for invalidation {id}")),
    }
    loop {
        let answer = aws
            .cloudfront()
            .get_invalidation()
            .distribution_id(distribution_id)
            .id(id)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("cannot read invalidation `{id}`"), e))?;
        let status = answer
            .invalidation()
            .map_or_else(|| "unknown".to_string(), |i| i.status().to_string());
        if status.eq_ignore_ascii_case("completed") {
            if let Some(s) = &spinner {
                s.finish_and_clear();
            }
            out.status(format!(
                "invalidation {id} done in {} s",
                started.elapsed().as_secs()
            ));
            return Ok(status);
        }
        if started.elapsed() > Duration::from_secs(30 * 60) {
            return Err(CliError::new(format!(
                "invalidation {id} was still {status} after 30 minutes"
            ))
            .hint(
                "CloudFront keeps working on it; `imgflex status` lists invalidations in flight",
            ));
        }
        tokio::time::sleep(crate::aws::poll_interval(Duration::from_secs(5))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(input: &[&str]) -> Vec<String> {
        let input: Vec<String> = input.iter().map(ToString::to_string).collect();
        invalidation_paths(&targets(&input).unwrap()).unwrap()
    }

    #[test]
    fn every_spelling_of_an_original_covers_it_and_its_variants() {
        let want = vec!["/photos/cat.jpg", "/_v/photos/cat.jpg/*"];
        assert_eq!(paths(&["/photos/cat.jpg"]), want);
        assert_eq!(paths(&["photos/cat.jpg"]), want);
        assert_eq!(
            paths(&["https://d1.cloudfront.net/photos/cat.jpg?w=400&fm=webp"]),
            want
        );
        assert_eq!(
            paths(&["/photos/cat.jpg", "photos/cat.jpg"]),
            want,
            "deduplicated"
        );
        assert_eq!(paths(&["/photos/*"]), vec!["/photos/*", "/_v/photos/*"]);
        assert_eq!(
            paths(&["/my%20cat.jpg"]),
            vec!["/my%20cat.jpg", "/_v/my%20cat.jpg/*"]
        );
    }

    #[test]
    fn bad_paths_and_too_many_wildcards_are_refused() {
        assert!(targets(&["/pho*tos/cat.jpg".to_string()]).is_err());
        let many: Vec<String> = (0..16).map(|i| format!("/p{i}/*")).collect();
        let err = invalidation_paths(&targets(&many).unwrap()).unwrap_err();
        assert!(err.message.contains("with `*`"), "{}", err.message);
    }
}
