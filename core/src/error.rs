//! Why a URL was refused, and what that means over HTTP.

use thiserror::Error;

/// A refused request: the offending input and why. Every kind maps to an HTTP status and a
/// short public message that names the parameter, never internal detail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct ParseError {
    /// The token that was refused, as the viewer wrote it (`utm_source=x`, `w_abc`, a path).
    pub input: String,
    pub kind: ErrorKind,
}

impl ParseError {
    pub(crate) fn new(input: impl Into<String>, kind: ErrorKind) -> ParseError {
        ParseError {
            input: input.into(),
            kind,
        }
    }

    /// The HTTP status the edge and the handler answer with.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The parameter the error is about, when there is one (for scripts and tests).
    pub fn param(&self) -> Option<&str> {
        self.kind.param()
    }

    /// The parameter as the `x-imgflex-param` response header may carry it: only a name of at
    /// most 32 of `A-Za-z0-9_.-`, never other viewer text (CR/LF, quotes, long junk); else
    /// nothing. The edge function applies the same rule.
    pub fn header_param(&self) -> Option<&str> {
        self.param().filter(|p| {
            (1..=32).contains(&p.len())
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    /// Shown with control characters escaped: the name is the viewer's text.
    #[error("unknown parameter `{}`", visible(.0))]
    UnknownParam(String),
    #[error("parameter `{0}` is given more than once")]
    RepeatedParam(String),
    #[error("invalid value for `{param}`: expected {expected}")]
    InvalidValue {
        param: &'static str,
        expected: &'static str,
    },
    #[error("`{param}` must be between {min} and {max}")]
    OutOfRange {
        param: &'static str,
        min: u32,
        max: u32,
    },
    #[error("`{param}` must be one of {allowed}")]
    NotListed {
        param: &'static str,
        allowed: String,
    },
    #[error("`v` is not allowed on this service")]
    VersionsOff,
    /// `w=auto` takes the width, in device pixels, from the viewer's hint: a height or a
    /// dpr next to it would make the image's shape or size depend on the hint twice.
    #[error("`{0}` cannot be given with `w=auto`")]
    WithAutoWidth(&'static str),
    #[error("unknown preset `{0}`")]
    UnknownPreset(String),
    #[error("`{0}` is not allowed: presets only (`p`)")]
    PresetsOnly(String),
    #[error("a preset (`p`) is required")]
    PresetRequired,
    #[error("format `{0}` is not enabled on this service")]
    FormatNotAllowed(&'static str),
    #[error("not an image (jpeg, png, webp, gif, avif)")]
    NotAnImage,
    #[error("query and path forms mixed")]
    MixedForms,
    #[error("more than {0} query parameters")]
    TooManyParams(usize),
    #[error("malformed path: {0}")]
    BadPath(&'static str),
    #[error("not a canonical variant key")]
    NotCanonical,
    // The messages are the edge's, word for word, and short: they are in the edge
    // function's 10 KB.
    #[error("a signature (`sig`) is required")]
    SignatureRequired,
    #[error("unknown signing key (`kid`)")]
    UnknownKey,
    #[error("signature (`sig`) does not match")]
    BadSignature,
    #[error("invalid value for `exp`: expected unix seconds")]
    BadExpiry,
    #[error("signed URL expired at {0}")]
    Expired(u64),
}

impl ErrorKind {
    /// Every refusal is the viewer's doing: 400 for the grammar, 403 for a signature. The
    /// mapping lives here so the edge function, the handler and `imgflex url` agree.
    pub fn status(&self) -> u16 {
        match self {
            ErrorKind::SignatureRequired
            | ErrorKind::UnknownKey
            | ErrorKind::BadSignature
            | ErrorKind::BadExpiry
            | ErrorKind::Expired(_) => 403,
            _ => 400,
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            ErrorKind::UnknownParam(p) | ErrorKind::RepeatedParam(p) => Some(p),
            ErrorKind::PresetsOnly(p) => Some(p),
            ErrorKind::InvalidValue { param, .. } | ErrorKind::OutOfRange { param, .. } => {
                Some(param)
            }
            ErrorKind::UnknownPreset(_) | ErrorKind::PresetRequired => Some("p"),
            ErrorKind::NotListed { param, .. } => Some(param),
            ErrorKind::VersionsOff => Some("v"),
            ErrorKind::WithAutoWidth(p) => Some(p),
            ErrorKind::FormatNotAllowed(_) => Some("fm"),
            ErrorKind::SignatureRequired | ErrorKind::BadSignature => Some("sig"),
            ErrorKind::UnknownKey => Some("kid"),
            ErrorKind::BadExpiry | ErrorKind::Expired(_) => Some("exp"),
            ErrorKind::NotAnImage
            | ErrorKind::MixedForms
            | ErrorKind::TooManyParams(_)
            | ErrorKind::BadPath(_)
            | ErrorKind::NotCanonical => None,
        }
    }
}

/// Viewer text as a message may show it: control characters escaped (`\r\n` stays two
/// visible escapes instead of moving a terminal's cursor), everything else as it is.
fn visible(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// The messages of an error and its sources, joined with `: `, each once: SDK errors put the
/// useful part (connection refused, the service's message) a few levels down, often repeated
/// by the level above. The one formatter for every error chain imgflex logs or prints.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_reach_the_header() {
        let unknown = |name: &str| ParseError::new(name, ErrorKind::UnknownParam(name.into()));
        assert_eq!(unknown("utm_source").header_param(), Some("utm_source"));
        assert_eq!(unknown("\r\nSet-Cookie: a").header_param(), None);
        assert_eq!(unknown(&"a".repeat(33)).header_param(), None);
        assert_eq!(unknown("").header_param(), None);
        assert_eq!(
            unknown("a'b\r\n").kind.to_string(),
            "unknown parameter `a'b\\r\\n`"
        );
    }

    #[test]
    fn chain_joins_sources_without_repeating_them() {
        let inner = std::io::Error::other("connection refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(error_chain(&outer), "connection refused");
        #[derive(Debug)]
        struct Wrap(std::io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(
            error_chain(&Wrap(std::io::Error::other("connection refused"))),
            "dispatch failure: connection refused"
        );
    }
}
