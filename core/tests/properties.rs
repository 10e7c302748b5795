//! Properties of the grammar and the canonical key, over random inputs:
//! valid specs round-trip through the key; every spelling of one request gives one key;
//! nothing a viewer can send panics the parser.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use imgflex_core::{
    Fit, Format, Gravity, Policy, Rgb, Route, Target, TransformSpec, Variant, canonical,
    decode_path, decode_variant_path, parse_canonical, route, route_target,
};
use proptest::prelude::*;
use proptest::sample::select;

fn spec() -> impl Strategy<Value = TransformSpec> {
    (
        (
            proptest::option::of(1u32..=16384),
            proptest::option::of(1u32..=16384),
        ),
        (
            select(Fit::ALL.to_vec()),
            select(Gravity::ALL.to_vec()),
            select(Format::ALL.to_vec()),
        ),
        (
            1u8..=100,
            any::<[u8; 3]>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        proptest::option::of("[A-Za-z0-9_-]{1,32}"),
    )
        .prop_map(
            |(
                (width, height),
                (fit, gravity, format),
                (q, bg, enlarge, animate, auto_format),
                version,
            )| {
                TransformSpec {
                    width,
                    height,
                    fit,
                    gravity,
                    format,
                    quality: Some(q),
                    background: Rgb(bg),
                    enlarge,
                    animate,
                    auto_format,
                    version,
                }
                .normalized()
            },
        )
}

fn original_key() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec("[A-Za-z0-9 ._~+=,()'&$@é中-]{1,12}", 0..4),
        "[A-Za-z0-9 ._é-]{1,12}",
        select(vec!["jpg", "JPEG", "png", "webp", "gif", "avif"]),
    )
        .prop_map(|(dirs, name, ext)| {
            let mut parts = dirs;
            parts.push(format!("{name}.{ext}"));
            parts.join("/")
        })
        .prop_filter("keys with dot segments are refused", |k| {
            k.split('/').all(|s| s != "." && s != "..")
        })
        .prop_filter("`_v/` is the variants' root", |k| !k.starts_with("_v/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn valid_specs_round_trip_through_the_key(original in original_key(), spec in spec()) {
        let variant = Variant { original, spec };
        let key = canonical(&variant);
        prop_assert_eq!(parse_canonical(&key), Ok(variant.clone()));
        // The URI form decodes back to the same variant, and is no original's name.
        prop_assert_eq!(decode_variant_path(&variant.uri()), Ok(variant.clone()));
        prop_assert!(decode_path(&variant.uri()).is_err());
        // And a canonical key given to purge is that one variant.
        prop_assert_eq!(Target::parse(&variant.uri()), Ok(Target::Variant(key)));
    }

    /// The namespace (issue 16): a variant's URI asked for with no query never goes to the
    /// originals origin under that same URI, whatever the `Accept` or the policy; so the
    /// originals bucket's 403 can never be cached as the variant, nor an object planted there
    /// be served as one.
    #[test]
    fn a_canonical_uri_never_routes_as_the_original_of_that_uri(
        original in original_key(),
        spec in spec(),
        accept in proptest::option::of(select(vec!["image/avif,image/webp", "image/webp", "*/*", ""])),
        policy in select(vec!["", "widths = [320, 640]\n", "presets_only = true\n[presets.t]\nw = 10\n"]),
        query in select(vec![None, Some(""), Some("&"), Some("=")]),
    ) {
        let policy = Policy::from_toml_str(policy).unwrap();
        let variant = Variant { original, spec };
        let uri = variant.uri();
        for path in [uri.clone(), uri.to_uppercase(), uri.replacen("/_v/", "/_v%2F", 1)] {
            if let Ok(Route::Original { key }) = route(&path, query, accept, &policy) {
                prop_assert_ne!(format!("/{}", imgflex_core::encode_key(&key)), uri.clone());
                prop_assert!(parse_canonical(&key).is_err(), "{} is a variant key", key);
            }
        }
    }

    /// And no original key, however it is spelled, is a variant's key.
    #[test]
    fn no_original_key_is_a_variant_key(path in "/(_v|_V|%5Fv|_%76)(/|%2F)[a-z._/]{0,12}(/[a-z0-9_]{1,40}\\.(jpg|webp|png))?") {
        if let Ok(key) = decode_path(&path) {
            prop_assert!(parse_canonical(&key).is_err());
            prop_assert!(!key.starts_with("_v/"));
        }
    }

    #[test]
    fn a_changed_canonical_key_is_refused_or_means_something_else(
        original in original_key(), spec in spec(), at in any::<prop::sample::Index>(), byte in 0x20u8..0x7f,
    ) {
        let variant = Variant { original, spec };
        let key = canonical(&variant);
        let mut bytes = key.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(mutated) = String::from_utf8(bytes)
            && mutated != key
            && let Ok(parsed) = parse_canonical(&mutated)
        {
            // Whatever still parses is canonical for its own spec: one key per meaning. A
            // leading `/` is the URI's, which parse_canonical accepts and canonical omits.
            prop_assert_eq!(canonical(&parsed), mutated.strip_prefix('/').unwrap_or(&mutated));
            prop_assert_ne!(parsed, variant);
        }
    }
}

/// One request, written many ways.
#[derive(Debug, Clone)]
struct Request {
    w: Option<u32>,
    h: Option<u32>,
    fit: Option<Fit>,
    g: Option<Gravity>,
    fm: Option<&'static str>,
    q: Option<u8>,
    dpr: Option<u8>,
    bg: Option<[u8; 3]>,
    v: Option<String>,
}

fn request() -> impl Strategy<Value = Request> {
    (
        (
            proptest::option::of(1u32..=4096),
            proptest::option::of(1u32..=4096),
        ),
        (
            proptest::option::of(select(Fit::ALL.to_vec())),
            proptest::option::of(select(Gravity::ALL.to_vec())),
        ),
        proptest::option::of(select(vec!["auto", "jpeg", "jpg", "png", "webp", "avif"])),
        (
            proptest::option::of(1u8..=100),
            proptest::option::of(10u8..=40),
            proptest::option::of(any::<[u8; 3]>()),
        ),
        proptest::option::of("[A-Za-z0-9_-]{1,32}"),
    )
        .prop_map(|((w, h), (fit, g), fm, (q, dpr, bg), v)| Request {
            w,
            h,
            fit,
            g,
            fm,
            q,
            dpr,
            bg,
            v,
        })
}

impl Request {
    /// `(names, value)` pairs: every alias of the parameter, and its value.
    fn pairs(&self) -> Vec<(Vec<&'static str>, String)> {
        let mut out = Vec::new();
        if let Some(w) = self.w {
            out.push((vec!["w", "width"], w.to_string()));
        }
        if let Some(h) = self.h {
            out.push((vec!["h", "height"], h.to_string()));
        }
        if let Some(fit) = self.fit {
            out.push((vec!["fit"], fit.as_str().to_string()));
        }
        if let Some(g) = self.g {
            out.push((vec!["g", "gravity"], g.as_str().to_string()));
        }
        if let Some(fm) = self.fm {
            out.push((vec!["fm", "format", "f"], fm.to_string()));
        }
        if let Some(q) = self.q {
            out.push((vec!["q", "quality"], q.to_string()));
        }
        if let Some(d) = self.dpr {
            out.push((vec!["dpr"], format!("{}.{}", d / 10, d % 10)));
        }
        if let Some(bg) = self.bg {
            out.push((vec!["bg"], Rgb(bg).to_string()));
        }
        out
    }

    fn plain_query(&self) -> String {
        let mut parts: Vec<String> = self
            .pairs()
            .into_iter()
            .map(|(n, v)| format!("{}={v}", n[0]))
            .collect();
        if let Some(v) = &self.v {
            parts.push(format!("v={v}"));
        }
        parts.join("&")
    }

    /// The path form, for requests it can express (an explicit format or auto via `f_`).
    fn path_form(&self) -> String {
        let mut tokens = Vec::new();
        if let Some(w) = self.w {
            tokens.push(format!("w_{w}"));
        }
        if let Some(h) = self.h {
            tokens.push(format!("h_{h}"));
        }
        if let Some(fit) = self.fit {
            let c = match fit {
                Fit::Cover => "fill",
                Fit::Contain => "pad",
                Fit::Fill => "scale",
                Fit::Inside => "fit",
            };
            tokens.push(format!("c_{c}"));
        }
        if let Some(g) = self.g {
            tokens.push(format!("g_{}", g.as_str()));
        }
        if let Some(q) = self.q {
            tokens.push(format!("q_{q}"));
        }
        if let Some(d) = self.dpr {
            tokens.push(format!("dpr_{}.{}", d / 10, d % 10));
        }
        if let Some(bg) = self.bg {
            tokens.push(format!("b_rgb:{}", Rgb(bg)));
        }
        if let Some(v) = &self.v {
            tokens.push(format!("v_{v}"));
        }
        let fm = self.fm.unwrap_or("auto");
        tokens.push(format!("f_{fm}"));
        format!("/photos/cat.jpg/{}/cat.img", tokens.join(","))
    }
}

fn spelled(req: Request) -> impl Strategy<Value = (Request, String)> {
    let pairs = req.pairs();
    let n = pairs.len();
    (
        proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<bool>(), any::<bool>()),
            n,
        ),
        Just((0..n + usize::from(req.v.is_some())).collect::<Vec<_>>()).prop_shuffle(),
    )
        .prop_map(move |(choices, order)| {
            let mut parts: Vec<String> = pairs
                .iter()
                .zip(&choices)
                .map(|((names, value), (alias, upper_name, upper_value))| {
                    let name = alias.get(names).to_string();
                    let name = if *upper_name {
                        name.to_uppercase()
                    } else {
                        name
                    };
                    let value = if *upper_value {
                        value.to_uppercase()
                    } else {
                        value.clone()
                    };
                    format!("{name}={value}")
                })
                .collect();
            // The version token is case-sensitive, so it is only moved, never re-cased.
            if let Some(v) = &req.v {
                parts.push(format!("v={v}"));
            }
            let query = order
                .iter()
                .map(|&i| parts[i].clone())
                .collect::<Vec<_>>()
                .join("&");
            (req.clone(), query)
        })
}

const ACCEPT: &str = "image/avif,image/webp,*/*";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_spelling_of_a_request_gives_one_key((req, query) in request().prop_flat_map(spelled)) {
        let policy = Policy::default();
        let plain = route_target(&format!("/photos/cat.jpg?{}", req.plain_query()), Some(ACCEPT), &policy);
        let respelled = route_target(&format!("/photos/cat.jpg?{query}"), Some(ACCEPT), &policy);
        prop_assert_eq!(plain.as_ref().map(|r| r.uri()), respelled.as_ref().map(|r| r.uri()));
        prop_assert_eq!(plain.as_ref().map_err(|e| &e.kind), respelled.as_ref().map_err(|e| &e.kind));
        if !req.plain_query().is_empty() {
            let path = route_target(&req.path_form(), Some(ACCEPT), &policy);
            prop_assert_eq!(plain.map(|r| r.uri()), path.map(|r| r.uri()));
        }
    }

    #[test]
    fn arbitrary_requests_never_panic(target in "\\PC{0,200}", accept in proptest::option::of("\\PC{0,80}")) {
        let policy = Policy::default();
        let _ = route_target(&target, accept.as_deref(), &policy);
        let _ = parse_canonical(&target);
        let _ = Target::parse(&target);
    }

    #[test]
    fn plausible_junk_never_panics(
        parts in proptest::collection::vec(
            ("(w|h|width|fit|g|fm|f|q|dpr|bg|v|p|enlarge|x|)", "(=)?", "[-0-9a-zA-Z._%+:,_]{0,12}"),
            0..8,
        ),
        path_form in any::<bool>(),
    ) {
        let policy = Policy::default();
        let query: Vec<String> = parts.iter().map(|(n, eq, v)| format!("{n}{eq}{v}")).collect();
        let target = if path_form {
            let tokens: Vec<String> = parts.iter().map(|(n, _, v)| format!("{n}_{v}")).collect();
            format!("/a.jpg/{}/b.webp", tokens.join(","))
        } else {
            format!("/a.jpg?{}", query.join("&"))
        };
        if let Ok(route) = route_target(&target, None, &policy)
            && let imgflex_core::Route::Variant(v) = route
        {
            prop_assert_eq!(parse_canonical(&v.key()), Ok(v.clone()));
            prop_assert!(policy.admits(&v.original, &v.spec));
        }
    }

    #[test]
    fn arbitrary_policy_files_never_panic(text in "\\PC{0,200}") {
        let _ = Policy::from_toml_str(&text);
    }
}
