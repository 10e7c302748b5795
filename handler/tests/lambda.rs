//! The real handler binary (`bootstrap`, as cargo built it for these tests) under
//! `cargo lambda watch --only-lambda-apis` (a local Lambda runtime API serving function URLs),
//! with a moto server on loopback holding the two buckets.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use imgflex_handler::pipeline::{Limits, decode_full};
use imgflex_tests::{Moto, fixture, tool, wait_listening, with_free_port, workspace_root};

const ORIGINALS: &str = "imgflex-originals";
const VARIANTS: &str = "imgflex-variants";
const KEY: &str = "_v/photos/rocket.jpg/w100_inside_center_q80_bgffffff_e0.jpg";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn s3(endpoint: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(imgflex_handler::s3::https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

fn get(port: u16, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut response = agent
        .get(format!("http://127.0.0.1:{port}/lambda-url/_{path}"))
        .call()
        .unwrap();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    (status, headers, response.body_mut().read_to_vec().unwrap())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// cargo lambda watch, and the bootstrap binary polling it with `extra` in its environment:
/// the port of the function URL, and the two processes (killed when dropped).
fn start(moto: &Moto, extra: &[(&str, &str)]) -> (u16, [Killed; 2]) {
    // cargo-lambda serves the runtime API and the function URL; the binary cargo built for
    // this test polls it, as it polls the real runtime API (no nested cargo build).
    let (port, watch) = with_free_port(|port| {
        let watch = Command::new(tool("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch");
        let watch = Killed(watch);
        wait_listening(port, "cargo lambda watch", Duration::from_secs(60));
        (port, watch)
    });
    let vars = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("IMGFLEX_ORIGINALS_BUCKET", ORIGINALS),
        ("IMGFLEX_VARIANTS_BUCKET", VARIANTS),
        ("AWS_LAMBDA_FUNCTION_NAME", "_"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"),
    ];
    let handler = Killed(
        Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .envs(vars)
            .envs(extra.iter().copied())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the bootstrap binary"),
    );
    (port, [watch, handler])
}

#[test]
fn the_handler_renders_stores_and_reuses_variants_on_s3() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(s3(&moto.endpoint));
    rt.block_on(async {
        for bucket in [ORIGINALS, VARIANTS] {
            client.create_bucket().bucket(bucket).send().await.unwrap();
        }
        let rocket = std::fs::read(fixture("golden/rocket-w300.sharp.jpg")).unwrap();
        client
            .put_object()
            .bucket(ORIGINALS)
            .key("photos/rocket.jpg")
            .content_type("image/jpeg")
            .body(ByteStream::from(rocket))
            .send()
            .await
            .unwrap();
    });

    let (port, _running) = start(&moto, &[]);

    let (status, headers, body) = get(port, &format!("/{KEY}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(header(&headers, "server-timing").is_some_and(|t| t.contains("transform;dur=")));
    let px = decode_full(&body, &Limits::default()).unwrap();
    assert_eq!((px.width, px.height), (100, 67));

    let stored = rt
        .block_on(client.head_object().bucket(VARIANTS).key(KEY).send())
        .unwrap();
    assert_eq!(stored.content_type(), Some("image/jpeg"));
    assert_eq!(
        stored.cache_control(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(stored.content_length(), Some(body.len() as i64));

    // With the original gone, the same key still answers: the variant is served from the
    // variants bucket and the original is not read again.
    rt.block_on(
        client
            .delete_object()
            .bucket(ORIGINALS)
            .key("photos/rocket.jpg")
            .send(),
    )
    .unwrap();
    let (status, _, again) = get(port, &format!("/{KEY}"));
    assert_eq!(status, 200);
    assert_eq!(again, body);

    // A different variant of the missing original is a 404; junk is a 400.
    let (status, headers, _) = get(
        port,
        "/_v/photos/rocket.jpg/w50_inside_center_q80_bgffffff_e0.jpg",
    );
    assert_eq!(status, 404);
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=60")
    );
    let (status, _, _) = get(port, "/photos/rocket.jpg?w=50");
    assert_eq!(status, 400);
}

/// A PNG of noise: incompressible, so its PNG variant is as big as its pixels.
fn noise_png(side: u32) -> Vec<u8> {
    let mut pixels = vec![0u8; (side * side * 3) as usize];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for p in &mut pixels {
        // xorshift: deterministic noise, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *p = (state >> 32) as u8;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn a_streaming_url_answers_what_a_buffered_one_redirects() {
    // A 7 MB variant (1500x1500 of noise as PNG): past a buffered function URL's 6 MB, so
    // buffered it is stored and answered with a 302 to itself; streamed it is the answer.
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(s3(&moto.endpoint));
    let original = noise_png(1500);
    rt.block_on(async {
        for bucket in [ORIGINALS, VARIANTS] {
            client.create_bucket().bucket(bucket).send().await.unwrap();
        }
        client
            .put_object()
            .bucket(ORIGINALS)
            .key("noise.png")
            .body(ByteStream::from(original))
            .send()
            .await
            .unwrap();
    });
    let key = "/_v/noise.png/w1500_inside_center_bgffffff_e0.png";

    let (port, running) = start(&moto, &[]);
    let (status, headers, body) = get(port, key);
    assert_eq!(status, 302, "buffered: {}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "location"), Some(key));
    drop(running);
    let stored = rt
        .block_on(client.get_object().bucket(VARIANTS).key(&key[1..]).send())
        .unwrap();
    let stored = rt.block_on(stored.body.collect()).unwrap().into_bytes();
    assert!(stored.len() > 6_000_000, "{} bytes", stored.len());
    rt.block_on(
        client
            .delete_object()
            .bucket(VARIANTS)
            .key(&key[1..])
            .send(),
    )
    .unwrap();

    let (port, _running) = start(&moto, &[("IMGFLEX_RESPONSE_STREAM", "1")]);
    let (status, headers, body) = get(port, key);
    assert_eq!(
        status,
        200,
        "streamed: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    assert_eq!(header(&headers, "content-type"), Some("image/png"));
    assert_eq!(body.len(), stored.len(), "the whole image, in one answer");
    assert_eq!(&body[..], &stored[..]);
    let px = decode_full(&body, &Limits::default()).unwrap();
    assert_eq!((px.width, px.height), (1500, 1500));
}
