//! CloudFront standard logs (the legacy format) boiled down to what `imgflex stats` reports.
//!
//! The files are W3C extended logs: a `#Version:` line, a `#Fields:` line naming the
//! tab-separated columns, then one row per viewer request, `-` for an empty value. Columns
//! are found by the `#Fields:` names, never by position, because CloudFront has added
//! fields over the years (and may again). Values are URL-encoded by the log writer (a
//! space as `%20`, a `%` as `%25`, so a viewer's `%20` is logged as `%2520`); [`decode`]
//! undoes that one layer.
//!
//! Reading is streaming: a line at a time into one reused buffer, a line longer than any
//! CloudFront writes skipped without being held, and the top lists kept by Space-Saving
//! ([`TopK`]) with a fixed capacity, so neither a gigabyte of logs nor a flood of distinct
//! junk URIs grows memory. What a row means for imgflex (an original or which variant) is
//! the caller's to say, through the `classify` function [`read_log`] is given.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{self, BufRead};

use serde::{Serialize, Serializer};

/// The longest line kept. CloudFront does not log a request whose URL exceeds 8,192 bytes
/// or whose headers exceed 20 KB, so its rows are well under this; a longer line is junk
/// (or not a log) and is skipped without being held in memory.
const MAX_LINE: usize = 64 * 1024;

/// Distinct names each top list tracks. Counts are exact while a list has seen no more
/// distinct names than this; past it they are bounded estimates (see [`TopK`]).
pub const TOP_CAPACITY: usize = 1024;

/// Names each top list reports.
pub const TOP_SHOWN: usize = 10;

/// The longest name a top list stores, in bytes; longer ones are cut (at a character
/// boundary) and marked with `…`. With [`TOP_CAPACITY`] this bounds each list's memory.
const MAX_NAME: usize = 512;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// What a served request was for, as the caller's classifier names it: the name is what
/// the request is counted under (the original's key, the variant's canonical key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Original(String),
    Variant(String),
}

/// A failure to read a log at all (an I/O or decompression error). Bad lines are not
/// errors: they are counted in [`Summary::skipped`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read the CloudFront log: {0}")]
    Read(#[from] io::Error),
}

/// Reads one log file's lines into `summary`, counting the rows at or after `since` and at
/// or before `until` (seconds since the Unix epoch, UTC; `None` does not bound). `reader` is the file's
/// decompressed text, e.g. a `BufReader` over a `flate2::read::MultiGzDecoder`.
///
/// `classify` gets each served row's URI stem (with the log's own encoding undone: the path
/// as the viewer sent it, so still percent-encoded by the viewer, e.g.
/// `/banners/sale%20banner.jpg`) and its query string the same way (`""` when there is
/// none), and says what the row counts under in the top originals and variants.
///
/// On an error, the rows read before it stay counted in `summary`.
pub fn read_log(
    mut reader: impl BufRead,
    since: Option<i64>,
    until: Option<i64>,
    classify: &dyn Fn(&str, &str) -> Kind,
    summary: &mut Summary,
) -> Result<(), LogError> {
    summary.files += 1;
    // Bytes, not a `String`: a line that is not UTF-8 is then a skipped row, where
    // `read_line` would give an error indistinguishable from a broken stream.
    let mut buf = Vec::new();
    let mut layout: Option<Layout> = None;
    while let Some(line) = next_line(&mut reader, &mut buf)? {
        if line == Line::TooLong {
            summary.skipped += 1;
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            summary.skipped += 1;
            continue;
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            continue;
        }
        if let Some(directive) = text.strip_prefix('#') {
            // Every file starts with its own header; a `#Fields:` line replaces the layout
            // (concatenated files each bring theirs). `#Version:` and others say nothing
            // the rows need.
            if let Some(fields) = directive.strip_prefix("Fields:") {
                layout = Layout::parse(fields);
            }
            continue;
        }
        let Some(row) = layout.as_ref().and_then(|layout| Row::parse(layout, text)) else {
            summary.skipped += 1;
            continue;
        };
        if since.is_some_and(|since| row.time < since)
            || until.is_some_and(|until| row.time > until)
        {
            summary.outside_window += 1;
            continue;
        }
        summary.count(&row, classify);
    }
    Ok(())
}

/// Undoes one layer of percent-encoding: each `%XX` (two hex digits) becomes its byte;
/// anything else, an invalid or cut-off escape included, is kept as it is. Bytes that do not
/// form UTF-8 become U+FFFD. `+` is left alone: it means a space only in form data.
pub fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex);
            let low = bytes.get(i + 2).copied().and_then(hex);
            if let (Some(high), Some(low)) = (high, low) {
                out.push((high << 4) | low);
                i += 3;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A log object's name, `<prefix><distribution ID>.YYYY-MM-DD-HH.<unique ID>.gz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFileName<'a> {
    pub distribution_id: &'a str,
    /// The start of the hour the file's requests occurred in, in seconds since the Unix
    /// epoch (UTC). CloudFront names a file for the period its requests occurred in, even
    /// when it delivers them up to a day late.
    pub hour: i64,
}

impl LogFileName<'_> {
    /// Whether the file can hold rows at or after `since`, so that older files need not be
    /// downloaded. A file's requests occurred in its hour, but a row's `time` is when the
    /// response finished, which for a request near the end of the hour is in the next one:
    /// a file is only ruled out when its hour ended more than an hour (the margin, far longer
    /// than any image response takes) before `since`. Rows are still filtered one by one,
    /// so the margin costs a few downloads, never a wrong count.
    pub fn may_hold_rows_since(&self, since: i64) -> bool {
        self.hour + 2 * HOUR > since
    }
}

/// Parses a log object's key (any prefix before the last `/`); `None` when it is not a
/// CloudFront standard log file's name.
pub fn parse_log_file_name(key: &str) -> Option<LogFileName<'_>> {
    let name = key.rsplit_once('/').map_or(key, |(_, name)| name);
    let mut parts = name.split('.');
    let (Some(id), Some(stamp), Some(unique), Some("gz"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) || unique.is_empty() {
        return None;
    }
    // `YYYY-MM-DD-HH`
    if stamp.len() != 13 || stamp.as_bytes().get(10) != Some(&b'-') {
        return None;
    }
    let days = days(stamp.get(..10)?)?;
    let hour = number(stamp.get(11..)?)?;
    if hour > 23 {
        return None;
    }
    Some(LogFileName {
        distribution_id: id,
        hour: days * DAY + hour * HOUR,
    })
}

/// The counts `imgflex stats` reports. Fill it with [`read_log`], one call per log file;
/// `renders` is the caller's, from another source.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Log files read (calls to [`read_log`]).
    pub files: u64,
    /// Rows counted: well-formed and inside the window.
    pub requests: u64,
    /// Served from the edge cache: `Hit` or `RefreshHit` (found expired, and the origin
    /// said it was still current).
    pub hits: u64,
    /// `Miss`: the edge cache did not have it. This includes the misses Origin Shield's
    /// cache answered (`OriginShieldHit` is a detailed result type, reported below the
    /// `Miss`), which reached neither bucket nor renderer; see `origin_shield_hits`.
    pub misses: u64,
    /// `Error`: a 4xx or 5xx answered by CloudFront or the origin.
    pub errors: u64,
    /// `FunctionGeneratedResponse`: answered by the edge function itself (its 400s for
    /// bad parameters, 403s for bad signatures), before any cache.
    pub function_generated: u64,
    /// Every other result type: `Redirect` (HTTP to HTTPS), `LimitExceeded`,
    /// `CapacityExceeded`, and any CloudFront adds.
    pub other_results: u64,
    /// Rows whose detailed result type is `OriginShieldHit`, counted among the others by
    /// their result type (normally `misses`).
    pub origin_shield_hits: u64,
    /// Rows CloudFront marked `Error` only because the viewer went away before the last
    /// byte (the response result type is not `Error`); counted by the response result type,
    /// since what the cache did is what these counts are about.
    pub viewer_disconnects: u64,
    /// Sum of `sc-bytes`: bytes sent to viewers, headers included.
    pub bytes_out: u64,
    pub status: StatusClasses,
    /// Variants rendered in the window, when the caller knows.
    pub renders: Option<u64>,
    /// Lines skipped: malformed, too long, not UTF-8, or before any `#Fields:` header.
    pub skipped: u64,
    /// Well-formed rows before the window.
    pub outside_window: u64,
    /// Served requests (a hit or a miss with a 2xx or 3xx status) by variant, and by original.
    pub top_variants: TopK,
    pub top_originals: TopK,
    /// Requests answered with a 4xx or 5xx status, by URI (path and query).
    pub top_4xx: TopK,
    pub top_5xx: TopK,
}

impl Summary {
    /// `hits / (hits + misses)`; `None` when no request reached the cache. The edge
    /// function's own answers, redirects and errors never involve the cache, so they are
    /// left out rather than counted as misses.
    pub fn hit_ratio(&self) -> Option<f64> {
        let cacheable = self.hits + self.misses;
        if cacheable == 0 {
            return None;
        }
        Some(self.hits as f64 / cacheable as f64)
    }

    fn count(&mut self, row: &Row<'_>, classify: &dyn Fn(&str, &str) -> Kind) {
        self.requests += 1;
        self.bytes_out = self.bytes_out.saturating_add(row.bytes);
        let (outcome, disconnected) = row.outcome();
        match outcome {
            Outcome::Hit => self.hits += 1,
            Outcome::Miss => self.misses += 1,
            Outcome::Error => self.errors += 1,
            Outcome::FunctionGenerated => self.function_generated += 1,
            Outcome::Other => self.other_results += 1,
        }
        if disconnected {
            self.viewer_disconnects += 1;
        }
        if row.detailed == "OriginShieldHit" {
            self.origin_shield_hits += 1;
        }
        match row.status {
            200..=299 => self.status.s2xx += 1,
            300..=399 => self.status.s3xx += 1,
            400..=499 => self.status.s4xx += 1,
            500..=599 => self.status.s5xx += 1,
            _ => self.status.other += 1,
        }
        let served = matches!(outcome, Outcome::Hit | Outcome::Miss);
        if served && (200..400).contains(&row.status) {
            let stem = decode(row.stem);
            let query = decode(row.query);
            match classify(&stem, &query) {
                Kind::Original(name) => self.top_originals.add(&name),
                Kind::Variant(name) => self.top_variants.add(&name),
            }
        } else if (400..500).contains(&row.status) {
            self.top_4xx.add(&row.uri());
        } else if (500..600).contains(&row.status) {
            self.top_5xx.add(&row.uri());
        }
    }
}

/// Requests by the class of their status. `other` is mostly `000`: the viewer closed the
/// connection before CloudFront could respond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusClasses {
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    #[serde(rename = "5xx")]
    pub s5xx: u64,
    pub other: u64,
}

/// The JSON shape of a [`Summary`]: its counts plus the hit ratio and the top lists.
#[derive(Serialize)]
struct SummaryView<'a> {
    files: u64,
    requests: u64,
    hits: u64,
    misses: u64,
    errors: u64,
    function_generated: u64,
    other_results: u64,
    hit_ratio: Option<f64>,
    origin_shield_hits: u64,
    viewer_disconnects: u64,
    bytes_out: u64,
    status: StatusClasses,
    renders: Option<u64>,
    skipped: u64,
    outside_window: u64,
    top_variants: &'a TopK,
    top_originals: &'a TopK,
    top_4xx: &'a TopK,
    top_5xx: &'a TopK,
}

impl Serialize for Summary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SummaryView {
            files: self.files,
            requests: self.requests,
            hits: self.hits,
            misses: self.misses,
            errors: self.errors,
            function_generated: self.function_generated,
            other_results: self.other_results,
            hit_ratio: self.hit_ratio(),
            origin_shield_hits: self.origin_shield_hits,
            viewer_disconnects: self.viewer_disconnects,
            bytes_out: self.bytes_out,
            status: self.status,
            renders: self.renders,
            skipped: self.skipped,
            outside_window: self.outside_window,
            top_variants: &self.top_variants,
            top_originals: &self.top_originals,
            top_4xx: &self.top_4xx,
            top_5xx: &self.top_5xx,
        }
        .serialize(serializer)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = match self.hit_ratio() {
            Some(ratio) => format!("{:.1}%", ratio * 100.0),
            None => "-".to_string(),
        };
        let mut rows: Vec<(&str, String, String)> = vec![
            ("requests", grouped(self.requests), String::new()),
            ("  hits", grouped(self.hits), "Hit or RefreshHit".into()),
            ("  misses", grouped(self.misses), "Miss".into()),
            ("  errors", grouped(self.errors), "Error".into()),
            (
                "  edge answers",
                grouped(self.function_generated),
                "answered by the edge function (bad parameters, signatures)".into(),
            ),
            (
                "  other",
                grouped(self.other_results),
                "redirects to HTTPS, quotas, capacity".into(),
            ),
            ("hit ratio", ratio, "hits / (hits + misses)".into()),
            (
                "origin shield hits",
                grouped(self.origin_shield_hits),
                "misses answered by Origin Shield's cache".into(),
            ),
            (
                "viewer disconnects",
                grouped(self.viewer_disconnects),
                "left before the last byte; counted by what was served".into(),
            ),
            (
                "bytes out",
                grouped(self.bytes_out),
                human_bytes(self.bytes_out),
            ),
            ("status 2xx", grouped(self.status.s2xx), String::new()),
            ("status 3xx", grouped(self.status.s3xx), String::new()),
            ("status 4xx", grouped(self.status.s4xx), String::new()),
            ("status 5xx", grouped(self.status.s5xx), String::new()),
            (
                "status other",
                grouped(self.status.other),
                "000: the viewer left before the response".into(),
            ),
        ];
        if let Some(renders) = self.renders {
            rows.push(("renders", grouped(renders), "variants rendered".into()));
        }
        rows.push(("log files", grouped(self.files), String::new()));
        rows.push((
            "skipped lines",
            grouped(self.skipped),
            "malformed, too long or not UTF-8".into(),
        ));
        rows.push((
            "outside window",
            grouped(self.outside_window),
            "rows before the cutoff".into(),
        ));
        let label_width = rows
            .iter()
            .map(|(label, ..)| label.len())
            .max()
            .unwrap_or(0);
        let value_width = rows
            .iter()
            .map(|(_, value, _)| value.len())
            .max()
            .unwrap_or(0);
        for (label, value, note) in &rows {
            let line = format!("{label:<label_width$}  {value:>value_width$}  {note}");
            writeln!(f, "{}", line.trim_end())?;
        }
        top_list(f, "top variants", &self.top_variants)?;
        top_list(f, "top originals", &self.top_originals)?;
        top_list(f, "top 4xx URIs", &self.top_4xx)?;
        top_list(f, "top 5xx URIs", &self.top_5xx)
    }
}

fn top_list(f: &mut fmt::Formatter<'_>, title: &str, top: &TopK) -> fmt::Result {
    writeln!(f)?;
    if top.is_exact() {
        writeln!(f, "{title}")?;
    } else {
        writeln!(
            f,
            "{title} (≈: more distinct names than tracked, so an upper bound)"
        )?;
    }
    let entries = top.top(TOP_SHOWN);
    if entries.is_empty() {
        return writeln!(f, "  (none)");
    }
    let counts: Vec<String> = entries.iter().map(|e| grouped(e.count)).collect();
    let width = counts.iter().map(String::len).max().unwrap_or(0);
    for (entry, count) in entries.iter().zip(&counts) {
        let mark = if entry.error > 0 { "≈" } else { " " };
        let name = printable(entry.name);
        writeln!(f, "  {mark}{count:>width$}  {name}")?;
    }
    Ok(())
}

/// `name` safe to print: control characters (a decoded `%1B` or `%0A` from a viewer's
/// URL) are shown escaped rather than sent to the terminal.
fn printable(name: &str) -> Cow<'_, str> {
    if !name.chars().any(char::is_control) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in decimal units, one decimal: `2.7 MB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A top-k list with a fixed memory bound: the Space-Saving algorithm (Metwally, Agrawal,
/// El Abbadi, "Efficient Computation of Frequent and Top-k Elements in Data Streams", 2005).
///
/// It tracks at most `capacity` names. A name not tracked, once the list is full, takes
/// the place of the name with the smallest count and starts from that count plus one,
/// remembering the inherited part as its `error`. So every count is an upper bound and
/// `count - error` a lower bound of the true one; while no name was ever evicted all
/// counts are exact, and an entry with `error == 0` is exact in any case. Any name seen
/// more than `total / capacity` times is guaranteed to be tracked.
///
/// The smallest count is found through an ordered set of `(count, slot)`, so each
/// observation is O(log capacity) even when every name is new (the junk-URI flood); a plain
/// scan for the minimum would make each eviction O(capacity).
#[derive(Debug, Clone)]
pub struct TopK {
    capacity: usize,
    slots: Vec<Slot>,
    index: HashMap<String, usize>,
    by_count: BTreeSet<(u64, usize)>,
    evictions: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    name: String,
    count: u64,
    error: u64,
}

/// One entry of a top list: `count` is an upper bound, at most `error` over the true count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted<'a> {
    pub name: &'a str,
    pub count: u64,
    pub error: u64,
}

impl TopK {
    /// A list tracking at most `capacity` names (at least one).
    pub fn new(capacity: usize) -> TopK {
        TopK {
            capacity: capacity.max(1),
            slots: Vec::new(),
            index: HashMap::new(),
            by_count: BTreeSet::new(),
            evictions: 0,
        }
    }

    /// Counts one occurrence of `name` (cut to [`MAX_NAME`] bytes).
    pub fn add(&mut self, name: &str) {
        let name = bounded(name);
        if let Some(&i) = self.index.get(&*name) {
            let slot = &mut self.slots[i];
            self.by_count.remove(&(slot.count, i));
            slot.count = slot.count.saturating_add(1);
            self.by_count.insert((slot.count, i));
            return;
        }
        if self.slots.len() < self.capacity {
            let i = self.slots.len();
            self.slots.push(Slot {
                name: name.to_string(),
                count: 1,
                error: 0,
            });
            self.index.insert(name.into_owned(), i);
            self.by_count.insert((1, i));
            return;
        }
        // Full: the name with the smallest count gives its slot up.
        let Some((min, i)) = self.by_count.pop_first() else {
            return;
        };
        let slot = &mut self.slots[i];
        self.index.remove(&slot.name);
        slot.name.clear();
        slot.name.push_str(&name);
        slot.count = min.saturating_add(1);
        slot.error = min;
        self.by_count.insert((slot.count, i));
        self.index.insert(name.into_owned(), i);
        self.evictions += 1;
    }

    /// Whether every count is exact: no name was ever evicted.
    pub fn is_exact(&self) -> bool {
        self.evictions == 0
    }

    /// The `n` largest counts, largest first; ties by name.
    pub fn top(&self, n: usize) -> Vec<Counted<'_>> {
        let mut all: Vec<Counted<'_>> = self
            .slots
            .iter()
            .map(|slot| Counted {
                name: &slot.name,
                count: slot.count,
                error: slot.error,
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(b.name)));
        all.truncate(n);
        all
    }
}

impl Default for TopK {
    fn default() -> TopK {
        TopK::new(TOP_CAPACITY)
    }
}

/// The JSON shape of a [`TopK`]: whether it is exact, and its top [`TOP_SHOWN`].
#[derive(Serialize)]
struct TopView<'a> {
    exact: bool,
    top: Vec<Counted<'a>>,
}

impl Serialize for TopK {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TopView {
            exact: self.is_exact(),
            top: self.top(TOP_SHOWN),
        }
        .serialize(serializer)
    }
}

/// `name` cut to at most [`MAX_NAME`] bytes at a character boundary, `…` marking the cut.
fn bounded(name: &str) -> Cow<'_, str> {
    if name.len() <= MAX_NAME {
        return Cow::Borrowed(name);
    }
    let mut end = MAX_NAME;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &name[..end]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// The line is in the buffer (without its `\n`).
    Whole,
    /// The line was longer than [`MAX_LINE`] and was read past, not kept.
    TooLong,
}

/// Reads the next line into `buf`; `None` at the end of the stream. A final line without
/// a `\n` counts as a line.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
    buf.clear();
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        read_any = true;
        let newline = available.iter().position(|&b| b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        if !too_long {
            if buf.len() + chunk.len() > MAX_LINE {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(newline.is_some());
        reader.consume(used);
        if newline.is_some() {
            break;
        }
    }
    Ok(match (read_any, too_long) {
        (false, _) => None,
        (true, false) => Some(Line::Whole),
        (true, true) => Some(Line::TooLong),
    })
}

/// The columns a row is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Date,
    Time,
    Bytes,
    Stem,
    Status,
    Query,
    Result,
    ResponseResult,
    Detailed,
}

const COLUMNS: usize = 9;

/// Without these a row says nothing `stats` can count.
const REQUIRED: [Column; 5] = [
    Column::Date,
    Column::Time,
    Column::Stem,
    Column::Status,
    Column::Result,
];

impl Column {
    fn from_name(name: &str) -> Option<Column> {
        Some(match name {
            "date" => Column::Date,
            "time" => Column::Time,
            "sc-bytes" => Column::Bytes,
            "cs-uri-stem" => Column::Stem,
            "sc-status" => Column::Status,
            "cs-uri-query" => Column::Query,
            "x-edge-result-type" => Column::Result,
            "x-edge-response-result-type" => Column::ResponseResult,
            "x-edge-detailed-result-type" => Column::Detailed,
            _ => return None,
        })
    }
}

/// Where the columns are in a row, from a `#Fields:` line.
#[derive(Debug)]
struct Layout {
    /// For each field of a row, the column it is, if one that is read.
    columns: Vec<Option<Column>>,
}

impl Layout {
    /// `None` when a required column is missing: the rows under it are then skipped.
    fn parse(fields: &str) -> Option<Layout> {
        let columns: Vec<Option<Column>> = fields
            .split_ascii_whitespace()
            .map(Column::from_name)
            .collect();
        let complete = REQUIRED.iter().all(|c| columns.contains(&Some(*c)));
        complete.then_some(Layout { columns })
    }
}

/// The parts of a row that are counted; `stem` and `query` still as logged (encoded).
#[derive(Debug)]
struct Row<'a> {
    /// Seconds since the Unix epoch (UTC).
    time: i64,
    bytes: u64,
    stem: &'a str,
    /// `""` when there is none.
    query: &'a str,
    /// `000` (the viewer left before the response) is 0.
    status: u16,
    result: &'a str,
    /// `-` when absent.
    response_result: &'a str,
    /// `-` when absent.
    detailed: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Hit,
    Miss,
    Error,
    FunctionGenerated,
    Other,
}

impl<'a> Row<'a> {
    /// `None` for a malformed row: fewer fields than the header names, or a value that
    /// does not parse.
    fn parse(layout: &Layout, line: &'a str) -> Option<Row<'a>> {
        let mut values: [Option<&'a str>; COLUMNS] = [None; COLUMNS];
        let mut fields = 0;
        for (i, field) in line.split('\t').enumerate() {
            if let Some(Some(column)) = layout.columns.get(i) {
                values[*column as usize] = Some(field);
            }
            fields = i + 1;
        }
        // More fields than named are tolerated (CloudFront's own example has a trailing
        // tab); fewer means a cut or foreign line.
        if fields < layout.columns.len() {
            return None;
        }
        let value = |column: Column| values[column as usize];
        // An optional column's "-" (or absence) is empty.
        let optional = |column: Column| value(column).filter(|v| *v != "-");
        let time = timestamp(value(Column::Date)?, value(Column::Time)?)?;
        let bytes: u64 = match optional(Column::Bytes) {
            Some(bytes) => bytes.parse().ok()?,
            None => 0,
        };
        let stem = value(Column::Stem).filter(|stem| stem.starts_with('/'))?;
        let status = status(value(Column::Status)?)?;
        let result = value(Column::Result).filter(|r| !r.is_empty())?;
        Some(Row {
            time,
            bytes,
            stem,
            query: optional(Column::Query).unwrap_or(""),
            status,
            result,
            response_result: optional(Column::ResponseResult).unwrap_or("-"),
            detailed: optional(Column::Detailed).unwrap_or("-"),
        })
    }

    /// How the request was answered, and whether the viewer left before the last byte.
    /// CloudFront's field reference: an `Error` result type with a response result type
    /// that is not `Error` means the response was a success but the viewer disconnected
    /// before receiving all of it. The result type is fixed after the last byte, the
    /// response result type just before sending, so the latter says what the cache did.
    fn outcome(&self) -> (Outcome, bool) {
        let disconnected = self.result == "Error" && !matches!(self.response_result, "Error" | "-");
        let result = if disconnected {
            self.response_result
        } else {
            self.result
        };
        let outcome = match result {
            "Hit" | "RefreshHit" => Outcome::Hit,
            "Miss" => Outcome::Miss,
            "Error" => Outcome::Error,
            "FunctionGeneratedResponse" => Outcome::FunctionGenerated,
            _ => Outcome::Other,
        };
        (outcome, disconnected)
    }

    /// The request's path and query (the log's encoding undone), for the error lists.
    fn uri(&self) -> String {
        let stem = decode(self.stem);
        if self.query.is_empty() {
            return stem.into_owned();
        }
        let query = decode(self.query);
        format!("{stem}?{query}")
    }
}

/// A three-digit status; `000` included.
fn status(text: &str) -> Option<u16> {
    if text.len() != 3 {
        return None;
    }
    u16::try_from(number(text)?).ok()
}

/// Decimal digits only (no sign, no spaces) as a number.
fn number(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `YYYY-MM-DD` and `HH:MM:SS` (UTC) as seconds since the Unix epoch.
fn timestamp(date: &str, time: &str) -> Option<i64> {
    let days = days(date)?;
    let b = time.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let hours = number(time.get(0..2)?)?;
    let minutes = number(time.get(3..5)?)?;
    let seconds = number(time.get(6..8)?)?;
    // 60: a leap second, should one ever be logged.
    if hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    Some(days * DAY + hours * HOUR + minutes * 60 + seconds)
}

/// `YYYY-MM-DD` as days since 1970-01-01; `None` unless it is a real date.
fn days(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = number(date.get(0..4)?)?;
    let month = number(date.get(5..7)?)?;
    let day = number(date.get(8..10)?)?;
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`): years counted from March, so the leap day ends a year.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Cursor, Write};

    use flate2::Compression;
    use flate2::read::MultiGzDecoder;
    use flate2::write::GzEncoder;

    use super::*;

    const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

    /// CloudFront's own example log (the field reference's), trailing tab included.
    const EXAMPLE: &str = "#Version: 1.0
#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end
2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-
2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\tk6WGMNkEzR5BEM_SaF47gjtX9zBDO2m349OY2an0QPEaUum1ZOLrow==\td111111abcdef8.cloudfront.net\thttps\t23\t0.000\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.000\tHit\ttext/html\t78\t-\t-
2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\tf37nTMVvnKvV2ZSvEsivup_c2kZ7VXzYdjC-GUQZ5qNs-89BlWazbw==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-\t
2019-12-13\t22:36:27\tSEA19-C1\t900\t192.0.2.200\tGET\td111111abcdef8.cloudfront.net\t/favicon.ico\t502\thttp://www.example.com/\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tError\t1pkpNfBQ39sYMnjjUQjmH2w1wdJnbHYTbag21o_3OfcQgPzdL2RSSQ==\twww.example.com\thttp\t675\t0.102\t-\t-\t-\tError\tHTTP/1.1\t-\t-\t25260\t0.102\tOriginDnsError\ttext/html\t507\t-\t-
2019-12-13\t22:36:26\tSEA19-C1\t900\t192.0.2.200\tGET\td111111abcdef8.cloudfront.net\t/\t502\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tError\t3AqrZGCnF_g0-5KOvfA7c9XLcf4YGvMFSeFdIetR1N_2y8jSis8Zxg==\twww.example.com\thttp\t735\t0.107\t-\t-\t-\tError\tHTTP/1.1\t-\t-\t3802\t0.107\tOriginDnsError\ttext/html\t507\t-\t-
2019-12-13\t22:37:02\tSEA19-C2\t900\t192.0.2.200\tGET\td111111abcdef8.cloudfront.net\t/\t502\t-\tcurl/7.55.1\t-\t-\tError\tkBkDzGnceVtWHqSCqBUqtA_cEs2T3tFUBbnBNkB9El_uVRhHgcZfcw==\twww.example.com\thttp\t387\t0.103\t-\t-\t-\tError\tHTTP/1.1\t-\t-\t12644\t0.103\tOriginDnsError\ttext/html\t507\t-\t-
";

    /// Originals are requests without a query; a variant is named by its stem and its
    /// parameters in sorted order (so `w=400&fm=webp` and `fm=webp&w=400` are one).
    fn classify(stem: &str, query: &str) -> Kind {
        if query.is_empty() {
            return Kind::Original(stem.trim_start_matches('/').to_string());
        }
        let mut params: Vec<&str> = query.split('&').collect();
        params.sort_unstable();
        Kind::Variant(format!("{stem}?{}", params.join("&")))
    }

    /// A row in the standard 33-field layout from `date time sc-bytes stem status query
    /// result detailed` (space-separated). A `ClientCommError` gets `Hit` as its response
    /// result type (the viewer left a cache hit early); otherwise it is the result type.
    fn row(spec: &str) -> String {
        let v: Vec<&str> = spec.split(' ').collect();
        let &[date, time, bytes, stem, status, query, result, detailed] = v.as_slice() else {
            panic!("bad spec {spec}");
        };
        let response = if detailed == "ClientCommError" {
            "Hit"
        } else {
            result
        };
        let host = "d1example.cloudfront.net";
        let id = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQR==";
        [
            date,
            time,
            "FRA56-P5",
            bytes,
            "192.0.2.1",
            "GET",
            host,
            stem,
            status,
            "-",
            "curl/8.5.0",
            query,
            "-",
            result,
            id,
            host,
            "https",
            "120",
            "0.002",
            "-",
            "TLSv1.3",
            "TLS_AES_128_GCM_SHA256",
            response,
            "HTTP/2.0",
            "-",
            "-",
            "51234",
            "0.002",
            detailed,
            "image/webp",
            "1000",
            "-",
            "-",
        ]
        .join("\t")
    }

    fn file(rows: &[String]) -> String {
        let mut text = format!("#Version: 1.0\n{FIELDS}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text
    }

    fn read(text: &[u8], since: Option<i64>) -> Summary {
        let mut summary = Summary::default();
        read_log(Cursor::new(text), since, None, &classify, &mut summary).unwrap();
        summary
    }

    fn names(top: &TopK) -> Vec<(String, u64)> {
        top.top(TOP_SHOWN)
            .into_iter()
            .map(|c| (c.name.to_string(), c.count))
            .collect()
    }

    #[test]
    fn the_documented_example_log() {
        let s = read(EXAMPLE.as_bytes(), None);
        assert_eq!(s.files, 1);
        assert_eq!(s.requests, 6);
        assert_eq!(s.skipped, 0);
        assert_eq!((s.hits, s.misses, s.errors), (3, 0, 3));
        assert_eq!(s.hit_ratio(), Some(1.0));
        assert_eq!(s.bytes_out, 3 * 392 + 3 * 900);
        let status = StatusClasses {
            s2xx: 3,
            s5xx: 3,
            ..StatusClasses::default()
        };
        assert_eq!(s.status, status);
        assert_eq!(names(&s.top_originals), [("index.html".to_string(), 3)]);
        let five = [("/".to_string(), 2), ("/favicon.ico".to_string(), 1)];
        assert_eq!(names(&s.top_5xx), five);
        assert!(s.top_variants.top(TOP_SHOWN).is_empty());
        assert!(s.top_5xx.is_exact());
    }

    #[test]
    fn columns_are_found_by_the_header_not_by_position() {
        let text = "#Version: 1.0\n\
            #Fields: sc-status x-edge-result-type cs-uri-query time cs-uri-stem date sc-bytes\n\
            200\tHit\tw=400&fm=webp\t10:00:00\t/photos/cat.jpg\t2026-12-01\t1500\n\
            200\tMiss\tfm=webp&w=400\t10:00:01\t/photos/cat.jpg\t2026-12-01\t1500\n\
            404\tError\t-\t10:00:02\t/nope.jpg\t2026-12-01\t300\n";
        let s = read(text.as_bytes(), None);
        assert_eq!((s.requests, s.hits, s.misses, s.errors), (3, 1, 1, 1));
        assert_eq!(s.bytes_out, 3300);
        let variant = "/photos/cat.jpg?fm=webp&w=400".to_string();
        assert_eq!(names(&s.top_variants), [(variant, 2)]);
        assert_eq!(names(&s.top_4xx), [("/nope.jpg".to_string(), 1)]);
        // A header without a required column: its rows cannot be read.
        let text = "#Fields: date time cs-uri-stem sc-status\n2026-12-01\t10:00:00\t/a.jpg\t200\n";
        let s = read(text.as_bytes(), None);
        assert_eq!((s.requests, s.skipped), (0, 1));
    }

    #[test]
    fn malformed_lines_are_counted_not_fatal() {
        let good = row("2026-12-01 10:00:00 100 /photos/cat.jpg 200 - Hit Hit");
        let bad_date = row("2026-02-30 10:00:00 100 /a.jpg 200 - Hit Hit");
        let bad_time = row("2026-12-01 24:00:00 100 /a.jpg 200 - Hit Hit");
        let bad_status = row("2026-12-01 10:00:00 100 /a.jpg 2000 - Hit Hit");
        let bad_bytes = row("2026-12-01 10:00:00 many /a.jpg 200 - Hit Hit");
        let bad_stem = row("2026-12-01 10:00:00 100 - 200 - Hit Hit");
        let cut = good.split('\t').take(9).collect::<Vec<_>>().join("\t");
        let rows = [
            bad_date,
            good.clone(),
            cut,
            bad_time,
            bad_status,
            bad_bytes,
            bad_stem,
        ];
        let text = format!("{}{good}\n", file(&rows));
        let s = read(text.as_bytes(), None);
        assert_eq!((s.requests, s.skipped), (2, 6));
        // Rows before any `#Fields:` line have no layout.
        let s = read(format!("{good}\n").as_bytes(), None);
        assert_eq!((s.requests, s.skipped), (0, 1));
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let first = file(&[row(
            "2026-11-30 23:59:59 1000 /photos/cat.jpg 200 w=400&fm=webp Miss Miss",
        )]);
        let second = file(&[
            row("2026-12-01 00:00:01 1000 /photos/cat.jpg 200 fm=webp&w=400 Hit Hit"),
            row("2026-12-01 00:00:02 200 /photos/cat.jpg 400 w=abc \
                 FunctionGeneratedResponse FunctionGeneratedResponse"),
        ]);
        let mut gz = Vec::new();
        for part in [&first, &second] {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(part.as_bytes()).unwrap();
            gz.extend(encoder.finish().unwrap());
        }
        let mut s = Summary::default();
        let reader = BufReader::new(MultiGzDecoder::new(Cursor::new(gz)));
        read_log(reader, None, None, &classify, &mut s).unwrap();
        assert_eq!((s.requests, s.hits, s.misses), (3, 1, 1));
        assert_eq!(s.function_generated, 1);
        assert_eq!(s.bytes_out, 2200);
        let variant = "/photos/cat.jpg?fm=webp&w=400".to_string();
        assert_eq!(names(&s.top_variants), [(variant, 2)]);
        let junk = "/photos/cat.jpg?w=abc".to_string();
        assert_eq!(names(&s.top_4xx), [(junk, 1)]);
        assert_eq!(s.hit_ratio(), Some(0.5));
    }

    #[test]
    fn a_corrupt_gzip_stream_is_an_error() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(EXAMPLE.as_bytes()).unwrap();
        let mut gz = encoder.finish().unwrap();
        let middle = gz.len() / 2;
        gz[middle] ^= 0xff;
        gz.truncate(gz.len() - 4);
        let mut s = Summary::default();
        let reader = BufReader::new(MultiGzDecoder::new(Cursor::new(gz)));
        assert!(read_log(reader, None, None, &classify, &mut s).is_err());
    }

    #[test]
    fn rows_before_the_cutoff_are_not_counted() {
        let since = timestamp("2026-11-30", "12:00:00").unwrap();
        let at = |date_time: &str| row(&format!("{date_time} 10 /a.jpg 200 - Hit Hit"));
        let text = file(&[
            at("2026-11-30 11:59:59"),
            at("2026-11-30 12:00:00"),
            at("2026-12-01 11:59:59"),
            at("2025-12-31 23:00:00"),
        ]);
        let s = read(text.as_bytes(), Some(since));
        assert_eq!((s.requests, s.outside_window, s.bytes_out), (2, 2, 20));
        let s = read(text.as_bytes(), None);
        assert_eq!((s.requests, s.outside_window), (4, 0));
    }

    #[test]
    fn timestamps_are_seconds_since_the_epoch() {
        // Checked against Python's `calendar.timegm`.
        assert_eq!(timestamp("1970-01-01", "00:00:00"), Some(0));
        assert_eq!(timestamp("2019-12-04", "21:02:31"), Some(1_575_493_351));
        assert_eq!(timestamp("2026-12-01", "12:00:00"), Some(1_796_126_400));
        assert_eq!(timestamp("2024-02-29", "00:00:00"), Some(1_709_164_800));
        assert_eq!(timestamp("2000-03-01", "00:00:00"), Some(951_868_800));
        assert_eq!(timestamp("9999-12-31", "23:59:59"), Some(253_402_300_799));
        for (date, time) in [
            ("2026-02-29", "00:00:00"),
            ("1900-02-29", "00:00:00"),
            ("2026-13-01", "00:00:00"),
            ("2026-00-10", "00:00:00"),
            ("2026-04-31", "00:00:00"),
            ("2026-12-1", "00:00:00"),
            ("2026/12/01", "00:00:00"),
            ("+026-12-01", "00:00:00"),
            ("2026-12-01", "12:60:00"),
            ("2026-12-01", "1:00:000"),
            ("2026-12-01", "-1:00:00"),
            ("2026-12-01", ""),
            ("２026-12-01", "00:00:00"),
        ] {
            assert_eq!(timestamp(date, time), None, "{date} {time}");
        }
    }

    #[test]
    fn log_file_names() {
        let key = "cloudfront/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9.gz";
        let name = parse_log_file_name(key).unwrap();
        assert_eq!(name.distribution_id, "EMLARXS9EXAMPLE");
        assert_eq!(name.hour, timestamp("2019-11-14", "20:00:00").unwrap());
        let bare = parse_log_file_name("E2EXAMPLE123.2026-12-01-09.Z5B9D6FE.gz");
        assert_eq!(bare.map(|n| n.hour), timestamp("2026-12-01", "09:00:00"));
        for key in [
            "cloudfront/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9",
            "cloudfront/EMLARXS9EXAMPLE.2019-11-14-24.RT4KCN4SGK9.gz",
            "cloudfront/EMLARXS9EXAMPLE.2019-11-14.RT4KCN4SGK9.gz",
            "cloudfront/EMLARXS9EXAMPLE.2019-11-14-20.gz",
            "cloudfront/EMLARXS9EXAMPLE.2019-11-14-20.A.B.gz",
            "cloudfront/.2019-11-14-20.RT4KCN4SGK9.gz",
            "cloudfront/E-1.2019-11-14-20.RT4KCN4SGK9.gz",
            "cloudfront/E1.2019-11-14-2é.RT4KCN4SGK9.gz",
            "cloudfront/",
            "",
        ] {
            assert_eq!(parse_log_file_name(key), None, "{key}");
        }
    }

    #[test]
    fn old_files_are_ruled_out_with_an_hour_of_margin() {
        let since = timestamp("2026-11-30", "12:00:00").unwrap();
        let may = |key: &str| parse_log_file_name(key).unwrap().may_hold_rows_since(since);
        // Hour 11 may hold responses that finished after 12:00.
        assert!(may("p/E1.2026-11-30-11.X.gz"));
        assert!(may("p/E1.2026-11-30-12.X.gz"));
        assert!(may("p/E1.2026-12-01-09.X.gz"));
        // Hour 10 ended at 11:00, an hour before the cutoff.
        assert!(!may("p/E1.2026-11-30-10.X.gz"));
        assert!(!may("p/E1.2026-11-29-23.X.gz"));
    }

    #[test]
    fn hostile_lines_are_skipped_without_being_held() {
        let good = row("2026-12-01 10:00:00 7 /a.jpg 200 - Hit Hit");
        let mut text = format!("#Version: 1.0\n{FIELDS}\n").into_bytes();
        // A 1 MB line, with and without tabs.
        text.extend(std::iter::repeat_n(b'a', 1 << 20));
        text.push(b'\n');
        text.extend(std::iter::repeat_n(b'\t', 1 << 20));
        text.push(b'\n');
        // NULs, a tab-only line, 33 empty fields, a lone `%`, bytes that are not UTF-8.
        text.extend(b"\0\0\0\t\0\n");
        text.extend(b"\t\n");
        text.extend("\t".repeat(32).as_bytes());
        text.push(b'\n');
        text.extend(b"%\n");
        text.extend(b"2026-12-01\t10:00:00\t\xff\xfe\n");
        text.extend(good.replace("/a.jpg", "/%FF%").as_bytes());
        text.push(b'\n');
        // The last line has no newline.
        text.extend(good.as_bytes());
        let s = read(&text, None);
        assert_eq!(s.skipped, 7);
        assert_eq!(s.requests, 2);
        assert_eq!(names(&s.top_originals)[0], ("a.jpg".to_string(), 1));
        // A `\r\n` file reads the same.
        let crlf = file(&[good]).replace('\n', "\r\n");
        assert_eq!(read(crlf.as_bytes(), None).requests, 1);
    }

    #[test]
    fn decoding_undoes_one_layer_and_never_panics() {
        assert_eq!(decode("/photos/cat.jpg"), "/photos/cat.jpg");
        assert!(matches!(decode("/photos/cat.jpg"), Cow::Borrowed(_)));
        // A viewer's `%20` is logged as `%2520`: one decode gives back what the viewer sent.
        let logged = "/banners/sale%2520banner.jpg";
        assert_eq!(decode(logged), "/banners/sale%20banner.jpg");
        assert_eq!(decode("/a%20b%2Fc%2fd"), "/a b/c/d");
        assert_eq!(decode("%E2%89%88"), "≈");
        assert_eq!(decode("a+b"), "a+b");
        for (input, output) in [
            ("%", "%"),
            ("%4", "%4"),
            ("%zz", "%zz"),
            ("%%41", "%A"),
            ("%4%41", "%4A"),
            ("100%", "100%"),
            ("%C3", "\u{fffd}"),
            ("%FF%FE", "\u{fffd}\u{fffd}"),
            ("é%", "é%"),
            ("%é", "%é"),
            ("%00", "\0"),
        ] {
            assert_eq!(decode(input), output, "{input}");
        }
    }

    #[test]
    fn result_types_follow_the_field_reference() {
        let fgr = "FunctionGeneratedResponse FunctionGeneratedResponse";
        let text = file(&[
            row("2026-12-01 10:00:00 1 /a.jpg 200 - RefreshHit RefreshHit"),
            row("2026-12-01 10:00:01 1 /a.jpg 200 w=1 Miss OriginShieldHit"),
            // Served from the cache, but the viewer left before the last byte.
            row("2026-12-01 10:00:02 1 /a.jpg 200 w=1 Error ClientCommError"),
            row("2026-12-01 10:00:03 1 /a.jpg 301 - Redirect Redirect"),
            row("2026-12-01 10:00:04 1 /a.jpg 503 - CapacityExceeded CapacityExceeded"),
            row(&format!("2026-12-01 10:00:05 1 /a.jpg 403 sig=x {fgr}")),
            row("2026-12-01 10:00:06 0 /a.jpg 000 - Error ClientHungUpRequest"),
        ]);
        let s = read(text.as_bytes(), None);
        assert_eq!(s.requests, 7);
        assert_eq!((s.hits, s.misses, s.errors), (2, 1, 1));
        assert_eq!((s.function_generated, s.other_results), (1, 2));
        assert_eq!((s.origin_shield_hits, s.viewer_disconnects), (1, 1));
        let status = StatusClasses {
            s2xx: 3,
            s3xx: 1,
            s4xx: 1,
            s5xx: 1,
            other: 1,
        };
        assert_eq!(s.status, status);
        // A redirect serves nothing: only the hits and the miss are counted as requested.
        assert_eq!(names(&s.top_originals), [("a.jpg".to_string(), 1)]);
        assert_eq!(names(&s.top_variants), [("/a.jpg?w=1".to_string(), 2)]);
        assert_eq!(names(&s.top_4xx), [("/a.jpg?sig=x".to_string(), 1)]);
        assert_eq!(names(&s.top_5xx), [("/a.jpg".to_string(), 1)]);
    }

    #[test]
    fn top_k_is_exact_under_capacity() {
        let mut top = TopK::new(8);
        for (name, n) in [("a", 5), ("b", 3), ("c", 3), ("d", 1)] {
            for _ in 0..n {
                top.add(name);
            }
        }
        assert!(top.is_exact());
        let best = top.top(3);
        let got: Vec<(&str, u64, u64)> = best.iter().map(|c| (c.name, c.count, c.error)).collect();
        assert_eq!(got, [("a", 5, 0), ("b", 3, 0), ("c", 3, 0)]);
    }

    #[test]
    fn heavy_hitters_survive_a_flood_of_distinct_names() {
        let mut top = TopK::new(16);
        let heavy = ["cat.jpg", "dog.png", "owl.webp"];
        let mut total = 0u64;
        for i in 0..10_000usize {
            top.add(&format!("junk-{i}"));
            total += 1;
            if let Some(name) = heavy.get(i % 10) {
                top.add(name);
                total += 1;
            }
        }
        assert!(!top.is_exact());
        assert!(top.slots.len() <= 16 && top.index.len() <= 16 && top.by_count.len() <= 16);
        let best = top.top(3);
        let mut found: Vec<&str> = best.iter().map(|c| c.name).collect();
        found.sort_unstable();
        assert_eq!(found, heavy);
        for c in &best {
            // Each heavy name was added 1,000 times: its count is an upper bound, at most
            // `error` over, and the error at most total / capacity.
            assert!(c.count >= 1000 && c.count - c.error <= 1000, "{c:?}");
            assert!(c.error <= total / 16, "{c:?}");
        }
    }

    #[test]
    fn top_k_names_are_bounded() {
        let mut top = TopK::new(4);
        let long = "é".repeat(MAX_NAME);
        top.add(&long);
        top.add(&long);
        let best = top.top(1);
        assert_eq!(best[0].count, 2);
        assert!(best[0].name.len() <= MAX_NAME + '…'.len_utf8());
        assert!(best[0].name.ends_with('…'));
    }

    #[test]
    fn the_report_marks_approximate_counts_and_escapes_names() {
        let mut s = read(EXAMPLE.as_bytes(), None);
        s.renders = Some(4);
        s.top_originals.add("/x\u{1b}[31m.jpg");
        s.top_4xx = TopK::new(1);
        s.top_4xx.add("/old.jpg");
        s.top_4xx.add("/y.jpg");
        let text = s.to_string();
        assert!(text.contains("100.0%"), "{text}");
        assert!(text.contains("renders"), "{text}");
        assert!(text.contains(" 3  index.html"), "{text}");
        assert!(text.contains("top 4xx URIs (≈"), "{text}");
        assert!(text.contains("≈2  /y.jpg"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("/x\\u{1b}[31m.jpg"), "{text}");

        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["requests"], 6);
        assert_eq!(json["hit_ratio"], 1.0);
        assert_eq!(json["status"]["5xx"], 3);
        assert_eq!(json["renders"], 4);
        assert_eq!(json["top_originals"]["exact"], true);
        assert_eq!(json["top_originals"]["top"][0]["name"], "index.html");
        assert_eq!(json["top_4xx"]["exact"], false);
        assert_eq!(json["top_4xx"]["top"][0]["error"], 1);

        let empty = Summary::default();
        let json = serde_json::to_value(&empty).unwrap();
        assert_eq!(json["hit_ratio"], serde_json::Value::Null);
        assert!(empty.to_string().contains("(none)"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2_721_125), "2,721,125");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(2_721_125), "2.7 MB");
        assert_eq!(human_bytes(u64::MAX), "18446.7 PB");
    }
}
