//! The resize request end to end without AWS: function-URL events (or method + path) in, an
//! in-memory store behind, status, headers and decoded images out.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use imgflex_core::Policy;
use imgflex_handler::MemoryStore;
use imgflex_handler::pipeline::{Limits, decode_full};
use imgflex_handler::service::{Reply, Service, Settings, VARIANT_CACHE_CONTROL};
use lambda_http::Body;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn rocket() -> Vec<u8> {
    // A 300x200 JPEG with an Adobe RGB profile (sharp's thumbnail of the corpus rocket).
    std::fs::read(fixtures().join("golden/rocket-w300.sharp.jpg")).unwrap()
}

const KEY: &str = "/_v/photos/rocket.jpg/w100_inside_center_q80_bgffffff_e0.jpg";

fn service(settings: Settings) -> Service<MemoryStore> {
    let store = MemoryStore::new();
    store.put_original("photos/rocket.jpg", rocket());
    Service::new(store, settings)
}

async fn get(service: &Service<MemoryStore>, path: &str) -> Reply {
    service.handle("GET", path, None).await.unwrap()
}

fn dims(reply: &Reply) -> (u32, u32) {
    let px = decode_full(&reply.body, &Limits::default()).unwrap();
    (px.width, px.height)
}

#[tokio::test]
async fn a_function_url_event_renders_stores_and_answers() {
    let service = service(Settings::default());
    let event = std::fs::read_to_string(fixtures().join("function-url-event.json")).unwrap();
    let request = lambda_http::request::from_str(&event).unwrap();
    let response = imgflex_handler::lambda::respond(&service, request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["cache-control"], VARIANT_CACHE_CONTROL);
    assert!(h.get("vary").is_none(), "a fixed format does not vary");
    let timing = h["server-timing"].to_str().unwrap();
    for step in ["fetch;dur=", "transform;dur=", "store;dur="] {
        assert!(timing.contains(step), "{timing}");
    }
    let Body::Binary(bytes) = response.body() else {
        panic!("binary body expected");
    };
    let px = decode_full(bytes, &Limits::default()).unwrap();
    assert_eq!((px.width, px.height), (300, 200));
    let stored = service
        .store()
        .variant("_v/photos/rocket.jpg/w300_inside_center_q80_bgffffff_e0.jpg")
        .unwrap();
    assert_eq!(stored.content_type, "image/jpeg");
    assert_eq!(&stored.bytes, bytes);
}

#[tokio::test]
async fn a_stored_variant_is_served_without_reading_the_original() {
    let service = service(Settings::default());
    let first = get(&service, KEY).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.log.source, Some("render"));
    assert_eq!(service.store().original_reads(), 1);
    let second = get(&service, KEY).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.log.source, Some("variants"));
    assert_eq!(second.body, first.body);
    assert_eq!(
        service.store().original_reads(),
        1,
        "the original was read again"
    );
}

#[tokio::test]
async fn auto_format_varies_on_accept() {
    let service = service(Settings::default());
    let reply = get(
        &service,
        "/_v/photos/rocket.jpg/w100_inside_center_q75_bgffffff_e0_auto.webp",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("image/webp"));
    assert_eq!(reply.header("vary"), Some("Accept"));
    assert_eq!(dims(&reply).0, 100);
    // And from the variants bucket, too.
    let again = get(
        &service,
        "/_v/photos/rocket.jpg/w100_inside_center_q75_bgffffff_e0_auto.webp",
    )
    .await;
    assert_eq!(again.header("vary"), Some("Accept"));
}

#[tokio::test]
async fn only_canonical_keys_the_policy_admits() {
    let service = service(Settings::default());
    for path in [
        "/photos/rocket.jpg",
        "/photos/rocket.jpg/w_100/rocket.jpg",
        "/_v/photos/rocket.jpg/w100_cover_center_q80_bgffffff_e0.jpg",
        "/_v/photos/rocket.jpg/W100_inside_center_q80_bgffffff_e0.jpg",
        "/_v/photos/../rocket.jpg/w100_inside_center_q80_bgffffff_e0.jpg",
        "/",
    ] {
        let reply = get(&service, path).await;
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.header("cache-control"), Some("public, max-age=60"));
        assert_eq!(
            String::from_utf8(reply.body).unwrap(),
            "not a canonical variant key\n"
        );
    }
    let narrow = service_with_policy("widths = [320, 640]");
    assert_eq!(
        get(&narrow, KEY).await.status,
        400,
        "w100 is not an allowed width"
    );
    assert_eq!(
        narrow.store().original_reads(),
        0,
        "nothing was fetched for a refused key"
    );
}

fn service_with_policy(toml: &str) -> Service<MemoryStore> {
    service(Settings {
        policy: Policy::from_toml_str(toml).unwrap(),
        ..Settings::default()
    })
}

#[tokio::test]
async fn missing_original_is_a_short_lived_404() {
    let service = service(Settings::default());
    let reply = get(
        &service,
        "/_v/photos/missing.jpg/w100_inside_center_q80_bgffffff_e0.jpg",
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("cache-control"), Some("public, max-age=60"));
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test]
async fn only_get_and_head() {
    let service = service(Settings::default());
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let reply = service.handle(method, KEY, None).await.unwrap();
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    }
    let head = service.handle("HEAD", KEY, None).await.unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), Some("image/jpeg"));
}

#[tokio::test]
async fn bad_originals_are_client_errors_with_public_messages() {
    let service = service(Settings {
        limits: Limits {
            max_source_bytes: 100_000,
            ..Limits::default()
        },
        ..Settings::default()
    });
    let store = service.store();
    let hostile = |name: &str| std::fs::read(fixtures().join("hostile").join(name)).unwrap();
    store.put_original("big.jpg", vec![0xFF; 100_001]);
    store.put_original("page.jpg", hostile("error-page.jpg"));
    store.put_original("bomb.png", hostile("bomb-60000x60000.png"));
    store.put_original("cut.jpg", hostile("truncated.jpg"));
    for (original, ext, status) in [
        ("big.jpg", "jpg", 413),
        ("bomb.png", "jpg", 413),
        ("page.jpg", "jpg", 415),
        ("cut.jpg", "jpg", 422),
    ] {
        let path = format!("/_v/{original}/w100_inside_center_q80_bgffffff_e0.{ext}");
        let reply = get(&service, &path).await;
        assert_eq!(reply.status, status, "{original}");
        let body = String::from_utf8(reply.body.clone()).unwrap();
        assert!(
            !body.contains("libjpeg") && !body.contains("png"),
            "leaks detail: {body}"
        );
        assert!(reply.log.error.is_some(), "the log keeps the detail");
        assert!(
            store.variant(&path[1..]).is_none(),
            "nothing stored for a failure"
        );
    }
}

#[tokio::test]
async fn oversize_outputs_are_stored_then_redirected() {
    let service = service(Settings {
        max_response_bytes: 1_000,
        ..Settings::default()
    });
    let reply = get(&service, KEY).await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some(KEY));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.body.is_empty());
    let stored = service.store().variant(&KEY[1..]).unwrap();
    assert!(stored.bytes.len() > 1_000);
    assert_eq!(stored.content_type, "image/jpeg");
}

#[tokio::test]
async fn the_redirect_names_the_viewers_url_when_the_edge_passes_a_safe_one() {
    let service = service(Settings {
        max_response_bytes: 1_000,
        ..Settings::default()
    });
    // Through the Lambda entry point, as CloudFront invokes it: the edge's header carries the
    // URL the viewer asked for, and a canonical URI asked for again would route as an original.
    let event = std::fs::read_to_string(fixtures().join("function-url-event.json")).unwrap();
    let mut request = lambda_http::request::from_str(&event).unwrap();
    let viewer = "/photos/rocket.jpg?width=300&quality=80&utm=x%20y";
    request
        .headers_mut()
        .insert("x-imgflex-url", viewer.parse().unwrap());
    let response = imgflex_handler::lambda::respond(&service, request)
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], viewer);
    assert_eq!(response.headers()["cache-control"], "no-store");

    // Without the header (the handler called directly), the redirect names the key.
    let reply = get(&service, KEY).await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some(KEY));
    assert_eq!(reply.log.source, Some("render"));

    // Stored now, and still too big to answer: the next request is redirected too (a raced
    // miss reaches the handler after the variant is in the bucket). Anything that could
    // leave this host or split the response falls back to the key.
    for hostile in [
        "//evil.example/x.jpg",
        "/\\evil.example/x.jpg",
        "https://evil.example/x.jpg",
        "/photos/rocket.jpg?w=300\r\nset-cookie: a=b",
        "/photos/rocket.jpg?w=300 x",
        "",
    ] {
        let reply = service.handle("GET", KEY, Some(hostile)).await.unwrap();
        assert_eq!(reply.status, 302, "{hostile:?}");
        assert_eq!(reply.header("location"), Some(KEY), "{hostile:?}");
        assert_eq!(reply.log.source, Some("variants"), "not rendered again");
        assert!(reply.body.is_empty());
    }
    let reply = service.handle("GET", KEY, Some(viewer)).await.unwrap();
    assert_eq!(reply.header("location"), Some(viewer));
    let long = format!("/photos/rocket.jpg?w=300&x={}", "a".repeat(9_000));
    let reply = service.handle("GET", KEY, Some(&long)).await.unwrap();
    assert_eq!(reply.header("location"), Some(KEY));
}

#[tokio::test]
async fn store_failures_never_leak_and_only_fail_what_they_must() {
    let service = service(Settings {
        max_response_bytes: 1_000,
        ..Settings::default()
    });
    service.store().fail_puts();
    // Oversize: without the stored copy there is nothing to redirect to.
    let reply = get(&service, KEY).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(!String::from_utf8(reply.body).unwrap().contains("injected"));
    // Normal size: the viewer still gets the image; the log says the store failed.
    let service = self::service(Settings::default());
    service.store().fail_puts();
    let reply = get(&service, KEY).await;
    assert_eq!(reply.status, 200);
    assert!(reply.log.error.as_deref().unwrap().contains("injected"));
}

#[tokio::test]
async fn a_store_that_cannot_be_read_is_a_502_that_names_no_bucket() {
    let service = service(Settings::default());
    service.store().fail_reads();
    let reply = get(&service, KEY).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = String::from_utf8(reply.body).unwrap();
    assert!(
        !body.contains("injected") && !body.contains("photos/"),
        "{body}"
    );
    // The detail is in the log only.
    let detail = reply.log.error.unwrap();
    assert!(detail.contains("get original"), "{detail}");
}

#[test]
fn settings_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let (settings, buckets) = Settings::from_env(env(&[
        ("IMGFLEX_ORIGINALS_BUCKET", "o"),
        ("IMGFLEX_VARIANTS_BUCKET", "v"),
        ("IMGFLEX_POLICY", r#"{"widths":[320,640]}"#),
        ("IMGFLEX_MAX_RESPONSE_BYTES", "123"),
    ]))
    .unwrap();
    assert_eq!(
        (buckets.originals.as_str(), buckets.variants.as_str()),
        ("o", "v")
    );
    assert_eq!(settings.policy.widths, vec![320, 640]);
    assert_eq!(settings.max_response_bytes, 123);
    assert_eq!(settings.limits, Limits::default());

    let err = Settings::from_env(env(&[("IMGFLEX_VARIANTS_BUCKET", "v")])).unwrap_err();
    assert!(err.contains("IMGFLEX_ORIGINALS_BUCKET"), "{err}");
    let err = Settings::from_env(env(&[
        ("IMGFLEX_ORIGINALS_BUCKET", "o"),
        ("IMGFLEX_VARIANTS_BUCKET", "v"),
        ("IMGFLEX_MAX_RESPONSE_BYTES", "lots"),
    ]))
    .unwrap_err();
    assert!(err.contains("IMGFLEX_MAX_RESPONSE_BYTES"), "{err}");
    // The limits travel in the policy, and only there: an environment variable cannot
    // loosen what `imgflex upload` checked against.
    let (settings, _) = Settings::from_env(env(&[
        ("IMGFLEX_ORIGINALS_BUCKET", "o"),
        ("IMGFLEX_VARIANTS_BUCKET", "v"),
        ("IMGFLEX_POLICY", r#"{"limits":{"max_source_pixels":1000}}"#),
        ("IMGFLEX_MAX_SOURCE_PIXELS", "99999999"),
    ]))
    .unwrap();
    assert_eq!(settings.limits.max_source_pixels, 1000);
    let err = Settings::from_env(env(&[
        ("IMGFLEX_ORIGINALS_BUCKET", "o"),
        ("IMGFLEX_VARIANTS_BUCKET", "v"),
        ("IMGFLEX_POLICY", "{\"max_width\": 0}"),
    ]))
    .unwrap_err();
    assert!(err.contains("IMGFLEX_POLICY"), "{err}");
}

#[tokio::test]
async fn is_it_stored_and_render_it_are_two_steps() {
    // What `imgflex dev` does: ask the store first, then render on a miss; the render does
    // not read the variant again, and a hit does not read the original.
    let two_steps = service(Settings::default());
    let store = two_steps.store().clone();
    let variant = imgflex_core::parse_canonical(KEY).unwrap();
    assert!(two_steps.stored(&variant).await.unwrap().is_none());
    assert_eq!(store.variant_reads(), 1);
    let reply = two_steps.render(&variant, KEY, None).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(dims(&reply), (100, 67));
    assert_eq!(store.variant_reads(), 1, "render reads no variant");
    assert_eq!(store.original_reads(), 1);
    let stored = two_steps.stored(&variant).await.unwrap().unwrap();
    assert_eq!(stored.bytes, reply.body);
    assert_eq!(store.original_reads(), 1, "a hit reads no original");

    // Through `handle` (the Lambda), one read of each on a miss, one variant read on a hit.
    let fresh = service(Settings::default());
    let fresh_store = fresh.store().clone();
    assert_eq!(get(&fresh, KEY).await.status, 200);
    assert_eq!(
        (fresh_store.variant_reads(), fresh_store.original_reads()),
        (1, 1)
    );
    assert_eq!(get(&fresh, KEY).await.log.source, Some("variants"));
    assert_eq!(
        (fresh_store.variant_reads(), fresh_store.original_reads()),
        (2, 1)
    );
}

#[tokio::test]
async fn a_key_the_policy_does_not_admit_is_neither_stored_nor_rendered() {
    let policy = Policy::from_json_str(r#"{"max_width": 50}"#).unwrap();
    let service = service(Settings {
        policy,
        ..Settings::default()
    });
    let variant = imgflex_core::parse_canonical(KEY).unwrap();
    assert!(service.stored(&variant).await.unwrap().is_none());
    assert_eq!(service.store().variant_reads(), 0, "not even looked up");
    let reply = service.render(&variant, KEY, None).await.unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(service.store().original_reads(), 0);
}

#[tokio::test]
async fn the_longest_original_key_the_edge_passes_is_served() {
    // Issue 16: originals of 810-900 bytes passed the edge and then 400'd here for every
    // variant (the whole variant key was held to the original's limit). One limit now.
    let service = service(Settings::default());
    let original = format!(
        "photos/{}.jpg",
        "r".repeat(imgflex_core::MAX_ORIGINAL_KEY_BYTES - 11)
    );
    assert_eq!(original.len(), imgflex_core::MAX_ORIGINAL_KEY_BYTES);
    service.store().put_original(&original, rocket());
    let path = format!("/_v/{original}/w100_inside_center_q80_bgffffff_e0.jpg");
    let reply = get(&service, &path).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(dims(&reply), (100, 67));
    // And a viewer cannot reach the first layout, or an original under `_v/`, through here.
    for path in [
        "/photos/rocket.jpg/w100_inside_center_q80_bgffffff_e0.jpg",
        "/_v/_v/rocket.jpg/w100_inside_center_q80_bgffffff_e0.jpg",
    ] {
        assert_eq!(get(&service, path).await.status, 400, "{path}");
    }
}
