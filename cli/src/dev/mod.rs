//! `imgflex dev`'s app: the deployed request path on one machine (the HTTP shell around it,
//! accepting connections and turning answers into responses, is `http.rs`). The edge rewrite is
//! `imgflex_core::route` (the Rust twin the parity table holds to the CloudFront Function),
//! the cache key is the canonical variant key, a folder is the variants bucket, and a miss
//! fails over to the resize Lambda's own `Service`, in process. Around it: single-
//! flight per key, transforms bounded by the cores, a page to try URLs, and a request log.

pub mod flight;
mod http;
pub mod samples;
pub mod store;

pub use http::{BindError, bind, serve, stop_signal};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use imgflex_core::{
    ParseError, Policy, Route, Variant, Viewer, check_signature, encode_key, route,
};
use imgflex_handler::service::{ERROR_CACHE_CONTROL, Reply, image_headers};
use imgflex_handler::store::{Fetched, Store};
use imgflex_handler::{Service, Settings};
use serde::Serialize;
use tokio::sync::Semaphore;

use flight::{Flights, Role};
use store::{DevStore, Originals};

/// The page at `/`: plain HTML and JS, no build step.
const PAGE: &str = include_str!("page.html");

/// Everything the server holds, built once.
#[derive(Debug)]
pub struct App {
    policy: Policy,
    keyring: Option<std::path::PathBuf>,
    service: Service<DevStore>,
    store: DevStore,
    flights: Arc<Flights<Flight>>,
    /// Transforms are CPU-bound: at most one per core runs at a time, so a burst of misses
    /// queues here instead of oversubscribing the cores (and memory) with blocking threads.
    /// Cached variants never take a slot.
    render_slots: Semaphore,
    stats: Stats,
    log_requests: bool,
    /// What the page says the originals are.
    originals_label: String,
}

/// What one handler run produced, shared by every request that waited for it.
#[derive(Debug, Clone)]
struct Rendered {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    /// `variants` (the variants folder had it: a HIT) or `render` (transformed now).
    source: Option<&'static str>,
    transform_ms: u64,
    error: Option<String>,
}

/// `Err` is a fault of the handler (its transform task died), already turned into text.
type Flight = Result<Rendered, String>;

impl From<Reply> for Rendered {
    fn from(reply: Reply) -> Rendered {
        Rendered {
            status: reply.status,
            headers: reply.headers,
            body: Bytes::from(reply.body),
            source: reply.log.source,
            transform_ms: reply.log.transform_ms,
            error: reply.log.error,
        }
    }
}

/// Counters for `/_imgflex/stats`: what tests and the curious can observe.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    /// Variant requests served from the variants folder.
    hits: AtomicU64,
    /// Variant requests the handler answered without a stored variant.
    misses: AtomicU64,
    /// Handler runs that transformed an image (one per miss, however many waited for it).
    transforms: AtomicU64,
    /// Requests that waited for another request's run instead of starting their own.
    coalesced: AtomicU64,
    /// Requests the edge refused (400, or 403 for a signature).
    refused: AtomicU64,
    /// Plain originals served.
    originals: AtomicU64,
}

#[derive(Debug, Serialize)]
struct StatsView {
    requests: u64,
    hits: u64,
    misses: u64,
    transforms: u64,
    coalesced: u64,
    refused: u64,
    /// Requests answered with an original (not the number of originals there are).
    originals_served: u64,
}

impl Stats {
    fn view(&self) -> StatsView {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        StatsView {
            requests: get(&self.requests),
            hits: get(&self.hits),
            misses: get(&self.misses),
            transforms: get(&self.transforms),
            coalesced: get(&self.coalesced),
            refused: get(&self.refused),
            originals_served: get(&self.originals),
        }
    }
}

fn bump(n: &AtomicU64) {
    n.fetch_add(1, Ordering::Relaxed);
}

/// What the server is built from.
#[derive(Debug)]
pub struct Config {
    pub policy: Policy,
    /// The local keyring signed URLs are checked with, when the policy signs.
    pub keyring: Option<std::path::PathBuf>,
    pub settings: Settings,
    pub store: DevStore,
    pub log_requests: bool,
    /// Concurrent transforms (the number of cores).
    pub render_slots: usize,
}

/// A request, as the HTTP shell took it apart.
#[derive(Debug)]
pub(crate) struct Asked<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    /// `Accept` and the client hints, which shape a variant as at the edge.
    pub(crate) viewer: Viewer<'a>,
    /// The path and query as sent: what the log shows and a 302 goes back to.
    pub(crate) target: &'a str,
}

/// An answer before it becomes an HTTP response, with what the log line says about it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
    note: Option<String>,
}

impl Answer {
    fn new(status: u16, headers: Vec<(&'static str, String)>, body: impl Into<Bytes>) -> Answer {
        Answer {
            status,
            headers,
            body: body.into(),
            note: None,
        }
    }

    /// A short public message, as the edge and the handler write theirs.
    fn text(status: u16, cache_control: &str, message: &str) -> Answer {
        Answer::new(
            status,
            vec![
                ("content-type", "text/plain; charset=utf-8".into()),
                ("cache-control", cache_control.into()),
            ],
            format!("{message}\n"),
        )
    }

    fn json<T: Serialize>(value: &T) -> Answer {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Answer::new(
                200,
                vec![
                    ("content-type", "application/json".into()),
                    ("cache-control", "no-store".into()),
                ],
                body,
            ),
            Err(e) => Answer::text(500, "no-store", &format!("cannot encode JSON: {e}")),
        }
    }

    /// With CloudFront's `x-cache` header, so what checks a distribution (`imgflex verify`)
    /// checks this server the same way.
    fn cached_as(mut self, x_cache: &'static str) -> Answer {
        self.headers.push(("x-cache", x_cache.into()));
        self
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl App {
    pub fn new(config: Config) -> App {
        let originals_label = match config.store.originals() {
            Originals::Samples => "the sample images built into imgflex".to_string(),
            Originals::Dir(dir) => dir.display().to_string(),
        };
        App {
            service: Service::new(config.store.clone(), config.settings),
            keyring: config.keyring,
            policy: config.policy,
            store: config.store,
            flights: Arc::new(Flights::default()),
            render_slots: Semaphore::new(config.render_slots.max(1)),
            stats: Stats::default(),
            log_requests: config.log_requests,
            originals_label,
        }
    }

    /// One request, as the HTTP shell (`http.rs`) has taken it apart. Logged with its
    /// answer, when that is wanted.
    pub(crate) async fn answer(self: &Arc<App>, asked: &Asked<'_>) -> Answer {
        let started = Instant::now();
        bump(&self.stats.requests);
        let answer = self.dispatch(asked).await;
        if self.log_requests {
            eprintln!(
                "{}",
                log_line(asked.method, asked.target, &answer, started.elapsed())
            );
        }
        answer
    }

    async fn dispatch(self: &Arc<App>, asked: &Asked<'_>) -> Answer {
        if *asked.method != Method::GET && *asked.method != Method::HEAD {
            // The distribution allows GET and HEAD only; CloudFront refuses the rest with 403.
            return Answer::text(
                403,
                "no-store",
                "this distribution serves GET and HEAD requests only",
            )
            .cached_as(X_CACHE_ERROR);
        }
        if asked.path == "/" {
            return Answer::new(
                200,
                vec![
                    ("content-type", "text/html; charset=utf-8".into()),
                    ("cache-control", "no-store".into()),
                ],
                Bytes::from_static(PAGE.as_bytes()),
            );
        }
        if let Some(api) = asked.path.strip_prefix("/_imgflex/") {
            return self.api(api).await;
        }
        match self
            .signed(asked)
            .and_then(|()| route(asked.path, asked.query, asked.viewer, &self.policy))
        {
            Err(refusal) => {
                bump(&self.stats.refused);
                refused(&refusal).cached_as(X_CACHE_FUNCTION)
            }
            // Originals are read from the folder each time (an edit shows at once), where
            // CloudFront would cache them: the first request's `Miss`, always.
            Ok(Route::Original { key }) => self.original(&key).await.cached_as(X_CACHE_MISS),
            Ok(Route::Variant(variant)) => {
                let answer = self.variant(variant, asked.target).await;
                let x_cache = match answer.header("x-imgflex-cache") {
                    _ if answer.status >= 500 => X_CACHE_ERROR,
                    Some("HIT") => X_CACHE_HIT,
                    _ => X_CACHE_MISS,
                };
                answer.cached_as(x_cache)
            }
        }
    }

    /// The edge's signature check, with the local keyring as its KeyValueStore.
    fn signed(&self, asked: &Asked<'_>) -> Result<(), ParseError> {
        let Some(path) = &self.keyring else {
            return Ok(());
        };
        // An unreadable keyring verifies nothing (as an edge with no keys): every signed
        // URL is refused, and the log says the key is unknown.
        let ring = crate::keyring::load(path).unwrap_or_default();
        check_signature(
            asked.path,
            asked.query,
            &self.policy,
            crate::keyring::now(),
            &|kid| ring.secret(kid),
        )
    }

    /// The JSON endpoints the page (and tests) use. `/_imgflex/` is taken from the key
    /// space: no original under it can be served here.
    async fn api(&self, name: &str) -> Answer {
        match name {
            "stats" => Answer::json(&self.stats.view()),
            "originals" => match self.store.list_originals().await {
                Ok((originals, truncated)) => {
                    #[derive(Serialize)]
                    struct Entry<'a> {
                        key: &'a str,
                        url: String,
                        bytes: u64,
                    }
                    #[derive(Serialize)]
                    struct List<'a> {
                        source: &'a str,
                        originals: Vec<Entry<'a>>,
                        truncated: bool,
                        policy: &'a Policy,
                    }
                    Answer::json(&List {
                        source: &self.originals_label,
                        originals: originals
                            .iter()
                            .map(|o| Entry {
                                key: &o.key,
                                url: format!("/{}", encode_key(&o.key)),
                                bytes: o.bytes,
                            })
                            .collect(),
                        truncated,
                        policy: &self.policy,
                    })
                }
                Err(e) => {
                    let mut answer =
                        Answer::text(500, "no-store", "the originals could not be listed");
                    answer.note = Some(e.to_string());
                    answer
                }
            },
            _ => Answer::text(404, "no-store", "no such endpoint"),
        }
    }

    /// A plain `/{key}`: the original's bytes, as the originals bucket serves them.
    async fn original(&self, key: &str) -> Answer {
        let mut answer = match self.store.get_original(key, u64::MAX).await {
            Ok(Fetched::Found(bytes)) => {
                bump(&self.stats.originals);
                let claimed = store::original_content_type(key);
                let mut answer = if store::bytes_match(claimed, &bytes) {
                    Answer::new(200, vec![("content-type", claimed.into())], bytes)
                } else {
                    let mut a = Answer::new(
                        200,
                        vec![("content-type", "application/octet-stream".into())],
                        bytes,
                    );
                    a.note = Some(format!("not {claimed} inside: served as bytes"));
                    a
                };
                // As the deployed response headers policy: nothing served runs as a page.
                answer.headers.push((
                    "content-security-policy",
                    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'none'".into(),
                ));
                answer
            }
            Ok(Fetched::Missing | Fetched::TooLarge(_)) => {
                Answer::text(404, ERROR_CACHE_CONTROL, "no such original")
            }
            Err(e) => {
                let mut answer = Answer::text(502, "no-store", "the original could not be read");
                answer.note = Some(e.to_string());
                answer
            }
        };
        answer.headers.push(("x-imgflex-key", encode_key(key)));
        answer
    }

    /// A transform: the variants folder, else the handler, once per key however many ask.
    async fn variant(self: &Arc<App>, variant: Variant, target: &str) -> Answer {
        let key = variant.key();
        let work = {
            let app = Arc::clone(self);
            let variant = variant.clone();
            let target = target.to_string();
            async move { app.run_handler(&variant, &target).await }
        };
        let (rendered, role) = match self.flights.run(&key, work).await {
            Ok((Ok(rendered), role)) => (rendered, role),
            Ok((Err(fault), _)) => return fault_answer(fault, &key),
            Err(abandoned) => return fault_answer(abandoned.to_string(), &key),
        };
        let hit = rendered.source == Some("variants");
        // The leader's hit or miss was counted by the run itself (which goes on when its
        // viewer hangs up, so a render always has its miss); a follower counts its own here.
        if role == Role::Follower {
            bump(if hit {
                &self.stats.hits
            } else {
                &self.stats.misses
            });
            bump(&self.stats.coalesced);
        }
        let mut headers = rendered.headers;
        if rendered.status == 302 && role == Role::Follower {
            // The handler redirected to the leader's URL (passed as the edge passes it); a
            // coalesced viewer retries its own, which routes to the same key.
            for (name, value) in &mut headers {
                if name.eq_ignore_ascii_case("location") {
                    *value = target.to_string();
                }
            }
        }
        headers.push(("x-imgflex-cache", if hit { "HIT" } else { "MISS" }.into()));
        headers.push(("x-imgflex-key", encode_key(&key)));
        let mut note = Vec::new();
        if rendered.source == Some("render") && role == Role::Leader {
            note.push(format!("transform {} ms", rendered.transform_ms));
        }
        if role == Role::Follower {
            note.push("coalesced".to_string());
        }
        if let Some(error) = rendered.error {
            note.push(error);
        }
        Answer {
            status: rendered.status,
            headers,
            body: rendered.body,
            note: (!note.is_empty()).then(|| note.join("; ")),
        }
    }

    /// The leader's work for one key, in the handler's two steps: the variants folder answers
    /// what it has (`Service::stored`), as the variants bucket does (the origin group's first
    /// member), else the resize Lambda's render runs in process (`Service::render`), given the
    /// viewer's URL as the edge passes it.
    async fn run_handler(&self, variant: &Variant, viewer_url: &str) -> Flight {
        let mut read_error = None;
        let started = Instant::now();
        match self.service.stored(variant).await {
            Ok(Some(object)) => {
                bump(&self.stats.hits);
                // The handler's headers for a stored variant. On AWS, Vary comes from the
                // response headers policy (or, with CORS on, from nothing: see
                // templates/main.yaml) and S3 sends no Server-Timing; the browser here sees
                // what it would, and the developer the read's duration.
                let headers = image_headers(
                    object.content_type,
                    object.cache_control,
                    variant.spec.auto_format,
                    format!("fetch;dur={}", started.elapsed().as_millis()),
                );
                return Ok(Rendered {
                    status: 200,
                    headers,
                    body: Bytes::from(object.bytes),
                    source: Some("variants"),
                    transform_ms: 0,
                    error: None,
                });
            }
            Ok(None) => {}
            // Not fatal, as for the Lambda: rendering again is correct, only slower.
            Err(e) => read_error = Some(e.to_string()),
        }
        bump(&self.stats.misses);
        let _slot = self
            .render_slots
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let reply = self
            .service
            .render(variant, &variant.uri(), Some(viewer_url))
            .await
            .map_err(|e| e.to_string())?;
        if reply.log.source == Some("render") {
            bump(&self.stats.transforms);
        }
        let mut rendered = Rendered::from(reply);
        rendered.error = rendered.error.or(read_error);
        Ok(rendered)
    }
}

/// The edge's refusal, as the CloudFront Function writes it.
fn refused(refusal: &ParseError) -> Answer {
    let mut answer = Answer::text(
        refusal.status(),
        // As the edge: a 403 briefly, as a key may be seconds from reaching it.
        if refusal.status() == 403 {
            SIGNATURE_CACHE_CONTROL
        } else {
            ERROR_CACHE_CONTROL
        },
        &refusal.kind.to_string(),
    );
    if let Some(param) = refusal.header_param() {
        answer.headers.push(("x-imgflex-param", param.to_string()));
    }
    answer
}

/// CloudFront's `x-cache` values: a cache hit, a miss (the origin group answered), an
/// error from the origin, and an answer the viewer-request function wrote itself (no
/// origin, no Lambda).
const X_CACHE_HIT: &str = "Hit from cloudfront";
const X_CACHE_MISS: &str = "Miss from cloudfront";
const X_CACHE_ERROR: &str = "Error from cloudfront";
const X_CACHE_FUNCTION: &str = "FunctionGeneratedResponse from cloudfront";

/// The edge function's `cache-control` on a signature's 403.
const SIGNATURE_CACHE_CONTROL: &str = "public, max-age=10";

fn fault_answer(fault: String, key: &str) -> Answer {
    let mut answer = Answer::text(500, "no-store", "internal error");
    answer.headers.push(("x-imgflex-key", encode_key(key)));
    answer.note = Some(fault);
    answer
}

/// `GET /rocket.jpg?w=300 200 MISS 14805 B 183 ms rocket.jpg/w300_… (transform 170 ms)`
fn log_line(method: &Method, target: &str, answer: &Answer, elapsed: Duration) -> String {
    let mut line = format!(
        "{method} {target} {} {} {} B {:.1} ms",
        answer.status,
        answer.header("x-imgflex-cache").unwrap_or("-"),
        answer.body.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    if let Some(key) = answer.header("x-imgflex-key") {
        line.push(' ');
        line.push_str(key);
    }
    if let Some(note) = &answer.note {
        line.push_str(&format!(" ({note})"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_like_the_edge_function() {
        let err = route(
            "/cat.jpg",
            Some("w=1&utm_source=x"),
            None,
            &Policy::default(),
        )
        .err();
        let answer = refused(&err.unwrap_or_else(|| panic!("junk was accepted")));
        assert_eq!(answer.status, 400);
        assert_eq!(&answer.body[..], b"unknown parameter `utm_source`\n");
        assert_eq!(answer.header("x-imgflex-param"), Some("utm_source"));
        assert_eq!(answer.header("cache-control"), Some(ERROR_CACHE_CONTROL));
    }

    #[test]
    fn log_lines_say_what_happened() {
        let mut answer = Answer::text(200, "no-store", "x");
        answer.headers.push(("x-imgflex-cache", "MISS".into()));
        answer
            .headers
            .push(("x-imgflex-key", "a.jpg/w1.jpg".into()));
        answer.note = Some("transform 3 ms".into());
        let line = log_line(
            &Method::GET,
            "/a.jpg?w=1",
            &answer,
            Duration::from_millis(12),
        );
        assert_eq!(
            line,
            "GET /a.jpg?w=1 200 MISS 2 B 12.0 ms a.jpg/w1.jpg (transform 3 ms)"
        );
    }
}
