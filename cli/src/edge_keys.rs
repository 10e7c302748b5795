//! A deployed stack's signing keys, in their two places: the secrets in SSM Parameter Store
//! (SecureString, the signer's copy: `imgflex sign` and your own signers read them), and
//! the verifying copy in the stack's CloudFront KeyValueStore, `kid:KID` to the secret,
//! which the edge function reads. Rotation writes the edge first and retirement removes it
//! first, so no signed URL ever names a key the edge does not hold.

use aws_sdk_cloudfrontkeyvaluestore as kvs;
use aws_sdk_ssm::types::{ParameterType, Tag};

use crate::aws::sdk_error;
use crate::error::CliError;
use crate::keyring::Key;

/// The KeyValueStore entry of a key id (the edge function reads `kid:` + the URL's `kid`).
pub fn entry(kid: &str) -> String {
    format!("kid:{kid}")
}

/// The KeyValueStore name of a stack, as main.yaml names it.
pub fn store_name(stack: &str, region: &str) -> String {
    format!("{stack}-{region}-keys")
}

/// The SSM path under which a stack's secrets live.
pub fn secrets_path(stack: &str, region: &str) -> String {
    format!("/imgflex/{stack}/{region}/signing-keys/")
}

/// The stack's KeyValueStore, found by its name (main.yaml's); a clear error before any
/// write when the stack has none.
pub async fn edge_store(aws: &crate::aws::Aws, stack: &str) -> Result<EdgeStore, CliError> {
    let name = store_name(stack, aws.region());
    let found = aws
        .cloudfront()
        .describe_key_value_store()
        .name(&name)
        .send()
        .await;
    match found {
        Ok(out) => {
            let arn = out
                .key_value_store()
                .map(|k| k.arn().to_string())
                .unwrap_or_default();
            Ok(EdgeStore::new(aws.keyvaluestore(), arn))
        }
        Err(e) if crate::aws::error_code(&e) == Some("EntityNotFound") => {
            Err(CliError::new(format!(
                "stack `{stack}` in {} has no signing-key store `{name}`",
                aws.region()
            ))
            .hint("deploy it (or update it) with `imgflex deploy`: the store is part of the stack"))
        }
        Err(e) => Err(sdk_error(
            "cannot find the signing-key store (KeyValueStore)",
            e,
        )),
    }
}

/// The verifying copy: a KeyValueStore, through its data plane (SigV4A-signed; its ARN
/// names the store).
#[derive(Debug, Clone)]
pub struct EdgeStore {
    client: kvs::Client,
    arn: String,
}

impl EdgeStore {
    pub fn new(client: kvs::Client, arn: impl Into<String>) -> EdgeStore {
        EdgeStore {
            client,
            arn: arn.into(),
        }
    }

    /// Every write names the store's current ETag (optimistic concurrency): read it.
    async fn etag(&self) -> Result<String, CliError> {
        let described = self
            .client
            .describe_key_value_store()
            .kvs_arn(&self.arn)
            .send()
            .await
            .map_err(|e| sdk_error("cannot read the signing-key store (KeyValueStore)", e))?;
        Ok(described.e_tag().to_string())
    }

    /// The key ids the edge verifies.
    pub async fn kids(&self) -> Result<Vec<String>, CliError> {
        let mut kids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_keys()
                .kvs_arn(&self.arn)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("cannot list the edge's signing keys", e))?;
            kids.extend(
                page.items()
                    .iter()
                    .filter_map(|item| item.key().strip_prefix("kid:").map(str::to_string)),
            );
            match page.next_token() {
                Some(next) if Some(next) != token.as_deref() => token = Some(next.to_string()),
                _ => return Ok(kids),
            }
        }
    }

    pub async fn put(&self, key: &Key) -> Result<(), CliError> {
        let etag = self.etag().await?;
        self.client
            .put_key()
            .kvs_arn(&self.arn)
            .key(entry(&key.kid))
            .value(&key.secret)
            .if_match(etag)
            .send()
            .await
            .map_err(|e| sdk_error("cannot give the edge the new key", e))?;
        Ok(())
    }

    pub async fn delete(&self, kid: &str) -> Result<(), CliError> {
        let etag = self.etag().await?;
        match self
            .client
            .delete_key()
            .kvs_arn(&self.arn)
            .key(entry(kid))
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already gone (a retire that stopped halfway): what we wanted.
            Err(e) if crate::aws::error_code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(sdk_error("cannot take the key from the edge", e)),
        }
    }
}

/// The signer's copy: SecureStrings under `secrets_path`.
#[derive(Debug, Clone)]
pub struct SecretStore {
    client: aws_sdk_ssm::Client,
    path: String,
    stack: String,
}

impl SecretStore {
    pub fn new(client: aws_sdk_ssm::Client, stack: &str, region: &str) -> SecretStore {
        SecretStore {
            client,
            path: secrets_path(stack, region),
            stack: stack.to_string(),
        }
    }

    /// Every key, oldest first.
    pub async fn keys(&self) -> Result<Vec<Key>, CliError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_parameters_by_path()
                .path(&self.path)
                .with_decryption(true)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("cannot read the signing keys from SSM", e))?;
            for p in page.parameters() {
                let (Some(name), Some(secret)) = (p.name(), p.value()) else {
                    continue;
                };
                let kid = name.rsplit('/').next().unwrap_or(name).to_string();
                let created = p
                    .last_modified_date()
                    .map_or(0, |d| u64::try_from(d.secs()).unwrap_or(0));
                keys.push(Key {
                    kid,
                    secret: secret.to_string(),
                    created,
                });
            }
            match page.next_token() {
                Some(next) if Some(next) != token.as_deref() => token = Some(next.to_string()),
                _ => break,
            }
        }
        keys.sort_by_key(|k| k.created);
        Ok(keys)
    }

    pub async fn put(&self, key: &Key) -> Result<(), CliError> {
        let tag = Tag::builder()
            .key("imgflex:stack")
            .value(&self.stack)
            .build()
            .map_err(|e| CliError::new(format!("cannot tag the key: {e}")))?;
        self.client
            .put_parameter()
            .name(format!("{}{}", self.path, key.kid))
            .description(format!(
                "imgflex signing key of {}, made {}",
                self.stack,
                key.created_at()
            ))
            .value(&key.secret)
            .r#type(ParameterType::SecureString)
            .overwrite(false)
            .tags(tag)
            .send()
            .await
            .map_err(|e| sdk_error("cannot store the new key in SSM", e))?;
        Ok(())
    }

    pub async fn delete(&self, kid: &str) -> Result<(), CliError> {
        match self
            .client
            .delete_parameter()
            .name(format!("{}{kid}", self.path))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if crate::aws::error_code(&e) == Some("ParameterNotFound") => Ok(()),
            Err(e) => Err(sdk_error("cannot delete the key from SSM", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The KeyValueStore data plane is not in moto: these run the real SDK client against
    //! recorded exchanges (aws-smithy-http-client's replay client) and assert the exact
    //! requests: method, URI, the ETag in `if-match`, and the body.

    use super::*;
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    const ARN: &str = "arn:aws:cloudfront::123456789012:key-value-store/\
                       0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    const HOST: &str = "https://123456789012.cloudfront-kvs.global.api.aws";

    fn event(method: &str, path: &str, body: &str, status: u16, reply: &str) -> ReplayEvent {
        tagged(method, path, body, status, reply, "ETAG-2")
    }

    /// An exchange whose response carries `etag` (DescribeKeyValueStore's is in the header).
    fn tagged(
        method: &str,
        path: &str,
        body: &str,
        status: u16,
        reply: &str,
        etag: &str,
    ) -> ReplayEvent {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{HOST}{path}"))
            .body(SdkBody::from(body.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        let response = http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("etag", etag)
            .body(SdkBody::from(reply.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        ReplayEvent::new(request, response)
    }

    fn describe() -> ReplayEvent {
        tagged(
            "GET",
            &format!("/key-value-stores/{}", urlencode(ARN)),
            "",
            200,
            &format!(r#"{{"ItemCount":1,"TotalSizeInBytes":60,"KvsARN":"{ARN}","Created":1.7e9}}"#),
            "ETAG-1",
        )
    }

    fn urlencode(s: &str) -> String {
        s.replace(':', "%3A").replace('/', "%2F")
    }

    fn store(events: Vec<ReplayEvent>) -> (EdgeStore, StaticReplayClient) {
        let replay = StaticReplayClient::new(events);
        let config = kvs::Config::builder()
            .behavior_version(kvs::config::BehaviorVersion::latest())
            .region(kvs::config::Region::new("us-east-1"))
            .credentials_provider(kvs::config::Credentials::for_tests())
            .http_client(replay.clone())
            .build();
        (EdgeStore::new(kvs::Client::from_conf(config), ARN), replay)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Headers that change with every run (the SigV4A signature, the date, the agent).
    const VOLATILE: &[&str] = &[
        "authorization",
        "x-amz-date",
        "x-amz-region-set",
        "x-amz-content-sha256",
        "x-amz-user-agent",
        "user-agent",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "content-length",
        "content-type",
    ];

    #[test]
    fn a_new_key_is_put_under_its_kid_with_the_stores_etag() {
        let key = Key {
            kid: "k20261201-abcd".into(),
            secret: "c2VjcmV0".into(),
            created: 0,
        };
        let put = event(
            "PUT",
            &format!(
                "/key-value-stores/{}/keys/kid%3Ak20261201-abcd",
                urlencode(ARN)
            ),
            r#"{"Value":"c2VjcmV0"}"#,
            200,
            r#"{"ItemCount":2,"TotalSizeInBytes":120,"ETag":"ETAG-2"}"#,
        );
        let (store, replay) = store(vec![describe(), put]);
        runtime()
            .block_on(store.put(&key))
            .unwrap_or_else(|e| panic!("{e}"));
        replay.relaxed_requests_match();
        replay.assert_requests_match(VOLATILE);
        let requests = replay.actual_requests().collect::<Vec<_>>();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].headers().get("if-match"), Some("ETAG-1"));
        // SigV4A: the data plane's auth scheme, signed for every region.
        let auth = requests[1].headers().get("authorization").unwrap_or("");
        assert!(auth.starts_with("AWS4-ECDSA-P256-SHA256"), "{auth}");
        assert_eq!(requests[1].headers().get("x-amz-region-set"), Some("*"));
    }

    #[test]
    fn retiring_deletes_the_entry_and_a_gone_one_is_fine() {
        let path = format!("/key-value-stores/{}/keys/kid%3Aold", urlencode(ARN));
        let delete = event(
            "DELETE",
            &path,
            "",
            200,
            r#"{"ItemCount":0,"TotalSizeInBytes":0,"ETag":"ETAG-2"}"#,
        );
        let gone = ReplayEvent::new(
            http::Request::builder()
                .method("DELETE")
                .uri(format!("{HOST}{path}"))
                .body(SdkBody::empty())
                .unwrap_or_else(|e| panic!("{e}")),
            http::Response::builder()
                .status(404)
                .header("x-amzn-errortype", "ResourceNotFoundException")
                .header("content-type", "application/json")
                .body(SdkBody::from(r#"{"Message":"key not found"}"#))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let (store, replay) = store(vec![describe(), delete, describe(), gone]);
        let rt = runtime();
        rt.block_on(store.delete("old"))
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(store.delete("old"))
            .unwrap_or_else(|e| panic!("{e}"));
        replay.assert_requests_match(VOLATILE);
        let requests = replay.actual_requests().collect::<Vec<_>>();
        assert_eq!(requests[1].headers().get("if-match"), Some("ETAG-1"));
    }

    #[test]
    fn listing_reads_every_page_and_only_kid_entries() {
        let path = format!("/key-value-stores/{}/keys", urlencode(ARN));
        let first = event(
            "GET",
            &path,
            "",
            200,
            r#"{"Items":[{"Key":"kid:a","Value":"x"},{"Key":"p:thumb","Value":"y"}],"NextToken":"t2"}"#,
        );
        let second = event(
            "GET",
            &format!("{path}?NextToken=t2"),
            "",
            200,
            r#"{"Items":[{"Key":"kid:b","Value":"z"}]}"#,
        );
        let (store, replay) = store(vec![first, second]);
        let kids = runtime()
            .block_on(store.kids())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kids, ["a", "b"]);
        replay.assert_requests_match(VOLATILE);
    }
}
