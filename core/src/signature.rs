//! Signed URLs: what is signed, how, and the check the edge runs before any URL is rewritten.
//!
//! A signed URL is the URL as the front end would send it, plus three query parameters:
//! `kid` (which key), an optional `exp` (unix seconds; the URL works until then) and last
//! `sig`, the HMAC-SHA256 of the signed message under the key's secret, base64url without
//! padding (43 characters). The **signed message** is the URL's path exactly as sent
//! (percent-encoded), then, when the URL has any parameter besides `sig`, `?` and those
//! parameters as `name=value`, still percent-encoded, joined by `&`, in the order the URL
//! gives them. That is the URL without its `sig`: a front end in any language signs the
//! string it is about to put in the page. The secret's key bytes are the secret's text.
//!
//! Why the viewer URL and not the canonical variant key: the key of `fm=auto` depends on
//! the viewer's `Accept`, so it cannot be signed in advance, and a signer of canonical keys
//! would have to carry this whole grammar. Signing the URL as sent costs one signature per
//! spelling (`w=400` and `width=400` are two), which is what a page has anyway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{ErrorKind, ParseError};
use crate::params::Param;

/// The signature's query parameter.
pub const SIG_PARAM: &str = "sig";
/// The key id's query parameter.
pub const KEY_PARAM: &str = "kid";
/// The expiry's query parameter (unix seconds).
pub const EXPIRES_PARAM: &str = "exp";
/// How long `sig` is: 32 bytes of HMAC-SHA256 in base64url without padding.
pub const SIGNATURE_CHARS: usize = 43;
/// The longest key id: 1 to 32 of `A-Z a-z 0-9 _ -`.
pub const MAX_KEY_ID_CHARS: usize = 32;

/// Which requests must be signed (`signing` in imgflex.toml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signing {
    /// No URL needs a signature; `kid`, `exp` and `sig` are ignored.
    #[default]
    Off,
    /// Every URL, plain originals included.
    Required,
    /// Transforms other than presets: a plain original, or a URL of only `p`, `fm` and
    /// `dpr` with a `p`, is free; anything else needs a signature.
    AdHoc,
}

impl Signing {
    pub fn as_str(self) -> &'static str {
        match self {
            Signing::Off => "off",
            Signing::Required => "required",
            Signing::AdHoc => "ad-hoc",
        }
    }
}

/// The signature parameters of one request, as sent, and the other pieces.
#[derive(Debug, Default)]
pub(crate) struct SignatureParts<'a> {
    pub sig: Option<&'a str>,
    pub kid: Option<&'a str>,
    pub exp: Option<&'a str>,
}

/// Takes `sig`, `kid` and `exp` out of CloudFront-ordered pieces (`query_pieces`): each at
/// most once, by its exact raw name. The rest is the transform's.
#[allow(clippy::type_complexity)]
pub(crate) fn split_pieces<'a>(
    pieces: &[(&'a str, Vec<&'a str>)],
) -> Result<(SignatureParts<'a>, Vec<(&'a str, Vec<&'a str>)>), ParseError> {
    let mut parts = SignatureParts::default();
    let mut rest = Vec::new();
    for (name, values) in pieces {
        let slot = match *name {
            SIG_PARAM => &mut parts.sig,
            KEY_PARAM => &mut parts.kid,
            EXPIRES_PARAM => &mut parts.exp,
            _ => {
                rest.push((*name, values.clone()));
                continue;
            }
        };
        if values.len() > 1 {
            return Err(ParseError::new(
                *name,
                ErrorKind::RepeatedParam((*name).to_string()),
            ));
        }
        *slot = values.first().copied();
    }
    Ok((parts, rest))
}

/// The signed message of a request: its raw path, and every piece but `sig` as `name=value`
/// in CloudFront's order (which is the URL's when every name appears once).
pub(crate) fn message(path: &str, pieces: &[(&str, Vec<&str>)]) -> String {
    let mut out = String::from(path);
    let mut first = true;
    for (name, values) in pieces.iter().filter(|(n, _)| *n != SIG_PARAM) {
        for value in values {
            out.push(if first { '?' } else { '&' });
            first = false;
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// The signature of `message` under `secret`: HMAC-SHA256, base64url, no padding.
pub fn signature(secret: &str, message: &str) -> String {
    #[allow(clippy::expect_used)]
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(message.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Signs a request target (`/path?query`, as the URL will carry it after its host): appends
/// `kid`, then `exp` when given, then `sig`. The target must not carry any of the three.
pub fn sign_url(target: &str, kid: &str, secret: &str, expires: Option<u64>) -> String {
    let mut unsigned = String::from(target);
    unsigned.push(if target.contains('?') { '&' } else { '?' });
    unsigned.push_str(KEY_PARAM);
    unsigned.push('=');
    unsigned.push_str(kid);
    if let Some(at) = expires {
        unsigned.push_str(&format!("&{EXPIRES_PARAM}={at}"));
    }
    let sig = signature(secret, &unsigned);
    format!("{unsigned}&{SIG_PARAM}={sig}")
}

/// Whether this request needs a signature under `signing`. `form` is the path form's token
/// list when the path is one; `pieces` the non-signature query pieces.
pub(crate) fn needs_signature(
    signing: Signing,
    form: Option<&str>,
    pieces: &[(&str, Vec<&str>)],
) -> bool {
    match signing {
        Signing::Off => false,
        Signing::Required => true,
        Signing::AdHoc => {
            let names: Option<Vec<Param>> = match form {
                Some(_) if !pieces.is_empty() => None,
                Some(tokens) => tokens
                    .split(',')
                    .map(|t| {
                        Param::from_path_name(
                            &t.split_once('_').map_or(t, |(n, _)| n).to_ascii_lowercase(),
                        )
                    })
                    .collect(),
                None => pieces
                    .iter()
                    .map(|(raw, _)| {
                        crate::key::percent_decode_strict(raw, true)
                            .ok()
                            .and_then(|n| Param::from_query_name(&n.to_ascii_lowercase()))
                    })
                    .collect(),
            };
            match names {
                None => true,
                Some(names) if names.is_empty() => false,
                Some(names) => {
                    !(names.contains(&Param::P)
                        && names
                            .iter()
                            .all(|p| matches!(p, Param::P | Param::Fm | Param::Dpr)))
                }
            }
        }
    }
}

/// Checks a request's signature. `now` is unix seconds; `secret` finds a key's secret by
/// its id (the edge's KeyValueStore, `imgflex dev`'s keyring). Checked in this order, each
/// a 403 that names the parameter: a signature at all, a known key, the HMAC (compared in
/// constant time), the expiry.
pub(crate) fn verify(
    message: &str,
    parts: &SignatureParts<'_>,
    now: u64,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ParseError> {
    let refuse = |kind| Err(ParseError::new(message, kind));
    let Some(sig) = parts.sig else {
        return refuse(ErrorKind::SignatureRequired);
    };
    let kid = parts.kid.unwrap_or("");
    if !crate::params::is_token(kid, MAX_KEY_ID_CHARS) {
        return refuse(ErrorKind::UnknownKey);
    }
    let Some(secret) = secret(kid) else {
        return refuse(ErrorKind::UnknownKey);
    };
    let want = signature(&secret, message);
    // Constant time over the expected length: the time taken says nothing of how much of a
    // forged signature was right.
    let mut diff = u8::from(sig.len() != want.len());
    for (i, w) in want.bytes().enumerate() {
        diff |= w ^ sig.as_bytes().get(i).copied().unwrap_or(0);
    }
    if diff != 0 {
        return refuse(ErrorKind::BadSignature);
    }
    if let Some(exp) = parts.exp {
        let at = (!exp.is_empty() && exp.len() <= 12 && exp.bytes().all(|b| b.is_ascii_digit()))
            .then(|| exp.parse::<u64>().ok())
            .flatten();
        match at {
            None => return refuse(ErrorKind::BadExpiry),
            Some(at) if now > at => return refuse(ErrorKind::Expired(at)),
            Some(_) => {}
        }
    }
    Ok(())
}

/// A fresh secret: 32 random bytes from the operating system, base64url (43 characters).
pub fn secret_from_bytes(bytes: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::query_pieces;

    const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuv";

    fn keys(kid: &str) -> Option<String> {
        (kid == "k1").then(|| SECRET.to_string())
    }

    fn check(url: &str, now: u64) -> Result<(), ErrorKind> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let pieces = query_pieces(query);
        let (parts, _) = split_pieces(&pieces).map_err(|e| e.kind)?;
        verify(&message(path, &pieces), &parts, now, &keys).map_err(|e| e.kind)
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2 ("Jefe"), its hex digest in base64url.
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM"
        );
    }

    #[test]
    fn a_signed_url_verifies_and_the_message_is_the_url_without_sig() {
        let url = sign_url("/photos/cat.jpg?w=400&fm=auto", "k1", SECRET, Some(2_000));
        assert!(url.starts_with("/photos/cat.jpg?w=400&fm=auto&kid=k1&exp=2000&sig="));
        let sig = url.rsplit_once("sig=").unwrap().1;
        assert_eq!(sig.len(), SIGNATURE_CHARS);
        assert_eq!(
            sig,
            signature(SECRET, "/photos/cat.jpg?w=400&fm=auto&kid=k1&exp=2000")
        );
        assert_eq!(check(&url, 2_000), Ok(()));
        assert_eq!(check(&url, 2_001), Err(ErrorKind::Expired(2_000)));
    }

    #[test]
    fn every_way_to_get_it_wrong_is_a_403_naming_its_parameter() {
        let good = sign_url("/a.jpg?w=400", "k1", SECRET, None);
        assert_eq!(check("/a.jpg?w=400", 0), Err(ErrorKind::SignatureRequired));
        // Tampered: the width changed after signing.
        let tampered = good.replace("w=400", "w=4000");
        assert_eq!(check(&tampered, 0), Err(ErrorKind::BadSignature));
        // Reordered parameters are another message.
        let moved = format!(
            "/a.jpg?kid=k1&w=400&sig={}",
            good.rsplit_once("sig=").unwrap().1
        );
        assert_eq!(check(&moved, 0), Err(ErrorKind::BadSignature));
        assert_eq!(
            check(&good.replace("kid=k1", "kid=k2"), 0),
            Err(ErrorKind::UnknownKey)
        );
        assert_eq!(
            check(&good.replace("kid=k1", "kid=k%31"), 0),
            Err(ErrorKind::UnknownKey)
        );
        // A signature one character short, or padded.
        assert_eq!(
            check(&good[..good.len() - 1], 0),
            Err(ErrorKind::BadSignature)
        );
        assert_eq!(check(&format!("{good}="), 0), Err(ErrorKind::BadSignature));
        let bad_exp = sign_url("/a.jpg?w=400&exp=soon", "k1", SECRET, None);
        assert_eq!(check(&bad_exp, 0), Err(ErrorKind::BadExpiry));
        assert!(matches!(
            check(&format!("{good}&sig=x"), 0),
            Err(ErrorKind::RepeatedParam(p)) if p == "sig"
        ));
    }

    #[test]
    fn ad_hoc_signing_frees_presets_and_originals_only() {
        let needs = |form: Option<&str>, query: &str| {
            needs_signature(Signing::AdHoc, form, &query_pieces(query))
        };
        assert!(!needs(None, ""));
        assert!(!needs(None, "p=thumb"));
        assert!(!needs(None, "preset=thumb&fm=auto&dpr=2"));
        assert!(!needs(None, "P=thumb&FORMAT=webp"));
        assert!(!needs(Some("s_thumb,dpr_2"), ""));
        assert!(needs(None, "fm=webp"));
        assert!(needs(None, "p=thumb&w=10"));
        assert!(needs(None, "p=thumb&v=1"));
        assert!(needs(None, "p=thumb&utm=1"));
        assert!(needs(None, "p=thumb&%ZZ=1"));
        assert!(needs(Some("s_thumb,w_10"), ""));
        assert!(needs(Some("s_thumb"), "x=1"));
        assert!(!needs_signature(Signing::Off, None, &query_pieces("w=1")));
        assert!(needs_signature(Signing::Required, None, &[]));
    }
}
