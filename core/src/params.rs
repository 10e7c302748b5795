//! Raw URL parameters: names and spellings of both public forms, parsed into typed values
//! but not yet checked against a policy or given defaults.

use crate::error::{ErrorKind, ParseError};
use crate::spec::{Fit, Format, FormatRequest, Gravity, Rgb};

/// One parameter, whatever spelling the URL used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    W,
    H,
    Fit,
    G,
    Fm,
    Q,
    Dpr,
    Bg,
    Enlarge,
    Anim,
    V,
    P,
}

impl Param {
    /// The short name used in messages and in the documentation table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Param::W => "w",
            Param::H => "h",
            Param::Fit => "fit",
            Param::G => "g",
            Param::Fm => "fm",
            Param::Q => "q",
            Param::Dpr => "dpr",
            Param::Bg => "bg",
            Param::Enlarge => "enlarge",
            Param::Anim => "anim",
            Param::V => "v",
            Param::P => "p",
        }
    }

    /// Query-form names and aliases (already lowercased).
    pub(crate) fn from_query_name(name: &str) -> Option<Param> {
        Some(match name {
            "w" | "width" => Param::W,
            "h" | "height" => Param::H,
            "fit" => Param::Fit,
            "g" | "gravity" => Param::G,
            "fm" | "format" | "f" => Param::Fm,
            "q" | "quality" => Param::Q,
            "dpr" => Param::Dpr,
            "bg" => Param::Bg,
            "enlarge" => Param::Enlarge,
            "anim" => Param::Anim,
            "v" => Param::V,
            "p" | "preset" => Param::P,
            _ => return None,
        })
    }

    /// Path-form token prefixes (`w_400`, `c_fill`, …), already lowercased.
    pub(crate) fn from_path_name(name: &str) -> Option<Param> {
        Some(match name {
            "w" => Param::W,
            "h" => Param::H,
            "c" => Param::Fit,
            "g" => Param::G,
            "f" => Param::Fm,
            "q" => Param::Q,
            "dpr" => Param::Dpr,
            "b" => Param::Bg,
            "a" => Param::Anim,
            "v" => Param::V,
            "s" => Param::P,
            _ => return None,
        })
    }
}

/// The most query parameters (pieces with a name, repeats counted) a request may have. The
/// grammar has 12; more are refused before any is looked at, which bounds the edge's work.
pub const MAX_QUERY_PARAMS: usize = 32;

/// The longest value of any parameter. Longer ones are refused before they are looked at.
pub(crate) const MAX_VALUE_BYTES: usize = 64;

/// Dots per pixel in tenths (`dpr=1.5` is 15), so it stays exact and hashable.
pub(crate) const DPR_MIN: u8 = 10;
pub(crate) const DPR_MAX: u8 = 40;

/// What a URL (or a preset) said, typed but not yet resolved. `None` means "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Option<Fit>,
    pub gravity: Option<Gravity>,
    pub format: Option<FormatRequest>,
    pub quality: Option<u8>,
    pub dpr: Option<u8>,
    pub background: Option<Rgb>,
    pub enlarge: Option<bool>,
    /// `anim=1`: an animated source stays animated (WebP output only).
    pub animate: Option<bool>,
    pub version: Option<String>,
    pub preset: Option<String>,
    /// `w=auto`: the width comes from the viewer's `Sec-CH-Width` (or `Width`) hint.
    pub width_auto: bool,
    /// `dpr=auto`: the dpr comes from the viewer's `Sec-CH-DPR` (or `DPR`) hint, rounded up
    /// onto the policy's `dpr_steps`.
    pub dpr_auto: bool,
}

impl Params {
    /// Parses a query string (without `?`). Names and keyword values are case-insensitive
    /// (ASCII only, as everywhere in the grammar). Pieces are taken the way CloudFront hands
    /// them to the edge function: grouped by their raw name in order of first appearance,
    /// repeats in order, so the first refusal is the same one on both sides. Empty pieces
    /// (`a=1&&b=2`) and bare `=` are ignored: they carry no name.
    #[cfg(test)]
    pub(crate) fn from_query(query: &str) -> Result<Params, ParseError> {
        Params::from_pieces(&query_pieces(query))
    }

    /// [`Params::from_query`] on pieces [`query_pieces`] already split (route counts them
    /// first).
    pub(crate) fn from_pieces(pieces: &[(&str, Vec<&str>)]) -> Result<Params, ParseError> {
        let mut params = Params::default();
        for &(raw_name, ref values) in pieces {
            for &raw_value in values {
                let token = if raw_value.is_empty() {
                    raw_name.to_string()
                } else {
                    format!("{raw_name}={raw_value}")
                };
                let name = crate::key::percent_decode_strict(raw_name, true).map_err(|_| {
                    ParseError::new(&token, ErrorKind::UnknownParam(raw_name.to_string()))
                })?;
                let lower = name.to_ascii_lowercase();
                let param = Param::from_query_name(&lower).ok_or_else(|| {
                    ParseError::new(&token, ErrorKind::UnknownParam(name.clone()))
                })?;
                let value = crate::key::percent_decode_strict(raw_value, true).map_err(|_| {
                    ParseError::new(
                        &token,
                        ErrorKind::InvalidValue {
                            param: param.name(),
                            expected: "a valid percent-encoded value",
                        },
                    )
                })?;
                params.set(param, &token, &value, FitSpelling::Query)?;
            }
        }
        Ok(params)
    }
    /// Parses the path form's comma list (`w_400,h_300,c_fill`).
    pub(crate) fn from_path_segment(segment: &str) -> Result<Params, ParseError> {
        let mut params = Params::default();
        for token in segment.split(',') {
            let (name, value) = token.split_once('_').unwrap_or((token, ""));
            let lower = name.to_ascii_lowercase();
            let param = Param::from_path_name(&lower)
                .ok_or_else(|| ParseError::new(token, ErrorKind::UnknownParam(name.to_string())))?;
            params.set(param, token, value, FitSpelling::Path)?;
        }
        Ok(params)
    }

    /// True when the segment looks like a path-form transformation list: every comma item is
    /// `letters_value`. Used to tell `/cat.jpg/w_400/cat.webp` from an original's folder.
    pub(crate) fn looks_like_path_segment(segment: &str) -> bool {
        !segment.is_empty()
            && segment.split(',').all(|token| {
                token.split_once('_').is_some_and(|(name, _)| {
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic())
                })
            })
    }

    /// Sets one parameter from its raw value; a second value for the same parameter
    /// (under any alias) is refused rather than silently picking one.
    pub(crate) fn set(
        &mut self,
        param: Param,
        token: &str,
        value: &str,
        spelling: FitSpelling,
    ) -> Result<(), ParseError> {
        let err = |kind| ParseError::new(token, kind);
        let invalid = |expected| {
            err(ErrorKind::InvalidValue {
                param: param.name(),
                expected,
            })
        };
        let already = match param {
            Param::W => self.width.is_some() || self.width_auto,
            Param::H => self.height.is_some(),
            Param::Fit => self.fit.is_some(),
            Param::G => self.gravity.is_some(),
            Param::Fm => self.format.is_some(),
            Param::Q => self.quality.is_some(),
            Param::Dpr => self.dpr.is_some() || self.dpr_auto,
            Param::Bg => self.background.is_some(),
            Param::Enlarge => self.enlarge.is_some(),
            Param::Anim => self.animate.is_some(),
            Param::V => self.version.is_some(),
            Param::P => self.preset.is_some(),
        };
        if already {
            return Err(err(ErrorKind::RepeatedParam(param.name().to_string())));
        }
        // No valid value is longer; the bound keeps the edge's work per value small.
        if value.len() > MAX_VALUE_BYTES {
            return Err(invalid("at most 64 characters"));
        }
        let lower = value.to_ascii_lowercase();
        match param {
            Param::W if lower == "auto" => self.width_auto = true,
            Param::Dpr if lower == "auto" => self.dpr_auto = true,
            Param::W | Param::H => {
                let expected = if param == Param::W {
                    "a positive integer or `auto`"
                } else {
                    "a positive integer"
                };
                let n = parse_dimension(value).ok_or_else(|| invalid(expected))?;
                if param == Param::W {
                    self.width = Some(n);
                } else {
                    self.height = Some(n);
                }
            }
            Param::Fit => match spelling {
                FitSpelling::Query => {
                    self.fit = Some(
                        Fit::from_name(&lower)
                            .ok_or_else(|| invalid("cover, contain, fill or inside"))?,
                    );
                }
                FitSpelling::Path => {
                    let (fit, no_enlarge) = match lower.as_str() {
                        "fill" => (Fit::Cover, false),
                        "fit" => (Fit::Inside, false),
                        "scale" => (Fit::Fill, false),
                        "pad" => (Fit::Contain, false),
                        "limit" => (Fit::Inside, true),
                        _ => return Err(invalid("fill, fit, scale, pad or limit")),
                    };
                    self.fit = Some(fit);
                    if no_enlarge {
                        self.enlarge = Some(false);
                    }
                }
            },
            Param::G => {
                self.gravity = Some(Gravity::from_name(&lower).ok_or_else(|| {
                    invalid("center, auto, north, south, east, west, northeast, northwest, southeast or southwest")
                })?);
            }
            Param::Fm => {
                self.format = Some(if lower == "auto" {
                    FormatRequest::Auto
                } else {
                    FormatRequest::Fixed(
                        Format::from_name(&lower)
                            .ok_or_else(|| invalid("auto, jpeg, png, webp or avif"))?,
                    )
                });
            }
            Param::Q => {
                let n = parse_dimension(value).ok_or_else(|| invalid("an integer"))?;
                if !(1..=100).contains(&n) {
                    return Err(err(ErrorKind::OutOfRange {
                        param: "q",
                        min: 1,
                        max: 100,
                    }));
                }
                self.quality = Some(n as u8);
            }
            Param::Dpr => {
                let tenths = parse_tenths(value)
                    .ok_or_else(|| invalid("a number with at most one decimal, or `auto`"))?;
                if !(u32::from(DPR_MIN)..=u32::from(DPR_MAX)).contains(&tenths) {
                    return Err(err(ErrorKind::OutOfRange {
                        param: "dpr",
                        min: 1,
                        max: 4,
                    }));
                }
                self.dpr = Some(tenths as u8);
            }
            Param::Bg => {
                // Cloudinary writes colours as `b_rgb:ff0000`.
                let hex = lower.strip_prefix("rgb:").unwrap_or(&lower);
                self.background =
                    Some(Rgb::from_hex(hex).ok_or_else(|| invalid("six hex digits (rrggbb)"))?);
            }
            Param::Enlarge | Param::Anim => {
                let on = match value {
                    "0" => false,
                    "1" => true,
                    _ => return Err(invalid("0 or 1")),
                };
                if param == Param::Enlarge {
                    self.enlarge = Some(on);
                } else {
                    self.animate = Some(on);
                }
            }
            Param::V => {
                if !is_token(value, 32) {
                    return Err(invalid("1 to 32 of A-Z a-z 0-9 _ -"));
                }
                self.version = Some(value.to_string());
            }
            Param::P => {
                if !is_token(&lower, 32) {
                    return Err(invalid("a preset name"));
                }
                self.preset = Some(lower);
            }
        }
        Ok(())
    }
}

/// A raw query string's pieces as CloudFront's `querystring` object holds them: `(name,
/// values)` by raw name in order of first appearance, still percent-encoded. Empty pieces and
/// bare `=` have no name and are dropped.
pub(crate) fn query_pieces(query: &str) -> Vec<(&str, Vec<&str>)> {
    let mut pieces: Vec<(&str, Vec<&str>)> = Vec::new();
    for piece in query.split('&') {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        if name.is_empty() && value.is_empty() {
            continue;
        }
        match pieces.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => pieces.push((name, vec![value])),
        }
    }
    // A JS object lists array-index names (`0`, `17`) first, in numeric order, whatever
    // order they came in: V8 does, njs does not. The edge function sorts them so on both,
    // and so does this, so every side names the same parameter first.
    pieces.sort_by_key(|(name, _)| array_index(name).map_or((1, 0), |i| (0, i)));
    pieces
}

/// `name` as a JS array index (canonical decimal below 2^32 - 1), if it is one.
fn array_index(name: &str) -> Option<u32> {
    let canonical = name == "0" || (!name.starts_with('0') && !name.is_empty());
    if !canonical || name.len() > 10 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse::<u32>().ok().filter(|&i| i < u32::MAX)
}

/// The path form spells fits Cloudinary's way (`c_fill` is our `cover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FitSpelling {
    Query,
    Path,
}

/// ASCII digits only (no sign, no spaces); values too big for `u32` saturate so the range
/// check names the limit instead of calling a huge number malformed.
fn parse_dimension(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// `2`, `2.0`, `1.5` → 20, 20, 15. At most one decimal.
fn parse_tenths(s: &str) -> Option<u32> {
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) if frac.len() == 1 => (int, frac),
        Some(_) => return None,
        None => (s, "0"),
    };
    let int = parse_dimension(int)?;
    let frac = parse_dimension(frac)?;
    Some(int.saturating_mul(10).saturating_add(frac))
}

pub(crate) fn is_token(s: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<Params, ErrorKind> {
        Params::from_query(s).map_err(|e| e.kind)
    }

    #[test]
    fn every_query_alias_sets_the_same_field() {
        for name in ["w", "width", "W", "Width"] {
            assert_eq!(
                q(&format!("{name}=400")).unwrap().width,
                Some(400),
                "{name}"
            );
        }
        for name in ["h", "height", "HEIGHT"] {
            assert_eq!(
                q(&format!("{name}=300")).unwrap().height,
                Some(300),
                "{name}"
            );
        }
        for name in ["fm", "format", "f", "FM"] {
            assert_eq!(
                q(&format!("{name}=webp")).unwrap().format,
                Some(FormatRequest::Fixed(Format::Webp))
            );
        }
        for name in ["q", "quality"] {
            assert_eq!(q(&format!("{name}=75")).unwrap().quality, Some(75));
        }
        for name in ["g", "gravity"] {
            assert_eq!(
                q(&format!("{name}=north")).unwrap().gravity,
                Some(Gravity::North)
            );
        }
        for name in ["p", "preset"] {
            assert_eq!(
                q(&format!("{name}=Thumb")).unwrap().preset.as_deref(),
                Some("thumb")
            );
        }
    }

    #[test]
    fn keyword_values_are_case_insensitive_but_versions_are_not() {
        let p = q("fit=COVER&g=NorthEast&fm=JPG&bg=FFaa00&v=AbC").unwrap();
        assert_eq!(p.fit, Some(Fit::Cover));
        assert_eq!(p.gravity, Some(Gravity::Northeast));
        assert_eq!(p.format, Some(FormatRequest::Fixed(Format::Jpeg)));
        assert_eq!(p.background, Some(Rgb([0xff, 0xaa, 0x00])));
        assert_eq!(p.version.as_deref(), Some("AbC"));
    }

    #[test]
    fn repeated_parameters_are_refused_under_any_alias() {
        assert_eq!(q("w=1&w=2"), Err(ErrorKind::RepeatedParam("w".into())));
        assert_eq!(q("w=1&width=1"), Err(ErrorKind::RepeatedParam("w".into())));
        assert_eq!(
            q("fm=png&f=png"),
            Err(ErrorKind::RepeatedParam("fm".into()))
        );
    }

    #[test]
    fn numbers_are_plain_digits() {
        for bad in [
            "w=", "w", "w=-1", "w=+4", "w=4.0", "w= 4", "w=0x10", "w=1e3",
        ] {
            assert!(
                matches!(q(bad), Err(ErrorKind::InvalidValue { param: "w", .. })),
                "{bad}: {:?}",
                q(bad)
            );
        }
        assert_eq!(q("w=99999999999999999999").unwrap().width, Some(u32::MAX));
    }

    #[test]
    fn quality_dpr_enlarge_and_bg_forms() {
        assert!(matches!(
            q("q=0"),
            Err(ErrorKind::OutOfRange { param: "q", .. })
        ));
        assert!(matches!(
            q("q=101"),
            Err(ErrorKind::OutOfRange { param: "q", .. })
        ));
        assert_eq!(q("dpr=1.5").unwrap().dpr, Some(15));
        assert_eq!(q("dpr=2").unwrap().dpr, Some(20));
        assert_eq!(q("dpr=2.0").unwrap().dpr, Some(20));
        assert!(matches!(
            q("dpr=1.25"),
            Err(ErrorKind::InvalidValue { param: "dpr", .. })
        ));
        assert!(matches!(
            q("dpr=0.5"),
            Err(ErrorKind::OutOfRange { param: "dpr", .. })
        ));
        assert!(matches!(
            q("dpr=4.1"),
            Err(ErrorKind::OutOfRange { param: "dpr", .. })
        ));
        assert!(matches!(
            q("dpr=.5"),
            Err(ErrorKind::InvalidValue { param: "dpr", .. })
        ));
        assert_eq!(q("enlarge=1").unwrap().enlarge, Some(true));
        assert!(matches!(
            q("enlarge=yes"),
            Err(ErrorKind::InvalidValue { .. })
        ));
        assert!(matches!(
            q("bg=fff"),
            Err(ErrorKind::InvalidValue { param: "bg", .. })
        ));
        assert!(matches!(
            q("bg=gggggg"),
            Err(ErrorKind::InvalidValue { param: "bg", .. })
        ));
    }

    #[test]
    fn versions_and_presets_are_short_tokens() {
        assert!(q(&format!("v={}", "a".repeat(32))).is_ok());
        assert!(q(&format!("v={}", "a".repeat(33))).is_err());
        assert!(q("v=a.b").is_err());
        assert!(q("v=a%2Fb").is_err());
        assert!(q("p=../x").is_err());
    }

    #[test]
    fn pieces_group_by_raw_name_as_cloudfront_does() {
        // CloudFront's querystring object: `w` first with both its values, then `h`.
        assert_eq!(q("w=1&h=x&w=2"), Err(ErrorKind::RepeatedParam("w".into())));
        assert_eq!(
            query_pieces("a=1&&=&b&a=2"),
            vec![("a", vec!["1", "2"]), ("b", vec![""])]
        );
        assert_eq!(q("&"), Ok(Params::default()));
        // Array-index names first, in numeric order, as a JS object lists them.
        assert_eq!(
            query_pieces("x=1&10=2&0=3&01=4&4294967295=5&4294967294=6"),
            vec![
                ("0", vec!["3"]),
                ("10", vec!["2"]),
                ("4294967294", vec!["6"]),
                ("x", vec!["1"]),
                ("01", vec!["4"]),
                ("4294967295", vec!["5"]),
            ]
        );
    }

    #[test]
    fn malformed_escapes_and_control_characters_are_refused() {
        assert!(matches!(
            q("w=4%zz"),
            Err(ErrorKind::InvalidValue { param: "w", .. })
        ));
        assert!(matches!(
            q("bg=%FF0000"),
            Err(ErrorKind::InvalidValue { param: "bg", .. })
        ));
        assert_eq!(q("w%zz=1"), Err(ErrorKind::UnknownParam("w%zz".into())));
        for bad in [
            "w=400%0A",
            "dpr=2%0A",
            "bg=000000%0A",
            "v=abc%0A",
            "p=thumb%0A",
        ] {
            assert!(
                matches!(q(bad), Err(ErrorKind::InvalidValue { .. })),
                "{bad}: {:?}",
                q(bad)
            );
        }
        // The Kelvin sign lowercases to `k` in Unicode, never here.
        assert!(matches!(
            q("fit=%E2%84%AAover"),
            Err(ErrorKind::InvalidValue { param: "fit", .. })
        ));
        assert!(matches!(
            q("p=des%E2%84%AAtop"),
            Err(ErrorKind::InvalidValue { param: "p", .. })
        ));
    }

    #[test]
    fn percent_encoded_names_decode_before_lookup() {
        assert_eq!(q("%77=10").unwrap().width, Some(10));
        assert_eq!(
            q("utm%5Fsource=x"),
            Err(ErrorKind::UnknownParam("utm_source".into()))
        );
    }

    #[test]
    fn path_tokens() {
        let p = Params::from_path_segment(
            "w_400,h_300,c_fill,g_north_east,q_75,dpr_2,v_3,s_medium,f_webp,b_rgb:00ff00",
        )
        .unwrap();
        assert_eq!(p.width, Some(400));
        assert_eq!(p.height, Some(300));
        assert_eq!(p.fit, Some(Fit::Cover));
        assert_eq!(p.gravity, Some(Gravity::Northeast));
        assert_eq!(p.quality, Some(75));
        assert_eq!(p.dpr, Some(20));
        assert_eq!(p.version.as_deref(), Some("3"));
        assert_eq!(p.preset.as_deref(), Some("medium"));
        assert_eq!(p.format, Some(FormatRequest::Fixed(Format::Webp)));
        assert_eq!(p.background, Some(Rgb([0, 0xff, 0])));
        let fits = [
            ("c_fill", Fit::Cover),
            ("c_fit", Fit::Inside),
            ("c_scale", Fit::Fill),
            ("c_pad", Fit::Contain),
            ("c_limit", Fit::Inside),
        ];
        for (token, fit) in fits {
            assert_eq!(
                Params::from_path_segment(token).unwrap().fit,
                Some(fit),
                "{token}"
            );
        }
        assert_eq!(
            Params::from_path_segment("c_limit").unwrap().enlarge,
            Some(false)
        );
        assert!(matches!(
            Params::from_path_segment("c_cover").map_err(|e| e.kind),
            Err(ErrorKind::InvalidValue { param: "fit", .. })
        ));
        assert!(matches!(
            Params::from_path_segment("x_1").map_err(|e| e.kind),
            Err(ErrorKind::UnknownParam(_))
        ));
    }

    #[test]
    fn path_segment_detection() {
        assert!(Params::looks_like_path_segment("w_400"));
        assert!(Params::looks_like_path_segment("w_400,h_300"));
        assert!(!Params::looks_like_path_segment("2024"));
        assert!(!Params::looks_like_path_segment("my-album"));
        assert!(!Params::looks_like_path_segment("_x"));
        assert!(!Params::looks_like_path_segment("w_400,"));
        assert!(!Params::looks_like_path_segment(""));
    }
}
