//! `fm=auto`: choosing the output format from the viewer's `Accept` header.

use crate::spec::Format;

/// The longest `Accept` header read, in characters. Browsers send under 200; a longer one is
/// treated as absent, so a megabyte of commas costs the edge nothing (its runtime has 2 MB).
pub const MAX_ACCEPT_CHARS: usize = 1024;

/// AVIF if `Accept` names `image/avif`, else WebP if it names `image/webp` (each only when the
/// policy allows it), else the legacy fallback: PNG for originals that may carry alpha (PNG,
/// GIF, WebP), JPEG for the rest. `image/*` and `*/*` do not count: every browser that decodes
/// AVIF or WebP names them explicitly, and old ones send `*/*` too.
pub fn negotiate(accept: Option<&str>, original_key: &str, allowed: &[Format]) -> Format {
    let accept = accept.filter(|a| readable(a)).unwrap_or("");
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

/// Whether the header is read at all: at most [`MAX_ACCEPT_CHARS`], and only visible ASCII,
/// spaces and tabs (no media type or parameter has anything else). Engines disagree on what
/// "whitespace" and "length" are beyond ASCII; this keeps the edge and Rust on one answer.
fn readable(accept: &str) -> bool {
    accept.len() <= MAX_ACCEPT_CHARS
        && accept
            .bytes()
            .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
}

/// Whether a media range list names `mime` with a weight above zero (RFC 9110 §12.4.2,
/// §12.5.1): `range *( OWS ";" OWS parameter )`, the weight being the first parameter named
/// `q` (any case) with a value in the `qvalue` grammar. A range whose `q` is not a `qvalue`
/// (`q=inf`, `q=1e-50`, `q=0x1`, `q=1.5`) is not counted.
fn accepts(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = ows(parts.next().unwrap_or(""));
        if !media.eq_ignore_ascii_case(mime) {
            return false;
        }
        for param in parts {
            let param = ows(param);
            if param.len() >= 2 && param[..2].eq_ignore_ascii_case("q=") {
                let q = &param[2..];
                return is_qvalue(q) && q.bytes().any(|b| (b'1'..=b'9').contains(&b));
            }
        }
        true
    })
}

/// `OWS` is spaces and tabs, nothing else (RFC 9110 §5.6.3).
fn ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
fn is_qvalue(q: &str) -> bool {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    let frac_ok = |digit: fn(&u8) -> bool| frac.len() <= 3 && frac.as_bytes().iter().all(digit);
    match int {
        "0" => frac_ok(u8::is_ascii_digit),
        "1" => frac_ok(|b| *b == b'0'),
        _ => false,
    }
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
    fn weights_follow_the_qvalue_grammar_exactly() {
        for good in ["q=1", "q=1.", "q=1.000", "q=0.001", "Q=0.5", "q=0.9"] {
            assert_eq!(
                negotiate(Some(&format!("image/avif;{good}")), "a.jpg", ALL),
                Format::Avif,
                "{good}"
            );
        }
        for bad in [
            "q=inf", "q=1e-50", "q=0x1", "q=1.5", "q=1.0001", "q=0.0001", "q=.5", "q=+1", "q= 1",
            "q=", "q=0", "q=0.000", "q=01",
        ] {
            assert_eq!(
                negotiate(Some(&format!("image/avif;{bad}")), "a.jpg", ALL),
                Format::Jpeg,
                "{bad}"
            );
        }
    }

    #[test]
    fn only_plain_ascii_headers_of_bounded_length_are_read() {
        for odd in [
            "\u{feff}image/avif",
            "image/avif\u{85}",
            "image/avif\n",
            "image/\u{212a}",
        ] {
            assert_eq!(negotiate(Some(odd), "a.jpg", ALL), Format::Jpeg, "{odd:?}");
        }
        assert_eq!(
            negotiate(Some("\timage/avif\t;\tq=1"), "a.jpg", ALL),
            Format::Avif
        );
        let long = format!("{}image/avif", ",".repeat(MAX_ACCEPT_CHARS));
        assert_eq!(negotiate(Some(&long), "a.jpg", ALL), Format::Jpeg);
        let edge = format!("{}image/avif", " ".repeat(MAX_ACCEPT_CHARS - 10));
        assert_eq!(negotiate(Some(&edge), "a.jpg", ALL), Format::Avif);
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
