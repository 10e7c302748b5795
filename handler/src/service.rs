//! The resize request: a canonical variant key in, an image or a short error out. Generic
//! over the [`Store`], free of Lambda types, so the Lambda, the tests and `imgflex dev` run
//! the same code.

use std::time::{Duration, Instant};

use imgflex_core::{Policy, Variant, decode_variant_path};
use serde::Serialize;

use crate::pipeline::{self, Limits, PipelineError};
use crate::store::{Fetched, Object, Store, StoreError};

/// Variants never change: their key names every input that made them.
pub const VARIANT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// Errors may be fixed (an original uploaded, a bug deployed): cache them briefly.
pub const ERROR_CACHE_CONTROL: &str = "public, max-age=60";

/// A buffered function-URL response is at most 6 MB of JSON, and the binary body travels as
/// base64 (4 bytes per 3), which leaves about 4.5 MB of image once headers and the JSON
/// envelope are counted. Bigger outputs are stored and answered with a 302 to themselves.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4_500_000;

/// A streamed function-URL response (`InvokeMode: RESPONSE_STREAM`) carries raw bytes, up to
/// 200 MB (the first 6 MB unthrottled, then at 2 MB/s): every output the limits allow fits,
/// so the store-then-redirect path is left for buffered URLs.
pub const MAX_STREAMED_RESPONSE_BYTES: usize = 200_000_000;

/// Settings read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: Policy,
    pub limits: Limits,
    /// The largest body answered directly; bigger outputs are stored and redirected to.
    pub max_response_bytes: usize,
    /// Whether the function URL streams (`IMGFLEX_RESPONSE_STREAM=1`, which the stack sets
    /// with `InvokeMode: RESPONSE_STREAM`): the bootstrap then runs lambda_http's streaming
    /// runtime, and `max_response_bytes` is the streaming limit.
    pub streaming: bool,
}

/// Where the Lambda's configuration comes from: its environment, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub originals: String,
    pub variants: String,
}

impl Settings {
    /// Reads `IMGFLEX_ORIGINALS_BUCKET`, `IMGFLEX_VARIANTS_BUCKET` (required),
    /// `IMGFLEX_POLICY` (the policy as JSON, with its limits; default `{}`), and
    /// `IMGFLEX_RESPONSE_STREAM` (`1` when the function URL streams) and
    /// `IMGFLEX_MAX_RESPONSE_BYTES` (the largest body answered directly: by default the
    /// buffered cap, or the streamed one when streaming; tests lower it). `env` is the
    /// lookup, so tests need not touch the process.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<(Settings, Buckets), String> {
        let required = |name: &str| {
            env(name)
                .filter(|v| !v.is_empty())
                .ok_or(format!("{name} is not set"))
        };
        let buckets = Buckets {
            originals: required("IMGFLEX_ORIGINALS_BUCKET")?,
            variants: required("IMGFLEX_VARIANTS_BUCKET")?,
        };
        let policy = match env("IMGFLEX_POLICY").filter(|v| !v.trim().is_empty()) {
            Some(json) => {
                Policy::from_json_str(&json).map_err(|e| format!("IMGFLEX_POLICY: {e}"))?
            }
            None => Policy::default(),
        };
        let number = |name: &str, default: u64| -> Result<u64, String> {
            env(name).map_or(Ok(default), |v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("{name} must be a number, got `{v}`"))
            })
        };
        let streaming = match env("IMGFLEX_RESPONSE_STREAM").as_deref().map(str::trim) {
            None | Some("" | "0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(format!(
                    "IMGFLEX_RESPONSE_STREAM must be 0 or 1, got `{other}`"
                ));
            }
        };
        let cap = if streaming {
            MAX_STREAMED_RESPONSE_BYTES
        } else {
            DEFAULT_MAX_RESPONSE_BYTES
        };
        let settings = Settings {
            // The limits are the policy's (`[limits]`), so `imgflex upload` refuses exactly
            // what this handler would: no environment variable may loosen one behind it.
            limits: policy.limits,
            policy,
            max_response_bytes: number("IMGFLEX_MAX_RESPONSE_BYTES", cap as u64)? as usize,
            streaming,
        };
        Ok((settings, buckets))
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            policy: Policy::default(),
            limits: Limits::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            streaming: false,
        }
    }
}

/// An HTTP answer, independent of the server that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// One structured line for the log: what happened, how long each step took, and the
    /// whole error chain (which the viewer never sees).
    pub log: RequestLog,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// `variants` (already stored), `render` (transformed now), or absent (refused early).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    pub fetch_ms: u64,
    pub transform_ms: u64,
    pub store_ms: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A real fault: the transform thread died. Everything else is a response.
#[derive(Debug, thiserror::Error)]
#[error("the transform task failed: {0}")]
pub struct Fault(String);

/// The request handler, holding what is built once: the store (its clients) and settings.
#[derive(Debug)]
pub struct Service<S> {
    store: S,
    settings: Settings,
}

impl<S: Store + Clone> Service<S> {
    pub fn new(store: S, settings: Settings) -> Service<S> {
        Service { store, settings }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one request for `path` (the raw, percent-encoded URI path). `viewer_url` is
    /// the edge's [`VIEWER_URL_HEADER`](imgflex_core::VIEWER_URL_HEADER), where an oversize output is redirected. HEAD gets
    /// the headers GET would, and no body.
    pub async fn handle(
        &self,
        method: &str,
        path: &str,
        viewer_url: Option<&str>,
    ) -> Result<Reply, Fault> {
        let mut reply = self.respond(method, path, viewer_url).await?;
        if method.eq_ignore_ascii_case("HEAD") {
            reply.body.clear();
        }
        Ok(reply)
    }

    async fn respond(
        &self,
        method: &str,
        path: &str,
        viewer_url: Option<&str>,
    ) -> Result<Reply, Fault> {
        let mut log = RequestLog {
            method: method.to_string(),
            path: path.to_string(),
            ..RequestLog::default()
        };
        if !method.eq_ignore_ascii_case("HEAD") && !method.eq_ignore_ascii_case("GET") {
            let mut reply = error(405, "only GET and HEAD are served", log, None);
            reply.headers.push(("allow", "GET, HEAD".into()));
            return Ok(reply);
        }
        // The edge already checked this; the handler re-checks everything (it may be invoked
        // some other way).
        let Some(variant) = decode_variant_path(path).ok().filter(|v| self.admits(v)) else {
            return Ok(error(400, "not a canonical variant key", log, None));
        };
        let started = Instant::now();
        match self.store.get_variant(&variant.key()).await {
            Ok(Some(object)) => {
                log.fetch_ms = ms(started.elapsed());
                log.source = Some("variants");
                log.out_bytes = object.bytes.len() as u64;
                let timing = format!("fetch;dur={}", log.fetch_ms);
                if object.bytes.len() > self.settings.max_response_bytes {
                    // Stored but too big to answer from here (a raced miss): the retry is
                    // served by the variants bucket, as after a render.
                    return Ok(redirect(viewer_url, path, timing, log));
                }
                let headers = image_headers(
                    object.content_type,
                    object.cache_control,
                    variant.spec.auto_format,
                    timing,
                );
                return Ok(finish(200, headers, object.bytes, log));
            }
            Ok(None) => {}
            // Not fatal: rendering again is correct, only slower.
            Err(e) => log.error = Some(e.to_string()),
        }
        log.fetch_ms = ms(started.elapsed());
        self.render_admitted(&variant, path, viewer_url, log).await
    }

    /// Whether this policy lets `variant` be rendered and stored: the edge checked, and the
    /// handler checks again (a key is a promise about what gets rendered and stored).
    fn admits(&self, variant: &Variant) -> bool {
        self.settings
            .policy
            .admits(&variant.original, &variant.spec)
    }

    /// Step one of a request: the variant as the variants bucket holds it, if it does.
    /// `Ok(None)` for a variant never stored (or a key this policy does not admit, which is
    /// never stored either); a read failure is the caller's to log, and rendering again is
    /// correct, only slower.
    pub async fn stored(&self, variant: &Variant) -> Result<Option<Object>, StoreError> {
        if !self.admits(variant) {
            return Ok(None);
        }
        self.store.get_variant(&variant.key()).await
    }

    /// Step two: reads the original, transforms it, stores the variant and answers with it
    /// (or, for an output too big to answer, with a 302 to `viewer_url`, the viewer's URL as
    /// the edge passes it, else to `path`). Does not look for a stored copy: that is
    /// [`Service::stored`]'s job, done first by [`Service::handle`] and by `imgflex dev`.
    /// Logged as the GET it answers.
    pub async fn render(
        &self,
        variant: &Variant,
        path: &str,
        viewer_url: Option<&str>,
    ) -> Result<Reply, Fault> {
        let log = RequestLog {
            method: "GET".to_string(),
            path: path.to_string(),
            ..RequestLog::default()
        };
        if !self.admits(variant) {
            return Ok(error(400, "not a canonical variant key", log, None));
        }
        self.render_admitted(variant, path, viewer_url, log).await
    }

    /// Step two for a variant the policy admits (checked once, by the caller).
    async fn render_admitted(
        &self,
        variant: &Variant,
        path: &str,
        viewer_url: Option<&str>,
        mut log: RequestLog,
    ) -> Result<Reply, Fault> {
        let key = variant.key();
        let started = Instant::now();
        let limits = self.settings.limits;
        let original = match self
            .store
            .get_original(&variant.original, limits.max_source_bytes)
            .await
        {
            Ok(Fetched::Found(bytes)) => bytes,
            Ok(Fetched::Missing) => return Ok(error(404, "no such original", log, None)),
            Ok(Fetched::TooLarge(size)) => {
                let e = PipelineError::Limits {
                    what: "source size in bytes",
                    actual: size,
                    limit: limits.max_source_bytes,
                };
                return Ok(error(413, &e.public_message(), log, Some(e.to_string())));
            }
            Err(e) => {
                return Ok(error(
                    502,
                    "the original could not be read",
                    log,
                    Some(e.to_string()),
                ));
            }
        };
        // The variant read (when there was one) and the original's, together.
        log.fetch_ms += ms(started.elapsed());
        log.in_bytes = original.len() as u64;

        // Image work is CPU-bound: keep it off the async workers, so a server running this
        // (imgflex dev) keeps answering while one image renders.
        let started = Instant::now();
        let spec = variant.spec.clone();
        let output =
            tokio::task::spawn_blocking(move || pipeline::transform(&original, &spec, &limits))
                .await
                .map_err(|e| Fault(e.to_string()))?;
        log.transform_ms = ms(started.elapsed());
        let output = match output {
            Ok(o) => o,
            Err(e) => {
                return Ok(error(
                    e.status(),
                    &e.public_message(),
                    log,
                    Some(e.to_string()),
                ));
            }
        };
        log.source = Some("render");
        log.out_bytes = output.bytes.len() as u64;

        let object = Object {
            bytes: output.bytes,
            content_type: variant.content_type().to_string(),
            cache_control: VARIANT_CACHE_CONTROL.to_string(),
        };
        let oversize = object.bytes.len() > self.settings.max_response_bytes;
        let started = Instant::now();
        let body = if oversize {
            Vec::new()
        } else {
            object.bytes.clone()
        };
        let stored = self.store.put_variant(&key, object).await;
        log.store_ms = ms(started.elapsed());
        let timing = format!(
            "fetch;dur={}, transform;dur={}, store;dur={}",
            log.fetch_ms, log.transform_ms, log.store_ms
        );
        if oversize {
            // Too big to answer here: the retry is served by the variants bucket.
            if let Err(e) = stored {
                return Ok(error(
                    503,
                    "the image could not be stored",
                    log,
                    Some(e.to_string()),
                ));
            }
            return Ok(redirect(viewer_url, path, timing, log));
        }
        if let Err(e) = stored {
            // The viewer still gets the image; the next miss renders it again.
            log.error = Some(e.to_string());
        }
        let headers = image_headers(
            variant.content_type().to_string(),
            VARIANT_CACHE_CONTROL.to_string(),
            variant.spec.auto_format,
            timing,
        );
        Ok(finish(200, headers, body, log))
    }
}

/// The headers of an image answer, stored or just rendered: `Vary: Accept` when the format
/// came from `fm=auto`, and the steps' durations as `Server-Timing`.
pub fn image_headers(
    content_type: String,
    cache_control: String,
    auto_format: bool,
    timing: String,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-type", content_type),
        ("cache-control", cache_control),
    ];
    if auto_format {
        headers.push(("vary", "Accept".into()));
    }
    headers.push(("server-timing", timing));
    headers
}

/// The answer for an output too big to send from here: it is stored, and the retry is
/// served by the variants bucket. Never cached, so the retry reaches the bucket.
fn redirect(viewer_url: Option<&str>, path: &str, timing: String, log: RequestLog) -> Reply {
    let headers = vec![
        ("location", redirect_target(viewer_url, path).to_string()),
        ("cache-control", "no-store".to_string()),
        ("server-timing", timing),
    ];
    finish(302, headers, Vec::new(), log)
}

/// Where the retry of an oversize output goes: the viewer's own URL when the edge passed a
/// safe one, else the canonical path (right when the handler is called directly). Safe means
/// a path on this host: one leading `/` (`//host` and `/\\host` leave it), visible ASCII only
/// (no CR/LF to split the response), and a sane length.
fn redirect_target<'a>(viewer_url: Option<&'a str>, path: &'a str) -> &'a str {
    match viewer_url {
        Some(url)
            if url.len() <= 8192
                && url.starts_with('/')
                && !url[1..].starts_with(['/', '\\'])
                && url.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            url
        }
        _ => path,
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn finish(
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    mut log: RequestLog,
) -> Reply {
    log.status = status;
    Reply {
        status,
        headers,
        body,
        log,
    }
}

/// A short public message; the detail goes to the log only. 5xx are never cached.
fn error(status: u16, message: &str, mut log: RequestLog, detail: Option<String>) -> Reply {
    if detail.is_some() {
        log.error = detail;
    }
    let cache = if status >= 500 {
        "no-store"
    } else {
        ERROR_CACHE_CONTROL
    };
    finish(
        status,
        vec![
            ("content-type", "text/plain; charset=utf-8".into()),
            ("cache-control", cache.into()),
        ],
        format!("{message}\n").into_bytes(),
        log,
    )
}
