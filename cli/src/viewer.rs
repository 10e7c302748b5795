//! A deployment as its viewers see it: the CDN address, the policy its edge runs and the
//! key that signs its URLs, for the commands that make viewer requests (`verify`, `warm`).

use imgflex_core::{Policy, Signing, encode_key, image_content_type, image_extension, sign_url};

use crate::aws::{Aws, sdk_error};
use crate::cli::GlobalArgs;
use crate::config::load_policy;
use crate::deployed::{Deployed, distribution_domain};
use crate::edge_keys::SecretStore;
use crate::error::CliError;
use crate::keyring::{self, Key, Keyring};
use crate::web::{Client, base_url};

/// How long a signed request URL lives: a run takes seconds to minutes.
const SIGNED_FOR_SECS: u64 = 3_600;

/// As `imgflex sign`: a deployed key signs once every edge location holds it.
const SETTLE_SECS: u64 = 60;

#[derive(Debug)]
pub struct Cdn {
    /// `https://host` (no trailing `/`).
    pub base: String,
    pub policy: Policy,
    /// Signs every request when the policy wants signatures.
    pub signer: Option<Key>,
}

impl Cdn {
    /// `--url`: any CDN address, or `imgflex dev`; the policy is the local file's and the
    /// signatures come from the local keyring (the one `imgflex dev` verifies with).
    pub fn local(url: &str, global: &GlobalArgs) -> Result<Cdn, CliError> {
        let base = base_url(url)?;
        let policy = load_policy(global.config.as_deref())?;
        let signer = if policy.signing == Signing::Off {
            None
        } else {
            let path = keyring::local_path()?;
            Some(keyring::load(&path)?.signer(None)?.clone())
        };
        Ok(Cdn {
            base,
            policy,
            signer,
        })
    }

    /// The stack's distribution, the policy it was deployed with, and its signing keys.
    pub async fn deployed(aws: &Aws, stack: &str) -> Result<(Cdn, Deployed), CliError> {
        let deployed = Deployed::find(aws, stack).await?.ok_or_else(|| {
            CliError::new(format!("no stack `{stack}` in {}", aws.region()))
                .hint("deploy it (`imgflex deploy`), or name a CDN address with --url BASE")
        })?;
        let id = deployed.distribution_id.clone().ok_or_else(|| {
            CliError::new(format!("stack `{stack}` has no distribution"))
                .hint("`imgflex status` shows where the stack stands")
        })?;
        let domain = distribution_domain(aws, &id).await?.ok_or_else(|| {
            CliError::new(format!("distribution {id} has no domain name"))
                .hint("`imgflex status` shows where the stack stands")
        })?;
        // What the edge runs is the policy deployed, not the local file.
        let policy = match deployed.stack.parameters.get("HandlerPolicy") {
            Some(json) => Policy::from_json_str(json).map_err(|e| {
                CliError::new(format!("the stack's policy cannot be read: {}", e.message))
                    .hint("run `imgflex deploy` to send it again")
            })?,
            None => Policy::default(),
        };
        let signer = if policy.signing == Signing::Off {
            None
        } else {
            let store = SecretStore::new(aws.ssm(), stack, aws.region());
            let ring = Keyring {
                keys: store.keys().await?,
            };
            Some(
                ring.settled_signer(None, keyring::now(), SETTLE_SECS)?
                    .clone(),
            )
        };
        let cdn = Cdn {
            base: format!("https://{domain}"),
            policy,
            signer,
        };
        Ok((cdn, deployed))
    }

    /// The viewer URL of original `key` with `query`, signed when the policy wants it and
    /// `signed` is asked.
    pub fn url(&self, key: &str, query: Option<&str>, signed: bool) -> String {
        format!("{}{}", self.base, self.target(key, query, signed))
    }

    /// As `url`, without the address: `/key?query`, as the edge reads it.
    pub fn target(&self, key: &str, query: Option<&str>, signed: bool) -> String {
        let mut path = format!("/{}", encode_key(key));
        if let Some(query) = query {
            path.push('?');
            path.push_str(query);
        }
        match &self.signer {
            Some(signer) if signed => sign_url(
                &path,
                &signer.kid,
                &signer.secret,
                Some(keyring::now() + SIGNED_FOR_SECS),
            ),
            _ => path,
        }
    }
}

/// Whether `key` names an image the handler reads (by its extension, as upload sets).
pub fn is_image(key: &str) -> bool {
    image_extension(key).and_then(image_content_type).is_some()
}

/// The images of the originals bucket, in key order; at most `limit` (the listing stops
/// at the page that reaches it).
pub async fn bucket_images(aws: &Aws, bucket: &str, limit: usize) -> Result<Vec<String>, CliError> {
    let mut keys = Vec::new();
    let mut pages = aws
        .s3()
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(&format!("cannot list s3://{bucket}"), e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| is_image(k))
                .map(str::to_string),
        );
        if keys.len() >= limit {
            keys.truncate(limit);
            break;
        }
    }
    Ok(keys)
}

/// `imgflex dev` lists its originals at `/_imgflex/originals`; `None` from anything else.
pub fn dev_images(base: &str, client: &Client) -> Option<Vec<String>> {
    let (status, body) = client
        .get_text(&format!("{base}/_imgflex/originals"))
        .ok()?;
    if status != 200 {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
    let keys = doc["originals"]
        .as_array()?
        .iter()
        .filter_map(|o| o["key"].as_str())
        .filter(|k| is_image(k))
        .map(str::to_string)
        .collect();
    Some(keys)
}
