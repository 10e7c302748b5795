//! `imgflex upload`: originals checked (sniffed, within the limits, and fully decoded, as
//! the handler will) before anything is written, uploaded with their content type (in
//! parallel parts when large), and replaced originals' variants purged so no stale image is
//! served. Files are read from disk one at a time, when checked and again when sent (a part
//! at a time when large): a folder is never held in memory.

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
use crate::buckets;
use crate::cli::{GlobalArgs, UploadArgs};
use crate::deployed::{Needs, locate};
use crate::error::CliError;
use crate::output::Output;
use crate::{cdn, variants};

/// Files above this go up in parts; parts are this big, a few at a time.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
const PART_BYTES: usize = 8 * 1024 * 1024;
const PARALLEL_PARTS: usize = 4;

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
    variants_purged: usize,
    url: Option<String>,
    example: Option<String>,
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
                if let Some(example) = &u.example {
                    writeln!(f, "  {:<w$} {:>10} {:>11}  {example}", "", "", "")?;
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
            writeln!(f, "invalidation {id} (replaced originals)")?;
        }
        for r in &self.refused {
            writeln!(f, "refused `{}`: {}", r.path.display(), r.reason)?;
        }
        Ok(())
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1_048_576.0),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Every file to upload, from the paths given: errors (a missing file, an unreadable
/// directory) before anything is written.
fn plan(args: &UploadArgs) -> Result<Vec<Planned>, CliError> {
    let mut planned = Vec::new();
    for path in &args.paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            CliError::new(format!("cannot read `{}`: {e}", path.display()))
                .hint("check the path; nothing was uploaded")
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, args.recursive, &mut files)?;
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
                    key: format!("{}{relative}", args.prefix),
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
                    .unwrap_or_else(|| format!("{}{name}", args.prefix)),
                path: path.clone(),
            });
        }
    }
    Ok(planned)
}

/// The files in `dir` (and below, when `recursive`), skipping hidden ones.
fn walk(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<(), CliError> {
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
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| CliError::new(format!("cannot read `{}`: {e}", path.display())))?;
        if kind.is_dir() {
            if recursive {
                walk(&path, recursive, files)?;
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
    if header.format == SourceFormat::Avif {
        return Err(refuse(
            &planned,
            "AVIF originals cannot be resized yet; upload a JPEG, PNG or WebP".into(),
        ));
    }
    let (width, height) = header.displayed();
    Ok(Checked {
        planned,
        len: bytes.len() as u64,
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
    let limits = crate::config::load_policy(global.config.as_deref())?.limits;
    let planned = plan(&args)?;
    let mut checked = Vec::new();
    let mut refused = Vec::new();
    for p in planned {
        match check(p, &limits) {
            Ok(c) => checked.push(c),
            Err(r) => refused.push(r),
        }
    }
    runtime()?.block_on(upload(args, global, out, checked, refused))
}

async fn upload(
    args: UploadArgs,
    global: &GlobalArgs,
    out: &Output,
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
    };
    let total: u64 = checked.iter().map(|c| c.len).sum();
    let bar = if args.dry_run {
        None
    } else {
        out.progress(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} files {msg}",
            Some(total),
        )
    };
    let files = checked.len();
    let mut replaced_paths = Vec::new();
    for (i, c) in checked.into_iter().enumerate() {
        let key = c.planned.key.clone();
        let url = loc
            .cdn
            .as_ref()
            .map(|cdn| format!("{cdn}/{}", encode_key(&key)));
        let mut uploaded = Uploaded {
            key: key.clone(),
            path: c.planned.path.clone(),
            bytes: c.len,
            width: c.width,
            height: c.height,
            content_type: c.format.content_type(),
            multipart: c.len > MULTIPART_THRESHOLD as u64,
            replaced: false,
            variants_purged: 0,
            example: url.as_ref().map(|u| format!("{u}?w=400&fm=auto")),
            url,
        };
        if args.dry_run {
            report.uploaded.push(uploaded);
            continue;
        }
        if let Some(bar) = &bar {
            bar.set_message(format!("{}/{files} {key}", i + 1));
        }
        let existed = buckets::object_exists(&s3, &bucket, &key).await?;
        let len = c.len;
        c.unchanged()?;
        if uploaded.multipart {
            put_multipart(
                &s3,
                &bucket,
                &key,
                c.format.content_type(),
                &c.planned.path,
                len,
                bar.as_ref(),
            )
            .await?;
        } else {
            let body = ByteStream::from_path(&c.planned.path).await.map_err(|e| {
                CliError::new(format!("cannot read {}: {e}", c.planned.path.display()))
            })?;
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .content_type(c.format.content_type())
                .content_length(len as i64)
                .body(body)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("cannot upload `{key}` to s3://{bucket}"), e))?;
            if let Some(bar) = &bar {
                bar.inc(len);
            }
        }
        c.unchanged()?;
        if bar.is_none() {
            out.status(format!("uploaded {key} ({})", human(len)));
        }
        if existed {
            let target = Target::Original(key.clone());
            if let Some(variants) = &loc.variants {
                let keys =
                    variants::variants_of(&s3, variants, std::slice::from_ref(&target)).await?;
                uploaded.variants_purged =
                    variants::delete_variants(&s3, variants, &keys, out).await?;
            }
            uploaded.replaced = true;
            replaced_paths.push(target);
        }
        report.uploaded.push(uploaded);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !replaced_paths.is_empty() {
        match &loc.distribution_id {
            Some(id) => {
                let paths = cdn::invalidation_paths(&replaced_paths)?;
                let (invalidation, _) = cdn::create(&aws, id, &paths).await?;
                report.invalidation_id = Some(invalidation);
            }
            None => out.status(
                "warning: no distribution known, so replaced originals were not invalidated; \
                 the CDN may serve the old image until its cache expires",
            ),
        }
    }
    let refused = report.refused.len();
    out.data(&report)?;
    if refused > 0 {
        return Err(CliError::new(format!(
            "{refused} file(s) refused (reasons above); the others were {}",
            if args.dry_run { "checked" } else { "uploaded" }
        ))
        .reported());
    }
    Ok(())
}

/// Uploads in parts, a few at a time; on any failure the upload is aborted so no partial
/// object or orphaned parts are left behind.
async fn put_multipart(
    s3: &Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    path: &Path,
    len: u64,
    bar: Option<&ProgressBar>,
) -> Result<(), CliError> {
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
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
        assert_eq!(human(2048), "2.0 KB");
        assert_eq!(human(17 * 1024 * 1024), "17.0 MB");
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
