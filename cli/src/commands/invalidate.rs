//! `imgflex invalidate`: what users type (keys, prefixes, CDN URLs) mapped by
//! `imgflex-core` to the CloudFront paths covering originals and all their variants, in one
//! invalidation request.

use std::fmt;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use imgflex_core::Target;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::aws::{Aws, runtime, sdk_error};
use crate::cli::{GlobalArgs, InvalidateArgs};
use crate::deployed::{Needs, locate};
use crate::error::CliError;
use crate::output::Output;

/// CloudFront accepts at most 3,000 paths per invalidation (15 of them wildcards).
const MAX_PATHS: usize = 3000;
const MAX_WILDCARDS: usize = 15;

#[derive(Debug, Serialize)]
struct Report {
    distribution_id: String,
    invalidation_id: String,
    status: String,
    paths: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalidation {} on {}: {}",
            self.invalidation_id, self.distribution_id, self.status
        )?;
        for p in &self.paths {
            writeln!(f, "  {p}")?;
        }
        if !self.status.eq_ignore_ascii_case("completed") {
            write!(
                f,
                "CloudFront usually takes a minute or two; `--wait` waits for it"
            )?;
        }
        Ok(())
    }
}

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
async fn wait(
    aws: &Aws,
    distribution_id: &str,
    id: &str,
    out: &Output,
) -> Result<String, CliError> {
    let started = Instant::now();
    let spinner = if std::io::stderr().is_terminal() && !out.quiet {
        let s = ProgressBar::new_spinner();
        s.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        s.enable_steady_tick(Duration::from_millis(120));
        s.set_message(format!("waiting for invalidation {id}"));
        Some(s)
    } else {
        out.status(format!("waiting for invalidation {id}"));
        None
    };
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
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

pub fn run(args: InvalidateArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let targets = targets(&args.paths)?;
    let paths = invalidation_paths(&targets)?;
    runtime()?.block_on(async {
        let aws = Aws::connect(global).await?;
        let needs = Needs {
            distribution: true,
            ..Needs::default()
        };
        let loc = locate(&aws, &args.location, needs).await?;
        let distribution_id = loc.distribution_id.unwrap_or_default();
        let (id, mut status) = create(&aws, &distribution_id, &paths).await?;
        if args.wait {
            status = wait(&aws, &distribution_id, &id, out).await?;
        }
        out.data(&Report {
            distribution_id,
            invalidation_id: id,
            status,
            paths,
        })
    })
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
        let want = vec!["/photos/cat.jpg", "/photos/cat.jpg/*"];
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
        assert_eq!(paths(&["/photos/*"]), vec!["/photos/*"]);
        assert_eq!(
            paths(&["/my%20cat.jpg"]),
            vec!["/my%20cat.jpg", "/my%20cat.jpg/*"]
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
