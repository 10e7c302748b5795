//! The one owner of keys: the canonical variant key, original keys and their URI encoding,
//! the purge prefix and the CloudFront invalidation paths (DESIGN §4).
//!
//! A variant lives at `_v/{original}/{ops}.{ext}`, where `ops` lists every resolved field in
//! one fixed order with one spelling:
//!
//! ```text
//! _v/photos/cat.jpg/w400_h300_cover_center_q75_bgffffff_e0.webp
//! _v/photos/cat.gif/w800_h600_inside_center_q50_bgffffff_e0_a1_auto_v3.webp
//!                   │    │    │      │      │   │        │  │  │    └ version token, always last
//!                   │    │    │      │      │   │        │  │  └ format came from `Accept`
//!                   │    │    │      │      │   │        │  └ animated (WebP only; absent: a still)
//!                   │    │    │      │      │   │        └ enlarge 0/1
//!                   │    │    │      │      │   └ background rrggbb
//!                   │    │    │      │      └ quality (absent for png)
//!                   │    │    │      └ gravity
//!                   │    │    └ fit
//!                   │    └ height (absent: keep aspect)
//!                   └ width (absent: from the source)
//! ```
//!
//! Only `A-Za-z0-9_.-` appear in `ops`, the characters S3 documents as safe in keys.
//!
//! **One namespace, two halves.** Every variant URI starts with `/_v/`, and no original key may
//! start with `_v/`: the edge, `upload` and the handler refuse it. So no request the edge sends
//! to the originals origin has a variant's URI (the cache key), and no object in the originals
//! bucket can be served as a variant. Variants of the first layout (`{original}/{ops}.{ext}`,
//! without `_v/`) are never read again; `purge /*` still recognises and deletes them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;

use crate::error::{ErrorKind, ParseError};
use crate::params::is_token;
use crate::policy::DIMENSION_CEILING;
use crate::spec::{Fit, Format, Gravity, Rgb, TransformSpec};

/// Longest original key, in UTF-8 bytes: the one limit the edge, `upload` and the handler
/// apply. S3 allows 1024 bytes per key, and the longest variant key of an original adds
/// [`MAX_VARIANT_SUFFIX_BYTES`] (`_v/` in front, the ops and extension behind); a test
/// holds the sum to S3's limit.
pub const MAX_ORIGINAL_KEY_BYTES: usize = 900;

/// The first segment of every variant key, which no original may use.
pub const VARIANT_ROOT: &str = "_v";

/// The most a variant key adds to its original's: `_v/` and `/{ops}.{ext}` at their longest.
pub const MAX_VARIANT_SUFFIX_BYTES: usize = 120;

/// Keys in S3 are at most this long.
const S3_MAX_KEY_BYTES: usize = 1024;
const _: () = assert!(MAX_ORIGINAL_KEY_BYTES + MAX_VARIANT_SUFFIX_BYTES <= S3_MAX_KEY_BYTES);

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

/// Turns a request path (`/photos/caf%C3%A9.jpg`) into an original's S3 key
/// (`photos/café.jpg`), refusing what no original can be called: malformed escapes, empty, too
/// long, not UTF-8, control characters, backslashes, empty, `.` or `..` segments (which
/// proxies and browsers rewrite), and the variants' own root `_v/`.
pub fn decode_path(path: &str) -> Result<String, ParseError> {
    let bad = |why| ParseError::new(path, ErrorKind::BadPath(why));
    let raw = path.strip_prefix('/').unwrap_or(path);
    let key = percent_decode_strict(raw, false).map_err(bad)?;
    validate_key(&key).map_err(bad)?;
    Ok(key)
}

/// The variant a request path names (`/_v/photos/cat.jpg/w400_…webp`, percent-encoded as
/// the edge forwards it): what the handler serves. Anything but an exact canonical key is
/// refused.
pub fn decode_variant_path(path: &str) -> Result<Variant, ParseError> {
    let raw = path.strip_prefix('/').unwrap_or(path);
    let key = percent_decode_strict(raw, false)
        .map_err(|_| ParseError::new(path, ErrorKind::NotCanonical))?;
    parse_canonical(&key)
}

/// Percent-decodes one URL component the way JavaScript's `decodeURIComponent` does (and so
/// the edge): every `%` starts two hex digits and the bytes are UTF-8, or it is refused.
/// `plus_is_space` is the query string's `+`.
pub(crate) fn percent_decode_strict(
    raw: &str,
    plus_is_space: bool,
) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("malformed percent escape")?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err("malformed percent escape");
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let spaced;
    let raw = if plus_is_space && raw.contains('+') {
        spaced = raw.replace('+', " ");
        &spaced
    } else {
        raw
    };
    Ok(percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "not UTF-8")?
        .into_owned())
}

/// An original's key: a valid key outside the variants' root.
fn validate_key(key: &str) -> Result<(), &'static str> {
    validate_any_key(key)?;
    if key == VARIANT_ROOT
        || key
            .strip_prefix(VARIANT_ROOT)
            .is_some_and(|r| r.starts_with('/'))
    {
        return Err("`_v/` is reserved for variants");
    }
    Ok(())
}

fn validate_any_key(key: &str) -> Result<(), &'static str> {
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
    if s.animate {
        ops.push("a1".to_string());
    }
    if s.auto_format {
        ops.push("auto".to_string());
    }
    if let Some(v) = &s.version {
        ops.push(format!("v{v}"));
    }
    format!(
        "{VARIANT_ROOT}/{}/{}.{}",
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
    let (original, last) = key
        .strip_prefix(VARIANT_ROOT)
        .and_then(|k| k.strip_prefix('/'))
        .and_then(|k| k.rsplit_once('/'))
        .ok_or_else(not)?;
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
    let animate = parts.next_if_eq(&"a1").is_some();
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
        animate,
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
        if let Ok(variant) = decode_variant_path(trimmed) {
            return Ok(Target::Variant(variant.key()));
        }
        let key = decode_path(trimmed)?;
        if let Some((original, _, _)) = crate::route::split_path_form(&key) {
            return Ok(Target::Original(original.to_string()));
        }
        Ok(Target::Original(key))
    }

    /// The variants-bucket prefix (or exact key) whose objects `purge` lists. Variants live
    /// under `_v/{original}/`; the empty prefix (`/*`) is the whole bucket, first-layout
    /// variants included (see [`Target::covers`]).
    pub fn purge_prefix(&self) -> String {
        match self {
            Target::Original(key) => format!("{VARIANT_ROOT}/{key}/"),
            Target::Prefix(prefix) if prefix.is_empty() => String::new(),
            Target::Prefix(prefix) => format!("{VARIANT_ROOT}/{prefix}"),
            Target::Variant(key) => key.clone(),
        }
    }

    /// Whether `key`, an object in the variants bucket, is a variant this target covers: a
    /// canonical variant key of an original the target names. Anything else is left alone.
    /// `/*` also covers variants of the first layout (`{original}/{ops}.{ext}`, before
    /// variants moved under `_v/`), which no URI reaches any more.
    pub fn covers(&self, key: &str) -> bool {
        let variant = match parse_canonical(key) {
            Ok(variant) => variant,
            Err(_) if matches!(self, Target::Prefix(p) if p.is_empty()) => {
                return parse_canonical(&format!("{VARIANT_ROOT}/{key}")).is_ok();
            }
            Err(_) => return false,
        };
        match self {
            Target::Original(original) => variant.original == *original,
            Target::Prefix(prefix) => variant.original.starts_with(prefix.as_str()),
            Target::Variant(canonical) => key == canonical,
        }
    }

    /// The CloudFront invalidation paths covering the target and everything derived from it:
    /// the original's own URI and its variants' URIs under `/_v/`.
    pub fn invalidation_paths(&self) -> Vec<String> {
        match self {
            Target::Original(key) => {
                let uri = encode_key(key);
                vec![format!("/{uri}"), format!("/{VARIANT_ROOT}/{uri}/*")]
            }
            Target::Prefix(prefix) if prefix.is_empty() => vec!["/*".to_string()],
            Target::Prefix(prefix) => {
                let uri = encode_key(prefix);
                vec![format!("/{uri}*"), format!("/{VARIANT_ROOT}/{uri}*")]
            }
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
            target("/_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp"),
            Target::Variant("_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp".into())
        );
        assert_eq!(
            target("/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp"),
            Target::Original("photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp".into()),
            "without `_v/` it is an original's name like any other"
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
            "/_v/*",
            "/_v/cat.jpg",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn purge_prefixes_never_name_an_original() {
        assert_eq!(
            target("/photos/cat.jpg").purge_prefix(),
            "_v/photos/cat.jpg/"
        );
        assert_eq!(target("/photos/*").purge_prefix(), "_v/photos/");
        assert_eq!(target("/*").purge_prefix(), "");
    }

    #[test]
    fn targets_cover_only_canonical_keys_of_their_originals() {
        let key = "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp";
        let first_layout = "photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp";
        assert!(target("/photos/cat.jpg").covers(key));
        assert!(target("/photos/*").covers(key));
        assert!(target("/*").covers(key));
        assert!(target(key).covers(key));
        assert!(!target("/photos/dog.jpg").covers(key));
        assert!(!target("/videos/*").covers(key));
        assert!(!target("/photos/cat.jpg").covers("_v/photos/cat.jpg/notes.txt"));
        assert!(
            target("/*").covers(first_layout),
            "`/*` clears the first layout"
        );
        assert!(!target("/photos/*").covers(first_layout));
        assert!(
            !target("/*").covers("photos/cat.jpg"),
            "never an original's name"
        );
        assert!(
            !target("/photos/cat.jpg")
                .covers("_v/photos/cat.jpg.png/w400_inside_center_q75_bgffffff_e0.webp"),
            "another original whose name starts like this one"
        );
    }

    #[test]
    fn invalidation_paths_cover_the_original_and_its_variants() {
        assert_eq!(
            target("/photos/cat.jpg").invalidation_paths(),
            vec!["/photos/cat.jpg", "/_v/photos/cat.jpg/*"]
        );
        assert_eq!(
            target("/photos/*").invalidation_paths(),
            vec!["/photos/*", "/_v/photos/*"]
        );
        assert_eq!(target("/*").invalidation_paths(), vec!["/*"]);
        assert_eq!(
            target("/photos/my cat.jpg").invalidation_paths(),
            vec!["/photos/my%20cat.jpg", "/_v/photos/my%20cat.jpg/*"]
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
            "/a%zz.jpg",
            "/a%2.jpg",
            "/a.jpg%",
            "/_v/a.jpg",
            "/_v",
            &long,
        ] {
            assert!(decode_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            decode_path("/_V/a.jpg").unwrap(),
            "_V/a.jpg",
            "S3 keys are case-sensitive"
        );
        assert_eq!(decode_path("/x/_v/a.jpg").unwrap(), "x/_v/a.jpg");
        assert_eq!(decode_path("/a%2Fb.jpg").unwrap(), "a/b.jpg");
    }

    #[test]
    fn only_exact_canonical_keys_parse() {
        let good = "_v/photos/cat.jpg/w400_h300_cover_center_q75_bgffffff_e0.webp";
        assert!(parse_canonical(good).is_ok());
        let animated = "_v/photos/cat.gif/w400_inside_center_q75_bgffffff_e0_a1_auto_v2.webp";
        let variant = parse_canonical(animated).unwrap();
        assert!(variant.spec.animate && variant.spec.auto_format);
        assert_eq!(variant.key(), animated);
        assert!(
            parse_canonical(&good[3..]).is_err(),
            "the first layout, without `_v/`"
        );
        assert!(parse_canonical(&format!("/{good}")).is_ok());
        for bad in [
            "_v/photos/cat.jpg/w400_h300_cover_center_q75_bgFFFFFF_e0.webp", // upper-case hex
            "_v/photos/cat.jpg/w0400_h300_cover_center_q75_bgffffff_e0.webp", // leading zero
            "_v/photos/cat.jpg/h300_w400_cover_center_q75_bgffffff_e0.webp", // wrong order
            "_v/photos/cat.jpg/w400_cover_center_q75_bgffffff_e0.webp", // cover with one dimension
            "_v/photos/cat.jpg/w400_h300_inside_north_q75_bgffffff_e0.webp", // gravity that cannot matter
            "_v/photos/cat.jpg/w400_inside_center_q75_bg000000_e0.webp",     // bg that cannot show
            "_v/photos/cat.jpg/inside_center_q75_bgffffff_e1.webp", // enlarge without a size
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0_a1.jpg", // only WebP animates
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0_a0.webp", // a0 is never written
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0_auto_a1.webp", // wrong order
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.png", // png with a quality
            "_v/photos/cat.jpg/w400_inside_center_bgffffff_e0.jpg", // jpeg without one
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.jpeg", // one spelling: jpg
            "_v/photos/cat.jpg/w400_inside_center_q101_bgffffff_e0.jpg",
            "_v/photos/cat.jpg/w99999_inside_center_q75_bgffffff_e0.jpg",
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0_v.webp",
            "_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0_x.webp",
            "_v/photos/cat.txt/w400_inside_center_q75_bgffffff_e0.webp",
            "_v/photos/../cat.jpg/w400_inside_center_q75_bgffffff_e0.webp",
            "cat.jpg",
            "_v/cat.jpg",
            "_v/_v/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp",
            "",
        ] {
            assert!(parse_canonical(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_longest_variant_of_the_longest_original_fits_in_s3() {
        let original = format!("{}.jpg", "a".repeat(MAX_ORIGINAL_KEY_BYTES - 4));
        let spec = TransformSpec {
            width: Some(DIMENSION_CEILING),
            height: Some(DIMENSION_CEILING),
            fit: Fit::Contain,
            gravity: Gravity::Northwest,
            format: Format::Webp,
            quality: Some(100),
            background: Rgb([0, 0, 0]),
            enlarge: true,
            animate: true,
            auto_format: true,
            version: Some("v".repeat(32)),
        };
        let variant = Variant {
            original: original.clone(),
            spec,
        };
        let key = variant.key();
        assert!(
            key.len() - original.len() <= MAX_VARIANT_SUFFIX_BYTES,
            "{}",
            key.len()
        );
        assert_eq!(decode_variant_path(&variant.uri()), Ok(variant));
    }
}
