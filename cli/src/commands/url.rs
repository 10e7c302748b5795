//! `imgflex url`: what the edge does with a URL, without deploying anything.

use std::fmt;

use imgflex_core::{ErrorKind, ParseError, Route, Signing, TransformSpec, Viewer, route_signed};
use serde::Serialize;

use crate::cli::{GlobalArgs, UrlArgs};
use crate::config::load_policy;
use crate::error::CliError;
use crate::keyring::{self, Keyring};
use crate::output::Output;

/// What the edge does with the URL.
#[derive(Debug, Serialize)]
#[serde(tag = "route", rename_all = "lowercase")]
enum Outcome {
    /// Served from the originals bucket as it is.
    Original { uri: String, key: String },
    /// Rewritten to a canonical variant.
    Variant {
        uri: String,
        key: String,
        original: String,
        content_type: &'static str,
        vary_accept: bool,
        spec: TransformSpec,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Original { uri, .. } | Outcome::Variant { uri, .. } => f.write_str(uri),
        }
    }
}

/// `imgflex url --policy`: the variant space, and the bounds that make it.
#[derive(Debug, Serialize)]
struct Space {
    #[serde(flatten)]
    space: imgflex_core::VariantSpace,
    signing: &'static str,
    #[serde(skip)]
    line: String,
    #[serde(skip)]
    advice: Vec<String>,
}

impl Space {
    fn of(policy: &imgflex_core::Policy) -> Space {
        let (space, line) = crate::variant_space::summary(policy);
        let mut advice = Vec::new();
        if policy.versions {
            advice.push("`versions = false` refuses `v`, the one unbounded parameter".to_string());
        }
        for (empty, what) in [
            (
                policy.widths.is_empty(),
                "`widths = [...]` rounds w up to a few sizes",
            ),
            (
                policy.heights.is_empty(),
                "`heights = [...]` does the same for h",
            ),
            (
                policy.qualities.is_empty(),
                "`qualities = [...]` lists the q values taken",
            ),
            (
                policy.backgrounds.is_empty(),
                "`backgrounds = [...]` lists the bg colours taken",
            ),
        ] {
            if empty {
                advice.push(what.to_string());
            }
        }
        if policy.signing == Signing::Off {
            advice.push(
                "`signing = \"ad-hoc\"` leaves strangers only the presets; \"required\" nothing"
                    .to_string(),
            );
        }
        Space {
            space,
            signing: policy.signing.as_str(),
            line,
            advice,
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (an upper bound; signing = \"{}\")",
            self.line, self.signing
        )?;
        if !self.advice.is_empty() {
            write!(f, "\nto bound it:")?;
            for a in &self.advice {
                write!(f, "\n  {a}")?;
            }
        }
        Ok(())
    }
}

/// The refusal, as data for `--output json`.
#[derive(Debug, Serialize)]
struct Refusal<'a> {
    status: u16,
    error: String,
    param: Option<&'a str>,
    input: &'a str,
}

pub fn run(args: UrlArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let policy = load_policy(global.config.as_deref())?;
    let Some(key) = &args.key else {
        return out.data(&Space::of(&policy));
    };
    let target = request_target(key, args.query.as_deref());
    out.verbose(format_args!("request: {target}"));

    let now = args.at.unwrap_or_else(keyring::now);
    let ring = match (&args.keys, policy.signing) {
        (Some(file), _) => keyring::load(file)?,
        (None, Signing::Off) => Keyring::default(),
        (None, _) => keyring::load(&keyring::local_path()?)?,
    };
    if policy.signing != Signing::Off {
        out.verbose(format_args!(
            "signing = \"{}\": checked with {} key(s) as of {}",
            policy.signing.as_str(),
            ring.keys.len(),
            keyring::timestamp(now)
        ));
    }
    let hint = |name: &str| {
        args.hints
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let viewer = Viewer {
        accept: args.accept.as_deref(),
        ..Viewer::from_headers(hint)
    };
    match route_signed(&target, viewer, &policy, now, &|kid| ring.secret(kid)) {
        Ok(route) => {
            let uri = route.uri();
            let outcome = match route {
                Route::Original { key } => {
                    out.verbose("route: original (served from the originals bucket as it is)");
                    Outcome::Original { uri, key }
                }
                Route::Variant(variant) => Outcome::Variant {
                    key: variant.key(),
                    content_type: variant.content_type(),
                    vary_accept: variant.spec.auto_format,
                    original: variant.original,
                    spec: variant.spec,
                    uri,
                },
            };
            out.data(&outcome)
        }
        Err(err) => refuse(&err, out),
    }
}

/// Builds `/path?query` from what the user typed: a bare key, a path, a full URL, with the
/// query attached or given separately.
fn request_target(key: &str, query: Option<&str>) -> String {
    let mut target = key.trim();
    for scheme in ["https://", "http://"] {
        if let Some(rest) = target.strip_prefix(scheme) {
            target = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    let mut target = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };
    if let Some(query) = query {
        let query = query.strip_prefix('?').unwrap_or(query);
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(query);
    }
    target
}

fn refuse(err: &ParseError, out: &Output) -> Result<(), CliError> {
    let status = err.status();
    let failure = CliError::new(format!("{} (the edge answers {status})", err.kind));
    let failure = if err.input.is_empty() {
        failure
    } else {
        CliError::new(format!("{}, in `{}`", failure.message, err.input))
    };
    let failure = failure.hint(match err.kind {
        ErrorKind::SignatureRequired | ErrorKind::BadSignature => {
            "this policy's `signing` needs a signature over the URL as sent: `imgflex sign URL` \
             makes one (the README's \"Signed URLs\" gives the format)"
        }
        ErrorKind::UnknownKey => {
            "the key is not in the keyring checked (`imgflex keys list`, or --keys FILE): \
             retired, or never there"
        }
        ErrorKind::BadExpiry | ErrorKind::Expired(_) => {
            "sign the URL again (`imgflex sign URL --expires 7d`); --at UNIX checks another time"
        }
        ErrorKind::BadPath(why) if why.contains("_v/") => {
            "`/_v/…` is where variants live and is not for viewers: ask for the original with a \
             query (`/photos/cat.jpg?w=400`) or the path form"
        }
        ErrorKind::BadPath(_) | ErrorKind::NotAnImage => {
            "keys are UTF-8 without control characters, `\\`, empty, `.` or `..` segments, at most \
             900 bytes, and only images (.jpg .jpeg .png .webp .gif .avif) take parameters"
        }
        _ => {
            "parameters are w, h, fit, g, fm, q, dpr, bg, enlarge, v and p; the README's URL grammar lists their values"
        }
    });
    if out.format == crate::cli::OutputFormat::Json {
        out.json(&Refusal {
            status,
            error: err.kind.to_string(),
            param: err.header_param(),
            input: &err.input,
        })?;
        return Err(failure.reported());
    }
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::request_target;

    #[test]
    fn request_targets() {
        assert_eq!(
            request_target("photos/cat.jpg", Some("w=1")),
            "/photos/cat.jpg?w=1"
        );
        assert_eq!(
            request_target("/photos/cat.jpg", Some("?w=1")),
            "/photos/cat.jpg?w=1"
        );
        assert_eq!(
            request_target("/photos/cat.jpg?w=1", Some("h=2")),
            "/photos/cat.jpg?w=1&h=2"
        );
        assert_eq!(
            request_target("https://cdn.example.com/a.jpg?w=1", None),
            "/a.jpg?w=1"
        );
        assert_eq!(request_target("photos/cat.jpg", None), "/photos/cat.jpg");
    }
}
