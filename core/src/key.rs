//! The one owner of keys: the canonical variant key, original keys and their URI encoding,
//! the purge prefix and the CloudFront invalidation paths (DESIGN §4).
//!
//! A variant lives at `{original}/{ops}.{ext}`, where `ops` lists every resolved field in one
//! fixed order with one spelling:
//!
//! ```text
//! photos/cat.jpg/w400_h300_cover_center_q75_bgffffff_e0.webp
//! photos/cat.jpg/w800_inside_center_q50_bgffffff_e0_auto_v3.avif
//!                 │    │    │     │      │   │        │  │    └ version token, always last
//!                 │    │    │     │      │   │        │  └ format came from `Accept`
//!                 │    │    │     │      │   │        └ enlarge 0/1
//!                 │    │    │     │      │   └ background rrggbb
//!                 │    │    │     │      └ quality (absent for png)
//!                 │    │    │     └ gravity
//!                 │    │    └ fit
//!                 │    └ height (absent: keep aspect)
//!                 └ width (absent: from the source)
//! ```
//!
//! Only `A-Za-z0-9_.-` appear in `ops`, the characters S3 documents as safe in keys.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;

use crate::error::{ErrorKind, ParseError};
use crate::params::is_token;
use crate::policy::DIMENSION_CEILING;
use crate::spec::{Fit, Format, Gravity, Rgb, TransformSpec};

/// Longest original key. S3 allows 1024 bytes; a variant key adds at most ~110, and the
/// variant must fit too.
pub const MAX_ORIGINAL_KEY_BYTES: usize = 900;

/// What stays unencoded in a URI: RFC 3986 unreserved characters and the path separator.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Extensions of originals imgflex can transform, lowercased, `jpeg` as `jpg`.
pub fn image_extension(key: &str) -> Option<&'static str> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let (_, ext) = name.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "jpg",
        "png" => "png",
        "webp" => "webp",
        "gif" => "gif",
        "avif" => "avif",
        _ => return None,
    })
}

/// The images imgflex reads or writes: the canonical extension and its media type. The one
/// table behind every `Content-Type` imgflex sets or checks (variants rendered and stored,
/// originals uploaded, `imgflex dev`'s answers).
const IMAGE_TYPES: [(&str, &str); 5] = [
    ("jpg", "image/jpeg"),
    ("png", "image/png"),
    ("webp", "image/webp"),
    ("gif", "image/gif"),
    ("avif", "image/avif"),
];

/// The media type of an image extension as [`image_extension`] spells it (`jpg`, not `jpeg`).
pub fn image_content_type(extension: &str) -> Option<&'static str> {
    IMAGE_TYPES
        .iter()
        .find(|(ext, _)| *ext == extension)
        .map(|(_, media)| *media)
}

/// The URI of a key: percent-encoded the one way the edge and the CLI both write it.
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, PATH).to_string()
}

/// Turns a request path (`/photos/caf%C3%A9.jpg`) into an S3 key (`photos/café.jpg`),
/// refusing what no original can be called: empty, too long, not UTF-8, control characters,
/// backslashes, and empty, `.` or `..` segments (which proxies and browsers rewrite).
pub fn decode_path(path: &str) -> Result<String, ParseError> {
    let bad = |why| ParseError::new(path, ErrorKind::BadPath(why));
    let raw = path.strip_prefix('/').unwrap_or(path);
    let key = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad("not UTF-8"))?
        .into_owned();
    validate_key(&key).map_err(bad)?;
    Ok(key)
}

fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("empty key");
    }
    if key.len() > MAX_ORIGINAL_KEY_BYTES {
        return Err("key too long");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err("control character or backslash");
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("empty, `.` or `..` segment");
    }
    Ok(())
}

/// An original and the transform of it: one cached object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Variant {
    /// The original's S3 key (decoded, no leading slash).
    pub original: String,
    pub spec: TransformSpec,
}

impl Variant {
    /// The S3 key in the variants bucket (decoded, no leading slash).
    pub fn key(&self) -> String {
        canonical(self)
    }

    /// The URI the edge rewrites to and CloudFront caches under.
    pub fn uri(&self) -> String {
        format!("/{}", encode_key(&self.key()))
    }

    pub fn content_type(&self) -> &'static str {
        self.spec.format.content_type()
    }
}

/// The canonical variant key of `variant` (see the module docs for the grammar).
pub fn canonical(variant: &Variant) -> String {
    let s = &variant.spec;
    let mut ops: Vec<String> = Vec::with_capacity(9);
    if let Some(w) = s.width {
        ops.push(format!("w{w}"));
    }
    if let Some(h) = s.height {
        ops.push(format!("h{h}"));
    }
    ops.push(s.fit.as_str().to_string());
    ops.push(s.gravity.as_str().to_string());
    if let Some(q) = s.quality {
        ops.push(format!("q{q}"));
    }
    ops.push(format!("bg{}", s.background));
    ops.push(format!("e{}", u8::from(s.enlarge)));
    if s.auto_format {
        ops.push("auto".to_string());
    }
    if let Some(v) = &s.version {
        ops.push(format!("v{v}"));
    }
    format!(
        "{}/{}.{}",
        variant.original,
        ops.join("_"),
        s.format.extension()
    )
}

/// Parses a canonical variant key (decoded, with or without a leading slash). Anything that
/// is not exactly what [`canonical`] writes is refused, so the handler can trust nothing else.
pub fn parse_canonical(key: &str) -> Result<Variant, ParseError> {
    let not = || ParseError::new(key, ErrorKind::NotCanonical);
    let key = key.strip_prefix('/').unwrap_or(key);
    let (original, last) = key.rsplit_once('/').ok_or_else(not)?;
    validate_key(original).map_err(|_| not())?;
    if image_extension(original).is_none() {
        return Err(not());
    }
    let (ops, ext) = last.rsplit_once('.').ok_or_else(not)?;
    let format = Format::ALL
        .into_iter()
        .find(|f| f.extension() == ext)
        .ok_or_else(not)?;

    let mut parts = ops.split('_').peekable();
    let number = |t: &str, prefix: char| -> Option<u32> {
        let digits = t.strip_prefix(prefix)?;
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        digits.parse().ok()
    };
    let width = parts
        .next_if(|t| number(t, 'w').is_some())
        .and_then(|t| number(t, 'w'));
    let height = parts
        .next_if(|t| number(t, 'h').is_some())
        .and_then(|t| number(t, 'h'));
    let fit = parts.next().and_then(Fit::from_name).ok_or_else(not)?;
    let gravity = parts
        .next()
        .and_then(|g| Gravity::ALL.into_iter().find(|x| x.as_str() == g))
        .ok_or_else(not)?;
    let quality = parts
        .next_if(|t| number(t, 'q').is_some())
        .and_then(|t| number(t, 'q'));
    let background = parts
        .next()
        .and_then(|t| t.strip_prefix("bg"))
        .filter(|hex| {
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(Rgb::from_hex)
        .ok_or_else(not)?;
    let enlarge = match parts.next() {
        Some("e0") => false,
        Some("e1") => true,
        _ => return Err(not()),
    };
    let auto_format = parts.next_if_eq(&"auto").is_some();
    let rest: Vec<&str> = parts.collect();
    let version = if rest.is_empty() {
        None
    } else {
        let v = rest.join("_");
        let v = v.strip_prefix('v').ok_or_else(not)?.to_string();
        if !is_token(&v, 32) {
            return Err(not());
        }
        Some(v)
    };

    let in_range = |n: Option<u32>| n.is_none_or(|n| (1..=DIMENSION_CEILING).contains(&n));
    if !in_range(width) || !in_range(height) || quality.is_some_and(|q| q > 100) {
        return Err(not());
    }
    if format.is_lossy() != quality.is_some() {
        return Err(not());
    }
    let spec = TransformSpec {
        width,
        height,
        fit,
        gravity,
        format,
        quality: quality.map(|q| q as u8),
        background,
        enlarge,
        auto_format,
        version,
    };
    if spec != spec.clone().normalized() {
        return Err(not());
    }
    let variant = Variant {
        original: original.to_string(),
        spec,
    };
    if canonical(&variant) != key {
        return Err(not());
    }
    Ok(variant)
}

/// What `purge` and `invalidate` act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "key", rename_all = "lowercase")]
pub enum Target {
    /// One original: all of its variants (and the original's own cached copy).
    Original(String),
    /// Every key starting with this prefix (`photos/`; empty for everything).
    Prefix(String),
    /// One variant, given by its canonical key.
    Variant(String),
}

impl Target {
    /// Parses what a user types: `/photos/cat.jpg`, `photos/cat.jpg`, `/photos/*`, `/*`, a full
    /// CDN URL (its query ignored: every variant goes), a path-form URL, or a canonical key.
    pub fn parse(input: &str) -> Result<Target, ParseError> {
        let bad = |why| ParseError::new(input, ErrorKind::BadPath(why));
        let mut path = input.trim();
        for scheme in ["https://", "http://"] {
            if let Some(rest) = path.strip_prefix(scheme) {
                path = rest.find('/').map_or("/", |i| &rest[i..]);
            }
        }
        path = path.split(['?', '#']).next().unwrap_or(path);
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        if let Some(prefix) = trimmed.strip_suffix('*') {
            if prefix.contains('*') {
                return Err(bad("`*` may only end a path"));
            }
            if prefix.is_empty() {
                return Ok(Target::Prefix(String::new()));
            }
            let decoded = percent_decode_str(prefix)
                .decode_utf8()
                .map_err(|_| bad("not UTF-8"))?;
            // A prefix may end in `/` (a folder) or mid-name (`photos/cat*`).
            let check = decoded.strip_suffix('/').unwrap_or(&decoded);
            validate_key(check).map_err(bad)?;
            return Ok(Target::Prefix(decoded.into_owned()));
        }
        if trimmed.contains('*') {
            return Err(bad("`*` may only end a path"));
        }
        let key = decode_path(trimmed)?;
        if let Ok(variant) = parse_canonical(&key) {
            return Ok(Target::Variant(variant.key()));
        }
        if let Some((original, _, _)) = crate::route::split_path_form(&key) {
            return Ok(Target::Original(original.to_string()));
        }
        Ok(Target::Original(key))
    }

    /// The variants-bucket prefix (or exact key) whose objects `purge` deletes. Never an
    /// originals-bucket key: variants live under `{original}/`, which no original occupies.
    pub fn purge_prefix(&self) -> String {
        match self {
            Target::Original(key) => format!("{key}/"),
            Target::Prefix(prefix) => prefix.clone(),
            Target::Variant(key) => key.clone(),
        }
    }

    /// The CloudFront invalidation paths covering the target and everything derived from it.
    pub fn invalidation_paths(&self) -> Vec<String> {
        match self {
            Target::Original(key) => {
                let uri = encode_key(key);
                vec![format!("/{uri}"), format!("/{uri}/*")]
            }
            Target::Prefix(prefix) => vec![format!("/{}*", encode_key(prefix))],
            Target::Variant(key) => vec![format!("/{}", encode_key(key))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    #[test]
    fn targets_from_what_users_type() {
        let cat = Target::Original("photos/cat.jpg".into());
        assert_eq!(target("/photos/cat.jpg"), cat);
        assert_eq!(target("photos/cat.jpg"), cat);
        assert_eq!(
            target("https://d1.cloudfront.net/photos/cat.jpg?w=400&fm=webp"),
            cat
        );
        assert_eq!(target("http://cdn.example.com/photos/cat.jpg#x"), cat);
        assert_eq!(
            target("/photos/cat.jpg/w_400,c_fill/cat.webp"),
            cat,
            "path form names its original"
        );
        assert_eq!(target("/photos/*"), Target::Prefix("photos/".into()));
        assert_eq!(target("photos/ca*"), Target::Prefix("photos/ca".into()));
        assert_eq!(target("/*"), Target::Prefix(String::new()));
        assert_eq!(target("*"), Target::Prefix(String::new()));
        assert_eq!(
            target("/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp"),
            Target::Variant("photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp".into())
        );
        assert_eq!(
            target("/photos/caf%C3%A9.jpg"),
            Target::Original("photos/café.jpg".into())
        );
    }

    #[test]
    fn bad_targets() {
        for bad in [
            "",
            "/",
            "/photos/*/cat.jpg",
            "/a/../b.jpg",
            "/a//b.jpg",
            "/photos/**",
            "/a/%FF",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn purge_prefixes_never_name_an_original() {
        assert_eq!(target("/photos/cat.jpg").purge_prefix(), "photos/cat.jpg/");
        assert_eq!(target("/photos/*").purge_prefix(), "photos/");
        assert_eq!(target("/*").purge_prefix(), "");
    }

    #[test]
    fn invalidation_paths_cover_the_original_and_its_variants() {
        assert_eq!(
            target("/photos/cat.jpg").invalidation_paths(),
            vec!["/photos/cat.jpg", "/photos/cat.jpg/*"]
        );
        assert_eq!(target("/photos/*").invalidation_paths(), vec!["/photos/*"]);
        assert_eq!(target("/*").invalidation_paths(), vec!["/*"]);
        assert_eq!(
            target("/photos/my cat.jpg").invalidation_paths(),
            vec!["/photos/my%20cat.jpg", "/photos/my%20cat.jpg/*"]
        );
    }

    #[test]
    fn decode_path_refusals() {
        let long = format!("/{}.jpg", "a".repeat(MAX_ORIGINAL_KEY_BYTES));
        for bad in [
            "/",
            "",
            "/a/./b.jpg",
            "/a/../b.jpg",
            "/a//b",
            "/a/",
            "/a%5Cb.jpg",
            "/a%0Ab.jpg",
            "/%C3",
            &long,
        ] {
            assert!(decode_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(decode_path("/a%2Fb.jpg").unwrap(), "a/b.jpg");
    }

    #[test]
    fn only_exact_canonical_keys_parse() {
        let good = "photos/cat.jpg/w400_h300_cover_center_q75_bgffffff_e0.webp";
        assert!(parse_canonical(good).is_ok());
        assert!(parse_canonical(&format!("/{good}")).is_ok());
        for bad in [
            "photos/cat.jpg/w400_h300_cover_center_q75_bgFFFFFF_e0.webp", // upper-case hex
            "photos/cat.jpg/w0400_h300_cover_center_q75_bgffffff_e0.webp", // leading zero
            "photos/cat.jpg/h300_w400_cover_center_q75_bgffffff_e0.webp", // wrong order
            "photos/cat.jpg/w400_cover_center_q75_bgffffff_e0.webp", // cover with one dimension
            "photos/cat.jpg/w400_h300_inside_north_q75_bgffffff_e0.webp", // gravity that cannot matter
            "photos/cat.jpg/w400_inside_center_q75_bg000000_e0.webp",     // bg that cannot show
            "photos/cat.jpg/inside_center_q75_bgffffff_e1.webp",          // enlarge without a size
            "photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.png",      // png with a quality
            "photos/cat.jpg/w400_inside_center_bgffffff_e0.jpg",          // jpeg without one
            "photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.jpeg",     // one spelling: jpg
            "photos/cat.jpg/w400_inside_center_q101_bgffffff_e0.jpg",
            "photos/cat.jpg/w99999_inside_center_q75_bgffffff_e0.jpg",
            "photos/cat.jpg/w400_inside_center_q75_bgffffff_e0_v.webp",
            "photos/cat.jpg/w400_inside_center_q75_bgffffff_e0_x.webp",
            "photos/cat.txt/w400_inside_center_q75_bgffffff_e0.webp",
            "photos/../cat.jpg/w400_inside_center_q75_bgffffff_e0.webp",
            "cat.jpg",
            "",
        ] {
            assert!(parse_canonical(bad).is_err(), "{bad}");
        }
    }
}
