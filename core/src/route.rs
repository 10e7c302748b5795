//! From a public request (path, query, `Accept`) to what the edge does with it: serve an
//! original, or rewrite to a canonical variant. The CloudFront Function is this, in JS.

use serde::Serialize;

use crate::error::{ErrorKind, ParseError};
use crate::hints::Viewer;
use crate::key::{Variant, decode_path, encode_key, image_extension};
use crate::params::Params;
use crate::policy::Policy;
use crate::resolve::resolve;
use crate::signature::{message, needs_signature, split_pieces, verify};
use crate::spec::{Format, FormatRequest};

/// The request header the edge sets on every variant request it forwards: the URL the viewer
/// asked for (path and query, still percent-encoded). The handler redirects an output too big
/// to answer there, because the canonical URI, asked for again, would route as an original.
pub const VIEWER_URL_HEADER: &str = "x-imgflex-url";

/// Where an accepted request goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "route", rename_all = "lowercase")]
pub enum Route {
    /// A plain `/{key}`: the original's bytes, from the originals bucket. Its URI never
    /// starts with `/_v/`, so it is never a variant's.
    Original { key: String },
    /// A transform: the canonical variant, from the variants bucket or the handler.
    Variant(Variant),
}

impl Route {
    /// The URI the edge forwards (and CloudFront caches under).
    pub fn uri(&self) -> String {
        match self {
            Route::Original { key } => format!("/{}", encode_key(key)),
            Route::Variant(v) => v.uri(),
        }
    }
}

/// Routes one request. `path` is the raw (percent-encoded) URI path, `query` the raw query
/// string without `?`, `viewer` the headers that may shape a variant (`Accept` and the client
/// hints; an `Option<&str>` is just `Accept`). Junk is refused here, so it never reaches a
/// cache entry or a Lambda run.
pub fn route<'a>(
    path: &str,
    query: Option<&str>,
    viewer: impl Into<Viewer<'a>>,
    policy: &Policy,
) -> Result<Route, ParseError> {
    let viewer = viewer.into();
    let (key, all) = prepare(path, query)?;
    // `kid`, `exp` and `sig` were for `check_signature`: the transform never sees them.
    let (_, pieces) = split_pieces(&all)?;
    // `?` and `?&` carry no parameter: CloudFront hands the edge an empty query object.
    let has_query = !pieces.is_empty();

    if let Some((original, ops, name)) = split_path_form(&key) {
        if has_query {
            return Err(ParseError::new(path, ErrorKind::MixedForms));
        }
        let mut params = Params::from_path_segment(ops)?;
        if params.format.is_none() {
            let format = name
                .rsplit_once('.')
                .and_then(|(_, ext)| crate::spec::Format::from_name(&ext.to_ascii_lowercase()))
                .ok_or_else(|| {
                    ParseError::new(
                        name,
                        ErrorKind::InvalidValue {
                            param: "fm",
                            expected: "a .jpg, .png, .webp or .avif name, or `f_`",
                        },
                    )
                })?;
            params.format = Some(FormatRequest::Fixed(format));
        }
        let spec = resolve(params, original, &viewer, policy)?;
        return Ok(Route::Variant(Variant {
            original: original.to_string(),
            spec,
        }));
    }

    if !has_query {
        return Ok(Route::Original { key });
    }
    if image_extension(&key).is_none() {
        return Err(ParseError::new(path, ErrorKind::NotAnImage));
    }
    let params = Params::from_pieces(&pieces)?;
    let spec = resolve(params, &key, &viewer, policy)?;
    Ok(Route::Variant(Variant {
        original: key,
        spec,
    }))
}

/// The decoded key and CloudFront-ordered query pieces, or the first refusal: the path, then
/// too many parameters. Every request starts here, before its signature and its grammar.
#[allow(clippy::type_complexity)]
fn prepare<'a>(
    path: &str,
    query: Option<&'a str>,
) -> Result<(String, Vec<(&'a str, Vec<&'a str>)>), ParseError> {
    let key = decode_path(path)?;
    let pieces = query.map(crate::params::query_pieces).unwrap_or_default();
    if pieces.iter().map(|(_, values)| values.len()).sum::<usize>()
        > crate::params::MAX_QUERY_PARAMS
    {
        return Err(ParseError::new(
            path,
            ErrorKind::TooManyParams(crate::params::MAX_QUERY_PARAMS),
        ));
    }
    Ok((key, pieces))
}

/// Checks a request's signature as the edge does, before anything is rewritten: whether the
/// policy's `signing` asks for one here, then (`signature::verify`) the key, the HMAC and the
/// expiry. `now` is unix seconds; `secret` finds a key id's secret. A request refused for
/// its path or its parameter count is refused for that first, as at the edge.
pub fn check_signature(
    path: &str,
    query: Option<&str>,
    policy: &Policy,
    now: u64,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ParseError> {
    let (key, all) = prepare(path, query)?;
    let (parts, rest) = split_pieces(&all)?;
    let form = split_path_form(&key).map(|(_, ops, _)| ops);
    if !needs_signature(policy.signing, form, &rest) {
        return Ok(());
    }
    verify(&message(path, &all), &parts, now, secret)
}

/// [`check_signature`], then [`route`]: what the edge answers, signature and all.
pub fn route_signed<'a>(
    target: &str,
    viewer: impl Into<Viewer<'a>>,
    policy: &Policy,
    now: u64,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<Route, ParseError> {
    let (path, query) = split_target(target);
    check_signature(path, query, policy, now, secret)?;
    route(path, query, viewer, policy)
}

/// Routes a whole request target (`/photos/cat.jpg?w=400`).
pub fn route_target<'a>(
    target: &str,
    viewer: impl Into<Viewer<'a>>,
    policy: &Policy,
) -> Result<Route, ParseError> {
    let (path, query) = split_target(target);
    route(path, query, viewer, policy)
}

/// `/path?query` into the path and the query (without `?`).
fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// Splits `{original}/{ops}/{name}` when it is the path form: at least three segments, the
/// original is an image key, and the second-to-last segment is a list of `x_value` tokens.
/// Anything else is an original's own path (`photos/my_album/cat.jpg` stays an original
/// because `photos` is not an image).
pub(crate) fn split_path_form(key: &str) -> Option<(&str, &str, &str)> {
    let (rest, name) = key.rsplit_once('/')?;
    let (original, ops) = rest.rsplit_once('/')?;
    (image_extension(original).is_some()
        && Params::looks_like_path_segment(ops)
        && !name.is_empty())
    .then_some((original, ops, name))
}

/// Lists the formats (for messages and the docs) in the order of [`Format::ALL`].
pub fn format_names() -> Vec<&'static str> {
    Format::ALL.iter().map(|f| f.as_str()).collect()
}
