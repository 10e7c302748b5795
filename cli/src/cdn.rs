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

/// The host of a PATH given as a URL (`https://HOST/…`), lowercased; `None` for a path.
pub fn url_host(path: &str) -> Option<String> {
    let rest = path
        .strip_prefix("https://")
        .or_else(|| path.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    Some(host.to_ascii_lowercase())
}

/// Refuses a URL on another host than the distribution's (its domain and aliases): its
/// path would be invalidated here, which is not what the user meant.
pub fn check_hosts(paths: &[String], hosts: &[String], distribution: &str) -> Result<(), CliError> {
    for p in paths {
        if let Some(host) = url_host(p)
            && !hosts.iter().any(|h| h.eq_ignore_ascii_case(&host))
        {
            return Err(CliError::new(format!(
                "`{p}` is on {host}, not on this stack's distribution {distribution} ({}); nothing was done",
                hosts.join(", ")
            ))
            .hint("give the path alone (`/photos/cat.jpg`), or a URL of this distribution"));
        }
    }
    Ok(())
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

/// Targets that one invalidation can take: `targets` themselves when their paths fit, else
/// their folders, one level shallower at a time, down to everything (`/*`). Invalidating
/// more than was replaced costs cache misses; too many paths would cost the invalidation.
pub fn widen(targets: &[Target]) -> Vec<Target> {
    let fits = |t: &[Target]| invalidation_paths(t).is_ok();
    if fits(targets) {
        return targets.to_vec();
    }
    let keys: Vec<&str> = targets
        .iter()
        .map(|t| match t {
            Target::Original(k) | Target::Prefix(k) | Target::Variant(k) => k.as_str(),
        })
        .collect();
    let deepest = keys
        .iter()
        .map(|k| k.matches('/').count())
        .max()
        .unwrap_or(0);
    for depth in (1..=deepest).rev() {
        let mut folders: Vec<Target> = Vec::new();
        for key in &keys {
            let folder: Vec<&str> = key.split('/').take(depth).collect();
            // A key with fewer folders than `depth` is its own folder at its depth.
            let prefix = if key.matches('/').count() >= depth {
                format!("{}/", folder.join("/"))
            } else {
                key.rsplit_once('/')
                    .map_or_else(String::new, |(dir, _)| format!("{dir}/"))
            };
            let t = Target::Prefix(prefix);
            if !folders.contains(&t) {
                folders.push(t);
            }
        }
        if fits(&folders) {
            return folders;
        }
    }
    vec![Target::Prefix(String::new())]
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
    fn too_many_originals_widen_to_their_folders() {
        let originals = |n: usize, dir: &str| -> Vec<Target> {
            (0..n)
                .map(|i| Target::Original(format!("{dir}{i}.jpg")))
                .collect()
        };
        // 15 originals: 15 wildcards, as they are.
        let few = originals(15, "photos/a/");
        assert_eq!(widen(&few), few);
        // 16: one folder, two wildcards.
        let many = originals(16, "photos/a/");
        assert_eq!(widen(&many), [Target::Prefix("photos/a/".into())]);
        assert!(invalidation_paths(&widen(&many)).is_ok());
        // Ten folders of two: too many folders (20 wildcards), so their parent.
        let spread: Vec<Target> = (0..10)
            .flat_map(|d| originals(2, &format!("photos/{d}/")))
            .collect();
        assert_eq!(widen(&spread), [Target::Prefix("photos/".into())]);
        // Top-level files, too many: everything.
        assert_eq!(widen(&originals(16, "")), [Target::Prefix(String::new())]);
    }

    #[test]
    fn a_url_must_be_on_the_distribution() {
        let hosts = vec![
            "d1.cloudfront.net".to_string(),
            "img.example.com".to_string(),
        ];
        let ok = |p: &str| check_hosts(&[p.to_string()], &hosts, "E1").is_ok();
        assert!(ok("/photos/cat.jpg"));
        assert!(ok("photos/*"));
        assert!(ok("https://d1.cloudfront.net/cat.jpg?w=1"));
        assert!(ok("https://IMG.example.com:443/cat.jpg"));
        assert!(!ok("https://example.com/x.jpg"));
        assert!(!ok("http://d2.cloudfront.net/x.jpg"));
        assert_eq!(url_host("https://a.b/c").as_deref(), Some("a.b"));
        assert_eq!(url_host("/c"), None);
    }

    #[test]
    fn bad_paths_and_too_many_wildcards_are_refused() {
        assert!(targets(&["/pho*tos/cat.jpg".to_string()]).is_err());
        let many: Vec<String> = (0..16).map(|i| format!("/p{i}/*")).collect();
        let err = invalidation_paths(&targets(&many).unwrap()).unwrap_err();
        assert!(err.message.contains("with `*`"), "{}", err.message);
    }
}
