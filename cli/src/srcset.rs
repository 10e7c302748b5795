//! What a front end needs to show an original responsively: a `srcset` of the policy's
//! widths (never wider than the original, so no variant is an enlargement) with `fm=auto`,
//! and an `<img>` tag using it. `fm=auto` has the CDN pick AVIF, WebP or the fallback from
//! each browser's `Accept`, so no `<picture>` with one `<source>` per format is needed.

use imgflex_core::{Policy, encode_key};
use serde::Serialize;

/// The widths a `srcset` offers when the policy names none: common layout widths.
pub const DEFAULT_WIDTHS: &[u32] = &[320, 640, 960, 1280, 1920];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// `URL 320w, URL 640w, …`.
    pub srcset: String,
    /// The `src` a browser without `srcset` support gets: the middle width.
    pub src: String,
    pub img: String,
    pub widths: Vec<u32>,
}

/// The widths to offer for an original `width` pixels wide: the policy's (or the defaults),
/// within `max_width` and the original; the original's own width when it is narrower than
/// all of them.
pub fn widths(policy: &Policy, width: u32) -> Vec<u32> {
    let candidates = if policy.widths.is_empty() {
        DEFAULT_WIDTHS
    } else {
        &policy.widths
    };
    let limit = width.min(policy.max_width);
    let mut out: Vec<u32> = candidates.iter().copied().filter(|w| *w <= limit).collect();
    if out.is_empty() {
        // Too narrow for every listed width: its own width is the one variant (with
        // `widths` set, the edge rounds it up to the smallest, which the original's
        // `inside` fit still never enlarges).
        out.push(limit.max(1));
    }
    out
}

/// The snippet for `key` (`width` x `height` pixels) on `cdn` (`https://DOMAIN`).
pub fn snippet(policy: &Policy, cdn: &str, key: &str, width: u32, height: u32) -> Snippet {
    let base = format!("{cdn}/{}", encode_key(key));
    let widths = widths(policy, width);
    let url = |w: u32| format!("{base}?w={w}&fm=auto");
    let srcset = widths
        .iter()
        .map(|w| format!("{} {w}w", url(*w)))
        .collect::<Vec<_>>()
        .join(", ");
    let middle = widths[widths.len() / 2];
    let src = url(middle);
    let largest = widths[widths.len() - 1];
    let img = format!(
        "<img src=\"{src}\" srcset=\"{srcset}\" sizes=\"(max-width: {largest}px) 100vw, {largest}px\" width=\"{width}\" height=\"{height}\" loading=\"lazy\" decoding=\"async\" alt=\"\">"
    );
    Snippet {
        srcset,
        src,
        img,
        widths,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_wider_than_the_original() {
        let policy = Policy::default();
        assert_eq!(widths(&policy, 4000), DEFAULT_WIDTHS);
        assert_eq!(widths(&policy, 1000), [320, 640, 960]);
        assert_eq!(widths(&policy, 200), [200]);
        let listed = Policy::from_toml_str("widths = [400, 800]\n").unwrap();
        assert_eq!(widths(&listed, 1000), [400, 800]);
        assert_eq!(widths(&listed, 300), [300]);
    }

    #[test]
    fn the_tag_uses_fm_auto_and_the_dimensions() {
        let s = snippet(
            &Policy::default(),
            "https://d1.cloudfront.net",
            "photos/a b.jpg",
            1000,
            500,
        );
        assert_eq!(
            s.srcset,
            "https://d1.cloudfront.net/photos/a%20b.jpg?w=320&fm=auto 320w, \
             https://d1.cloudfront.net/photos/a%20b.jpg?w=640&fm=auto 640w, \
             https://d1.cloudfront.net/photos/a%20b.jpg?w=960&fm=auto 960w"
        );
        assert_eq!(
            s.src,
            "https://d1.cloudfront.net/photos/a%20b.jpg?w=640&fm=auto"
        );
        assert!(s.img.contains("width=\"1000\" height=\"500\""), "{}", s.img);
        assert!(
            s.img.contains("sizes=\"(max-width: 960px) 100vw, 960px\""),
            "{}",
            s.img
        );
    }
}
