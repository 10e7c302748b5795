//! The S3 store: originals from one bucket, variants to and from another.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::store::{Fetched, Object, Store, StoreError};

/// The one HTTPS client every AWS SDK client of imgflex is built with (the Lambda's S3 client,
/// the CLI's, the tests'): the SDK's own hyper 1 client, with rustls on ring. The SDK's
/// default would bring rustls on aws-lc, a second C crypto library to build for every
/// target; so the SDK's `default-https-client` feature is off and this is passed to
/// `aws_config` instead.
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Built once at cold start and shared by every request.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    originals: String,
    variants: String,
}

impl S3Store {
    pub fn new(
        client: Client,
        originals: impl Into<String>,
        variants: impl Into<String>,
    ) -> S3Store {
        S3Store {
            client,
            originals: originals.into(),
            variants: variants.into(),
        }
    }
}

fn error(operation: &'static str, key: &str, err: impl std::error::Error) -> StoreError {
    // The full chain, for the log line; the viewer only ever sees a status.
    StoreError {
        operation,
        key: key.to_string(),
        message: imgflex_core::error_chain(&err),
    }
}

impl Store for S3Store {
    async fn get_original(&self, key: &str, max_bytes: u64) -> Result<Fetched, StoreError> {
        let resp = match self
            .client
            .get_object()
            .bucket(&self.originals)
            .key(key)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(Fetched::Missing);
            }
            Err(e) => return Err(error("get original", key, e)),
        };
        // Refuse by the announced length, before reading the body.
        let size = resp.content_length().unwrap_or(0).max(0) as u64;
        if size > max_bytes {
            return Ok(Fetched::TooLarge(size));
        }
        let bytes = resp
            .body
            .collect()
            .await
            .map_err(|e| error("read original", key, e))?;
        Ok(Fetched::Found(bytes.into_bytes().to_vec()))
    }

    async fn get_variant(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let resp = match self
            .client
            .get_object()
            .bucket(&self.variants)
            .key(key)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(error("get variant", key, e)),
        };
        let content_type = resp
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let cache_control = resp.cache_control().unwrap_or_default().to_string();
        let bytes = resp
            .body
            .collect()
            .await
            .map_err(|e| error("read variant", key, e))?;
        Ok(Some(Object {
            bytes: bytes.into_bytes().to_vec(),
            content_type,
            cache_control,
        }))
    }

    async fn put_variant(&self, key: &str, object: Object) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.variants)
            .key(key)
            .content_type(object.content_type)
            .cache_control(object.cache_control)
            .body(ByteStream::from(object.bytes))
            .send()
            .await
            .map_err(|e| error("put variant", key, e))?;
        Ok(())
    }
}
