//! `fm=auto`: choosing the output format from the viewer's `Accept` header.

use crate::spec::Format;

/// AVIF if `Accept` names `image/avif`, else WebP if it names `image/webp` (each only when the
/// policy allows it), else the legacy fallback: PNG for originals that may carry alpha (PNG,
/// GIF, WebP), JPEG for the rest. `image/*` and `*/*` do not count: every browser that decodes
/// AVIF or WebP names them explicitly, and old ones send `*/*` too.
pub fn negotiate(accept: Option<&str>, original_key: &str, allowed: &[Format]) -> Format {
    let accept = accept.unwrap_or("");
    for candidate in [Format::Avif, Format::Webp] {
        if allowed.contains(&candidate) && accepts(accept, candidate.content_type()) {
            return candidate;
        }
    }
    legacy_fallback(original_key)
}

/// The format a browser that takes nothing modern gets.
pub fn legacy_fallback(original_key: &str) -> Format {
    match crate::key::image_extension(original_key) {
        Some("png" | "gif" | "webp") => Format::Png,
        _ => Format::Jpeg,
    }
}

/// Whether a media range list names `mime` with a quality above zero (RFC 9110 §12.5.1).
fn accepts(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case(mime) {
            return false;
        }
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                return value.trim().parse::<f32>().is_ok_and(|q| q > 0.0);
            }
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Format] = &Format::ALL;
    const CHROME: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    const SAFARI_15: &str =
        "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5";

    #[test]
    fn modern_browsers() {
        assert_eq!(negotiate(Some(CHROME), "a.jpg", ALL), Format::Avif);
        assert_eq!(negotiate(Some(SAFARI_15), "a.jpg", ALL), Format::Webp);
        assert_eq!(negotiate(Some("IMAGE/AVIF"), "a.jpg", ALL), Format::Avif);
        assert_eq!(
            negotiate(Some(" image/webp ; q=0.9"), "a.jpg", ALL),
            Format::Webp
        );
    }

    #[test]
    fn zero_quality_means_refused() {
        assert_eq!(
            negotiate(Some("image/avif;q=0,image/webp"), "a.jpg", ALL),
            Format::Webp
        );
        assert_eq!(
            negotiate(Some("image/avif;q=0.0"), "a.jpg", ALL),
            Format::Jpeg
        );
        assert_eq!(
            negotiate(Some("image/avif;q=junk"), "a.jpg", ALL),
            Format::Jpeg
        );
    }

    #[test]
    fn wildcards_do_not_count() {
        assert_eq!(negotiate(Some("image/*,*/*"), "a.jpg", ALL), Format::Jpeg);
        assert_eq!(negotiate(None, "a.jpg", ALL), Format::Jpeg);
        assert_eq!(negotiate(Some(""), "a.jpg", ALL), Format::Jpeg);
    }

    #[test]
    fn fallback_keeps_alpha_capable_originals_in_png() {
        for key in ["a.png", "a.GIF", "dir/a.webp"] {
            assert_eq!(negotiate(None, key, ALL), Format::Png, "{key}");
        }
        for key in ["a.jpg", "a.JPEG", "a.avif"] {
            assert_eq!(negotiate(None, key, ALL), Format::Jpeg, "{key}");
        }
    }

    #[test]
    fn policy_limits_the_choice() {
        assert_eq!(
            negotiate(Some(CHROME), "a.jpg", &[Format::Jpeg, Format::Webp]),
            Format::Webp
        );
        assert_eq!(
            negotiate(Some(CHROME), "a.jpg", &[Format::Jpeg]),
            Format::Jpeg
        );
    }
}
