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

    // cargo-lambda serves the runtime API and the function URL; the binary cargo built for
    // this test polls it, as it polls the real runtime API (no nested cargo build).
    let (port, _watch) = with_free_port(|port| {
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
    let _handler = Killed(
        Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .envs(vars)
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
