//! `imgflex verify`: the deployment's contract, checked through its CDN address as a viewer
//! sees it: originals, miss then hit, one cache entry per meaning, the edge's 400s, `fm=auto`,
//! signatures, and no way around the CDN.

use std::fmt;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use imgflex_core::{Route, Signing, encode_key, image_content_type, image_extension, route};
use serde::Serialize;

use crate::aws::{Aws, runtime};
use crate::cli::{GlobalArgs, VerifyArgs};
use crate::error::CliError;
use crate::output::Output;
use crate::viewer::{Cdn, bucket_images, dev_images};
use crate::web::{Client, Fetched};

/// Fresh widths tried before the miss-then-hit check gives up finding an uncached variant.
const FRESH_TRIES: usize = 6;

/// Where the checks go, and what they need to know about the deployment.
#[derive(Debug)]
struct Target {
    cdn: Cdn,
    /// The original the checks use (decoded S3 key).
    key: String,
    function_url: Option<String>,
    /// The buckets' own S3 addresses for the key: (bucket, URL).
    buckets: Vec<(String, String)>,
    /// Why the direct-access checks cannot run (`--url`, or a non-AWS endpoint).
    no_direct: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Ok,
    Fail,
    Skip,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    outcome: Outcome,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    /// Time spent in the check's requests.
    ms: u64,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>, ms: u64) -> Check {
        Check {
            name,
            outcome: Outcome::Ok,
            detail: detail.into(),
            hint: None,
            ms,
        }
    }

    fn fail(
        name: &'static str,
        detail: impl Into<String>,
        hint: impl Into<String>,
        ms: u64,
    ) -> Check {
        Check {
            name,
            outcome: Outcome::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
            ms,
        }
    }

    fn skip(name: &'static str, why: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Skip,
            detail: why.into(),
            hint: None,
            ms: 0,
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    base: String,
    key: String,
    signing: &'static str,
    checks: Vec<Check>,
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Report {
    fn new(target: &Target, checks: Vec<Check>) -> Report {
        let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
        Report {
            base: target.cdn.base.clone(),
            key: target.key.clone(),
            signing: target.cdn.policy.signing.as_str(),
            passed: count(Outcome::Ok),
            failed: count(Outcome::Fail),
            skipped: count(Outcome::Skip),
            checks,
        }
    }

    /// The report as JUnit XML: one test case per check, for CI systems that show them.
    /// Written here rather than through a crate: the format is five elements, and the
    /// crates that write it bring an XML writer and UUIDs with them.
    fn junit(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let seconds = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
        let total: u64 = self.checks.iter().map(|c| c.ms).sum();
        let _ = writeln!(
            xml,
            "<testsuites name=\"imgflex verify\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{}\">",
            self.checks.len(),
            self.failed,
            self.skipped,
            seconds(total)
        );
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{}\">",
            escape(&self.base),
            self.checks.len(),
            self.failed,
            self.skipped,
            seconds(total)
        );
        for check in &self.checks {
            let _ = write!(
                xml,
                "    <testcase classname=\"imgflex.verify\" name=\"{}\" time=\"{}\"",
                check.name,
                seconds(check.ms)
            );
            match check.outcome {
                Outcome::Ok => {
                    let _ = writeln!(
                        xml,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        escape(&check.detail)
                    );
                }
                Outcome::Fail => {
                    let message = match &check.hint {
                        Some(hint) => format!("{} (hint: {hint})", check.detail),
                        None => check.detail.clone(),
                    };
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\"/>\n    </testcase>",
                        escape(&message)
                    );
                }
                Outcome::Skip => {
                    let _ = writeln!(
                        xml,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(&check.detail)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "verify {} (original `{}`, signing {})",
            self.base, self.key, self.signing
        )?;
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for check in &self.checks {
            let label = match check.outcome {
                Outcome::Ok => "ok  ",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "skip",
            };
            writeln!(f, "  {label}  {:width$}  {}", check.name, check.detail)?;
            if let Some(hint) = &check.hint {
                writeln!(f, "  {:4}  {:width$}  hint: {hint}", "", "")?;
            }
        }
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no escape for most control characters: they are dropped.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

pub fn run(args: VerifyArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let client = Client::new(Duration::from_secs(args.timeout));
    let target = match &args.url {
        Some(url) => local_target(url, args.key.clone(), global, &client)?,
        None => runtime()?.block_on(deployed_target(&args, global))?,
    };
    out.status(format!(
        "checking {} with `{}`",
        target.cdn.base, target.key
    ));
    let report = Report::new(&target, checks(&target, &client));
    if let Some(path) = &args.junit {
        write_junit(path, &report)?;
    }
    out.data(&report)?;
    if report.failed > 0 {
        let err = CliError::new(format!(
            "{} of {} checks failed",
            report.failed,
            report.checks.len()
        ))
        .hint("each failed check says what to look at; `imgflex status` and `imgflex logs` show the stack's side");
        // Printed as the result already under `--output json`.
        return Err(err.reported());
    }
    Ok(())
}

fn write_junit(path: &Path, report: &Report) -> Result<(), CliError> {
    std::fs::write(path, report.junit()).map_err(|e| {
        CliError::new(format!("cannot write {}: {e}", path.display()))
            .hint("give --junit a path in a folder that exists and can be written")
    })
}

fn no_original() -> CliError {
    CliError::new("no original to check with").hint(
        "give one with --key (an image key in the originals bucket, e.g. --key photos/cat.jpg)",
    )
}

/// `--url`: any CDN address, or `imgflex dev` (whose first original is the probe).
fn local_target(
    url: &str,
    key: Option<String>,
    global: &GlobalArgs,
    client: &Client,
) -> Result<Target, CliError> {
    let cdn = Cdn::local(url, global)?;
    let key = match key {
        Some(key) => key,
        None => dev_images(&cdn.base, client)
            .and_then(|keys| keys.into_iter().next())
            .ok_or_else(no_original)?,
    };
    Ok(Target {
        cdn,
        key: key.trim_start_matches('/').to_string(),
        function_url: None,
        buckets: Vec::new(),
        no_direct: Some("with --url, the function URL and buckets are not known".into()),
    })
}

/// The stack: its CDN, its function URL and buckets.
async fn deployed_target(args: &VerifyArgs, global: &GlobalArgs) -> Result<Target, CliError> {
    let aws = Aws::connect(global).await?;
    let (cdn, deployed) = Cdn::deployed(&aws, &args.stack.stack_name).await?;
    let key = match (&args.key, &deployed.originals_bucket) {
        (Some(key), _) => key.trim_start_matches('/').to_string(),
        (None, Some(bucket)) => bucket_images(&aws, bucket, 1).await?.pop().ok_or_else(|| {
            CliError::new(format!("s3://{bucket} has no image to check with"))
                .hint("upload one (`imgflex upload photo.jpg`), or name one with --key")
        })?,
        (None, None) => return Err(no_original()),
    };
    let function_url = match &deployed.function_name {
        Some(name) => aws
            .lambda()
            .get_function_url_config()
            .function_name(name)
            .send()
            .await
            .ok()
            .map(|config| config.function_url().to_string()),
        None => None,
    };
    let region = aws.region().to_string();
    let encoded = encode_key(&key);
    let buckets = [
        deployed.originals_bucket.clone(),
        deployed.variants_bucket.clone(),
    ]
    .into_iter()
    .flatten()
    .map(|b| {
        let url = format!("https://{b}.s3.{region}.amazonaws.com/{encoded}");
        (b, url)
    })
    .collect();
    Ok(Target {
        cdn,
        key,
        function_url,
        buckets,
        no_direct: global
            .endpoint_url
            .as_ref()
            .map(|e| format!("--endpoint-url {e}: the buckets are not on AWS")),
    })
}

impl Target {
    fn url(&self, query: Option<&str>, signed: bool) -> String {
        self.cdn.url(&self.key, query, signed)
    }

    /// Widths the policy admits for a `w`-only transform of the key, in random order.
    fn fresh_widths(&self) -> Vec<u32> {
        let policy = &self.cdn.policy;
        let mut widths: Vec<u32> = if policy.widths.is_empty() {
            let top = policy.max_width.clamp(64, 2048);
            (0..FRESH_TRIES * 2)
                .map(|_| fastrand::u32(48..=top))
                .collect()
        } else {
            policy.widths.clone()
        };
        fastrand::shuffle(&mut widths);
        widths.dedup();
        let path = format!("/{}", encode_key(&self.key));
        widths.retain(|w| {
            matches!(
                route(&path, Some(&format!("w={w}")), None, policy),
                Ok(Route::Variant(_))
            )
        });
        widths.truncate(FRESH_TRIES);
        widths
    }
}

/// Every check, in an order where each builds on what the last showed.
fn checks(target: &Target, client: &Client) -> Vec<Check> {
    let mut checks = vec![original(target, client)];
    let (check, width) = miss_then_hit(target, client);
    checks.push(check);
    checks.push(match width {
        Some(w) => one_entry(target, client, w),
        None => Check::skip("one-cache-entry", "needs the miss-then-hit variant"),
    });
    checks.push(edge_refusal(target, client));
    checks.push(auto_format(target, client, width));
    checks.push(unsigned_refused(target, client, width));
    checks.push(function_url(target, client));
    checks.push(buckets(target, client));
    checks
}

/// The GET, or the check's failure when nothing came back.
fn get(
    client: &Client,
    url: &str,
    accept: Option<&str>,
    name: &'static str,
) -> Result<Fetched, Check> {
    client.get(url, accept).map_err(|e| {
        Check::fail(
            name,
            e.message,
            e.hint.unwrap_or_else(|| "check the address".into()),
            0,
        )
    })
}

fn original(target: &Target, client: &Client) -> Check {
    const NAME: &str = "original";
    let url = target.url(None, true);
    let got = match get(client, &url, None, NAME) {
        Ok(got) => got,
        Err(check) => return check,
    };
    let expected = image_extension(&target.key).and_then(image_content_type);
    let media = got.media_type().unwrap_or("none");
    if got.status != 200 {
        return Check::fail(
            NAME,
            format!(
                "{url}: {} (x-cache {})",
                got.status,
                got.cache().unwrap_or("none")
            ),
            "the original should be served as it is; check that the key exists (`aws s3 ls`) and the originals origin can read it (`imgflex doctor`)",
            got.ms,
        );
    }
    match expected {
        Some(expected) if media != expected => Check::fail(
            NAME,
            format!("served as {media}, but `{}` says {expected}", target.key),
            "upload it again with `imgflex upload` (which sets its content type from its bytes)",
            got.ms,
        ),
        None if !media.starts_with("image/") => Check::fail(
            NAME,
            format!("served as {media}, not an image type"),
            "upload it again with `imgflex upload`",
            got.ms,
        ),
        _ => Check::ok(
            NAME,
            format!("200 {media}, {} B, {} ms", got.bytes, got.ms),
            got.ms,
        ),
    }
}

/// A variant nobody asked for is a `Miss`, then a `Hit`.
fn miss_then_hit(target: &Target, client: &Client) -> (Check, Option<u32>) {
    const NAME: &str = "miss-then-hit";
    let widths = target.fresh_widths();
    if widths.is_empty() {
        return (
            Check::fail(
                NAME,
                "the policy admits no `w`-only variant of this key",
                "check `imgflex url --policy`; verify asks for `?w=N`",
                0,
            ),
            None,
        );
    }
    let mut cached = Vec::new();
    let mut spent = 0;
    for w in widths {
        let url = target.url(Some(&format!("w={w}")), true);
        let first = match get(client, &url, None, NAME) {
            Ok(got) => got,
            Err(check) => return (check, None),
        };
        spent += first.ms;
        if first.status != 200 {
            return (
                Check::fail(
                    NAME,
                    format!(
                        "w={w}: {} (x-cache {})",
                        first.status,
                        first.cache().unwrap_or("none")
                    ),
                    "`imgflex logs --status 5xx` shows the handler's side; `imgflex doctor` the stack's",
                    spent,
                ),
                None,
            );
        }
        match first.cache() {
            None => {
                return (
                    Check::fail(
                        NAME,
                        "the response has no `x-cache` header",
                        "is this a CloudFront distribution (or `imgflex dev`)? a proxy in front of it may drop the header",
                        spent,
                    ),
                    None,
                );
            }
            // Somebody asked for this one already: try another.
            Some("Hit" | "RefreshHit") => {
                cached.push(w);
                continue;
            }
            Some(_) => {}
        }
        let second = match get(client, &url, None, NAME) {
            Ok(got) => got,
            Err(check) => return (check, None),
        };
        spent += second.ms;
        let detail = format!(
            "w={w}: {} ({} ms), then {} ({} ms)",
            first.cache().unwrap_or("none"),
            first.ms,
            second.cache().unwrap_or("none"),
            second.ms
        );
        return match second.cache() {
            Some("Hit" | "RefreshHit") if second.status == 200 => {
                (Check::ok(NAME, detail, spent), Some(w))
            }
            _ => (
                Check::fail(
                    NAME,
                    detail,
                    "the second request should be a cache hit: check the cache policy's TTLs and the handler's cache-control; `imgflex deploy` puts the stack's cache policy back",
                    spent,
                ),
                None,
            ),
        };
    }
    (
        Check::fail(
            NAME,
            format!("every width tried was already cached ({cached:?})"),
            "run it again (the widths are random), or invalidate with `imgflex invalidate`",
            spent,
        ),
        None,
    )
}

/// Another spelling of the same transform (`width=` for `w=`) is the same cache entry.
fn one_entry(target: &Target, client: &Client, w: u32) -> Check {
    const NAME: &str = "one-cache-entry";
    let url = target.url(Some(&format!("width={w}")), true);
    match get(client, &url, None, NAME) {
        Ok(got) if got.status == 200 && matches!(got.cache(), Some("Hit" | "RefreshHit")) => {
            Check::ok(
                NAME,
                format!("width={w}: {} ({} ms)", got.cache().unwrap_or(""), got.ms),
                got.ms,
            )
        }
        Ok(got) => Check::fail(
            NAME,
            format!(
                "width={w}: {} {}",
                got.status,
                got.cache().unwrap_or("none")
            ),
            "the edge function should rewrite both spellings to one key; `imgflex url` shows the key it computes",
            got.ms,
        ),
        Err(check) => check,
    }
}

/// An unknown parameter is refused by the edge function itself: no origin, no Lambda.
fn edge_refusal(target: &Target, client: &Client) -> Check {
    const NAME: &str = "edge-400";
    let url = target.url(Some("imgflex-verify-unknown=1"), true);
    match get(client, &url, None, NAME) {
        Ok(got) if got.status == 400 && got.cache() == Some("FunctionGeneratedResponse") => {
            Check::ok(
                NAME,
                format!("400 from the edge function ({} ms)", got.ms),
                got.ms,
            )
        }
        Ok(got) => Check::fail(
            NAME,
            format!(
                "an unknown parameter got {} (x-cache {})",
                got.status,
                got.cache().unwrap_or("none")
            ),
            "the viewer-request function should answer 400 itself; check that it is published and associated as the viewer-request function; `imgflex deploy` puts it back",
            got.ms,
        ),
        Err(check) => check,
    }
}

/// `fm=auto` answers the best format `Accept` allows, as the local grammar computes it.
fn auto_format(target: &Target, client: &Client, tried: Option<u32>) -> Check {
    const NAME: &str = "auto-format";
    let Some(w) = target
        .fresh_widths()
        .into_iter()
        .find(|w| Some(*w) != tried)
    else {
        return Check::skip(NAME, "the policy admits no second `w` to try");
    };
    let query = format!("w={w}&fm=auto");
    let path = format!("/{}", encode_key(&target.key));
    let mut seen = Vec::new();
    let mut spent = 0;
    for accept in ["image/avif,image/webp,*/*", "image/webp,*/*", "*/*"] {
        let expected = match route(&path, Some(&query), Some(accept), &target.cdn.policy) {
            Ok(Route::Variant(v)) => v.spec.format.content_type(),
            _ => return Check::skip(NAME, "the policy refuses `fm=auto`"),
        };
        let url = target.url(Some(&query), true);
        let got = match get(client, &url, Some(accept), NAME) {
            Ok(got) => got,
            Err(check) => return check,
        };
        spent += got.ms;
        let media = got.media_type().unwrap_or("none").to_string();
        if got.status != 200 || media != expected {
            return Check::fail(
                NAME,
                format!(
                    "Accept `{accept}`: {} {media}, expected {expected}",
                    got.status
                ),
                "the edge picks the format from Accept; `imgflex url --accept` shows its choice",
                spent,
            );
        }
        seen.push(media.trim_start_matches("image/").to_string());
    }
    Check::ok(NAME, format!("w={w}: {}", seen.join(", ")), spent)
}

/// With signatures on, a variant without one is a 403 from the edge.
fn unsigned_refused(target: &Target, client: &Client, tried: Option<u32>) -> Check {
    const NAME: &str = "unsigned-refused";
    if target.cdn.policy.signing == Signing::Off {
        return Check::skip(NAME, "the policy does not sign URLs");
    }
    // The edge checks the signature before anything else: any variant URL will do.
    let w = tried.unwrap_or(100);
    let url = target.url(Some(&format!("w={w}")), false);
    match get(client, &url, None, NAME) {
        Ok(got) if got.status == 403 => Check::ok(NAME, format!("403 ({} ms)", got.ms), got.ms),
        Ok(got) => Check::fail(
            NAME,
            format!("an unsigned variant got {}", got.status),
            "the edge function checks signatures with its KeyValueStore: deploy again, and see `imgflex keys list`",
            got.ms,
        ),
        Err(check) => check,
    }
}

/// The function URL only answers CloudFront (origin access control signs its requests).
fn function_url(target: &Target, client: &Client) -> Check {
    const NAME: &str = "function-url-private";
    if let Some(why) = &target.no_direct {
        return Check::skip(NAME, why.clone());
    }
    let Some(url) = &target.function_url else {
        return Check::skip(NAME, "the stack's function has no URL to try");
    };
    let probe = format!("{}/{}", url.trim_end_matches('/'), encode_key(&target.key));
    match get(client, &probe, None, NAME) {
        Ok(got) if got.status == 403 => Check::ok(NAME, format!("{url}: 403"), got.ms),
        Ok(got) => Check::fail(
            NAME,
            format!("{url} answered {} to an unsigned request", got.status),
            "its auth type must be AWS_IAM (the template's); `imgflex doctor` checks it",
            got.ms,
        ),
        Err(check) => check,
    }
}

/// The buckets only answer CloudFront.
fn buckets(target: &Target, client: &Client) -> Check {
    const NAME: &str = "buckets-private";
    if let Some(why) = &target.no_direct {
        return Check::skip(NAME, why.clone());
    }
    let mut spent = 0;
    let mut seen = Vec::new();
    for (bucket, url) in &target.buckets {
        let got = match get(client, url, None, NAME) {
            Ok(got) => got,
            Err(check) => return check,
        };
        spent += got.ms;
        if got.status != 403 {
            return Check::fail(
                NAME,
                format!("s3://{bucket} answered {} to an anonymous GET", got.status),
                "its policy must allow only this distribution (`imgflex doctor` checks it)",
                spent,
            );
        }
        seen.push(format!("s3://{bucket}: 403"));
    }
    if seen.is_empty() {
        return Check::skip(NAME, "no bucket to try");
    }
    Check::ok(NAME, seen.join(", "), spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_and_counts() {
        let target = Target {
            cdn: Cdn {
                base: "http://a".into(),
                policy: imgflex_core::Policy::default(),
                signer: None,
            },
            key: "a.jpg".into(),
            function_url: None,
            buckets: Vec::new(),
            no_direct: None,
        };
        let report = Report::new(
            &target,
            vec![
                Check::ok("original", "200 <image/jpeg>", 12),
                Check::fail("edge-400", "got \"200\" & more", "fix it", 1500),
                Check::skip("buckets-private", "no bucket"),
            ],
        );
        let xml = report.junit();
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" skipped=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<system-out>200 &lt;image/jpeg&gt;</system-out>"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"got &quot;200&quot; &amp; more (hint: fix it)\"/>"),
            "{xml}"
        );
        assert!(xml.contains("name=\"edge-400\" time=\"1.500\""), "{xml}");
        assert_eq!(escape("a\u{1}b"), "ab");
    }
}
