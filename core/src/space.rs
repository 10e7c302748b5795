//! How many variants one original can have under a policy: every one is a Lambda run and a
//! stored object, so this is what a policy lets a stranger spend. An upper bound, counted
//! on the canonical key's grammar after normalisation (fits, gravities and backgrounds that
//! cannot change the output are not counted twice); dpr values that round to the same size
//! are counted apart, so the true number can be lower, never higher.

use serde::Serialize;

use crate::params::{DPR_MAX, DPR_MIN};
use crate::policy::Policy;
use crate::signature::Signing;
use crate::spec::Format;

/// A number of variants, or no bound and the parameter that removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum Count {
    Finite(u128),
    /// `v` takes any of 62^32 tokens: no bound a bill can be planned on.
    Unbounded(&'static str),
}

impl Count {
    pub fn is_unbounded(self) -> bool {
        matches!(self, Count::Unbounded(_))
    }
}

/// The variants of one original: with any URL (signed ones included), and with the URLs a
/// stranger can make without a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VariantSpace {
    pub any: Count,
    pub unsigned: Count,
}

/// Counts `policy`'s variant space (the larger of a JPEG-like and a PNG-like original, whose
/// `fm=auto` fallbacks differ).
pub fn variant_space(policy: &Policy) -> VariantSpace {
    let versions = |allowed: bool, n: u128| {
        if allowed && policy.versions {
            Count::Unbounded("v")
        } else {
            Count::Finite(n)
        }
    };
    let [ad_hoc, presets] = [false, true].map(|presets| {
        [Format::Jpeg, Format::Png]
            .into_iter()
            .map(|fallback| {
                entries(policy, fallback)
                    .map(|f| {
                        if presets {
                            presets_per_format(policy)
                        } else {
                            ad_hoc_per_format(policy, f) * animations(f)
                        }
                    })
                    .sum::<u128>()
            })
            .max()
            .unwrap_or(0)
    });
    let any = if policy.presets_only {
        versions(true, presets)
    } else {
        versions(true, ad_hoc)
    };
    let unsigned = match policy.signing {
        Signing::Off => any,
        Signing::Required => Count::Finite(0),
        // Free: presets with `p`, `fm` and `dpr` only (a `v` needs a signature).
        Signing::AdHoc => Count::Finite(presets),
    };
    VariantSpace { any, unsigned }
}

/// The formats a variant key can end in, each once per auto flag: every enabled format
/// asked for by name, and what `fm=auto` picks (AVIF, WebP when enabled, else the fallback).
fn entries(policy: &Policy, fallback: Format) -> impl Iterator<Item = Format> + '_ {
    let auto = [Format::Avif, Format::Webp]
        .into_iter()
        .filter(|f| policy.formats.contains(f))
        .chain([fallback]);
    policy.formats.iter().copied().chain(auto)
}

/// A WebP variant is a still or, with `anim=1`, animated: two keys. A preset fixes `anim`
/// (a URL that adds it to one is ad hoc, and needs a signature where presets are free).
fn animations(format: Format) -> u128 {
    if format == Format::Webp { 2 } else { 1 }
}

/// Presets at each dpr: one background each, and one quality (two when `Save-Data: on`
/// lowers the default).
fn presets_per_format(policy: &Policy) -> u128 {
    let qualities = 1 + u128::from(policy.save_data_quality_drop > 0);
    policy.presets.len() as u128 * u128::from(DPR_MAX - DPR_MIN + 1) * qualities
}

fn ad_hoc_per_format(policy: &Policy, format: Format) -> u128 {
    let listed = |list: usize, any: u128| if list == 0 { any } else { list as u128 };
    let widths = listed(policy.widths.len(), u128::from(policy.max_width));
    let heights = listed(policy.heights.len(), u128::from(policy.max_height));
    let quality = match policy.quality.for_format(format) {
        None => 1,
        Some(_) if policy.qualities.is_empty() => 100,
        Some(_) => {
            // The listed ones, and the defaults (`Save-Data: on` may lower it) not listed.
            let mut defaults = [false, true].map(|saves| policy.default_quality(format, saves));
            defaults.sort_unstable();
            let [plain, saving] = defaults;
            let unlisted =
                |q: Option<u8>| u128::from(q.is_some_and(|q| !policy.qualities.contains(&q)));
            policy.qualities.len() as u128
                + unlisted(plain)
                + u128::from(saving != plain) * unlisted(saving)
        }
    };
    let backgrounds = if policy.backgrounds.is_empty() {
        1 << 24
    } else {
        policy.backgrounds.len() as u128
            + u128::from(!policy.backgrounds.iter().any(|b| b == "ffffff"))
    };
    // JPEG has no alpha: its background always matters; elsewhere only `contain`'s does.
    let flat = if format == Format::Jpeg {
        backgrounds
    } else {
        1
    };
    let none = flat;
    let one = (widths + heights) * 2 * flat;
    let gravities = 9;
    let both = widths * heights * 2 * (gravities * flat + gravities * backgrounds + flat + flat);
    (none + one + both) * quality
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(toml: &str) -> VariantSpace {
        variant_space(&Policy::from_toml_str(toml).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn the_default_policy_is_unbounded_by_v() {
        let s = space("");
        assert_eq!(s.any, Count::Unbounded("v"));
        assert_eq!(s.unsigned, Count::Unbounded("v"));
    }

    #[test]
    fn bounding_every_free_value_gives_a_small_exact_number() {
        // One width, one height, one quality, white only, WebP only, no v: per format
        // entry (webp asked for, webp by auto, the JPEG or PNG fallback by auto):
        //   none 1 + one dim (1+1)*2 + both 1*1*2*(9+9+1+1) = 45, times qualities, and
        //   WebP's twice (still and `anim=1`).
        let s = space(
            "widths = [400]\nheights = [300]\nqualities = [75]\nbackgrounds = [\"ffffff\"]\n\
             versions = false\nformats = [\"webp\"]\n",
        );
        // webp explicit and auto: 45 each (75 is webp's default: one quality), still and
        // animated. The JPEG fallback: 45, its default quality 80 not listed, so two; PNG:
        // 45, no quality.
        assert_eq!(s.any, Count::Finite(45 * 2 + 45 * 2 + 45 * 2));
        assert_eq!(s.unsigned, s.any);
    }

    #[test]
    fn signing_bounds_what_strangers_can_make() {
        let s = space("signing = \"required\"\n");
        assert_eq!(s.any, Count::Unbounded("v"));
        assert_eq!(s.unsigned, Count::Finite(0));
        let s = space("signing = \"ad-hoc\"\n[presets.thumb]\nw = 300\n");
        // One preset, 31 dprs, 4 formats by name + avif, webp and a fallback by auto.
        assert_eq!(s.unsigned, Count::Finite(31 * 7));
        let s = space("presets_only = true\nversions = false\n[presets.thumb]\nw = 300\n");
        assert_eq!(s.any, Count::Finite(31 * 7));
        // Save-Data's lower default is a second quality per preset.
        let s = space(
            "presets_only = true\nversions = false\nsave_data_quality_drop = 20\n[presets.thumb]\nw = 300\n",
        );
        assert_eq!(s.any, Count::Finite(31 * 7 * 2));
    }

    #[test]
    fn save_data_adds_its_lower_default_to_the_listed_qualities() {
        let base = "widths = [400]\nheights = [300]\nqualities = [75]\nbackgrounds = [\"ffffff\"]\n\
             versions = false\nformats = [\"webp\"]\n";
        let s = space(&format!("{base}save_data_quality_drop = 15\n"));
        // As above, and webp's 60 and the fallback JPEG's 65, neither listed.
        assert_eq!(s.any, Count::Finite(45 * 2 * 2 + 45 * 2 * 2 + 45 * 3));
    }
}
