//! `imgflex warm`: variants rendered before their first viewer asks, by asking for them
//! through the CDN as a browser would (`fm=auto` with the browser's `Accept`), a few at a time.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use imgflex_core::{Route, route};
use serde::Serialize;

use crate::aws::{Aws, runtime};
use crate::cli::{GlobalArgs, WarmArgs};
use crate::error::CliError;
use crate::output::Output;
use crate::srcset::DEFAULT_WIDTHS;
use crate::viewer::{Cdn, bucket_images, dev_images};
use crate::web::Client;

/// What a browser asking for each format sends: `fallback` is one that takes neither AVIF
/// nor WebP, and gets the original's own format.
const FORMATS: &[(&str, &str)] = &[
    ("avif", "image/avif,image/webp,image/*,*/*;q=0.8"),
    ("webp", "image/webp,image/*,*/*;q=0.8"),
    ("fallback", "image/*,*/*;q=0.8"),
];

/// One variant to ask for.
#[derive(Debug, Clone)]
struct Job {
    original: String,
    query: String,
    format: &'static str,
    accept: &'static str,
    /// The canonical key the edge computes for it: two jobs with one key are one variant.
    key: String,
}

#[derive(Debug, Serialize)]
struct Warmed {
    original: String,
    query: String,
    format: &'static str,
    key: String,
    status: Option<u16>,
    /// CloudFront's `x-cache`: `Miss` rendered (or read from the variants bucket), `Hit` was
    /// cached already.
    cache: Option<String>,
    content_type: Option<String>,
    bytes: u64,
    ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Warmed {
    fn ok(&self) -> bool {
        self.status == Some(200)
    }

    fn hit(&self) -> bool {
        matches!(self.cache.as_deref(), Some("Hit" | "RefreshHit"))
    }
}

#[derive(Debug, Serialize)]
struct Report {
    base: String,
    originals: usize,
    variants: usize,
    /// Misses: each a render, or a read of a variant the bucket already had.
    warmed: usize,
    already_cached: usize,
    failed: usize,
    /// Time and bytes of the misses.
    miss_ms: u64,
    miss_bytes: u64,
    results: Vec<Warmed>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .results
            .iter()
            .map(|r| r.original.len() + r.query.len() + 1)
            .max()
            .unwrap_or(0);
        for r in &self.results {
            let url = format!("{}?{}", r.original, r.query);
            let outcome = match (&r.error, r.status) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(status)) => format!(
                    "{status} {:<9} {:>9} B {:>6} ms  {}",
                    r.cache.as_deref().unwrap_or("-"),
                    r.bytes,
                    r.ms,
                    r.content_type.as_deref().unwrap_or("-")
                ),
                (None, None) => "-".into(),
            };
            writeln!(f, "{url:width$}  {:<8}  {outcome}", r.format)?;
        }
        write!(
            f,
            "{} variants of {} originals: {} warmed ({} B in {} ms), {} already cached, {} failed",
            self.variants,
            self.originals,
            self.warmed,
            self.miss_bytes,
            self.miss_ms,
            self.already_cached,
            self.failed
        )
    }
}

pub fn run(args: WarmArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let client = Client::new(Duration::from_secs(args.timeout));
    let (cdn, originals) = match &args.url {
        Some(url) => {
            let cdn = Cdn::local(url, global)?;
            let originals = if args.all {
                dev_images(&cdn.base, &client).ok_or_else(|| {
                    CliError::new(format!("{} does not list its originals", cdn.base))
                        .hint("--all with --url works with `imgflex dev`; elsewhere name the keys")
                })?
            } else {
                args.keys.clone()
            };
            (cdn, originals)
        }
        None => runtime()?.block_on(async {
            let aws = Aws::connect(global).await?;
            let (cdn, deployed) = Cdn::deployed(&aws, &args.stack.stack_name).await?;
            let originals = match (&deployed.originals_bucket, args.all) {
                (Some(bucket), true) => bucket_images(&aws, bucket, usize::MAX).await?,
                _ => args.keys.clone(),
            };
            Ok::<_, CliError>((cdn, originals))
        })?,
    };
    if originals.is_empty() {
        return Err(CliError::new("no originals to warm")
            .hint("upload some (`imgflex upload`), or name them as arguments"));
    }
    let jobs = jobs(&cdn, &originals, &args)?;
    out.status(format!(
        "warming {} variants of {} originals through {}, {} at a time",
        jobs.len(),
        originals.len(),
        cdn.base,
        args.concurrency
    ));
    let results = warm_all(&cdn, &client, &jobs, usize::from(args.concurrency), out);
    let misses: Vec<&Warmed> = results.iter().filter(|r| r.ok() && !r.hit()).collect();
    let report = Report {
        base: cdn.base.clone(),
        originals: originals.len(),
        variants: jobs.len(),
        warmed: misses.len(),
        already_cached: results.iter().filter(|r| r.ok() && r.hit()).count(),
        failed: results.iter().filter(|r| !r.ok()).count(),
        miss_ms: misses.iter().map(|r| r.ms).sum(),
        miss_bytes: misses.iter().map(|r| r.bytes).sum(),
        results,
    };
    out.data(&report)?;
    if report.failed > 0 {
        let err = CliError::new(format!(
            "{} of {} variants failed",
            report.failed, report.variants
        ))
        .hint("`imgflex logs --status 5xx` shows the handler's side of each");
        // Printed as the result already under `--output json`.
        return Err(err.reported());
    }
    Ok(())
}

/// Every (original, size, format), as the edge keys them; refused or duplicate ones out.
fn jobs(cdn: &Cdn, originals: &[String], args: &WarmArgs) -> Result<Vec<Job>, CliError> {
    let formats: Vec<(&'static str, &'static str)> = if args.formats.is_empty() {
        FORMATS.to_vec()
    } else {
        let mut chosen = Vec::new();
        for name in &args.formats {
            let name = name.trim().to_ascii_lowercase();
            let found = FORMATS
                .iter()
                .find(|(n, _)| *n == name || (name == "jpeg" || name == "png") && *n == "fallback")
                .ok_or_else(|| {
                    CliError::new(format!("unknown format `{name}` in --formats"))
                        .hint("use avif, webp and fallback (the original's own format)")
                })?;
            chosen.push(*found);
        }
        chosen
    };
    let sizes: Vec<String> = match &args.preset {
        Some(preset) => vec![format!("p={preset}")],
        None => {
            let widths: &[u32] = if !args.widths.is_empty() {
                &args.widths
            } else if !cdn.policy.widths.is_empty() {
                &cdn.policy.widths
            } else {
                DEFAULT_WIDTHS
            };
            widths
                .iter()
                .filter(|w| **w <= cdn.policy.max_width)
                .map(|w| format!("w={w}"))
                .collect()
        }
    };
    let mut jobs: Vec<Job> = Vec::new();
    let mut first_refusal = None;
    for original in originals {
        let original = original.trim_start_matches('/');
        for size in &sizes {
            let query = format!("{size}&fm=auto");
            for (format, accept) in &formats {
                let target = cdn.target(original, Some(&query), false);
                let (path, q) = target.split_once('?').unwrap_or((&target, ""));
                match route(path, Some(q), Some(*accept), &cdn.policy) {
                    Ok(Route::Variant(v)) => {
                        let key = v.key();
                        if jobs.iter().all(|j| j.key != key) {
                            jobs.push(Job {
                                original: original.to_string(),
                                query: query.clone(),
                                format,
                                accept,
                                key,
                            });
                        }
                    }
                    Ok(Route::Original { .. }) => {}
                    Err(e) => {
                        first_refusal
                            .get_or_insert_with(|| format!("{original}?{query}: {}", e.kind));
                    }
                }
            }
        }
    }
    if jobs.is_empty() {
        return Err(CliError::new(match first_refusal {
            Some(why) => format!("the policy refuses every variant asked for ({why})"),
            None => "nothing to warm".to_string(),
        })
        .hint("`imgflex url --policy` shows the widths, presets and formats the policy admits"));
    }
    Ok(jobs)
}

/// The jobs on `concurrency` threads, in order of the jobs, with a progress bar.
fn warm_all(
    cdn: &Cdn,
    client: &Client,
    jobs: &[Job],
    concurrency: usize,
    out: &Output,
) -> Vec<Warmed> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Warmed>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let bar = out.progress(
        "{spinner} {bar:30} {pos}/{len} {msg}",
        Some(jobs.len() as u64),
    );
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let warmed = warm_one(cdn, client, job);
                    match &bar {
                        Some(bar) => {
                            bar.set_message(format!("{}?{}", job.original, job.query));
                            bar.inc(1);
                        }
                        None => out.verbose(format!(
                            "{}?{} ({}): {}",
                            job.original,
                            job.query,
                            job.format,
                            warmed
                                .status
                                .map_or_else(|| "error".into(), |s| s.to_string())
                        )),
                    }
                    if let Ok(mut results) = results.lock() {
                        results[i] = Some(warmed);
                    }
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

fn warm_one(cdn: &Cdn, client: &Client, job: &Job) -> Warmed {
    let url = cdn.url(&job.original, Some(&job.query), true);
    let mut warmed = Warmed {
        original: job.original.clone(),
        query: job.query.clone(),
        format: job.format,
        key: job.key.clone(),
        status: None,
        cache: None,
        content_type: None,
        bytes: 0,
        ms: 0,
        error: None,
    };
    match client.get(&url, Some(job.accept)) {
        Ok(got) => {
            warmed.status = Some(got.status);
            warmed.cache = got.cache().map(str::to_string);
            warmed.content_type = got.media_type().map(str::to_string);
            warmed.bytes = got.bytes;
            warmed.ms = got.ms;
        }
        Err(e) => warmed.error = Some(e.message),
    }
    warmed
}
