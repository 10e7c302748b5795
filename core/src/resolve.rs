//! Validation: raw parameters plus the policy and `Accept` become a resolved spec, with
//! presets expanded, defaults applied, dpr folded in and sizes clamped.

use crate::accept::{legacy_fallback, negotiate};
use crate::error::{ErrorKind, ParseError};
use crate::hints::{AUTO_WIDTH_STEP, Viewer};
use crate::params::{DPR_MAX, DPR_MIN, Params};
use crate::policy::Policy;
use crate::spec::{Fit, Format, FormatRequest, Gravity, Rgb, TransformSpec};

pub(crate) fn resolve(
    params: Params,
    original: &str,
    viewer: &Viewer,
    policy: &Policy,
) -> Result<TransformSpec, ParseError> {
    let err = |input: &str, kind| ParseError::new(input, kind);

    if policy.presets_only {
        let ad_hoc = [
            ("w", params.width.is_some() || params.width_auto),
            ("h", params.height.is_some()),
            ("fit", params.fit.is_some()),
            ("g", params.gravity.is_some()),
            ("q", params.quality.is_some()),
            ("bg", params.background.is_some()),
            ("enlarge", params.enlarge.is_some()),
            ("anim", params.animate.is_some()),
        ];
        if let Some((name, _)) = ad_hoc.into_iter().find(|(_, set)| *set) {
            return Err(err(name, ErrorKind::PresetsOnly(name.to_string())));
        }
        if params.preset.is_none() {
            return Err(err("", ErrorKind::PresetRequired));
        }
    }

    // A preset supplies defaults; what the URL says explicitly wins.
    let params = match &params.preset {
        None => params,
        Some(name) => {
            let preset = policy
                .presets
                .get(name)
                .ok_or_else(|| err(name, ErrorKind::UnknownPreset(name.clone())))?;
            let p = &preset.params;
            Params {
                // The URL's `auto` wins over the preset's number, and its number over the
                // preset's `auto`, as any explicit value does.
                width: if params.width_auto {
                    None
                } else {
                    params.width.or(p.width)
                },
                width_auto: params.width_auto,
                height: params.height.or(p.height),
                fit: params.fit.or(p.fit),
                gravity: params.gravity.or(p.gravity),
                format: params.format.or(p.format),
                quality: params.quality.or(p.quality),
                dpr: if params.dpr_auto {
                    None
                } else {
                    params.dpr.or(p.dpr)
                },
                dpr_auto: params.dpr_auto || (params.dpr.is_none() && p.dpr_auto),
                background: params.background.or(p.background),
                enlarge: params.enlarge.or(p.enlarge),
                animate: params.animate.or(p.animate),
                version: params.version,
                preset: params.preset,
            }
        }
    };

    let animate = params.animate.unwrap_or(false);
    let (format, auto_format) = match params.format.unwrap_or(FormatRequest::Auto) {
        // Only WebP output animates: `anim=1` with `fm=auto` never negotiates AVIF, so a
        // browser that takes both gets the animation, and one that takes neither a still.
        FormatRequest::Auto if animate => {
            let formats: Vec<_> = policy
                .formats
                .iter()
                .copied()
                .filter(|f| *f != Format::Avif)
                .collect();
            (negotiate(viewer.accept, original, &formats), true)
        }
        FormatRequest::Auto => (negotiate(viewer.accept, original, &policy.formats), true),
        FormatRequest::Fixed(f) if policy.formats.contains(&f) => (f, false),
        FormatRequest::Fixed(f) => {
            return Err(err(f.as_str(), ErrorKind::FormatNotAllowed(f.as_str())));
        }
    };

    for (name, value, max) in [
        ("w", params.width, policy.max_width),
        ("h", params.height, policy.max_height),
    ] {
        if let Some(n) = value
            && !(1..=max).contains(&n)
        {
            return Err(err(
                &n.to_string(),
                ErrorKind::OutOfRange {
                    param: name,
                    min: 1,
                    max,
                },
            ));
        }
    }

    // The policy's bounds on the free values (`imgflex url --policy` counts what they
    // leave). Explicit values only: the defaults always apply.
    if params.version.is_some() && !policy.versions {
        return Err(err("v", ErrorKind::VersionsOff));
    }
    if let Some(q) = params.quality.filter(|q| !policy.admits_quality(*q)) {
        let allowed = policy
            .qualities
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>();
        return Err(err(
            &q.to_string(),
            ErrorKind::NotListed {
                param: "q",
                allowed: allowed.join(", "),
            },
        ));
    }
    if let Some(bg) = params.background.filter(|c| !policy.admits_background(*c)) {
        return Err(err(
            &bg.to_string(),
            ErrorKind::NotListed {
                param: "bg",
                allowed: policy.backgrounds.join(", "),
            },
        ));
    }

    // Client hints, after the bounds: a hint is the browser's, never refused, only rounded
    // and clamped. `w=auto` is already in device pixels, so it stands alone.
    let mut width = params.width;
    if params.width_auto {
        if params.height.is_some() {
            return Err(err("h", ErrorKind::WithAutoWidth("h")));
        }
        if params.dpr.is_some() || params.dpr_auto {
            return Err(err("dpr", ErrorKind::WithAutoWidth("dpr")));
        }
        width = viewer.width_hint().map(|n| {
            if policy.widths.is_empty() {
                n.div_ceil(AUTO_WIDTH_STEP) * AUTO_WIDTH_STEP
            } else {
                n
            }
        });
    }
    let dpr = if params.dpr_auto {
        viewer
            .dpr_hint()
            .map_or(DPR_MIN, |d| policy.dpr_steps.round_up(d))
    } else {
        params.dpr.unwrap_or(DPR_MIN)
    };
    let (width, height) = size(width, params.height, dpr, policy);
    let both = width.is_some() && height.is_some();
    let spec = TransformSpec {
        width,
        height,
        fit: params
            .fit
            .unwrap_or(if both { Fit::Cover } else { Fit::Inside }),
        gravity: params.gravity.unwrap_or(Gravity::Center),
        format,
        quality: params
            .quality
            .or(policy.default_quality(format, viewer.saves_data())),
        background: params.background.unwrap_or(Rgb::WHITE),
        enlarge: params.enlarge.unwrap_or(false),
        animate,
        auto_format,
        version: params.version,
    };
    Ok(spec.normalized())
}

/// Folds dpr into the box, clamps it to the policy keeping its aspect ratio, then rounds the
/// width up to an allowed width (scaling the height with it, so `cover` crops the same shape).
fn size(
    width: Option<u32>,
    height: Option<u32>,
    dpr: u8,
    policy: &Policy,
) -> (Option<u32>, Option<u32>) {
    let scale =
        |n: u32, num: f64, den: f64| -> u32 { ((f64::from(n) * num / den).round() as u32).max(1) };
    let mut w = width.map(|w| scale(w, f64::from(dpr), 10.0));
    let mut h = height.map(|h| scale(h, f64::from(dpr), 10.0));

    let over_w = w.map_or(1.0, |w| f64::from(policy.max_width) / f64::from(w));
    let over_h = h.map_or(1.0, |h| f64::from(policy.max_height) / f64::from(h));
    let shrink = over_w.min(over_h);
    if shrink < 1.0 {
        w = w.map(|w| scale(w, shrink, 1.0).min(policy.max_width));
        h = h.map(|h| scale(h, shrink, 1.0).min(policy.max_height));
    }

    if let (Some(want), Some(&largest)) = (w, policy.widths.last()) {
        let allowed = policy
            .widths
            .iter()
            .copied()
            .find(|&a| a >= want)
            .unwrap_or(largest);
        if allowed != want {
            h = h.map(|h| scale(h, f64::from(allowed), f64::from(want)).min(policy.max_height));
            w = Some(allowed);
        }
    }
    if let (Some(want), Some(&largest)) = (h, policy.heights.last()) {
        h = Some(
            policy
                .heights
                .iter()
                .copied()
                .find(|&a| a >= want)
                .unwrap_or(largest),
        );
    }
    (w, h)
}

impl Policy {
    /// Whether a parsed canonical spec is one this policy could have produced. The handler
    /// asks this of every key: it never trusts that the edge did the checking.
    pub fn admits(&self, original: &str, spec: &TransformSpec) -> bool {
        let fits = spec.width.is_none_or(|w| w <= self.max_width)
            && spec.height.is_none_or(|h| h <= self.max_height)
            && spec
                .width
                .is_none_or(|w| self.widths.is_empty() || self.widths.contains(&w))
            && spec
                .height
                .is_none_or(|h| self.heights.is_empty() || self.heights.contains(&h));
        // A listed value, or the default (which applies whatever the lists say).
        let bounded = (self.versions || spec.version.is_none())
            && spec.quality.is_none_or(|q| {
                self.admits_quality(q)
                    || [false, true]
                        .into_iter()
                        .any(|saves| Some(q) == self.default_quality(spec.format, saves))
            })
            && (self.admits_background(spec.background) || spec.background == Rgb::WHITE);
        let format_ok = self.formats.contains(&spec.format)
            || (spec.auto_format && spec.format == legacy_fallback(original));
        if !fits || !format_ok || !bounded {
            return false;
        }
        if !self.presets_only {
            return true;
        }
        // Presets-only: the spec must be some preset at some dpr. Resolving each candidate
        // through the same code is a few hundred cheap calls, and cannot drift from the edge.
        self.presets.keys().any(|name| {
            (DPR_MIN..=DPR_MAX).any(|dpr| {
                let params = Params {
                    preset: Some(name.clone()),
                    dpr: Some(dpr),
                    format: Some(FormatRequest::Fixed(spec.format)),
                    version: spec.version.clone(),
                    ..Params::default()
                };
                let mut policy = self.clone();
                policy.formats = crate::spec::Format::ALL.to_vec();
                // With and without `Save-Data: on`: its lower default is a preset's too.
                [None, Some("on")].into_iter().any(|save_data| {
                    let viewer = Viewer {
                        save_data,
                        ..Viewer::default()
                    };
                    resolve(params.clone(), original, &viewer, &policy).is_ok_and(|candidate| {
                        TransformSpec {
                            auto_format: spec.auto_format,
                            ..candidate
                        } == *spec
                    })
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Policy, Route, parse_canonical, route_target};

    fn variant(policy: &Policy, target: &str) -> crate::Variant {
        match route_target(target, None, policy).unwrap() {
            Route::Variant(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn handler_admission_follows_the_policy() {
        let widths = Policy::from_toml_str("widths = [320, 640]").unwrap();
        let ok = variant(&widths, "/a.jpg?w=300&fm=webp");
        assert!(widths.admits(&ok.original, &ok.spec));
        // A width the edge would have rounded: valid grammar, refused by this policy.
        let other = parse_canonical("_v/a.jpg/w300_inside_center_q75_bgffffff_e0.webp").unwrap();
        assert!(!widths.admits(&other.original, &other.spec));
        assert!(Policy::default().admits(&other.original, &other.spec));

        let small = Policy::from_toml_str("max_width = 100\nformats = [\"jpeg\"]").unwrap();
        assert!(
            !small.admits(&other.original, &other.spec),
            "too wide and webp"
        );
        let fallback = parse_canonical("_v/a.png/w50_inside_center_bgffffff_e0_auto.png").unwrap();
        assert!(
            small.admits(&fallback.original, &fallback.spec),
            "the legacy fallback is always allowed"
        );
        let explicit_png = parse_canonical("_v/a.png/w50_inside_center_bgffffff_e0.png").unwrap();
        assert!(!small.admits(&explicit_png.original, &explicit_png.spec));
    }

    #[test]
    fn the_handler_admits_only_what_the_bounds_allow() {
        let bounded = Policy::from_toml_str(
            "heights = [240]\nqualities = [60]\nbackgrounds = [\"000000\"]\nversions = false",
        )
        .unwrap();
        for (key, admitted) in [
            ("_v/a.jpg/h240_inside_center_q60_bgffffff_e0.jpg", true),
            // The default quality (80 for JPEG) and white are always admitted.
            ("_v/a.jpg/h240_inside_center_q80_bg000000_e0.jpg", true),
            ("_v/a.jpg/h241_inside_center_q60_bgffffff_e0.jpg", false),
            ("_v/a.jpg/h240_inside_center_q61_bgffffff_e0.jpg", false),
            ("_v/a.jpg/h240_inside_center_q60_bgff0000_e0.jpg", false),
            ("_v/a.jpg/h240_inside_center_q60_bgffffff_e0_v2.jpg", false),
        ] {
            let v = parse_canonical(key).unwrap();
            assert_eq!(bounded.admits(&v.original, &v.spec), admitted, "{key}");
            assert!(Policy::default().admits(&v.original, &v.spec), "{key}");
        }
    }

    #[test]
    fn presets_only_admits_exactly_the_presets() {
        let policy = Policy::from_toml_str(
            "presets_only = true\n[presets.thumb]\nw = 300\nh = 300\n[presets.hero]\nw = 1600\nfm = \"jpeg\"\n",
        )
        .unwrap();
        for target in [
            "/a.jpg?p=thumb&fm=webp",
            "/a.jpg?p=thumb&dpr=2.5&fm=avif&v=7",
            "/a.jpg?p=hero&dpr=2",
            "/a.jpg?p=thumb",
        ] {
            let v = variant(&policy, target);
            assert!(policy.admits(&v.original, &v.spec), "{target}");
        }
        let ad_hoc =
            parse_canonical("_v/a.jpg/w301_h300_cover_center_q75_bgffffff_e0.webp").unwrap();
        assert!(!policy.admits(&ad_hoc.original, &ad_hoc.spec));
        let wrong_quality =
            parse_canonical("_v/a.jpg/w300_h300_cover_center_q76_bgffffff_e0.webp").unwrap();
        assert!(!policy.admits(&wrong_quality.original, &wrong_quality.spec));
    }

    #[test]
    fn the_handler_admits_what_client_hints_make_and_no_more() {
        let policy = Policy::from_toml_str(
            "presets_only = true\nsave_data_quality_drop = 20\n[presets.thumb]\nw = 300\nh = 300\n",
        )
        .unwrap();
        let hinted = |target: &str, headers: &[(&str, &str)]| {
            let viewer = crate::Viewer::from_headers(|name| {
                headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            });
            match route_target(target, viewer, &policy).unwrap() {
                Route::Variant(v) => v,
                other => panic!("{other:?}"),
            }
        };
        let saving = hinted("/a.jpg?p=thumb&fm=webp", &[("save-data", "on")]);
        assert_eq!(saving.spec.quality, Some(55));
        assert!(policy.admits(&saving.original, &saving.spec));
        let dense = hinted(
            "/a.jpg?p=thumb&fm=webp&dpr=auto",
            &[("sec-ch-dpr", "2.625")],
        );
        assert_eq!(
            (dense.spec.width, dense.spec.height),
            (Some(900), Some(900))
        );
        assert!(policy.admits(&dense.original, &dense.spec));
        // Between the default and the lowered one: no viewer's headers make it.
        let between =
            parse_canonical("_v/a.jpg/w300_h300_cover_center_q60_bgffffff_e0.webp").unwrap();
        assert!(!policy.admits(&between.original, &between.spec));
    }
}
