//! What the viewer's request headers say beyond the URL: `Accept` for `fm=auto`, and the
//! client hints (`Sec-CH-DPR`/`DPR`, `Sec-CH-Width`/`Width`, `Save-Data`) for `dpr=auto`,
//! `w=auto` and the Save-Data quality drop. The edge folds them into the canonical key, so
//! the cache stays keyed by URI; the CloudFront Function reads them by the same rules.

/// The request headers routing reads. Built from `Option<&str>` (just `Accept`), so callers
/// that have no hints pass what they passed before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Viewer<'a> {
    pub accept: Option<&'a str>,
    /// `Sec-CH-DPR`, else the legacy `DPR`.
    pub dpr: Option<&'a str>,
    /// `Sec-CH-Width`, else the legacy `Width`: the image's display width in device pixels.
    pub width: Option<&'a str>,
    pub save_data: Option<&'a str>,
}

/// The hint headers, lower case, as `Accept-CH` names them and the edge reads them.
pub const HINT_HEADERS: [&str; 5] = ["sec-ch-dpr", "dpr", "sec-ch-width", "width", "save-data"];

/// The `Accept-CH` every response sends (the response headers policy, `imgflex dev`): the
/// hints `dpr=auto` and `w=auto` read, new names and legacy. `Save-Data` needs no opt-in.
pub const ACCEPT_CH: &str = "Sec-CH-DPR, Sec-CH-Width, DPR, Width";

/// The `Vary` the response headers policy sends: what may change a variant's bytes, so a
/// browser keeps one answer per value (`Accept` for `fm=auto`, the hints for the rest).
pub const VARY: &str = "Accept, Sec-CH-DPR, Sec-CH-Width, DPR, Width, Save-Data";

/// Hint widths round up to a multiple of this when the policy lists no `widths` (the step
/// Cloudinary's `w_auto` uses): a hint is a layout width times a DPR, and one variant per
/// pixel of it would leave the cache nearly empty of hits.
pub const AUTO_WIDTH_STEP: u32 = 100;

impl<'a> From<Option<&'a str>> for Viewer<'a> {
    fn from(accept: Option<&'a str>) -> Viewer<'a> {
        Viewer {
            accept,
            ..Viewer::default()
        }
    }
}

impl<'a> Viewer<'a> {
    /// Reads the headers through `header` (a lower-case name to its value), the newer name
    /// of each hint first.
    /// An empty value is no header, as it is to the edge function (`''` is falsy in JS).
    pub fn from_headers(header: impl Fn(&str) -> Option<&'a str>) -> Viewer<'a> {
        let header = |name: &str| header(name).filter(|v| !v.is_empty());
        Viewer {
            accept: header("accept"),
            dpr: header("sec-ch-dpr").or_else(|| header("dpr")),
            width: header("sec-ch-width").or_else(|| header("width")),
            save_data: header("save-data"),
        }
    }

    /// The device pixel ratio hint, if it is a plain positive decimal (`2`, `2.625`) of at
    /// most 8 characters. Anything else is no hint: a browser's header is not the URL, so
    /// junk in it falls back rather than refusing the image.
    pub(crate) fn dpr_hint(&self) -> Option<f64> {
        let s = self.dpr?;
        let plain =
            (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        // `2.` and `.5` parse, as they do with JS `Number`; `.` and `1.2.3` do not, on
        // either side.
        plain
            .then(|| s.parse::<f64>().ok())
            .flatten()
            .filter(|&n| n > 0.0)
    }

    /// The width hint in device pixels, if it is 1 to 5 ASCII digits and not zero.
    pub(crate) fn width_hint(&self) -> Option<u32> {
        let s = self.width?;
        ((1..=5).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .filter(|&n| n > 0)
    }

    /// Whether the viewer asked for less data (`Save-Data: on`).
    pub(crate) fn saves_data(&self) -> bool {
        self.save_data == Some("on")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dpr(s: &str) -> Option<f64> {
        Viewer {
            dpr: Some(s),
            ..Viewer::default()
        }
        .dpr_hint()
    }

    fn width(s: &str) -> Option<u32> {
        Viewer {
            width: Some(s),
            ..Viewer::default()
        }
        .width_hint()
    }

    #[test]
    fn dpr_hints_are_plain_positive_decimals() {
        assert_eq!(dpr("2"), Some(2.0));
        assert_eq!(dpr("2.625"), Some(2.625));
        assert_eq!(dpr("2."), Some(2.0));
        assert_eq!(dpr(".5"), Some(0.5));
        for junk in [
            "",
            ".",
            "0",
            "0.0",
            "-1",
            "+2",
            " 2",
            "2 ",
            "1e1",
            "1.2.3",
            "Infinity",
            "123456789",
            "0x10",
        ] {
            assert_eq!(dpr(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn width_hints_are_short_positive_integers() {
        assert_eq!(width("412"), Some(412));
        assert_eq!(width("00412"), Some(412));
        for junk in ["", "0", "00000", "-5", "412.5", "412px", "123456", " 412"] {
            assert_eq!(width(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn the_newer_header_name_wins() {
        let headers = [
            ("sec-ch-dpr", "2"),
            ("dpr", "3"),
            ("width", "640"),
            ("save-data", "on"),
        ];
        let v =
            Viewer::from_headers(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v));
        assert_eq!(v.dpr, Some("2"));
        assert_eq!(v.width, Some("640"));
        assert!(v.saves_data());
        assert_eq!(v.accept, None);
    }
}
