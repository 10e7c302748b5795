//! Bulk work on buckets: paginated listings and batched DeleteObjects, for `destroy` (whole
//! buckets, every version), `purge` (variants under a prefix) and the listings of `stats`
//! (log files from a time), `verify` and `warm` (the originals).

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::aws::sdk_error;
use crate::error::CliError;

/// DeleteObjects takes at most this many keys per call.
pub const DELETE_BATCH: usize = 1000;

/// Every version and delete marker in `bucket` (a plain key with version `null` when the
/// bucket was never versioned): what must go before the bucket can be deleted.
pub async fn list_versions(s3: &Client, bucket: &str) -> Result<Vec<ObjectIdentifier>, CliError> {
    let mut ids = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("cannot list the objects of s3://{bucket}"), e))?;
        let versions = page
            .versions()
            .iter()
            .filter_map(|v| Some((v.key()?, v.version_id())));
        let markers = page
            .delete_markers()
            .iter()
            .filter_map(|m| Some((m.key()?, m.version_id())));
        for (key, version) in versions.chain(markers) {
            let id = ObjectIdentifier::builder()
                .key(key)
                .set_version_id(version.map(str::to_string))
                .build()
                .map_err(|e| CliError::new(format!("bad object id in s3://{bucket}: {e}")))?;
            ids.push(id);
        }
        if page.is_truncated() != Some(true) {
            return Ok(ids);
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() {
            return Ok(ids);
        }
    }
}

/// How many current objects `bucket` holds, as `"2 objects"`, from one listing page: past a
/// page it says `"1000+ objects"` rather than list a bucket of millions to print a number.
pub async fn count_label(s3: &Client, bucket: &str) -> Result<String, CliError> {
    let page = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot list s3://{bucket}"), e))?;
    let n = page.contents().len();
    Ok(if page.is_truncated() == Some(true) {
        format!("{n}+ objects")
    } else {
        format!("{n} objects")
    })
}

/// The keys under `prefix` (current versions), listed page by page.
pub async fn list_keys(s3: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, CliError> {
    list_keys_after(s3, bucket, prefix, None).await
}

/// As `list_keys`, from the first key after `start_after` (S3 lists in key order, so a
/// prefix of names that sort by time starts at a time).
pub async fn list_keys_after(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<&str>,
) -> Result<Vec<String>, CliError> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_start_after(start_after.map(str::to_string))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| sdk_error(&format!("cannot list s3://{bucket}/{prefix}"), e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(keys)
}

/// Deletes `ids` in batches, calling `progress` with the running count; the number deleted.
/// A key S3 refuses to delete is an error naming it (and how many others failed).
pub async fn delete(
    s3: &Client,
    bucket: &str,
    ids: Vec<ObjectIdentifier>,
    mut progress: impl FnMut(usize),
) -> Result<usize, CliError> {
    let mut deleted = 0;
    for batch in ids.chunks(DELETE_BATCH) {
        let request = Delete::builder()
            .set_objects(Some(batch.to_vec()))
            .quiet(true)
            .build()
            .map_err(|e| CliError::new(format!("cannot build a delete request: {e}")))?;
        let answer = s3
            .delete_objects()
            .bucket(bucket)
            .delete(request)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("cannot delete objects in s3://{bucket}"), e))?;
        if let Some(first) = answer.errors().first() {
            return Err(CliError::new(format!(
                "s3://{bucket} refused to delete {} object(s), the first `{}`: {}",
                answer.errors().len(),
                first.key().unwrap_or("?"),
                first.message().unwrap_or("no reason given")
            )));
        }
        deleted += batch.len();
        progress(deleted);
    }
    Ok(deleted)
}

/// Keys as ids of their current versions.
pub fn ids(keys: &[String]) -> Result<Vec<ObjectIdentifier>, CliError> {
    keys.iter()
        .map(|k| {
            ObjectIdentifier::builder()
                .key(k)
                .build()
                .map_err(|e| CliError::new(format!("bad key `{k}`: {e}")))
        })
        .collect()
}

/// Whether `key` exists in `bucket` (HEAD: nothing is downloaded).
pub async fn object_exists(s3: &Client, bucket: &str, key: &str) -> Result<bool, CliError> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
        Err(e) => Err(sdk_error(&format!("cannot look at s3://{bucket}/{key}"), e)),
    }
}

/// Whether a bucket exists (and we may see it).
pub async fn exists(s3: &Client, bucket: &str) -> Result<bool, CliError> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) => Err(sdk_error(&format!("cannot look at s3://{bucket}"), e)),
    }
}
