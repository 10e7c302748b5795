//! The resize Lambda: a function URL behind CloudFront, answering canonical variant keys.
//! Configuration and the S3 client are built once, at cold start.
// The streaming runtime's tower stack nests deep enough that the layout of `main`'s future
// passes rustc's default query depth (128) in the release build for aarch64.
#![recursion_limit = "256"]

use std::sync::Arc;

use imgflex_handler::lambda::respond;
use imgflex_handler::s3::S3Store;
use imgflex_handler::service::{Service, Settings};
use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    imgflex_handler::memory::tune_allocator(imgflex_handler::memory::Workload::OneAtATime);
    let (settings, buckets) = Settings::from_env(|name| std::env::var(name).ok())
        .map_err(|e| format!("imgflex handler configuration: {e}"))?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(imgflex_handler::s3::https_client())
        .load()
        .await;
    // An endpoint override (a moto server in tests) answers on one host: address buckets
    // by path, not by subdomain.
    let path_style = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style)
            .build(),
    );
    let streaming = settings.streaming;
    let service = Arc::new(Service::new(
        S3Store::new(s3, buckets.originals, buckets.variants),
        settings,
    ));
    let handler = service_fn(move |request: Request| {
        let service = Arc::clone(&service);
        async move { respond(&service, request).await }
    });
    // A streaming function URL takes the response as a prelude (status, headers) and then
    // raw body bytes, with no base64 and no 6 MB cap; a buffered one, the JSON envelope.
    // The same handler answers both: the body is already whole when it is sent.
    if streaming {
        lambda_http::run_with_streaming_response(handler).await
    } else {
        lambda_http::run(handler).await
    }
}
