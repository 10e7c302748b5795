//! `imgflex sign`: a URL with `kid`, `exp` and `sig`, signed with the newest key (or the one
//! asked for) of the deployed stack or of the local keyring.

use std::fmt;

use imgflex_core::{EXPIRES_PARAM, KEY_PARAM, SIG_PARAM, route_signed, sign_url};
use serde::Serialize;

use crate::aws::{Aws, runtime};
use crate::cli::{GlobalArgs, SignArgs};
use crate::config::load_policy;
use crate::edge_keys::SecretStore;
use crate::error::CliError;
use crate::keyring::{self, Key, Keyring};
use crate::output::Output;

/// How long a new deployed key waits before it signs: KeyValueStore writes reach every
/// edge location within seconds.
const SETTLE_SECS: u64 = 60;

#[derive(Debug, Serialize)]
struct Signed {
    url: String,
    kid: String,
    expires: Option<u64>,
    expires_at: Option<String>,
}

impl fmt::Display for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// `https://host` and `/path?query` of what the user typed (a bare key gets its `/`).
pub fn split_url(url: &str) -> (&str, String) {
    let url = url.trim();
    for scheme in ["https://", "http://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let at = rest.find(['/', '?']).unwrap_or(rest.len());
            let origin = &url[..scheme.len() + at];
            let target = &rest[at..];
            let target = if target.starts_with('/') {
                target.to_string()
            } else {
                format!("/{target}")
            };
            return (origin, target);
        }
    }
    let target = if url.starts_with('/') {
        url.to_string()
    } else {
        format!("/{url}")
    };
    ("", target)
}

pub fn run(args: SignArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let policy = load_policy(global.config.as_deref())?;
    let (origin, target) = split_url(&args.url);
    if let Some((_, query)) = target.split_once('?') {
        // The edge drops empty pieces and reads a bare `name` as `name=`: a URL spelt so
        // would be signed as written and refused as read.
        if query.split('&').any(|p| p.is_empty() || !p.contains('=')) {
            return Err(CliError::new(format!(
                "the URL's query `{query}` has an empty piece or a parameter without `=`"
            ))
            .hint("write every parameter as name=value, joined by single `&` (`w=400&fm=auto`)"));
        }
        let names: Vec<&str> = query
            .split('&')
            .map(|p| p.split('=').next().unwrap_or(p))
            .collect();
        if let Some(name) = [SIG_PARAM, KEY_PARAM, EXPIRES_PARAM]
            .iter()
            .find(|n| names.contains(n))
        {
            return Err(CliError::new(format!("the URL already has `{name}`"))
                .hint("give the URL without `kid`, `exp` and `sig`: they are what signing adds"));
        }
    }
    let key = if args.local {
        let path = keyring::local_path()?;
        keyring::load(&path)?.signer(args.kid.as_deref())?.clone()
    } else {
        runtime()?.block_on(async {
            let aws = Aws::connect(global).await?;
            let store = SecretStore::new(aws.ssm(), &args.stack.stack_name, aws.region());
            let ring = Keyring {
                keys: store.keys().await?,
            };
            let key = ring
                .settled_signer(args.kid.as_deref(), keyring::now(), SETTLE_SECS)?
                .clone();
            if let Ok(newest) = ring.signer(None)
                && newest.kid != key.kid
            {
                out.warn(format_args!(
                    "signing with {} while the newest key, {}, reaches every edge location \
                     (it signs {SETTLE_SECS} s after `imgflex keys rotate`; --key {} uses it now)",
                    key.kid, newest.kid, newest.kid
                ));
            }
            Ok::<Key, CliError>(key)
        })?
    };
    let now = keyring::now();
    let expires = args.expires.map(|d| now.saturating_add(d));
    let signed = sign_url(&target, &key.kid, &key.secret, expires);
    check(&signed, &key, now, &policy)?;
    if policy.signing == imgflex_core::Signing::Off {
        out.warn(
            "this policy has `signing = \"off\"`: the edge ignores the signature \
             (set `signing` in imgflex.toml and deploy to require it)",
        );
    }
    out.data(&Signed {
        url: format!("{origin}{signed}"),
        kid: key.kid,
        expires,
        expires_at: expires.map(keyring::timestamp),
    })
}

/// A URL the edge would refuse anyway is not worth signing: say why now.
fn check(signed: &str, key: &Key, now: u64, policy: &imgflex_core::Policy) -> Result<(), CliError> {
    let secret = |kid: &str| (kid == key.kid).then(|| key.secret.clone());
    route_signed(signed, None, policy, now, &secret)
        .map(|_| ())
        .map_err(|e| {
            CliError::new(format!(
                "the edge would refuse this URL: {} ({})",
                e.kind,
                e.status()
            ))
            .hint("`imgflex url` explains the grammar; sign a URL it accepts")
        })
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls_split_into_origin_and_target() {
        assert_eq!(
            split_url("https://cdn.example.com/a.jpg?w=1"),
            ("https://cdn.example.com", "/a.jpg?w=1".to_string())
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080?w=1"),
            ("http://127.0.0.1:8080", "/?w=1".to_string())
        );
        assert_eq!(split_url("photos/a.jpg"), ("", "/photos/a.jpg".to_string()));
        assert_eq!(
            split_url("/a.jpg/w_400/a.webp"),
            ("", "/a.jpg/w_400/a.webp".to_string())
        );
    }
}
