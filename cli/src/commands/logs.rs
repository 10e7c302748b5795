//! `imgflex logs`: the resize Lambda's own lines from CloudWatch Logs (one JSON line per
//! request, `RequestLog` in the handler), filtered by status and key, as a table or JSON
//! lines, once or following.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::aws::{Aws, poll_interval, runtime, sdk_error};
use crate::cli::{GlobalArgs, LogsArgs, OutputFormat};
use crate::deployed::{Deployed, check_stack_name};
use crate::error::CliError;
use crate::keyring;
use crate::output::Output;

/// Which responses to show: one status, or a class (`5xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    Exact(u16),
    Class(u16),
}

impl StatusFilter {
    fn parse(text: &str) -> Result<StatusFilter, CliError> {
        let text = text.trim().to_ascii_lowercase();
        let bad = || {
            CliError::new(format!("`{text}` is not a status"))
                .hint("give one (`404`) or a class (`4xx`, `5xx`)")
        };
        if let Some(class) = text.strip_suffix("xx") {
            return match class.parse::<u16>() {
                Ok(c @ 1..=5) => Ok(StatusFilter::Class(c)),
                _ => Err(bad()),
            };
        }
        match text.parse::<u16>() {
            Ok(s @ 100..=599) => Ok(StatusFilter::Exact(s)),
            _ => Err(bad()),
        }
    }

    fn admits(self, status: u16) -> bool {
        match self {
            StatusFilter::Exact(s) => status == s,
            StatusFilter::Class(c) => status / 100 == c,
        }
    }

    /// The same test as a CloudWatch Logs JSON filter term, so AWS sends only what shows.
    fn pattern(self) -> String {
        match self {
            StatusFilter::Exact(s) => format!("$.status = {s}"),
            StatusFilter::Class(c) => {
                format!("$.status >= {} && $.status <= {}", c * 100, c * 100 + 99)
            }
        }
    }
}

/// What to show, checked on every line (CloudWatch's own filtering is an optimisation:
/// a line it lets through that does not match is still left out here).
#[derive(Debug, Clone)]
struct Filter {
    status: Option<StatusFilter>,
    key: Option<String>,
}

impl Filter {
    /// The JSON filter pattern for FilterLogEvents, `None` when nothing narrows it. A key
    /// prefix goes in only when it is plain (a `"` or `*` would change the pattern's meaning).
    fn pattern(&self) -> Option<String> {
        let mut terms = Vec::new();
        if let Some(status) = self.status {
            terms.push(status.pattern());
        }
        if let Some(key) = &self.key
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
        {
            terms.push(format!("$.path = \"/_v/{key}*\""));
        }
        (!terms.is_empty()).then(|| format!("{{ {} }}", terms.join(" && ")))
    }

    fn admits(&self, line: &Line) -> bool {
        match &line.request {
            Some(r) => {
                self.status.is_none_or(|s| s.admits(r.status))
                    && self
                        .key
                        .as_deref()
                        .is_none_or(|k| variant_key(&r.path).starts_with(k))
            }
            // A line that is not a request's (a panic, a timeout) has no status or key:
            // shown unless the filter asks for a status or key.
            None => self.status.is_none() && self.key.is_none(),
        }
    }
}

/// The original's key a handler path names: `/_v/photos/cat.jpg/w400_….webp` is under
/// `photos/cat.jpg`, percent-decoded.
fn variant_key(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    let rest = rest.strip_prefix("_v/").unwrap_or(rest);
    crate::access_log::decode(rest).into_owned()
}

/// The handler's JSON line (the fields `logs` shows; others are kept in `--output json`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Request {
    status: u16,
    path: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    fetch_ms: u64,
    #[serde(default)]
    transform_ms: u64,
    #[serde(default)]
    store_ms: u64,
    #[serde(default)]
    out_bytes: u64,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Line {
    time: String,
    #[serde(skip)]
    timestamp: i64,
    #[serde(skip)]
    id: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    request: Option<Request>,
    /// A line that is not a request's: the runtime's own (a timeout, a panic).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl Line {
    /// A log event; `None` for the Lambda platform's START, END and REPORT lines, which
    /// say nothing a request line does not.
    fn parse(timestamp: i64, id: String, message: &str) -> Option<Line> {
        let message = message.trim_end();
        if ["START ", "END ", "REPORT ", "INIT_START "]
            .iter()
            .any(|p| message.starts_with(p))
        {
            return None;
        }
        let request = serde_json::from_str::<Request>(message).ok();
        Some(Line {
            time: crate::keyring::timestamp(u64::try_from(timestamp / 1000).unwrap_or(0)),
            timestamp,
            id,
            message: request.is_none().then(|| message.to_string()),
            request,
        })
    }

    fn text(&self) -> String {
        let mut text = format!("{}  ", self.time);
        match (&self.request, &self.message) {
            (Some(r), _) => {
                let _ = write!(
                    text,
                    "{} {:<8} {:>6} ms {:>9} B  {}",
                    r.status,
                    r.source.as_deref().unwrap_or("-"),
                    r.fetch_ms + r.transform_ms + r.store_ms,
                    r.out_bytes,
                    r.path
                );
                if let Some(error) = &r.error {
                    let _ = write!(text, "\n    error: {error}");
                }
            }
            (None, Some(message)) => text.push_str(message),
            (None, None) => {}
        }
        text
    }
}

pub fn run(args: LogsArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    check_stack_name(&args.stack.stack_name)?;
    let filter = Filter {
        status: args
            .status
            .as_deref()
            .map(StatusFilter::parse)
            .transpose()?,
        key: args
            .key
            .as_deref()
            .map(|k| k.trim_start_matches('/').to_string()),
    };
    runtime()?.block_on(logs(&args, global, &filter, out))
}

async fn logs(
    args: &LogsArgs,
    global: &GlobalArgs,
    filter: &Filter,
    out: &Output,
) -> Result<(), CliError> {
    let aws = Aws::connect(global).await?;
    let name = &args.stack.stack_name;
    let deployed = Deployed::find(&aws, name).await?.ok_or_else(|| {
        CliError::new(format!("no stack `{name}` in {}", aws.region()))
            .hint("deploy it with `imgflex deploy`, or pass --region / --stack-name")
    })?;
    let group = deployed
        .stack
        .value("LogGroupName", "HandlerLogGroup")
        .unwrap_or_else(|| format!("/aws/lambda/{name}-resize"));
    let now_ms = i64::try_from(keyring::now()).unwrap_or(0) * 1000;
    let start = now_ms - i64::try_from(args.since).unwrap_or(0) * 1000;
    let logs = aws.logs();
    let pattern = filter.pattern();
    out.verbose(format!(
        "reading {group} from {}{}",
        keyring::timestamp(u64::try_from(start / 1000).unwrap_or(0)),
        pattern
            .as_deref()
            .map_or(String::new(), |p| format!(" with {p}"))
    ));

    // The newest `limit` lines of the window, in order.
    let mut shown: VecDeque<Line> = VecDeque::new();
    let mut last = start;
    let mut seen_at_last: HashSet<String> = HashSet::new();
    read(&logs, &group, start, pattern.as_deref(), |line| {
        if filter.admits(&line) {
            track(&mut last, &mut seen_at_last, &line);
            shown.push_back(line);
            if !args.follow && shown.len() > args.limit {
                shown.pop_front();
            }
        }
    })
    .await?;
    if shown.is_empty() && !args.follow {
        out.status(format!(
            "no lines in {group} since {}{}",
            keyring::timestamp(u64::try_from(start / 1000).unwrap_or(0)),
            if pattern.is_some() { " that match" } else { "" }
        ));
    }
    for line in shown.drain(..) {
        print(&line, out)?;
    }
    if !args.follow {
        return Ok(());
    }
    // Following: ask again from the newest line seen (events with one timestamp may
    // straddle two calls, hence the ids already printed at it), until Ctrl-C.
    let interval = poll_interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        let mut fresh = Vec::new();
        read(&logs, &group, last, pattern.as_deref(), |line| {
            if !seen_at_last.contains(&line.id) && filter.admits(&line) {
                fresh.push(line);
            }
        })
        .await?;
        for line in fresh {
            track(&mut last, &mut seen_at_last, &line);
            print(&line, out)?;
        }
    }
}

fn track(last: &mut i64, seen: &mut HashSet<String>, line: &Line) {
    if line.timestamp > *last {
        *last = line.timestamp;
        seen.clear();
    }
    if line.timestamp == *last {
        seen.insert(line.id.clone());
    }
}

/// Every event of the group from `start` (ms), page by page, each parsed into a line.
async fn read(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start: i64,
    pattern: Option<&str>,
    mut each: impl FnMut(Line),
) -> Result<(), CliError> {
    let mut pages = logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(start)
        .set_filter_pattern(pattern.map(str::to_string))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if crate::aws::error_code(&e) == Some("ResourceNotFoundException") => {
                return Err(CliError::new(format!("log group `{group}` does not exist"))
                    .hint("the handler has not run yet, or the stack was made by an older imgflex: `imgflex deploy` creates it"));
            }
            Err(e) => return Err(sdk_error(&format!("cannot read log group `{group}`"), e)),
        };
        for event in page.events() {
            if let Some(line) = Line::parse(
                event.timestamp().unwrap_or(0),
                event.event_id().unwrap_or_default().to_string(),
                event.message().unwrap_or_default(),
            ) {
                each(line);
            }
        }
    }
    Ok(())
}

fn print(line: &Line, out: &Output) -> Result<(), CliError> {
    let text = match out.format {
        OutputFormat::Json => serde_json::to_string(line)
            .map_err(|e| CliError::new(format!("cannot encode a log line: {e}")))?,
        OutputFormat::Text => line.text(),
    };
    let mut stdout = std::io::stdout().lock();
    match std::io::Write::write_all(&mut stdout, format!("{text}\n").as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(format!("cannot write to stdout: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> Option<Line> {
        Line::parse(1_796_126_400_000, "e1".into(), message)
    }

    #[test]
    fn statuses_parse_and_become_cloudwatch_terms() {
        assert_eq!(
            StatusFilter::parse("5xx").ok(),
            Some(StatusFilter::Class(5))
        );
        assert_eq!(
            StatusFilter::parse(" 404 ").ok(),
            Some(StatusFilter::Exact(404))
        );
        for bad in ["6xx", "0xx", "abc", "99", "600", ""] {
            assert!(StatusFilter::parse(bad).is_err(), "{bad}");
        }
        let filter = Filter {
            status: Some(StatusFilter::Class(5)),
            key: Some("photos/".into()),
        };
        assert_eq!(
            filter.pattern().as_deref(),
            Some("{ $.status >= 500 && $.status <= 599 && $.path = \"/_v/photos/*\" }")
        );
        // A key that would change the pattern's meaning is filtered here only.
        let odd = Filter {
            status: None,
            key: Some("a\"b*".into()),
        };
        assert_eq!(odd.pattern(), None);
    }

    #[test]
    fn lines_are_requests_or_messages_and_platform_lines_are_dropped() {
        assert!(line("START RequestId: 1 Version: $LATEST").is_none());
        assert!(line("REPORT RequestId: 1 Duration: 3 ms").is_none());
        let request = line(r#"{"method":"GET","path":"/_v/photos/a%20b.jpg/w1.webp","status":502,"source":"render","fetch_ms":3,"transform_ms":40,"store_ms":2,"in_bytes":9,"out_bytes":0,"error":"decode: truncated"}"#)
            .unwrap_or_else(|| panic!("dropped"));
        let r = request
            .request
            .as_ref()
            .unwrap_or_else(|| panic!("not a request"));
        assert_eq!(r.status, 502);
        assert_eq!(variant_key(&r.path), "photos/a b.jpg/w1.webp");
        assert!(
            request.text().contains("502 render       45 ms"),
            "{}",
            request.text()
        );
        assert!(request.text().ends_with("error: decode: truncated"));
        let timeout = line("2026-12-01T10:00:00.000Z 1 Task timed out after 28.03 seconds")
            .unwrap_or_else(|| panic!("dropped"));
        assert!(timeout.request.is_none());

        let five = Filter {
            status: Some(StatusFilter::Class(5)),
            key: Some("photos/a b".into()),
        };
        assert!(five.admits(&request));
        assert!(!five.admits(&timeout));
        let other_key = Filter {
            status: None,
            key: Some("banners/".into()),
        };
        assert!(!other_key.admits(&request));
        let all = Filter {
            status: None,
            key: None,
        };
        assert!(all.admits(&timeout));
    }
}
