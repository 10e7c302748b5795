//! Plain HTTP GETs through the CDN (or `imgflex dev`), as a viewer makes them: for `verify`
//! and `warm`, which judge what a viewer gets, so no retries, no redirects followed and no
//! status turned into an error.

use std::time::{Duration, Instant};

use crate::error::CliError;

/// The most of a body read: far above any image the handler sends (its response is capped
/// at 6 MB), so a wrong URL streaming forever stops here.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// What came back for one GET.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub bytes: u64,
    pub ms: u64,
}

impl Fetched {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// CloudFront's `x-cache` first word: `Hit`, `Miss`, `RefreshHit`, `Error`,
    /// `FunctionGeneratedResponse`, …
    pub fn cache(&self) -> Option<&str> {
        self.header("x-cache")
            .and_then(|v| v.split_whitespace().next())
    }

    /// The media type of `content-type`, without parameters.
    pub fn media_type(&self) -> Option<&str> {
        self.header("content-type")
            .map(|v| v.split(';').next().unwrap_or(v).trim())
    }
}

/// One agent for a command's requests (its connections are reused).
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("imgflex/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: config.into(),
        }
    }

    /// GET `url` with the `accept` header (none when `None`), reading the whole body.
    pub fn get(&self, url: &str, accept: Option<&str>) -> Result<Fetched, CliError> {
        self.fetch(url, accept).map(|(fetched, _)| fetched)
    }

    /// The status and the body as text (lossy), for small JSON answers.
    pub fn get_text(&self, url: &str) -> Result<(u16, String), CliError> {
        let (fetched, body) = self.fetch(url, None)?;
        Ok((fetched.status, String::from_utf8_lossy(&body).into_owned()))
    }

    fn fetch(&self, url: &str, accept: Option<&str>) -> Result<(Fetched, Vec<u8>), CliError> {
        let started = Instant::now();
        let mut request = self.agent.get(url);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.call().map_err(|e| unreachable(url, &e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| unreachable(url, &e))?;
        let fetched = Fetched {
            status,
            headers,
            bytes: body.len() as u64,
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        Ok((fetched, body))
    }
}

fn unreachable(url: &str, err: &ureq::Error) -> CliError {
    CliError::new(format!("GET {url} failed: {err}"))
        .hint("check the URL and the network (`imgflex status` shows the CDN's address)")
}

/// `base` without its trailing `/`, checked to be an http(s) URL with no path of its own
/// beyond `/`, so `base + "/key?query"` is the URL a viewer asks for.
pub fn base_url(base: &str) -> Result<String, CliError> {
    let trimmed = base.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#']) => {
            Ok(trimmed.to_string())
        }
        _ => Err(CliError::new(format!("`{base}` is not a CDN address")).hint(
            "give the scheme and host only, e.g. --url https://d111111abcdef8.cloudfront.net or --url http://127.0.0.1:8080",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn a_base_is_a_scheme_and_a_host() {
        assert_eq!(
            base_url("https://d1.cloudfront.net/").unwrap(),
            "https://d1.cloudfront.net"
        );
        assert_eq!(
            base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "d1.cloudfront.net",
            "https://",
            "https://a/b",
            "ftp://a",
            "http://a?x",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }
}
