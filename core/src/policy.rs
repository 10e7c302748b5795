//! The service policy (`imgflex.toml`): size limits, allowed widths and formats, default
//! qualities and named presets, with documented defaults.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::params::{FitSpelling, Param, Params, is_token};
use crate::signature::Signing;
use crate::spec::Format;

/// Largest `max_width`/`max_height` a policy may set: past this, one variant is a
/// quarter-gigapixel buffer, more than a Lambda should ever hold.
pub const DIMENSION_CEILING: u32 = 16_384;

/// The policy. Every field has a default, so an empty (or missing) `imgflex.toml` is valid.
///
/// ```toml
/// max_width = 4096            # largest w after dpr (requests above it are clamped)
/// max_height = 4096
/// widths = [320, 640, 1280]   # optional: w rounds up to the next of these
/// heights = [240, 480]        # optional: h rounds up to the next of these
/// qualities = [60, 80]        # optional: the only values `q` may take
/// backgrounds = ["ffffff"]    # optional: the only values `bg` may take
/// versions = true             # false: `v` is refused
/// signing = "off"             # "required", or "ad-hoc" (all but presets and originals)
/// formats = ["jpeg", "png", "webp", "avif"]
/// presets_only = false        # true: only `p`, `fm`, `dpr` and `v` are accepted
/// dpr_steps = [1, 1.5, 2, 3]  # `dpr=auto` rounds the viewer's DPR hint up onto these
/// save_data_quality_drop = 0  # `Save-Data: on` lowers the default quality by this much
///
/// [quality]
/// jpeg = 80
/// webp = 75
/// avif = 50
///
/// [presets.thumb]
/// w = 300
/// h = 300
/// fit = "cover"
///
/// [limits]                    # see `Limits`
/// max_source_pixels = 50_000_000
/// ```
///
/// The same file's stack tables (`STACK_SECTIONS`) belong to the CLI, which reads them
/// itself; the policy skips them and refuses any other key it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    #[serde(deserialize_with = "dimension")]
    pub max_width: u32,
    #[serde(deserialize_with = "dimension")]
    pub max_height: u32,
    /// Allowed widths, ascending; empty means any width up to `max_width`.
    #[serde(deserialize_with = "widths")]
    pub widths: Vec<u32>,
    /// Allowed heights, ascending; `h` rounds up to the next (after `widths` scaled it).
    /// Empty means any height up to `max_height`.
    #[serde(deserialize_with = "widths")]
    pub heights: Vec<u32>,
    /// The values `q` may be given (a URL's or a preset's); empty means 1 to 100. The
    /// format's default quality applies when `q` is not given, listed or not.
    #[serde(deserialize_with = "qualities")]
    pub qualities: Vec<u8>,
    /// The colours `bg` may be given, `rrggbb` lower case; empty means any. White applies
    /// when `bg` is not given.
    #[serde(deserialize_with = "backgrounds")]
    pub backgrounds: Vec<String>,
    /// Whether `v` (a cache-busting token, any of 62^32) is taken: with it, the variants of
    /// one original have no bound but the token's length.
    pub versions: bool,
    /// Formats a URL may ask for explicitly and `fm=auto` may choose. The legacy fallback of
    /// `fm=auto` (JPEG, or PNG for PNG/GIF/WebP originals) is always allowed: a browser that
    /// takes nothing else must still get an image.
    pub formats: Vec<Format>,
    pub quality: Qualities,
    pub presets: BTreeMap<String, Preset>,
    pub presets_only: bool,
    /// What `dpr=auto` rounds the viewer's `Sec-CH-DPR` up onto (the last step when it is
    /// above them all, 1 with no hint), so the hint makes a handful of variants, not one per
    /// device.
    pub dpr_steps: DprSteps,
    /// How much a viewer's `Save-Data: on` lowers the format's default quality (never below
    /// 1); an explicit `q` stays. 0, the default, ignores the header: a second variant of
    /// every image for the few browsers that send it is the operator's choice.
    #[serde(deserialize_with = "quality_drop")]
    pub save_data_quality_drop: u8,
    /// Which URLs must carry a signature (`kid`, `exp`, `sig`), checked at the edge before
    /// any rewrite: `off`, `required` (every URL) or `ad-hoc` (all but presets and plain
    /// originals). The keys live in the stack's KeyValueStore (`imgflex keys`).
    pub signing: Signing,
    /// What one transform may cost; the handler and `upload` enforce the same values.
    pub limits: Limits,
    #[serde(skip_serializing, rename = "domain")]
    domain_section: StackSection,
    #[serde(skip_serializing, rename = "handler")]
    handler_section: StackSection,
    #[serde(skip_serializing, rename = "cdn")]
    cdn_section: StackSection,
    #[serde(skip_serializing, rename = "waf")]
    waf_section: StackSection,
    #[serde(skip_serializing, rename = "storage")]
    storage_section: StackSection,
    #[serde(skip_serializing, rename = "originals")]
    originals_section: StackSection,
    #[serde(skip_serializing, rename = "alarms")]
    alarms_section: StackSection,
}

/// The top-level tables of imgflex.toml that configure the stack rather than the policy.
pub const STACK_SECTIONS: [&str; 7] = [
    "domain",
    "handler",
    "cdn",
    "waf",
    "storage",
    "originals",
    "alarms",
];

/// One of `STACK_SECTIONS`, read and thrown away by the policy's parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StackSection;

impl<'de> Deserialize<'de> for StackSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StackSection, D::Error> {
        de::IgnoredAny::deserialize(d)?;
        Ok(StackSection)
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_width: 4096,
            max_height: 4096,
            widths: Vec::new(),
            heights: Vec::new(),
            qualities: Vec::new(),
            backgrounds: Vec::new(),
            versions: true,
            formats: Format::ALL.to_vec(),
            quality: Qualities::default(),
            presets: BTreeMap::new(),
            presets_only: false,
            dpr_steps: DprSteps::default(),
            save_data_quality_drop: 0,
            signing: Signing::Off,
            limits: Limits::default(),
            domain_section: StackSection,
            handler_section: StackSection,
            cdn_section: StackSection,
            waf_section: StackSection,
            storage_section: StackSection,
            originals_section: StackSection,
            alarms_section: StackSection,
        }
    }
}

/// Default encoder quality per lossy format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Qualities {
    #[serde(deserialize_with = "quality")]
    pub jpeg: u8,
    #[serde(deserialize_with = "quality")]
    pub webp: u8,
    #[serde(deserialize_with = "quality")]
    pub avif: u8,
}

impl Default for Qualities {
    fn default() -> Qualities {
        Qualities {
            jpeg: 80,
            webp: 75,
            avif: 50,
        }
    }
}

impl Qualities {
    /// `None` for lossless formats.
    pub fn for_format(&self, format: Format) -> Option<u8> {
        match format {
            Format::Jpeg => Some(self.jpeg),
            Format::Webp => Some(self.webp),
            Format::Avif => Some(self.avif),
            Format::Png => None,
        }
    }
}

/// `dpr_steps`: ascending DPRs in tenths (`1.5` is 15), each 1 to 4 with at most one
/// decimal, as an explicit `dpr` is. Written and read as numbers (`[1, 1.5, 2, 3]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DprSteps(Vec<u8>);

impl Default for DprSteps {
    fn default() -> DprSteps {
        DprSteps(vec![10, 15, 20, 30])
    }
}

impl DprSteps {
    /// The steps in tenths, ascending.
    pub fn tenths(&self) -> &[u8] {
        &self.0
    }

    /// The first step at or above `dpr`, else the last.
    pub(crate) fn round_up(&self, dpr: f64) -> u8 {
        let last = *self.0.last().unwrap_or(&crate::params::DPR_MIN);
        self.0
            .iter()
            .copied()
            .find(|&step| f64::from(step) >= dpr * 10.0)
            .unwrap_or(last)
    }
}

impl Serialize for DprSteps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&t| f64::from(t) / 10.0))
    }
}

impl<'de> Deserialize<'de> for DprSteps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DprSteps, D::Error> {
        let raw = Vec::<f64>::deserialize(d)?;
        if raw.is_empty() {
            return Err(de::Error::custom("dpr_steps must list at least one step"));
        }
        let mut steps = Vec::with_capacity(raw.len());
        for n in raw {
            let tenths = (n * 10.0).round();
            if (tenths - n * 10.0).abs() > 1e-6 || !(10.0..=40.0).contains(&tenths) {
                return Err(de::Error::custom(format!(
                    "dpr_steps are between 1 and 4 with at most one decimal, got {n}"
                )));
            }
            steps.push(tenths as u8);
        }
        steps.sort_unstable();
        steps.dedup();
        Ok(DprSteps(steps))
    }
}

fn quality_drop<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = i64::deserialize(d)?;
    if !(0..=99).contains(&n) {
        return Err(de::Error::custom(format!(
            "save_data_quality_drop must be between 0 and 99, got {n}"
        )));
    }
    Ok(n as u8)
}

/// A named set of parameters (`[presets.thumb] w = 300 …`), written with the query form's
/// names and checked by the same parser as URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Preset {
    /// The parameters as written, by their short names (`w`, `fit`, …), for display and for
    /// generating the edge function.
    pub values: BTreeMap<String, String>,
    #[serde(skip)]
    pub params: Params,
}

impl<'de> Deserialize<'de> for Preset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Preset, D::Error> {
        let table = BTreeMap::<String, toml::Value>::deserialize(d)?;
        let mut params = Params::default();
        let mut values = BTreeMap::new();
        for (name, value) in table {
            let text = match &value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => u8::from(*b).to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "preset parameter `{name}` must be a string, number or boolean, not {}",
                        other.type_str()
                    )));
                }
            };
            let param = Param::from_query_name(&name.to_ascii_lowercase())
                .filter(|p| !matches!(p, Param::P | Param::V))
                .ok_or_else(|| {
                    de::Error::custom(format!(
                        "unknown preset parameter `{name}` (use w, h, fit, g, fm, q, dpr, bg, enlarge, anim)"
                    ))
                })?;
            params
                .set(param, &name, &text, FitSpelling::Query)
                .map_err(|e| de::Error::custom(format!("preset parameter `{name}`: {}", e.kind)))?;
            values.insert(param.name().to_string(), text);
        }
        Ok(Preset { values, params })
    }
}

/// Why a policy file was refused. `line` is 1-based when the problem has a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// Parses and validates an `imgflex.toml` document.
    pub fn from_toml_str(source: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(source).map_err(|e| PolicyError {
            line: e.span().map(|span| line_at(source, span.start)),
            message: e.message().trim_end().to_string(),
        })?;
        policy.validate().map_err(|(needle, message)| PolicyError {
            line: needle.and_then(|n| line_of(source, &n)),
            message,
        })?;
        Ok(policy)
    }

    /// Parses and validates the policy as JSON: how the handler receives it (`IMGFLEX_POLICY`,
    /// from [`Policy::to_json`]), since CloudFormation parameters are single strings.
    pub fn from_json_str(source: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = serde_json::from_str(source).map_err(|e| PolicyError {
            line: Some(e.line()),
            message: e.to_string(),
        })?;
        policy.validate().map_err(|(_, message)| PolicyError {
            line: None,
            message,
        })?;
        Ok(policy)
    }

    /// Whether `q` may be given this value.
    pub fn admits_quality(&self, q: u8) -> bool {
        self.qualities.is_empty() || self.qualities.contains(&q)
    }

    /// The quality a lossy format gets when the URL gives no `q`: the policy's default,
    /// lowered by `save_data_quality_drop` for a viewer that sent `Save-Data: on`.
    pub fn default_quality(&self, format: Format, saves_data: bool) -> Option<u8> {
        let q = self.quality.for_format(format)?;
        Some(if saves_data {
            q.saturating_sub(self.save_data_quality_drop).max(1)
        } else {
            q
        })
    }

    /// Whether `bg` may be given this colour.
    pub fn admits_background(&self, c: crate::spec::Rgb) -> bool {
        self.backgrounds.is_empty() || self.backgrounds.contains(&c.to_string())
    }

    /// The policy as compact JSON, for the handler's environment.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Cross-field rules that one field's deserializer cannot see. The first element of the
    /// error is text to look for when pointing at a line.
    fn validate(&self) -> Result<(), (Option<String>, String)> {
        self.limits
            .validate()
            .map_err(|(key, message)| (Some(key.to_string()), message))?;
        if self.formats.is_empty() {
            return Err((
                Some("formats".into()),
                "`formats` must name at least one format".into(),
            ));
        }
        if let Some(h) = self.heights.iter().find(|&&h| h > self.max_height) {
            return Err((
                Some("heights".into()),
                format!(
                    "`heights` has {h}, above `max_height` ({})",
                    self.max_height
                ),
            ));
        }
        if let Some(w) = self.widths.iter().find(|&&w| w > self.max_width) {
            return Err((
                Some("widths".into()),
                format!("`widths` has {w}, above `max_width` ({})", self.max_width),
            ));
        }
        if self.presets_only && self.presets.is_empty() {
            return Err((
                Some("presets_only".into()),
                "`presets_only = true` needs at least one `[presets.NAME]`".into(),
            ));
        }
        for (name, preset) in &self.presets {
            let needle = Some(format!("[presets.{name}]"));
            if !is_token(name, 32) || name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err((
                    needle,
                    format!("preset name `{name}` must be 1-32 of a-z 0-9 _ -"),
                ));
            }
            let p = &preset.params;
            if let Some(w) = p.width.filter(|&w| w > self.max_width) {
                return Err((
                    needle,
                    format!(
                        "preset `{name}`: w={w} is above `max_width` ({})",
                        self.max_width
                    ),
                ));
            }
            if let Some(h) = p.height.filter(|&h| h > self.max_height) {
                return Err((
                    needle,
                    format!(
                        "preset `{name}`: h={h} is above `max_height` ({})",
                        self.max_height
                    ),
                ));
            }
            if let Some(q) = p.quality.filter(|q| !self.admits_quality(*q)) {
                return Err((
                    needle,
                    format!("preset `{name}`: q={q} is not one of `qualities`"),
                ));
            }
            if let Some(bg) = p.background.filter(|c| !self.admits_background(*c)) {
                return Err((
                    needle,
                    format!("preset `{name}`: bg={bg} is not one of `backgrounds`"),
                ));
            }
            if p.width_auto {
                return Err((
                    needle,
                    format!(
                        "preset `{name}`: `w=auto` reads the viewer's width hint, so only a URL may ask for it"
                    ),
                ));
            }
            if p.width == Some(0) || p.height == Some(0) {
                return Err((needle, format!("preset `{name}`: dimensions start at 1")));
            }
            if let Some(crate::spec::FormatRequest::Fixed(f)) = p.format
                && !self.formats.contains(&f)
            {
                return Err((
                    needle,
                    format!("preset `{name}`: format `{f}` is not in `formats`"),
                ));
            }
        }
        Ok(())
    }
}

fn line_at(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// The first line that starts with `needle` (ignoring indentation): good enough to point at
/// a table header or a key, which is all cross-field errors need.
fn line_of(source: &str, needle: &str) -> Option<usize> {
    source
        .lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map(|i| i + 1)
}

fn dimension<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    if !(1..=i64::from(DIMENSION_CEILING)).contains(&n) {
        return Err(de::Error::custom(format!(
            "must be between 1 and {DIMENSION_CEILING}, got {n}"
        )));
    }
    Ok(n as u32)
}

fn widths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    let raw = Vec::<i64>::deserialize(d)?;
    let mut widths = Vec::with_capacity(raw.len());
    for n in raw {
        if !(1..=i64::from(DIMENSION_CEILING)).contains(&n) {
            return Err(de::Error::custom(format!(
                "widths must be between 1 and {DIMENSION_CEILING}, got {n}"
            )));
        }
        widths.push(n as u32);
    }
    widths.sort_unstable();
    widths.dedup();
    Ok(widths)
}

fn qualities<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let raw = Vec::<i64>::deserialize(d)?;
    let mut out = Vec::with_capacity(raw.len());
    for n in raw {
        if !(1..=100).contains(&n) {
            return Err(de::Error::custom(format!(
                "qualities must be between 1 and 100, got {n}"
            )));
        }
        out.push(n as u8);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn backgrounds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    let mut out = Vec::with_capacity(raw.len());
    for c in raw {
        let Some(rgb) = crate::spec::Rgb::from_hex(&c) else {
            return Err(de::Error::custom(format!(
                "backgrounds are six hex digits (`ffffff`), got `{c}`"
            )));
        };
        out.push(rgb.to_string());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn quality<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = i64::deserialize(d)?;
    if !(1..=100).contains(&n) {
        return Err(de::Error::custom(format!(
            "quality must be between 1 and 100, got {n}"
        )));
    }
    Ok(n as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Fit, FormatRequest};

    #[test]
    fn the_bounds_on_free_values_parse_and_refuse_nonsense() {
        let p = Policy::from_toml_str(
            "heights = [480, 240, 240]\nqualities = [80, 60]\nbackgrounds = [\"FFFFFF\", \"000000\"]\nversions = false\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.heights, [240, 480]);
        assert_eq!(p.qualities, [60, 80]);
        assert_eq!(p.backgrounds, ["000000", "ffffff"]);
        assert!(!p.versions);
        let back = Policy::from_json_str(&p.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, p, "the handler reads the bounds from the JSON");
        for (toml, says) in [
            ("max_height = 100\nheights = [200]", "above `max_height`"),
            ("qualities = [0]", "between 1 and 100"),
            ("backgrounds = [\"white\"]", "six hex digits"),
            (
                "qualities = [60]\n[presets.a]\nq = 70",
                "not one of `qualities`",
            ),
            (
                "backgrounds = [\"000000\"]\n[presets.a]\nbg = \"ff0000\"",
                "not one of `backgrounds`",
            ),
        ] {
            let e = Policy::from_toml_str(toml)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(says), "{toml}: {e}");
        }
    }

    #[test]
    fn client_hint_settings_parse_round_trip_and_refuse_nonsense() {
        let p =
            Policy::from_toml_str("dpr_steps = [3, 1, 2.5, 2.5]\nsave_data_quality_drop = 25\n")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.dpr_steps.tenths(), [10, 25, 30]);
        assert_eq!(p.save_data_quality_drop, 25);
        assert_eq!(p.default_quality(Format::Webp, true), Some(50));
        assert_eq!(p.default_quality(Format::Webp, false), Some(75));
        assert_eq!(p.default_quality(Format::Png, true), None);
        let back = Policy::from_json_str(&p.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, p, "the handler reads the steps from the JSON");
        // Never below 1, however large the drop.
        let p =
            Policy::from_toml_str("save_data_quality_drop = 99\n[quality]\navif = 30\n").unwrap();
        assert_eq!(p.default_quality(Format::Avif, true), Some(1));
        for (toml, says) in [
            ("dpr_steps = []", "at least one step"),
            ("dpr_steps = [0.5]", "between 1 and 4"),
            ("dpr_steps = [4.5]", "between 1 and 4"),
            ("dpr_steps = [1.25]", "at most one decimal"),
            ("save_data_quality_drop = 100", "between 0 and 99"),
            ("save_data_quality_drop = -1", "between 0 and 99"),
            ("[presets.a]\nw = \"auto\"", "only a URL may ask for it"),
        ] {
            let e = Policy::from_toml_str(toml)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(says), "{toml}: {e}");
        }
        // A preset may take its dpr from the viewer.
        let p = Policy::from_toml_str("[presets.a]\nw = 300\ndpr = \"auto\"\n").unwrap();
        assert!(p.presets["a"].params.dpr_auto);
    }

    #[test]
    fn empty_document_is_the_default_policy() {
        assert_eq!(Policy::from_toml_str("").unwrap(), Policy::default());
        let p = Policy::default();
        assert_eq!((p.max_width, p.max_height), (4096, 4096));
        assert_eq!(
            p.quality,
            Qualities {
                jpeg: 80,
                webp: 75,
                avif: 50
            }
        );
        assert_eq!(p.formats, Format::ALL.to_vec());
        assert!(!p.presets_only && p.widths.is_empty() && p.presets.is_empty());
    }

    #[test]
    fn full_document() {
        let p = Policy::from_toml_str(
            r#"
max_width = 2000
max_height = 1500
widths = [640, 320, 1280, 320]
formats = ["jpeg", "webp"]
presets_only = true

[quality]
jpeg = 85

[presets.thumb]
w = 300
h = 300
fit = "cover"
fm = "webp"
dpr = 1.5
enlarge = true
"#,
        )
        .unwrap();
        assert_eq!(p.max_width, 2000);
        assert_eq!(p.widths, vec![320, 640, 1280], "sorted and deduplicated");
        assert_eq!(p.quality.jpeg, 85);
        assert_eq!(p.quality.webp, 75, "unset qualities keep their default");
        let thumb = &p.presets["thumb"].params;
        assert_eq!(
            (thumb.width, thumb.height, thumb.fit),
            (Some(300), Some(300), Some(Fit::Cover))
        );
        assert_eq!(thumb.format, Some(FormatRequest::Fixed(Format::Webp)));
        assert_eq!(thumb.dpr, Some(15));
        assert_eq!(thumb.enlarge, Some(true));
    }

    fn err(src: &str) -> PolicyError {
        Policy::from_toml_str(src).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        let e = err("max_width = 4096\nmax_height = 0\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("between 1 and"), "{e}");

        let e = err("\n\nmax_widht = 10\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("max_widht"), "{e}");

        let e = err("widths = [100,\n");
        assert!(e.line.is_some(), "{e}");

        let e = err("[quality]\njpeg = 101\n");
        assert_eq!(e.line, Some(2), "{e}");

        let e = err("formats = [\"gif\"]\n");
        assert_eq!(e.line, Some(1), "{e}");

        let e = err("[presets.thumb]\nw = 300\nfit = \"crop\"\n");
        assert!(e.message.contains("fit"), "{e}");
        assert!(e.line.is_some(), "{e}");

        let e = err("[presets.thumb]\nutm = 1\n");
        assert!(e.message.contains("utm"), "{e}");
    }

    #[test]
    fn stack_tables_are_left_to_the_cli_and_limits_travel_to_the_handler() {
        let p = Policy::from_toml_str(
            "max_width = 2000\n[handler]\nmemory = 4096\n[waf]\nblock_ips = [\"10.0.0.0/8\"]\n\
             [limits]\nmax_source_bytes = 1_000_000\n",
        )
        .unwrap();
        assert_eq!(p.max_width, 2000);
        assert_eq!(p.limits.max_source_bytes, 1_000_000);
        assert_eq!(p.limits.max_source_pixels, 50_000_000);
        let json = p.to_json();
        assert!(!json.contains("handler") && !json.contains("waf"), "{json}");
        assert!(json.contains("\"max_source_bytes\":1000000"), "{json}");
        assert_eq!(Policy::from_json_str(&json).unwrap(), p);
        // Anything else unknown is still refused.
        assert!(Policy::from_toml_str("[handlers]\nmemory = 1\n").is_err());
    }

    #[test]
    fn json_round_trip_for_the_handler() {
        let p = Policy::from_toml_str(
            "widths = [320, 640]\nformats = [\"jpeg\", \"webp\"]\n[presets.thumb]\nw = 300\nfit = \"cover\"\ndpr = 1.5\n",
        )
        .unwrap();
        assert_eq!(Policy::from_json_str(&p.to_json()).unwrap(), p);
        assert_eq!(Policy::from_json_str("{}").unwrap(), Policy::default());
        assert!(Policy::from_json_str("{\"max_width\": 0}").is_err());
        assert!(Policy::from_json_str("{\"presets_only\": true}").is_err());
        assert!(Policy::from_json_str("{\"bogus\": 1}").is_err());
    }

    #[test]
    fn cross_field_rules() {
        let e = err("max_width = 1000\nwidths = [500, 2000]\n");
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("2000"), "{e}");

        let e = err("presets_only = true\n");
        assert!(e.message.contains("presets"), "{e}");

        let e = err("max_width = 100\n\n[presets.big]\nw = 200\n");
        assert_eq!(e.line, Some(3), "{e}");

        let e = err("formats = [\"jpeg\"]\n[presets.x]\nfm = \"webp\"\n");
        assert!(e.message.contains("webp"), "{e}");

        let e = err("[presets.Thumb]\nw = 1\n");
        assert!(e.message.contains("Thumb"), "{e}");

        let e = err("[limits]\nmax_source_pixels = 0\n");
        assert_eq!(e.line, Some(2), "{e}");
        let e = err("[limits]\n\nmax_source_pixels = 300_000_000\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("16384x16384"), "{e}");
        let e = err("[limits]\nmax_output_pixels = 1000\n");
        assert!(e.message.contains("max_avif_pixels"), "{e}");
        assert!(
            err("[limits]\nmax_pixels = 1\n")
                .message
                .contains("max_pixels")
        );
        assert!(Policy::from_toml_str("formats = []\n").is_err());
        assert!(Policy::from_toml_str("[presets.x]\nw = 0\n").is_err());
    }
}
