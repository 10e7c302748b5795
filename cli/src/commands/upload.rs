//! `imgflex upload`: originals checked (sniffed, within the limits, and fully decoded, as
//! the handler will) before anything is written, uploaded with their content type and
//! sha256 (a few files at once, in parallel parts when large), skipped when the bucket
//! already holds the same bytes, and replaced originals' variants purged and invalidated
//! (widened to folders when there are more than one invalidation takes), so no stale image
//! is served. Files are read from disk when checked and again when sent (a part at a time
//! when large): a folder is never held in memory. A run cut short can be run again: what
//! went up is skipped, and multipart uploads it left are aborted.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use imgflex_core::{Target, encode_key, image_extension};
use imgflex_handler::pipeline::{Limits, SourceFormat, verify};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::aws::{Aws, runtime, sdk_error};
use crate::cli::{GlobalArgs, UploadArgs};
use crate::deployed::{Needs, locate};
use crate::error::CliError;
use crate::output::Output;
use crate::{cdn, variants};

/// Files above this go up in parts; parts are this big, a few at a time.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
const PART_BYTES: usize = 8 * 1024 * 1024;
const PARALLEL_PARTS: usize = 4;
/// Files sent at once: enough to hide S3's per-request latency on small images, few enough
/// that four large ones (each sending PARALLEL_PARTS parts) stay within memory and sockets.
const PARALLEL_FILES: usize = 4;
/// The object metadata (`x-amz-meta-imgflex-sha256`) holding the original's sha256: what a
/// rerun compares, as `aws s3 sync` compares sizes and times, but exact.
const SHA256_METADATA: &str = "imgflex-sha256";

/// A file to upload and the key it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    path: PathBuf,
    key: String,
}

#[derive(Debug, Serialize)]
struct Uploaded {
    key: String,
    path: PathBuf,
    bytes: u64,
    width: u32,
    height: u32,
    content_type: &'static str,
    multipart: bool,
    /// The original was already there: its variants were purged and it was invalidated.
    replaced: bool,
    /// The bucket already held these exact bytes: nothing was sent, purged or invalidated.
    unchanged: bool,
    variants_purged: usize,
    url: Option<String>,
    example: Option<String>,
    /// `srcset` of the policy's widths with `fm=auto`, and an `<img>` using it.
    srcset: Option<String>,
    img: Option<String>,
}

#[derive(Debug, Serialize)]
struct Refused {
    path: PathBuf,
    key: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Report {
    dry_run: bool,
    bucket: String,
    uploaded: Vec<Uploaded>,
    refused: Vec<Refused>,
    invalidation_id: Option<String>,
    /// What the invalidation covered, widened to folders when the replaced originals were
    /// more than one invalidation takes.
    invalidation_paths: Vec<String>,
    /// Why the run stopped early, when it did: everything in `uploaded` is stored.
    failed: Option<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would upload"
        } else {
            "uploaded"
        };
        writeln!(
            f,
            "{verb} {} file(s) to s3://{}",
            self.uploaded.len(),
            self.bucket
        )?;
        if !self.uploaded.is_empty() {
            let w = self
                .uploaded
                .iter()
                .map(|u| u.key.len())
                .max()
                .unwrap_or(3)
                .max(3);
            writeln!(
                f,
                "  {:<w$} {:>10} {:>11}  URL",
                "KEY", "SIZE", "DIMENSIONS"
            )?;
            for u in &self.uploaded {
                writeln!(
                    f,
                    "  {:<w$} {:>10} {:>11}  {}",
                    u.key,
                    human(u.bytes),
                    format!("{}x{}", u.width, u.height),
                    u.url.as_deref().unwrap_or("-")
                )?;
                if u.unchanged {
                    writeln!(
                        f,
                        "  {:<w$} unchanged: the bucket already holds these bytes",
                        ""
                    )?;
                }
                if let Some(example) = &u.example {
                    writeln!(f, "  {:<w$} {:>10} {:>11}  {example}", "", "", "")?;
                }
                if let Some(img) = &u.img {
                    writeln!(f, "  {:<w$} {:>10} {:>11}  {img}", "", "", "")?;
                }
                if u.replaced {
                    writeln!(
                        f,
                        "  {:<w$} replaced an existing original: purged {} variant(s) and invalidated it",
                        "", u.variants_purged
                    )?;
                }
            }
        }
        if let Some(id) = &self.invalidation_id {
            writeln!(
                f,
                "invalidation {id} (replaced originals): {}",
                self.invalidation_paths.join(" ")
            )?;
        }
        if !self.refused.is_empty() {
            writeln!(
                f,
                "refused {} file(s) (reasons on stderr)",
                self.refused.len()
            )?;
        }
        Ok(())
    }
}

/// Sizes in binary units, as the progress bar shows them (indicatif's `BinaryBytes`).
fn human(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}

/// Every file to upload, from the paths given: errors (a missing file, an unreadable
/// directory) before anything is written.
fn plan(args: &UploadArgs, out: &Output) -> Result<Vec<Planned>, CliError> {
    let mut planned = Vec::new();
    let prefix = folder(&args.prefix);
    for path in &args.paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            CliError::new(format!("cannot read `{}`: {e}", path.display()))
                .hint("check the path; nothing was uploaded")
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            let mut skipped = Vec::new();
            walk(path, args.recursive, &mut files, &mut skipped)?;
            for (skip, why) in skipped {
                out.status(format!("skipped `{}`: {why}", skip.display()));
            }
            files.sort();
            for file in files {
                let relative = file
                    .strip_prefix(path)
                    .unwrap_or(&file)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                planned.push(Planned {
                    key: format!("{prefix}{relative}"),
                    path: file,
                });
            }
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            planned.push(Planned {
                key: args
                    .key
                    .clone()
                    .unwrap_or_else(|| format!("{prefix}{name}")),
                path: path.clone(),
            });
        }
    }
    Ok(planned)
}

/// `--prefix` names a folder: `pics` and `/pics/` are both `pics/` (`""` is the top).
fn folder(prefix: &str) -> String {
    let bare = prefix.trim_start_matches('/');
    if bare.is_empty() || bare.ends_with('/') {
        bare.to_string()
    } else {
        format!("{bare}/")
    }
}

/// The files in `dir` (and below, when `recursive`); what is left out goes to `skipped`
/// with the reason: hidden files and folders, and folders without `recursive`.
fn walk(
    dir: &Path,
    recursive: bool,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<(PathBuf, &'static str)>,
) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::new(format!("cannot read directory `{}`: {e}", dir.display()))
            .hint("check its permissions; nothing was uploaded")
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            CliError::new(format!("cannot read directory `{}`: {e}", dir.display()))
        })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            skipped.push((path, "hidden (its name starts with a dot)"));
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", path.display())))?;
        if kind.is_dir() {
            if recursive {
                walk(&path, recursive, files, skipped)?;
            } else {
                skipped.push((path, "a folder (`--recursive` uploads what is inside)"));
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// A file that passed the checks, and what it was when it did: it is read again to upload,
/// and refused if it changed in between.
struct Checked {
    planned: Planned,
    len: u64,
    /// Hex sha256 of the bytes that were checked.
    sha256: String,
    modified: Option<std::time::SystemTime>,
    format: SourceFormat,
    width: u32,
    height: u32,
}

impl Checked {
    /// Refuses a file whose size or modification time changed since it was checked.
    fn unchanged(&self) -> Result<(), CliError> {
        let meta = std::fs::metadata(&self.planned.path).map_err(|e| {
            CliError::new(format!("cannot read {}: {e}", self.planned.path.display()))
        })?;
        if meta.len() != self.len || meta.modified().ok() != self.modified {
            return Err(CliError::new(format!(
                "{} changed while it was being uploaded",
                self.planned.path.display()
            ))
            .hint("run the upload again once nothing is writing to it"));
        }
        Ok(())
    }
}

/// Reads and checks one file: a key imgflex serves, an image it can resize, within limits.
fn check(planned: Planned, limits: &Limits) -> Result<Checked, Refused> {
    let refuse = |planned: &Planned, reason: String| Refused {
        path: planned.path.clone(),
        key: planned.key.clone(),
        reason,
    };
    match Target::parse(&planned.key) {
        Ok(Target::Original(key)) if key == planned.key => {}
        Ok(_) => {
            return Err(refuse(
                &planned,
                format!(
                    "`{}` cannot be an original's key (it reads as a variant, a path-form URL or a prefix)",
                    planned.key
                ),
            ));
        }
        Err(e) => return Err(refuse(&planned, format!("bad key: {e}"))),
    }
    if image_extension(&planned.key).is_none() {
        return Err(refuse(
            &planned,
            format!(
                "key `{}` has no image extension (.jpg, .jpeg, .png, .webp, .gif), so the CDN would not resize it",
                planned.key
            ),
        ));
    }
    let meta = std::fs::metadata(&planned.path)
        .map_err(|e| refuse(&planned, format!("cannot read it: {e}")))?;
    let size = meta.len();
    if size > limits.max_source_bytes {
        return Err(refuse(
            &planned,
            format!(
                "{} is over the {} source limit",
                human(size),
                human(limits.max_source_bytes)
            ),
        ));
    }
    let modified = meta.modified().ok();
    let bytes = std::fs::read(&planned.path)
        .map_err(|e| refuse(&planned, format!("cannot read it: {e}")))?;
    // The handler's own check, every pixel decoded: a truncated JPEG is refused here rather
    // than uploaded and then refused by every URL.
    let header = verify(&bytes, limits).map_err(|e| refuse(&planned, e.to_string()))?;
    let (width, height) = header.displayed();
    Ok(Checked {
        planned,
        len: bytes.len() as u64,
        sha256: crate::build_support::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        modified,
        format: header.format,
        width,
        height,
    })
}

pub fn run(args: UploadArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    if args.key.is_some() && (args.paths.len() != 1 || args.paths[0].is_dir()) {
        clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            "--key names the key of one file: give exactly one FILE with it\n",
        )
        .exit();
    }
    // The policy's limits are the handler's: an original refused here would fail there.
    let policy = crate::config::load_policy(global.config.as_deref())?;
    let limits = policy.limits;
    let planned = plan(&args, out)?;
    let mut checked = Vec::new();
    let mut refused = Vec::new();
    for p in planned {
        match check(p, &limits) {
            Ok(c) => checked.push(c),
            Err(r) => refused.push(r),
        }
    }
    runtime()?.block_on(upload(args, global, out, &policy, checked, refused))
}

async fn upload(
    args: UploadArgs,
    global: &GlobalArgs,
    out: &Output,
    policy: &imgflex_core::Policy,
    checked: Vec<Checked>,
    refused: Vec<Refused>,
) -> Result<(), CliError> {
    let aws = Aws::connect(global).await?;
    let needs = Needs {
        originals: true,
        variants: true,
        distribution: false,
    };
    let loc = locate(&aws, &args.location, needs).await?;
    let bucket = loc.originals.clone().unwrap_or_default();
    let s3 = aws.s3();
    let mut report = Report {
        dry_run: args.dry_run,
        bucket: bucket.clone(),
        uploaded: Vec::new(),
        refused,
        invalidation_id: None,
        invalidation_paths: Vec::new(),
        failed: None,
    };
    let total: u64 = checked.iter().map(|c| c.len).sum();
    let bar = if args.dry_run {
        None
    } else {
        out.progress(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            Some(total),
        )
    };
    let files = checked.len();
    let job = Arc::new(Job {
        s3: s3.clone(),
        bucket: bucket.clone(),
        variants: loc.variants.clone(),
        bar: bar.clone(),
        out: *out,
    });
    let mut pending = checked.into_iter();
    let mut running = JoinSet::new();
    let mut done = 0;
    loop {
        while report.failed.is_none() && running.len() < PARALLEL_FILES {
            let Some(c) = pending.next() else { break };
            let snippet = loc
                .cdn
                .as_ref()
                .map(|cdn| crate::srcset::snippet(policy, cdn, &c.planned.key, c.width, c.height));
            let url = loc
                .cdn
                .as_ref()
                .map(|cdn| format!("{cdn}/{}", encode_key(&c.planned.key)));
            if args.dry_run {
                report.uploaded.push(planned_upload(&c, url, snippet));
                continue;
            }
            let job = Arc::clone(&job);
            running.spawn(async move { job.put(c, url, snippet).await });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        done += 1;
        if let Some(bar) = &bar {
            bar.set_message(format!("{done}/{files} files"));
        }
        match joined {
            Ok(Ok(uploaded)) => report.uploaded.push(uploaded),
            // The first failure stops new uploads; the ones running finish, and the report
            // says what is stored, so a rerun (which skips it) can finish the job.
            Ok(Err(e)) => {
                if report.failed.is_none() {
                    report.failed = Some(match &e.hint {
                        Some(hint) => format!("{} ({hint})", e.message),
                        None => e.message,
                    });
                }
            }
            Err(e) => {
                if report.failed.is_none() {
                    report.failed = Some(format!("an upload task failed: {e}"));
                }
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.uploaded.sort_by(|a, b| a.key.cmp(&b.key));
    let replaced: Vec<Target> = report
        .uploaded
        .iter()
        .filter(|u| u.replaced)
        .map(|u| Target::Original(u.key.clone()))
        .collect();
    if !replaced.is_empty() {
        match &loc.distribution_id {
            Some(id) => {
                let targets = cdn::widen(&replaced);
                let paths = cdn::invalidation_paths(&targets)?;
                if targets != replaced {
                    out.status(format!(
                        "{} replaced originals are more than one invalidation names one by one: invalidating {}",
                        replaced.len(),
                        paths.join(" ")
                    ));
                }
                match cdn::create(&aws, id, &paths).await {
                    Ok((invalidation, _)) => {
                        report.invalidation_id = Some(invalidation);
                        report.invalidation_paths = paths;
                    }
                    // The uploads stand (and a rerun skips them as unchanged): the report
                    // says what to run so the CDN stops serving the old images.
                    Err(e) => {
                        let why = format!(
                            "{} (invalidate them with `imgflex invalidate {}`)",
                            e.message,
                            paths.join(" ")
                        );
                        report.failed = Some(match report.failed.take() {
                            Some(first) => format!("{first}; and the invalidation failed: {why}"),
                            None => why,
                        });
                    }
                }
            }
            None => out.warn(
                "no distribution known, so replaced originals were not invalidated; \
                 the CDN may serve the old image until its cache expires",
            ),
        }
    }
    let refused = report.refused.len();
    // Reasons go with the error, on stderr; the JSON report lists them as data too.
    for r in &report.refused {
        eprintln!("refused `{}`: {}", r.path.display(), r.reason);
    }
    out.data(&report)?;
    if let Some(failed) = report.failed {
        return Err(CliError::new(format!(
            "the upload stopped: {failed}; {} file(s) were stored (listed above)",
            report.uploaded.len()
        ))
        .hint("run the same command again: files already stored are skipped")
        .reported());
    }
    if refused > 0 {
        return Err(CliError::new(format!(
            "{refused} file(s) refused (reasons above); the others were {}",
            if args.dry_run { "checked" } else { "uploaded" }
        ))
        .reported());
    }
    Ok(())
}

/// What a dry run reports for a file that would go up.
fn planned_upload(
    c: &Checked,
    url: Option<String>,
    snippet: Option<crate::srcset::Snippet>,
) -> Uploaded {
    Uploaded {
        key: c.planned.key.clone(),
        path: c.planned.path.clone(),
        bytes: c.len,
        width: c.width,
        height: c.height,
        content_type: c.format.content_type(),
        multipart: c.len > MULTIPART_THRESHOLD as u64,
        replaced: false,
        unchanged: false,
        variants_purged: 0,
        example: url.as_ref().map(|u| format!("{u}?w=400&fm=auto")),
        url,
        srcset: snippet.as_ref().map(|s| s.srcset.clone()),
        img: snippet.map(|s| s.img),
    }
}

/// What every file's upload shares.
struct Job {
    s3: Client,
    bucket: String,
    variants: Option<crate::deployed::VariantsBucket>,
    bar: Option<ProgressBar>,
    out: Output,
}

impl Job {
    /// One file: skipped when the bucket holds the same bytes, else sent (with its sha256),
    /// and when it replaced an original, that original's stored variants purged.
    async fn put(
        &self,
        c: Checked,
        url: Option<String>,
        snippet: Option<crate::srcset::Snippet>,
    ) -> Result<Uploaded, CliError> {
        let (s3, bucket) = (&self.s3, self.bucket.as_str());
        let mut uploaded = planned_upload(&c, url, snippet);
        let key = c.planned.key.clone();
        let stored = stored_sha256(s3, bucket, &key).await?;
        if let Some(Some(sha)) = &stored
            && *sha == c.sha256
        {
            uploaded.unchanged = true;
            if let Some(bar) = &self.bar {
                bar.inc(c.len);
            }
            return Ok(uploaded);
        }
        let len = c.len;
        c.unchanged()?;
        if uploaded.multipart {
            abort_stale_multipart(s3, bucket, &key, &self.out).await?;
            put_multipart(
                s3,
                bucket,
                &key,
                c.format.content_type(),
                &c.sha256,
                &c.planned.path,
                len,
                self.bar.as_ref(),
            )
            .await?;
        } else {
            let body = ByteStream::from_path(&c.planned.path).await.map_err(|e| {
                CliError::new(format!("cannot read {}: {e}", c.planned.path.display()))
            })?;
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .content_type(c.format.content_type())
                .metadata(SHA256_METADATA, &c.sha256)
                .content_length(len as i64)
                .body(body)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("cannot upload `{key}` to s3://{bucket}"), e))?;
            if let Some(bar) = &self.bar {
                bar.inc(len);
            }
        }
        c.unchanged()?;
        if self.bar.is_none() {
            self.out.status(format!("uploaded {key} ({})", human(len)));
        }
        if stored.is_some() {
            let target = Target::Original(key.clone());
            if let Some(variants) = &self.variants {
                let keys =
                    variants::variants_of(s3, variants, std::slice::from_ref(&target)).await?;
                uploaded.variants_purged =
                    variants::delete_variants(s3, variants, &keys, &self.out).await?;
            }
            uploaded.replaced = true;
        }
        Ok(uploaded)
    }
}

/// Whether `key` is stored (`Some`), and the sha256 imgflex stored with it, if it did.
async fn stored_sha256(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Option<String>>, CliError> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => Ok(Some(
            head.metadata()
                .and_then(|m| m.get(SHA256_METADATA))
                .cloned(),
        )),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(e) => Err(sdk_error(&format!("cannot look at s3://{bucket}/{key}"), e)),
    }
}

/// Aborts the multipart uploads of `key` an earlier run left (cut by the network or
/// killed): their parts cost storage until the bucket's lifecycle rule clears them.
async fn abort_stale_multipart(
    s3: &Client,
    bucket: &str,
    key: &str,
    out: &Output,
) -> Result<(), CliError> {
    let listed = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .map_err(|e| {
            sdk_error(
                &format!("cannot list unfinished uploads in s3://{bucket}"),
                e,
            )
        })?;
    for u in listed.uploads() {
        if let (Some(k), Some(id)) = (u.key(), u.upload_id())
            && k == key
        {
            s3.abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .send()
                .await
                .map_err(|e| {
                    sdk_error(&format!("cannot abort an unfinished upload of `{key}`"), e)
                })?;
            out.status(format!(
                "aborted an unfinished upload of `{key}` left by an earlier run"
            ));
        }
    }
    Ok(())
}

/// Uploads in parts, a few at a time; on any failure the upload is aborted so no partial
/// object or orphaned parts are left behind.
#[allow(clippy::too_many_arguments)] // one caller, `Job::put`
async fn put_multipart(
    s3: &Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    sha256: &str,
    path: &Path,
    len: u64,
    bar: Option<&ProgressBar>,
) -> Result<(), CliError> {
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .metadata(SHA256_METADATA, sha256)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot start uploading `{key}`"), e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| CliError::new("S3 started a multipart upload without an id"))?
        .to_string();
    let result = upload_parts(
        s3,
        bucket,
        key,
        &upload_id,
        Arc::new(path.to_path_buf()),
        len,
        bar,
    )
    .await;
    match result {
        Ok(parts) => {
            s3.complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk_error(&format!("cannot finish uploading `{key}`"), e))?;
            Ok(())
        }
        Err(e) => {
            let _ = s3
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            Err(e)
        }
    }
}

async fn upload_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    path: Arc<PathBuf>,
    len: u64,
    bar: Option<&ProgressBar>,
) -> Result<Vec<CompletedPart>, CliError> {
    let count = (len as usize).div_ceil(PART_BYTES);
    let mut parts = Vec::with_capacity(count);
    let mut running = JoinSet::new();
    let mut next = 0;
    while next < count || !running.is_empty() {
        while next < count && running.len() < PARALLEL_PARTS {
            let (s3, bucket, key, upload_id, path) = (
                s3.clone(),
                bucket.to_string(),
                key.to_string(),
                upload_id.to_string(),
                Arc::clone(&path),
            );
            let index = next;
            running.spawn(async move {
                let start = index * PART_BYTES;
                let end = (start + PART_BYTES).min(len as usize);
                let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
                // Each part is read from the file when it is sent: at most PARALLEL_PARTS
                // parts are in memory, whatever the file's size.
                let body = ByteStream::read_from()
                    .path(path.as_path())
                    .offset(start as u64)
                    .length(aws_sdk_s3::primitives::Length::Exact((end - start) as u64))
                    .build()
                    .await
                    .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
                let answer = s3
                    .upload_part()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_length((end - start) as i64)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| {
                        sdk_error(&format!("cannot upload part {number} of `{key}`"), e)
                    })?;
                let part = CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(answer.e_tag().map(str::to_string))
                    .build();
                Ok::<_, CliError>((part, (end - start) as u64))
            });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            let (part, len) =
                done.map_err(|e| CliError::new(format!("an upload task failed: {e}")))??;
            if let Some(bar) = bar {
                bar.inc(len);
            }
            parts.push(part);
        }
    }
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(2048), "2.00 KiB");
        assert_eq!(human(112_525), "109.89 KiB");
        assert_eq!(human(17 * 1024 * 1024), "17.00 MiB");
    }

    fn planned(key: &str) -> Planned {
        Planned {
            path: PathBuf::from("/nonexistent/file.jpg"),
            key: key.to_string(),
        }
    }

    #[test]
    fn keys_that_cannot_be_originals_are_refused_before_reading() {
        let limits = Limits::default();
        for key in [
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp",
            "_v/cat.jpg",
            "photos/*",
            "notes.txt",
        ] {
            let refused = check(planned(key), &limits).err().unwrap();
            assert!(
                !refused.reason.contains("cannot read"),
                "{key}: {}",
                refused.reason
            );
        }
        let missing = check(planned("cat.jpg"), &limits).err().unwrap();
        assert!(missing.reason.contains("cannot read"), "{}", missing.reason);
    }
}
