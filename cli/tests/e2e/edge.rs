//! The CloudFront Function against imgflex-core, on the engine CloudFront runs: every vector
//! of the URL table and a seeded differential fuzz go through the generated function under
//! node and under njs (`tests/edge/parity.js`), and each answer must be the one
//! `imgflex_core::route_target` gives: the same forwarded URI and origin, or the same status
//! and `x-imgflex-param`. CloudFront's runtime is not V8 (its regexes, case folding and
//! `Number` follow njs), so node alone would hide the differences that matter.

use std::collections::BTreeMap;
use std::process::Command;

use imgflex_core::{Policy, Route, Viewer, route_signed};
use serde::Serialize;
use serde_json::Value;

use crate::support::{fixture, workspace_root};
use crate::templates::render;

/// Generated URLs per run (spread over the fuzzed policies), on top of the table.
const FUZZ_CASES: usize = 12_000;
/// The policies the fuzz runs under: the table's, by name.
const FUZZ_POLICIES: [&str; 6] = [
    "default",
    "widths",
    "presets",
    "presets_only",
    "bounded",
    "hints",
];
/// CloudFront Functions have 2 MB of memory per request; one request here may use half.
const MEMORY_BUDGET: u64 = 1024 * 1024;

#[derive(Serialize)]
struct Case {
    policy: String,
    url: String,
    accept: Option<String>,
    /// Client hint headers by lower-case name.
    hints: Option<BTreeMap<String, String>>,
    #[serde(skip)]
    note: String,
}

impl Case {
    /// The headers as imgflex-core reads them.
    fn viewer(&self) -> Viewer<'_> {
        let hint = |name: &str| {
            self.hints
                .as_ref()
                .and_then(|h| h.get(name))
                .map(String::as_str)
        };
        Viewer {
            accept: self.accept.as_deref(),
            ..Viewer::from_headers(hint)
        }
    }
}

/// What the edge does with a request, as both sides report it.
#[derive(Debug, PartialEq)]
enum Outcome {
    Forward { uri: String, original: bool },
    Refuse { status: u64, param: Option<String> },
}

/// The clock and the KeyValueStore of the table's signed vectors (`signing`).
struct Signing {
    now: u64,
    keys: BTreeMap<String, String>,
}

fn expected(case: &Case, policy: &Policy, signing: &Signing) -> Outcome {
    let secret = |kid: &str| signing.keys.get(kid).cloned();
    match route_signed(&case.url, case.viewer(), policy, signing.now, &secret) {
        Ok(route) => Outcome::Forward {
            uri: route.uri(),
            original: matches!(route, Route::Original { .. }),
        },
        Err(e) => Outcome::Refuse {
            status: u64::from(e.status()),
            param: e.header_param().map(str::to_string),
        },
    }
}

/// One engine's answer, and what else was wrong with the request it returned.
fn observed(line: &Value) -> (Outcome, Vec<String>) {
    let text = |k: &str| line[k].as_str().map(str::to_string);
    let mut wrong = Vec::new();
    if let Some(dirty) = text("dirty") {
        wrong.push(dirty);
    }
    let outcome = match line["status"].as_u64() {
        Some(status) => Outcome::Refuse {
            status,
            param: text("param"),
        },
        None => {
            let uri = text("uri").unwrap_or_default();
            let original = line["origin"] == "originals";
            if !original && text("again").as_deref() != Some(uri.as_str()) {
                wrong.push(format!("x-imgflex-url routes to {}", line["again"]));
            }
            Outcome::Forward { uri, original }
        }
    };
    (outcome, wrong)
}

/// Runs `cases` through the function of each policy under `engine`: one JSON value per case.
/// In batches: njs has no garbage collector (a VM lives for one request in nginx and
/// CloudFront), and one VM running thousands of requests slows down quadratically.
fn run_engine(
    engine: &str,
    cases: &[Case],
    functions: &[(String, std::path::PathBuf)],
    signing: &Signing,
) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    let mut lines = Vec::with_capacity(cases.len());
    for batch in cases.chunks(200) {
        let input = serde_json::json!({ "now": signing.now, "keys": signing.keys, "cases": batch });
        std::fs::write(&file, serde_json::to_vec(&input).unwrap()).unwrap();
        let out = Command::new(engine)
            .arg(workspace_root().join("tests/edge/parity.js"))
            .arg(&file)
            .args(
                functions
                    .iter()
                    .map(|(name, path)| format!("{name}={}", path.display())),
            )
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {engine} ({e}): .ci/setup installs node and njs")
            });
        assert!(
            out.status.success(),
            "{engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let before = lines.len();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            lines.push(serde_json::from_str::<Value>(line).unwrap());
        }
        assert_eq!(
            lines.len() - before,
            batch.len(),
            "{engine} answered every case"
        );
    }
    lines
}

#[test]
fn node_njs_and_the_core_agree_on_the_table_and_the_fuzz() {
    let table: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("url-vectors.json")).unwrap())
            .unwrap();
    let configs = tempfile::tempdir().unwrap();
    let mut policies = BTreeMap::new();
    let mut functions = Vec::new();
    let mut rendered = Vec::new();
    for (name, text) in table["policies"].as_object().unwrap() {
        let text = text.as_str().unwrap();
        let config = configs.path().join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let (dir, _) = render(Some(&config));
        functions.push((name.clone(), dir.path().join("edge-function.js")));
        rendered.push(dir);
        policies.insert(name.clone(), Policy::from_toml_str(text).unwrap());
    }

    let signing = Signing {
        now: table["signing"]["now"].as_u64().unwrap(),
        keys: serde_json::from_value(table["signing"]["keys"].clone()).unwrap(),
    };
    let mut cases: Vec<Case> = table["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Case {
            policy: v["policy"].as_str().unwrap().to_string(),
            url: v["url"].as_str().unwrap().to_string(),
            accept: v["accept"].as_str().map(str::to_string),
            hints: serde_json::from_value(v["hints"].clone()).unwrap(),
            note: format!("table: {}", v["note"].as_str().unwrap()),
        })
        .collect();
    let vectors = cases.len();
    let seed = std::env::var("IMGFLEX_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("edge fuzz: seed {seed} (IMGFLEX_FUZZ_SEED={seed} reproduces), {FUZZ_CASES} URLs");
    let mut fuzz = Fuzz(fastrand::Rng::with_seed(seed));
    for i in 0..FUZZ_CASES {
        let policy = FUZZ_POLICIES[i % FUZZ_POLICIES.len()];
        cases.push(Case {
            policy: policy.to_string(),
            url: fuzz.url(),
            accept: fuzz.accept(),
            hints: fuzz.hints(),
            note: format!("fuzz seed {seed} #{i}"),
        });
    }

    let mut failures = Vec::new();
    let mut refused = 0;
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    let mut originals = 0;
    for engine in ["node", "njs"] {
        let answers = run_engine(engine, &cases, &functions, &signing);
        let mut heaviest = (0, 0);
        for (i, (case, line)) in cases.iter().zip(&answers).enumerate() {
            let want = expected(case, &policies[&case.policy], &signing);
            let (got, wrong) = observed(line);
            if engine == "node" {
                match &want {
                    Outcome::Refuse { param, .. } => {
                        refused += 1;
                        *why.entry(format!(
                            "{}/{}",
                            case.policy,
                            param.as_deref().unwrap_or("-")
                        ))
                        .or_default() += 1;
                    }
                    Outcome::Forward { original: true, .. } => originals += 1,
                    _ => {}
                }
            }
            if got != want || !wrong.is_empty() {
                failures.push(format!(
                    "{engine} {} {:?} accept={:?} hints={:?} ({}): got {got:?} {wrong:?}, core says {want:?}",
                    case.policy, case.url, case.accept, case.hints, case.note
                ));
            }
            if let Some(bytes) = line["bytes"].as_u64()
                && bytes > heaviest.0
            {
                heaviest = (bytes, i);
            }
        }
        if engine == "njs" {
            let (bytes, i) = heaviest;
            println!(
                "njs: the heaviest request allocated {bytes} bytes: {} {:?} accept of {} bytes",
                cases[i].policy,
                cases[i].url.chars().take(120).collect::<String>(),
                cases[i].accept.as_ref().map_or(0, String::len)
            );
            assert!(
                bytes > 0 && bytes < MEMORY_BUDGET,
                "njs request memory {bytes} bytes for {:?}",
                cases[i].url
            );
        }
    }
    println!(
        "{} cases ({vectors} from the table): {refused} refused, {originals} originals, {} variants; {} failures",
        cases.len(),
        cases.len() - refused - originals,
        failures.len()
    );
    println!("refusals by policy/param: {why:?}");
    assert!(
        failures.is_empty(),
        "{} disagreements (seed {seed}); the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The fuzz must reach every outcome, or it tests nothing.
    let variants = cases.len() - refused - originals;
    assert!(refused > FUZZ_CASES / 5, "{refused} refused");
    assert!(variants > FUZZ_CASES / 8, "{variants} variants");
    assert!(originals > FUZZ_CASES / 50, "{originals} originals");
}

/// URLs built from the grammar's own pieces and the spellings that have split engines before:
/// trailing newlines, non-ASCII letters that case-fold to ASCII, malformed and encoded
/// escapes, control characters, repeats, empty pieces, both URL forms, `_v/`, and `Accept`
/// headers with odd weights and whitespace. Mostly valid, so that variants (and their keys)
/// are compared as much as refusals.
struct Fuzz(fastrand::Rng);

// The tables read better one row per line than one item per line.
#[rustfmt::skip]
impl Fuzz {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.0.usize(..items.len())]
    }

    fn chance(&mut self, percent: u8) -> bool {
        self.0.u8(..100) < percent
    }

    /// One of `good`, or now and then (one time in ten) one of `bad`.
    fn mostly<'a>(&mut self, good: &[&'a str], bad: &[&'a str]) -> &'a str {
        self.good_in(90, good, bad)
    }

    fn good_in<'a>(&mut self, percent: u8, good: &[&'a str], bad: &[&'a str]) -> &'a str {
        if self.chance(percent) { self.pick(good) } else { self.pick(bad) }
    }

    /// A trailing, leading or embedded oddity, sometimes.
    fn spoil(&mut self, s: String) -> String {
        if !self.chance(6) {
            return s;
        }
        let junk = self.pick(&[
            "%0A", "%0D", "%00", "%20", "+", "%zz", "%", "%2", "%C4%B0", "%E2%84%AA", "%C5%BF",
            "%C3%A9", "%FF", "%C0%AF", "%ED%A0%80", "%EF%BB%BF", "%C2%85", "%09", "\t", "'", "%27",
            "%2F", "%3D", "%26", ".", "_", "-", "0",
        ]);
        match self.0.u8(..3) {
            0 => format!("{s}{junk}"),
            1 => format!("{junk}{s}"),
            _ => {
                let at = self.0.usize(..=s.len());
                if s.is_char_boundary(at) { format!("{}{junk}{}", &s[..at], &s[at..]) } else { s + junk }
            }
        }
    }

    fn case_of(&mut self, s: &str) -> String {
        match self.0.u8(..4) {
            0 => s.to_ascii_uppercase(),
            1 => s.chars().map(|c| if self.chance(50) { c.to_ascii_uppercase() } else { c }).collect(),
            _ => s.to_string(),
        }
    }

    fn number(&mut self) -> String {
        match self.0.u8(..16) {
            0 => "0".into(),
            1 => format!("{}", self.0.u32(..100_000)),
            2 => "99999999999999999999".into(),
            3 => format!("0{}", self.0.u32(1..500)),
            4 => format!("{}.{}", self.0.u32(..5), self.0.u32(..20)),
            5 => self.pick(&["-1", "1e3", "0x10", "+4", "Infinity", "NaN", "", " 4", &"0".repeat(70)]).into(),
            _ => format!("{}", self.0.u32(1..2000)),
        }
    }

    fn value(&mut self, name: &str) -> String {
        let base: String = match name.to_ascii_lowercase().as_str() {
            "q" | "quality" if self.chance(80) => format!("{}", self.0.u8(1..=100)),
            "w" | "width" | "%77" | "%57idth" if self.chance(15) => self.case_of("auto"),
            "w" | "width" | "h" | "height" | "q" | "quality" | "%77" | "%57idth" => self.number(),
            "dpr" => self.mostly(&["1", "1.5", "2", "2.0", "3", "4", "auto", "AUTO"], &["4.1", "0.5", ".5", "1.25", "2.", "1.2.3", "aut", "auto "]).into(),
            "fit" => {
                let fit = self.mostly(&["cover", "contain", "fill", "inside"], &["outside", "fit", "pad"]);
                self.case_of(fit)
            }
            "g" | "gravity" => {
                let g = self.mostly(&["center", "north", "south", "east", "north_east", "northwest", "southwest"], &["centre", "up"]);
                self.case_of(g)
            }
            "fm" | "format" | "f" => {
                let f = self.mostly(&["auto", "jpeg", "jpg", "png", "webp", "avif", "JPG"], &["gif", "bmp"]);
                self.case_of(f)
            }
            "bg" => self.mostly(&["ffffff", "000000", "FFaa00", "rgb:00ff00"], &["fff", "gggggg", "%66fffff"]).into(),
            "enlarge" | "anim" | "%61nim" => self.mostly(&["0", "1"], &["2", "true", ""]).into(),
            "v" => self.mostly(&["1", "abc", "A_b-9", &"x".repeat(32)], &[&"x".repeat(33), "a.b", "a%2Fb"]).into(),
            "p" | "preset" => {
                let p = self.mostly(&["thumb", "hero", "desktop"], &["nope", "../x", "des%E2%84%AAtop", "__proto__"]);
                self.case_of(p)
            }
            _ => self.number(),
        };
        self.spoil(base)
    }

    /// A spelling of the parameter `group` (or, now and then, a name that is none).
    fn name(&mut self, group: usize) -> String {
        const GROUPS: [&[&str]; 12] = [
            &["w", "width", "%77", "%57idth"], &["h", "height"], &["fit"], &["g", "gravity"],
            &["fm", "format", "f"], &["q", "quality"], &["dpr"], &["bg"], &["enlarge"], &["v"],
            &["p", "preset"], &["anim", "%61nim"],
        ];
        let name = if self.chance(93) {
            self.pick(GROUPS[group % GROUPS.len()])
        } else {
            self.pick(&["utm_source", "x", "", "__proto__", "constructor", "hasOwnProperty", "w%C4%B0dth", "w%zz", "0", "17", "01"])
        };
        let name = self.case_of(name);
        self.spoil(name)
    }

    fn query(&mut self) -> Option<String> {
        if self.chance(12) {
            return None;
        }
        if self.chance(3) {
            return Some(self.pick(&["", "&", "=", "&&", "=&", "&=x"]).to_string());
        }
        // Distinct parameters, mostly: a repeat is one refusal among many.
        let mut groups: Vec<usize> = (0..12).collect();
        self.0.shuffle(&mut groups);
        groups.truncate(self.0.usize(1..5));
        if self.chance(5) {
            groups.push(groups[0]);
        }
        let mut pieces = Vec::new();
        for group in groups {
            let name = self.name(group);
            let piece = match self.0.u8(..30) {
                0 => name,
                1 => String::new(),
                _ => {
                    let value = self.value(&name);
                    format!("{name}={value}")
                }
            };
            pieces.push(piece);
        }
        Some(pieces.join("&"))
    }

    fn key(&mut self) -> String {
        let dir = self.good_in(97,
            &["", "photos/", "a/b/", "x/_v/", "caf%C3%A9/", "my%20album/", "Photos/"],
            &["_v/", "%2E%2E/", "./", "a//", "%5Fv/"],
        );
        let name = self.good_in(97, &["cat", "Cat", "a%2Fb", "caf%C3%A9", "%E2%84%AA", "x+y", "a'b", "1"], &["na%zzme", "a%5Cb"]);
        let ext = self.good_in(95, &["jpg", "JPG", "jpeg", "png", "webp", "gif", "avif", "J%50G"], &["txt", "", "jpg%0A", "jp%C4%9F"]);
        let key = if ext.is_empty() { format!("{dir}{name}") } else { format!("{dir}{name}.{ext}") };
        if self.chance(5) { self.spoil(key) } else { key }
    }

    fn path_form(&mut self, original: &str) -> String {
        let mut tokens = Vec::new();
        for _ in 0..self.0.usize(1..4) {
            let token = match self.0.u8(..10) {
                0 if self.chance(20) => "w_auto".to_string(),
                0 => format!("w_{}", self.number()),
                1 => format!("h_{}", self.number()),
                2 => format!("c_{}", self.mostly(&["fill", "fit", "scale", "pad", "limit", "FILL"], &["cover"])),
                3 => format!("g_{}", self.mostly(&["north_east", "center", "south"], &["nowhere"])),
                4 => format!("f_{}", self.mostly(&["webp", "auto", "avif", "jpg"], &["bmp"])),
                5 => format!("q_{}", self.number()),
                6 => format!("b_{}", self.mostly(&["rgb:00ff00", "ffffff"], &["zz"])),
                7 => format!("s_{}", self.mostly(&["thumb", "hero"], &["nope"])),
                8 => format!("{}_{}", self.pick(&["x", "W", "dpr", "v", "a", "A"]), self.pick(&["1", "2", "abc", "auto", "0"])),
                _ => self.pick(&["w400", "_1", "w_", "W_400", "w_1"]).to_string(),
            };
            tokens.push(if self.chance(8) { self.spoil(token) } else { token });
        }
        let name = self.mostly(&["out.webp", "out.jpg", "out.JPEG", "out.png", "out.avif"], &["out", "o.gif"]);
        format!("/{original}/{}/{name}", tokens.join(","))
    }

    fn url(&mut self) -> String {
        let key = self.key();
        match self.0.u8(..10) {
            0 | 1 => {
                let path = self.path_form(&key);
                match self.query() {
                    Some(q) if self.chance(15) => format!("{path}?{q}"),
                    _ => path,
                }
            }
            2 => {
                // A variant's own URI, or the first layout's, asked for plainly.
                let ops = self.pick(&["w400_h300_cover_center_q75_bgffffff_e0.webp", "w100_inside_center_bgffffff_e0_auto.png"]);
                let root = self.pick(&["", "_v/", "_V/", "%5Fv/", "_v%2F"]);
                format!("/{root}{key}/{ops}")
            }
            _ => match self.query() {
                Some(q) => format!("/{key}?{q}"),
                None => format!("/{key}"),
            },
        }
    }

    /// Client hints as browsers send them (Chrome's `2.625`, the legacy names), and the
    /// junk a header can carry that the URL grammar never sees.
    fn hints(&mut self) -> Option<BTreeMap<String, String>> {
        if self.chance(40) {
            return None;
        }
        let mut hints = BTreeMap::new();
        for _ in 0..self.0.usize(1..4) {
            let name = self.pick(&["sec-ch-dpr", "dpr", "sec-ch-width", "width", "save-data"]);
            let value = match name {
                "sec-ch-dpr" | "dpr" => self.mostly(
                    &["1", "2", "3", "1.5", "2.625", "2.75", "1.25", "0.75", "4", "5", "2.", ".5"],
                    &["", "0", ".", "1.2.3", "-2", "2e0", "Infinity", "0x2", " 2", "123456789", "1,5"],
                ),
                "save-data" => self.mostly(&["on", "off"], &["ON", "", " on", "on;x"]),
                _ => self.mostly(
                    &["412", "640", "1024", "1", "99", "101", "4000", "9999", "99999"],
                    &["", "0", "00000", "412.5", "-1", "412px", "123456", "1e3", " 412"],
                ),
            };
            hints.insert(name.to_string(), value.to_string());
        }
        Some(hints)
    }

    fn accept(&mut self) -> Option<String> {
        if self.chance(30) {
            return None;
        }
        let mut ranges = Vec::new();
        for _ in 0..self.0.usize(1..5) {
            let media = self.pick(&["image/avif", "image/webp", "IMAGE/WEBP", "image/*", "*/*", "image/png", "image/avi", "image/avif+x"]);
            let mut range = media.to_string();
            if self.chance(40) {
                let ows = self.mostly(&["", " ", "\t", "  "], &["\u{feff}", "\u{85}", "\u{a0}", "\n"]);
                let weight = self.pick(&[
                    "q=0", "q=1", "q=0.5", "q=0.001", "Q=0.9", "q=inf", "q=1e-50", "q=0x1", "q=1.0001",
                    "q=", "q=.5", "q=1.", "q=01", "q = 1", "level=1", "q=0.000", "q=-0",
                ]);
                range = format!("{range}{ows};{ows}{weight}");
            }
            if self.chance(5) {
                let pad = self.pick(&[" ", "\t", "\u{feff}", "\u{85}", "\r", "\u{3000}"]);
                range = format!("{pad}{range}{pad}");
            }
            ranges.push(range);
        }
        let mut accept = ranges.join(",");
        if self.chance(3) {
            // Around the 1024-character cap.
            let pad = (1024 + self.0.usize(..3)).saturating_sub(accept.len() + 1);
            accept = format!("{}{accept}", ",".repeat(pad));
        }
        Some(accept)
    }
}
