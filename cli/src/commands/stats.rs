//! `imgflex stats`: what the CDN served in a window, from the distribution's CloudFront
//! standard logs, and how many variants were rendered, from the variants bucket's access
//! logs (each render is one PUT). Every file is read as a stream: gzip in, one line at a time.

use std::fmt;
use std::io::BufReader;

use aws_smithy_types::date_time::{DateTime, Format};
use flate2::read::MultiGzDecoder;
use imgflex_core::{Policy, Route, route};
use serde::Serialize;
use tokio_util::io::SyncIoBridge;

use crate::access_log::{self, Kind, Summary, days_from_civil, parse_log_file_name};
use crate::aws::{Aws, EDGE_REGION, runtime, sdk_error};
use crate::buckets::list_keys_after;
use crate::cli::{GlobalArgs, StatsArgs};
use crate::deployed::{Deployed, check_stack_name, edge_stack};
use crate::error::CliError;
use crate::output::Output;
use crate::regions::cdn_logs_stay_in_region;
use crate::stack::describe;

/// Where the main template points CloudFront's standard logs and the variants bucket's
/// server access logs, inside the logs bucket (templates/main.yaml).
const CLOUDFRONT_PREFIX: &str = "cloudfront/";
const VARIANTS_ACCESS_PREFIX: &str = "s3/variants/";

#[derive(Debug, Serialize)]
struct Report {
    distribution: String,
    logs: String,
    since: String,
    until: String,
    #[serde(flatten)]
    summary: Summary,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "distribution {}, {} to {} (logs in {})",
            self.distribution, self.since, self.until, self.logs
        )?;
        write!(f, "{}", self.summary)
    }
}

pub fn run(args: StatsArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    check_stack_name(&args.stack.stack_name)?;
    let until = args
        .until
        .unwrap_or_else(|| i64::try_from(crate::keyring::now()).unwrap_or(i64::MAX));
    let since = until.saturating_sub(i64::try_from(args.since).unwrap_or(i64::MAX));
    runtime()?.block_on(stats(&args, global, since, until, out))
}

async fn stats(
    args: &StatsArgs,
    global: &GlobalArgs,
    since: i64,
    until: i64,
    out: &Output,
) -> Result<(), CliError> {
    let aws = Aws::connect(global).await?;
    let name = &args.stack.stack_name;
    let region = aws.region().to_string();
    let deployed = Deployed::find(&aws, name).await?.ok_or_else(|| {
        CliError::new(format!("no stack `{name}` in {region}"))
            .hint("deploy it with `imgflex deploy`, or pass --region / --stack-name")
    })?;
    let id = deployed.distribution_id.clone().ok_or_else(|| {
        CliError::new(format!("stack `{name}` has no distribution"))
            .hint("`imgflex status` shows where the stack stands")
    })?;
    let logs_bucket = deployed.logs_bucket.clone().ok_or_else(|| {
        CliError::new(format!("stack `{name}` has no logs bucket"))
            .hint("`imgflex status` shows where the stack stands")
    })?;
    // In the regions whose buckets cannot receive standard logs, the edge stack's bucket in
    // us-east-1 gets them (DESIGN §6).
    let (cdn_s3, cdn_bucket) = if cdn_logs_stay_in_region(&region) {
        (aws.s3(), logs_bucket.clone())
    } else {
        let edge_name = edge_stack(name, &region);
        let bucket = describe(&aws.cloudformation_in(EDGE_REGION), &edge_name)
            .await?
            .and_then(|e| e.outputs.get("CdnLogsBucketName").cloned())
            .ok_or_else(|| {
                CliError::new(format!(
                    "stack `{edge_name}` ({EDGE_REGION}) has no CloudFront logs bucket"
                ))
                .hint("run `imgflex deploy` again to create it")
            })?;
        (aws.s3_in(EDGE_REGION), bucket)
    };
    let policy = match deployed.stack.parameters.get("HandlerPolicy") {
        Some(json) => Policy::from_json_str(json).unwrap_or_default(),
        None => Policy::default(),
    };
    let classify = move |stem: &str, query: &str| classify(&policy, stem, query);

    let mut summary = Summary::default();
    let file_prefix = format!("{CLOUDFRONT_PREFIX}{id}.");
    // Names sort by their hour: listing starts two hours before the window (a file's rows
    // may end after its hour), and stops past its end.
    let start_after = format!("{file_prefix}{}", hour_stamp(since - 2 * 3600));
    let keys = list_keys_after(&cdn_s3, &cdn_bucket, &file_prefix, Some(&start_after)).await?;
    let keys: Vec<String> = keys
        .into_iter()
        .filter(|k| {
            parse_log_file_name(k).is_some_and(|f| {
                f.distribution_id == id && f.may_hold_rows_since(since) && f.hour <= until
            })
        })
        .collect();
    let bar = out.progress(
        "{spinner} {bar:30} {pos}/{len} log files",
        Some(keys.len() as u64),
    );
    for key in &keys {
        let body = get(&cdn_s3, &cdn_bucket, key).await?;
        let classify = classify.clone();
        summary = tokio::task::spawn_blocking(move || {
            let reader = BufReader::new(MultiGzDecoder::new(SyncIoBridge::new(body)));
            let mut summary = summary;
            access_log::read_log(reader, Some(since), Some(until), &classify, &mut summary)
                .map(|()| summary)
        })
        .await
        .map_err(|e| CliError::new(format!("reading the logs stopped: {e}")))?
        .map_err(|e| {
            CliError::new(format!("s3://{cdn_bucket}/{key}: {e}")).hint(
                "a log file CloudFront is still writing reads whole a minute later; run it again",
            )
        })?;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if keys.is_empty() {
        out.warn(format!(
            "no CloudFront log files for {id} in s3://{cdn_bucket}/{CLOUDFRONT_PREFIX} in the window (CloudFront delivers them within about an hour)"
        ));
    }
    summary.renders = Some(renders(&aws.s3(), &logs_bucket, since, until).await?);
    out.data(&Report {
        distribution: id,
        logs: format!("s3://{cdn_bucket}/{CLOUDFRONT_PREFIX}"),
        since: timestamp(since),
        until: timestamp(until),
        summary,
    })
}

/// What a served row counts under: the original's key, or the canonical key of its
/// variant as the edge computes it. `fm=auto` rows have no Accept in the log, so they count
/// under the key with the format left open (`…_auto.*`: whichever the browser got).
fn classify(policy: &Policy, stem: &str, query: &str) -> Kind {
    let query = (!query.is_empty()).then_some(query);
    match route(stem, query, None, policy) {
        Ok(Route::Original { key }) => Kind::Original(key),
        Ok(Route::Variant(v)) => {
            let key = v.key();
            if v.spec.auto_format {
                let open = key.rsplit_once('.').map_or(key.as_str(), |(k, _)| k);
                Kind::Variant(format!("{open}.*"))
            } else {
                Kind::Variant(key)
            }
        }
        // Served, yet not what this policy accepts (an older policy's URL): as written.
        Err(_) => Kind::Variant(match query {
            Some(q) => format!("{stem}?{q}"),
            None => stem.to_string(),
        }),
    }
}

async fn get(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<impl tokio::io::AsyncRead + Send + Unpin + 'static, CliError> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot read s3://{bucket}/{key}"), e))?;
    Ok(object.body.into_async_read())
}

/// Renders in the window: the variants bucket's access logs hold one `REST.PUT.OBJECT`
/// per variant the handler stored. S3 delivers access logs best-effort, within hours.
async fn renders(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    since: i64,
    until: i64,
) -> Result<u64, CliError> {
    // Access log objects are named `PREFIX YYYY-MM-DD-HH-MM-SS-UNIQUE` for when S3 wrote
    // them, after the requests they hold.
    let start_after = format!("{VARIANTS_ACCESS_PREFIX}{}", hour_stamp(since - 3600));
    let keys = list_keys_after(s3, bucket, VARIANTS_ACCESS_PREFIX, Some(&start_after)).await?;
    let mut puts = 0;
    for key in keys {
        let body = get(s3, bucket, &key).await?;
        puts += tokio::task::spawn_blocking(move || {
            count_puts(BufReader::new(SyncIoBridge::new(body)), since, until)
        })
        .await
        .map_err(|e| CliError::new(format!("reading the access logs stopped: {e}")))?
        .map_err(|e| CliError::new(format!("s3://{bucket}/{key}: {e}")))?;
    }
    Ok(puts)
}

/// `REST.PUT.OBJECT` lines answered 200 in the window, in S3 server access log format:
/// `owner bucket [06/Feb/2019:00:00:38 +0000] ip requester id OPERATION key "URI" STATUS …`.
fn count_puts(reader: impl std::io::BufRead, since: i64, until: i64) -> std::io::Result<u64> {
    let mut puts = 0;
    for line in reader.split(b'\n') {
        let line = line?;
        let Ok(line) = std::str::from_utf8(&line) else {
            continue;
        };
        // The time is the one bracketed field; then remote IP, requester, request id,
        // operation and key, none with spaces; then the quoted request line; then the status.
        let Some((_, rest)) = line.split_once('[') else {
            continue;
        };
        let Some((time, rest)) = rest.split_once(']') else {
            continue;
        };
        let mut fields = rest.trim_start().splitn(6, ' ');
        let operation = fields.nth(3);
        let after_key = fields.nth(1).unwrap_or("");
        let status = match after_key.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').map(|(_, rest)| rest),
            None => after_key.split_once(' ').map(|(_, rest)| rest),
        }
        .and_then(|rest| rest.split_whitespace().next());
        if operation != Some("REST.PUT.OBJECT") || status != Some("200") {
            continue;
        }
        if access_time(time).is_some_and(|t| (since..=until).contains(&t)) {
            puts += 1;
        }
    }
    Ok(puts)
}

/// `06/Feb/2019:00:00:38 +0000` as seconds since the epoch (S3 writes UTC).
fn access_time(text: &str) -> Option<i64> {
    let (stamp, _zone) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = stamp.splitn(4, [':', '/']);
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let (h, m, s): (i64, i64, i64) = (
        clock.next()?.parse().ok()?,
        clock.next()?.parse().ok()?,
        clock.next()?.parse().ok()?,
    );
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// `YYYY-MM-DD-HH` of a time, as log file names carry it.
fn hour_stamp(secs: i64) -> String {
    let text = timestamp(secs.max(0));
    // `2026-12-01T12:00:00Z`
    format!("{}-{}", &text[..10], &text[11..13])
}

fn timestamp(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_puts_are_counted_in_the_window() {
        let log = "\
79a5 imgflex-variants [30/Nov/2026:18:02:11 +0000] 192.0.2.3 arn:aws:sts::123456789012:assumed-role/r/imgflex-resize 3E57 REST.PUT.OBJECT _v/photos/cat.jpg/w400.webp \"PUT /_v/photos/cat.jpg/w400.webp HTTP/1.1\" 200 - - 18702 41 20 \"-\" \"aws-sdk-rust\" - id SigV4 ECDHE TLS imgflex-variants.s3.amazonaws.com TLSv1.3 - -
79a5 imgflex-variants [30/Nov/2026:18:02:12 +0000] 192.0.2.3 arn:aws:sts::1:assumed-role/r/x 3E58 REST.GET.OBJECT _v/photos/cat.jpg/w400.webp \"GET /_v/photos/cat.jpg/w400.webp HTTP/1.1\" 200 - 18702 18702 9 8 \"-\" \"Amazon CloudFront\" -
79a5 imgflex-variants [30/Nov/2026:18:09:00 +0000] 192.0.2.3 arn:aws:sts::1:assumed-role/r/x 3E59 REST.PUT.OBJECT _v/a.jpg/w1.jpg \"PUT /_v/a.jpg/w1.jpg HTTP/1.1\" 403 AccessDenied 243 - 5 - \"-\" \"aws-sdk-rust\" -
79a5 imgflex-variants [29/Nov/2026:10:00:00 +0000] 192.0.2.3 arn:aws:sts::1:assumed-role/r/x 3E60 REST.PUT.OBJECT _v/old.jpg/w1.jpg \"PUT /_v/old.jpg/w1.jpg HTTP/1.1\" 200 - - 10 4 3 \"-\" \"aws-sdk-rust\" -
garbage line [with a bracket]
";
        let since = access_time("30/Nov/2026:12:00:00 +0000").unwrap_or(0);
        let until = access_time("01/Dec/2026:12:00:00 +0000").unwrap_or(0);
        assert_eq!(until - since, 86_400);
        let n = count_puts(std::io::Cursor::new(log), since, until).unwrap_or(99);
        // The 200 PUT in the window; not the GET, the refused PUT, the day-old one.
        assert_eq!(n, 1);
    }

    #[test]
    fn hours_are_stamped_as_log_names_are() {
        let t = access_time("01/Dec/2026:09:59:59 +0000").unwrap_or(0);
        assert_eq!(hour_stamp(t), "2026-12-01-09");
        assert_eq!(timestamp(t), "2026-12-01T09:59:59Z");
    }

    #[test]
    fn rows_count_under_the_original_or_the_canonical_variant() {
        let policy = Policy::default();
        assert_eq!(
            classify(&policy, "/photos/cat.jpg", ""),
            Kind::Original("photos/cat.jpg".into())
        );
        let a = classify(&policy, "/photos/cat.jpg", "w=400&fm=webp");
        let b = classify(&policy, "/photos/cat.jpg", "fm=webp&width=400");
        assert_eq!(a, b);
        let Kind::Variant(auto) = classify(&policy, "/photos/cat.jpg", "w=400&fm=auto") else {
            panic!("not a variant")
        };
        assert!(auto.ends_with("_auto.*"), "{auto}");
        assert_eq!(
            classify(&policy, "/banners/sale%20banner.jpg", ""),
            Kind::Original("banners/sale banner.jpg".into())
        );
    }
}
