//! The stack's tables of imgflex.toml (`[domain]`, `[handler]`, `[cdn]`, `[waf]`, `[storage]`,
//! `[originals]`, `[alarms]`): parsed, then validated key by key, each value kept with where it came
//! from (a line of the file, a `--set` flag, or the default), and turned into the
//! parameters of the main and edge stacks. Pure: no AWS here.

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;

/// Where a setting's value comes from, shown next to every parameter a deploy changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `FILE:LINE`.
    File(String),
    /// `--set KEY=VALUE` (or a dedicated flag such as `--arch`).
    Flag(String),
    Default,
    /// Not configured: found in the account (a retained bucket) or kept from the stack.
    Found(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(at) => f.write_str(at),
            Source::Flag(flag) => f.write_str(flag),
            Source::Default => f.write_str("default"),
            Source::Found(what) => f.write_str(what),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Setting<T> {
    fn default(value: T) -> Setting<T> {
        Setting {
            value,
            source: Source::Default,
        }
    }
}

/// A refused setting: the message, and the line of the file when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// `FILE:LINE`, `FILE`, or the flag.
    pub at: String,
    pub message: String,
}

// ------------------------------------------------------------------ the file's shape

/// The stack tables as written. Unknown keys inside a table are refused (with their line);
/// unknown top-level keys are the policy's business.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tables {
    domain: DomainTable,
    handler: HandlerTable,
    cdn: CdnTable,
    waf: WafTable,
    storage: StorageTable,
    originals: OriginalsTable,
    alarms: AlarmsTable,
}

type Opt<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DomainTable {
    aliases: Opt<Vec<String>>,
    certificate_arn: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct HandlerTable {
    memory: Opt<i64>,
    timeout: Opt<i64>,
    architecture: Opt<String>,
    reserved_concurrency: Opt<i64>,
    log_retention_days: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CdnTable {
    price_class: Opt<String>,
    origin_shield: Opt<bool>,
    origin_shield_region: Opt<String>,
    cors_origins: Opt<Vec<String>>,
    minimum_tls: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WafTable {
    rate_limit: Opt<i64>,
    rate_window: Opt<i64>,
    allow_ips: Opt<Vec<String>>,
    block_ips: Opt<Vec<String>>,
    allow_countries: Opt<Vec<String>>,
    block_countries: Opt<Vec<String>>,
    log_retention_days: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StorageTable {
    variants_expiration_days: Opt<i64>,
    originals_noncurrent_version_days: Opt<i64>,
    logs_expiration_days: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct OriginalsTable {
    bucket: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AlarmsTable {
    email: Opt<String>,
    monthly_budget_usd: Opt<i64>,
}

/// Where one layer of tables came from: the file (spans are offsets into its text) or one
/// `--set` flag.
#[derive(Debug, Clone, Copy)]
enum Layer<'a> {
    File { path: &'a str, text: &'a str },
    Flag(&'a str),
}

impl Layer<'_> {
    fn source(&self, span: std::ops::Range<usize>) -> Source {
        match *self {
            Layer::File { path, text } => {
                Source::File(format!("{path}:{}", line_at(text, span.start)))
            }
            Layer::Flag(flag) => Source::Flag(format!("--set {flag}")),
        }
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses the stack tables of a whole imgflex.toml (`path` names it in messages).
pub fn parse_file(path: &str, text: &str) -> Result<Tables, SettingError> {
    toml::from_str(text).map_err(|e| SettingError {
        at: match e.span() {
            Some(span) => format!("{path}:{}", line_at(text, span.start)),
            None => path.to_string(),
        },
        message: e.message().trim_end().to_string(),
    })
}

/// The stack keys a `--set` may name.
pub const KEYS: &[&str] = &[
    "domain.aliases",
    "domain.certificate_arn",
    "handler.memory",
    "handler.timeout",
    "handler.architecture",
    "handler.reserved_concurrency",
    "handler.log_retention_days",
    "cdn.price_class",
    "cdn.origin_shield",
    "cdn.origin_shield_region",
    "cdn.cors_origins",
    "cdn.minimum_tls",
    "waf.rate_limit",
    "waf.rate_window",
    "waf.allow_ips",
    "waf.block_ips",
    "waf.allow_countries",
    "waf.block_countries",
    "waf.log_retention_days",
    "storage.variants_expiration_days",
    "storage.originals_noncurrent_version_days",
    "storage.logs_expiration_days",
    "originals.bucket",
    "alarms.email",
    "alarms.monthly_budget_usd",
];

/// Parses one `--set KEY=VALUE`: VALUE is TOML (`4096`, `true`, `"eu-west-1"`,
/// `["10.0.0.0/8"]`); a bare word that is not TOML is taken as a string.
pub fn parse_flag(flag: &str) -> Result<Tables, SettingError> {
    let err = |message: String| SettingError {
        at: format!("--set {flag}"),
        message,
    };
    let (key, value) = flag
        .split_once('=')
        .ok_or_else(|| err("expected KEY=VALUE, e.g. `--set handler.memory=4096`".into()))?;
    let key = key.trim();
    if !KEYS.contains(&key) {
        return Err(err(format!(
            "`{key}` is not a stack setting; the keys are {}",
            KEYS.join(", ")
        )));
    }
    let value = value.trim();
    let doc = format!("{key} = {value}\n");
    match toml::from_str::<Tables>(&doc) {
        Ok(t) => Ok(t),
        // `--set cdn.price_class=PriceClass_All`: a bare word is meant as a string.
        Err(_) if !value.starts_with(['"', '[', '\'']) => {
            let quoted = format!("{key} = {}\n", toml::Value::String(value.to_string()));
            toml::from_str::<Tables>(&quoted).map_err(|e| err(e.message().trim_end().to_string()))
        }
        Err(e) => Err(err(e.message().trim_end().to_string())),
    }
}

// ------------------------------------------------------------------ the resolved settings

/// The retention values CloudWatch Logs accepts (the templates' AllowedValues).
pub const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub const PRICE_CLASSES: &[&str] = &["PriceClass_100", "PriceClass_200", "PriceClass_All"];

/// The security policies CloudFront offers for `sni-only` custom certificates.
pub const TLS_POLICIES: &[&str] = &[
    "TLSv1.2_2019",
    "TLSv1.2_2021",
    "TLSv1.2_2025",
    "TLSv1.3_2025",
];

pub const RATE_WINDOWS: &[i64] = &[60, 120, 300, 600];

/// The custom domain: both keys or neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub aliases: Setting<Vec<String>>,
    pub certificate_arn: Setting<String>,
}

/// Origin Shield: off, or on in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shield {
    Off,
    /// On, in the region given, or (None) in the one AWS recommends for the stack's region.
    On(Option<String>),
}

/// Every stack setting, resolved: the file, then `--set` flags over it, then defaults.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub domain: Option<Domain>,
    pub memory: Setting<u32>,
    pub timeout: Setting<u32>,
    pub architecture: Setting<String>,
    pub reserved_concurrency: Setting<u32>,
    pub handler_log_retention_days: Setting<u32>,
    pub price_class: Setting<String>,
    pub origin_shield: Setting<Shield>,
    pub cors_origins: Setting<Vec<String>>,
    pub minimum_tls: Setting<String>,
    pub rate_limit: Setting<u64>,
    pub rate_window: Setting<u32>,
    pub allow_ips: Setting<Vec<String>>,
    pub block_ips: Setting<Vec<String>>,
    pub allow_countries: Setting<Vec<String>>,
    pub block_countries: Setting<Vec<String>>,
    pub waf_log_retention_days: Setting<u32>,
    pub variants_expiration_days: Setting<u32>,
    pub originals_noncurrent_version_days: Setting<u32>,
    pub logs_expiration_days: Setting<u32>,
    /// An existing bucket to use as the originals bucket.
    pub originals_bucket: Option<Setting<String>>,
    /// Subscribed to both alarm topics; empty: no subscription (the alarms still show in
    /// `imgflex status`).
    pub alarm_email: Setting<String>,
    /// The account's monthly budget in USD; 0: none.
    pub monthly_budget_usd: Setting<u32>,
}

impl Default for StackSettings {
    fn default() -> StackSettings {
        fn d<T>(value: T) -> Setting<T> {
            Setting::default(value)
        }
        StackSettings {
            domain: None,
            memory: d(2048),
            timeout: d(28),
            architecture: d("arm64".into()),
            reserved_concurrency: d(0),
            handler_log_retention_days: d(30),
            price_class: d("PriceClass_100".into()),
            origin_shield: d(Shield::On(None)),
            cors_origins: d(vec!["*".into()]),
            minimum_tls: d("TLSv1.2_2021".into()),
            rate_limit: d(2000),
            rate_window: d(300),
            allow_ips: d(Vec::new()),
            block_ips: d(Vec::new()),
            allow_countries: d(Vec::new()),
            block_countries: d(Vec::new()),
            waf_log_retention_days: d(30),
            variants_expiration_days: d(90),
            originals_noncurrent_version_days: d(30),
            logs_expiration_days: d(90),
            originals_bucket: None,
            alarm_email: d(String::new()),
            monthly_budget_usd: d(0),
        }
    }
}

/// One layer's value of a key, with its source; the later layer wins.
fn pick<T: Clone>(layers: &[(Layer<'_>, Option<&Spanned<T>>)]) -> Option<(T, Source, String)> {
    layers.iter().rev().find_map(|(layer, value)| {
        value.map(|v| {
            let source = layer.source(v.span());
            let at = source.to_string();
            (v.get_ref().clone(), source, at)
        })
    })
}

/// A key's value checked by `check`, else its default.
fn resolve<R: Clone, T>(
    layers: &[(Layer<'_>, Option<&Spanned<R>>)],
    key: &str,
    default: Setting<T>,
    check: impl Fn(R) -> Result<T, String>,
) -> Result<Setting<T>, SettingError> {
    match pick(layers) {
        None => Ok(default),
        Some((raw, source, at)) => match check(raw) {
            Ok(value) => Ok(Setting { value, source }),
            Err(message) => Err(SettingError {
                at,
                message: format!("`{key}`: {message}"),
            }),
        },
    }
}

fn range(lo: i64, hi: i64) -> impl Fn(i64) -> Result<u32, String> {
    move |n| {
        if (lo..=hi).contains(&n) {
            Ok(n as u32)
        } else {
            Err(format!("must be between {lo} and {hi}, got {n}"))
        }
    }
}

fn one_of(allowed: &'static [i64]) -> impl Fn(i64) -> Result<u32, String> {
    move |n| {
        if allowed.contains(&n) {
            Ok(n as u32)
        } else {
            let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            Err(format!("must be one of {}, got {n}", list.join(", ")))
        }
    }
}

fn word(allowed: &'static [&'static str]) -> impl Fn(String) -> Result<String, String> {
    move |s| {
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(&s))
            .map(|a| a.to_string())
            .ok_or_else(|| format!("must be one of {}, got `{s}`", allowed.join(", ")))
    }
}

impl StackSettings {
    /// The file's tables (`file`: its path, text and tables), then each `--set` in order.
    pub fn resolve(
        file: Option<(&str, &str, &Tables)>,
        flags: &[(String, Tables)],
    ) -> Result<StackSettings, SettingError> {
        let mut layers: Vec<(Layer<'_>, &Tables)> = Vec::new();
        if let Some((path, text, tables)) = file {
            layers.push((Layer::File { path, text }, tables));
        }
        for (flag, tables) in flags {
            layers.push((Layer::Flag(flag), tables));
        }
        macro_rules! at {
            ($section:ident . $key:ident) => {
                layers
                    .iter()
                    .map(|(l, t)| (*l, t.$section.$key.as_ref()))
                    .collect::<Vec<_>>()
            };
        }
        let d = StackSettings::default();

        let aliases = resolve(
            &at!(domain.aliases),
            "domain.aliases",
            Setting::default(Vec::new()),
            |v: Vec<String>| {
                let mut out = Vec::new();
                for a in v {
                    let a = a.trim().to_ascii_lowercase();
                    check_hostname(&a)?;
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                Ok(out)
            },
        )?;
        let certificate = resolve(
            &at!(domain.certificate_arn),
            "domain.certificate_arn",
            Setting::default(String::new()),
            |arn: String| check_certificate_arn(arn.trim()).map(|()| arn.trim().to_string()),
        )?;
        let domain = match (aliases.value.is_empty(), certificate.value.is_empty()) {
            (true, true) => None,
            (false, false) => Some(Domain {
                aliases,
                certificate_arn: certificate,
            }),
            (false, true) => {
                return Err(SettingError {
                    at: aliases.source.to_string(),
                    message: "`domain.aliases` needs `domain.certificate_arn`: an ACM certificate in us-east-1 that covers them".into(),
                });
            }
            (true, false) => {
                return Err(SettingError {
                    at: certificate.source.to_string(),
                    message: "`domain.certificate_arn` needs `domain.aliases`: the names the distribution answers to".into(),
                });
            }
        };

        let memory = resolve(
            &at!(handler.memory),
            "handler.memory",
            d.memory,
            range(128, 10_240),
        )?;
        let timeout = resolve(&at!(handler.timeout), "handler.timeout", d.timeout, |n| {
            range(1, 60)(n).map_err(|e| {
                format!("{e} (CloudFront waits at most 60 s for the function URL origin)")
            })
        })?;
        let architecture = resolve(
            &at!(handler.architecture),
            "handler.architecture",
            d.architecture,
            |s: String| match s.to_ascii_lowercase().as_str() {
                "arm64" | "aarch64" => Ok("arm64".to_string()),
                "x86_64" | "x86-64" | "amd64" => Ok("x86_64".to_string()),
                _ => Err(format!("must be arm64 or x86_64, got `{s}`")),
            },
        )?;
        let reserved_concurrency = resolve(
            &at!(handler.reserved_concurrency),
            "handler.reserved_concurrency",
            d.reserved_concurrency,
            range(0, 100_000),
        )?;
        let handler_log_retention_days = resolve(
            &at!(handler.log_retention_days),
            "handler.log_retention_days",
            d.handler_log_retention_days,
            one_of(RETENTION_DAYS),
        )?;

        let price_class = resolve(
            &at!(cdn.price_class),
            "cdn.price_class",
            d.price_class,
            |s: String| {
                let long = if s.starts_with("PriceClass_") || s.starts_with("priceclass_") {
                    s.clone()
                } else {
                    format!("PriceClass_{s}")
                };
                word(PRICE_CLASSES)(long).map_err(|_| {
                    format!(
                        "must be one of {} (or 100, 200, All), got `{s}`",
                        PRICE_CLASSES.join(", ")
                    )
                })
            },
        )?;
        let shield_on = resolve(
            &at!(cdn.origin_shield),
            "cdn.origin_shield",
            Setting::default(true),
            Ok,
        )?;
        let shield_region = resolve(
            &at!(cdn.origin_shield_region),
            "cdn.origin_shield_region",
            Setting::default(None),
            |s: String| {
                let s = s.trim().to_ascii_lowercase();
                if crate::regions::ORIGIN_SHIELD_REGIONS.contains(&s.as_str()) {
                    Ok(Some(s))
                } else {
                    Err(format!(
                        "Origin Shield is not offered in `{s}`; it is in {}",
                        crate::regions::ORIGIN_SHIELD_REGIONS.join(", ")
                    ))
                }
            },
        )?;
        let origin_shield = match (shield_on.value, shield_region.value) {
            (false, Some(_)) => {
                return Err(SettingError {
                    at: shield_region.source.to_string(),
                    message: "`cdn.origin_shield_region` is set while `cdn.origin_shield = false`: remove one".into(),
                });
            }
            (false, None) => Setting {
                value: Shield::Off,
                source: shield_on.source,
            },
            (true, region) => Setting {
                source: if region.is_some() {
                    shield_region.source
                } else {
                    shield_on.source
                },
                value: Shield::On(region),
            },
        };
        let cors_origins = resolve(
            &at!(cdn.cors_origins),
            "cdn.cors_origins",
            d.cors_origins,
            |v: Vec<String>| {
                let mut out: Vec<String> = Vec::new();
                for o in v {
                    let o = o.trim().to_string();
                    check_cors_origin(&o)?;
                    if !out.contains(&o) {
                        out.push(o);
                    }
                }
                if out.len() > 1 && out.iter().any(|o| o == "*") {
                    return Err("`*` allows every origin: list it alone".into());
                }
                Ok(out)
            },
        )?;
        let minimum_tls = resolve(
            &at!(cdn.minimum_tls),
            "cdn.minimum_tls",
            d.minimum_tls,
            |s: String| word(TLS_POLICIES)(s),
        )?;
        if minimum_tls.source != Source::Default && domain.is_none() {
            return Err(SettingError {
                at: minimum_tls.source.to_string(),
                message: "`cdn.minimum_tls` applies to a custom domain's certificate: set `[domain]` too (the cloudfront.net certificate's TLS versions cannot be chosen)".into(),
            });
        }

        let rate_limit = resolve(
            &at!(waf.rate_limit),
            "waf.rate_limit",
            d.rate_limit,
            |n: i64| {
                if (10..=2_000_000_000).contains(&n) {
                    Ok(n as u64)
                } else {
                    Err(format!(
                        "must be between 10 and 2000000000 requests per window, got {n}"
                    ))
                }
            },
        )?;
        let rate_window = resolve(
            &at!(waf.rate_window),
            "waf.rate_window",
            d.rate_window,
            one_of(RATE_WINDOWS),
        )?;
        let cidrs = |v: Vec<String>| -> Result<Vec<String>, String> {
            let mut out: Vec<String> = Vec::new();
            for c in v {
                let c = check_cidr(c.trim())?;
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            Ok(out)
        };
        let allow_ips = resolve(&at!(waf.allow_ips), "waf.allow_ips", d.allow_ips, cidrs)?;
        let block_ips = resolve(&at!(waf.block_ips), "waf.block_ips", d.block_ips, cidrs)?;
        if let Some(both) = allow_ips.value.iter().find(|c| block_ips.value.contains(c)) {
            return Err(SettingError {
                at: block_ips.source.to_string(),
                message: format!("`{both}` is in both `waf.allow_ips` and `waf.block_ips`"),
            });
        }
        let countries = |v: Vec<String>| -> Result<Vec<String>, String> {
            let mut out: Vec<String> = Vec::new();
            for c in v {
                let up = c.trim().to_ascii_uppercase();
                if up.len() != 2 || !up.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(format!(
                        "`{c}` is not a country code: use ISO 3166-1 alpha-2 codes such as \"DE\" or \"US\""
                    ));
                }
                if !out.contains(&up) {
                    out.push(up);
                }
            }
            Ok(out)
        };
        let allow_countries = resolve(
            &at!(waf.allow_countries),
            "waf.allow_countries",
            d.allow_countries,
            countries,
        )?;
        let block_countries = resolve(
            &at!(waf.block_countries),
            "waf.block_countries",
            d.block_countries,
            countries,
        )?;
        if !allow_countries.value.is_empty() && !block_countries.value.is_empty() {
            return Err(SettingError {
                at: block_countries.source.to_string(),
                message: "set `waf.allow_countries` or `waf.block_countries`, not both: an allow list already blocks every other country".into(),
            });
        }
        let waf_log_retention_days = resolve(
            &at!(waf.log_retention_days),
            "waf.log_retention_days",
            d.waf_log_retention_days,
            one_of(RETENTION_DAYS),
        )?;

        let days = range(1, 36_500);
        let variants_expiration_days = resolve(
            &at!(storage.variants_expiration_days),
            "storage.variants_expiration_days",
            d.variants_expiration_days,
            &days,
        )?;
        let originals_noncurrent_version_days = resolve(
            &at!(storage.originals_noncurrent_version_days),
            "storage.originals_noncurrent_version_days",
            d.originals_noncurrent_version_days,
            &days,
        )?;
        let logs_expiration_days = resolve(
            &at!(storage.logs_expiration_days),
            "storage.logs_expiration_days",
            d.logs_expiration_days,
            &days,
        )?;
        let originals_bucket = match pick(&at!(originals.bucket)) {
            None => None,
            Some((name, source, at)) => {
                let name = name.trim().to_string();
                check_bucket_name(&name).map_err(|message| SettingError {
                    at,
                    message: format!("`originals.bucket`: {message}"),
                })?;
                Some(Setting {
                    value: name,
                    source,
                })
            }
        };

        let alarm_email = resolve(
            &at!(alarms.email),
            "alarms.email",
            d.alarm_email,
            |e: String| check_email(e.trim()).map(|()| e.trim().to_string()),
        )?;
        let monthly_budget_usd = resolve(
            &at!(alarms.monthly_budget_usd),
            "alarms.monthly_budget_usd",
            d.monthly_budget_usd,
            range(0, 10_000_000),
        )?;

        Ok(StackSettings {
            domain,
            memory,
            timeout,
            architecture,
            reserved_concurrency,
            handler_log_retention_days,
            price_class,
            origin_shield,
            cors_origins,
            minimum_tls,
            rate_limit,
            rate_window,
            allow_ips,
            block_ips,
            allow_countries,
            block_countries,
            waf_log_retention_days,
            variants_expiration_days,
            originals_noncurrent_version_days,
            logs_expiration_days,
            originals_bucket,
            alarm_email,
            monthly_budget_usd,
        })
    }
}

// ------------------------------------------------------------------ the stacks' parameters

/// One CloudFormation parameter, what it is called in imgflex.toml, and where its value
/// comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub value: String,
    /// `handler.memory`, or empty for values imgflex computes (the handler's key).
    pub key: &'static str,
    pub source: Source,
}

/// CloudFormation takes at most this many bytes in one parameter value.
pub const MAX_PARAMETER_BYTES: usize = 4096;

fn param<T: ToString>(name: &'static str, key: &'static str, s: &Setting<T>) -> Param {
    Param {
        name,
        value: s.value.to_string(),
        key,
        source: s.source.clone(),
    }
}

fn list_param(
    name: &'static str,
    key: &'static str,
    s: &Setting<Vec<String>>,
    keep: impl Fn(&str) -> bool,
) -> Param {
    Param {
        name,
        value: s
            .value
            .iter()
            .filter(|v| keep(v))
            .cloned()
            .collect::<Vec<_>>()
            .join(","),
        key,
        source: s.source.clone(),
    }
}

impl StackSettings {
    /// The main stack's configured parameters (imgflex adds the handler's key, policy,
    /// web ACL and the places it finds). `region` is the stack's region.
    pub fn main_parameters(&self, region: &str) -> Vec<Param> {
        let shield = match &self.origin_shield.value {
            Shield::Off => String::new(),
            Shield::On(Some(r)) => r.clone(),
            // No documented choice for the region: off, and `deploy` says so.
            Shield::On(None) => crate::regions::origin_shield_region(region)
                .unwrap_or_default()
                .to_string(),
        };
        let (aliases, certificate) = match &self.domain {
            Some(d) => (
                list_param("Aliases", "domain.aliases", &d.aliases, |_| true),
                param(
                    "AcmCertificateArn",
                    "domain.certificate_arn",
                    &d.certificate_arn,
                ),
            ),
            None => (
                list_param(
                    "Aliases",
                    "domain.aliases",
                    &Setting::default(Vec::new()),
                    |_| true,
                ),
                param(
                    "AcmCertificateArn",
                    "domain.certificate_arn",
                    &Setting::default(String::new()),
                ),
            ),
        };
        vec![
            param("AlarmEmail", "alarms.email", &self.alarm_email),
            param("Architecture", "handler.architecture", &self.architecture),
            param("MemorySize", "handler.memory", &self.memory),
            param("Timeout", "handler.timeout", &self.timeout),
            param(
                "ReservedConcurrency",
                "handler.reserved_concurrency",
                &self.reserved_concurrency,
            ),
            param(
                "LogRetentionDays",
                "handler.log_retention_days",
                &self.handler_log_retention_days,
            ),
            param(
                "VariantsExpirationDays",
                "storage.variants_expiration_days",
                &self.variants_expiration_days,
            ),
            param(
                "OriginalsNoncurrentVersionDays",
                "storage.originals_noncurrent_version_days",
                &self.originals_noncurrent_version_days,
            ),
            param(
                "LogsExpirationDays",
                "storage.logs_expiration_days",
                &self.logs_expiration_days,
            ),
            list_param(
                "CorsAllowedOrigins",
                "cdn.cors_origins",
                &self.cors_origins,
                |_| true,
            ),
            aliases,
            certificate,
            param("PriceClass", "cdn.price_class", &self.price_class),
            Param {
                name: "OriginShieldRegion",
                value: shield,
                key: "cdn.origin_shield",
                source: self.origin_shield.source.clone(),
            },
            param(
                "MinimumProtocolVersion",
                "cdn.minimum_tls",
                &self.minimum_tls,
            ),
        ]
    }

    /// Why Origin Shield stays off although it was not turned off, if it does.
    pub fn origin_shield_note(&self, region: &str) -> Option<String> {
        (self.origin_shield.value == Shield::On(None)
            && crate::regions::origin_shield_region(region).is_none())
        .then(|| {
            format!(
                "Origin Shield stays off: AWS documents no Origin Shield region for origins in {region}; set `cdn.origin_shield_region` in imgflex.toml to turn it on"
            )
        })
    }

    /// The edge (WAF) stack's parameters.
    pub fn edge_parameters(&self) -> Vec<Param> {
        let v4 = |c: &str| !c.contains(':');
        let v6 = |c: &str| c.contains(':');
        vec![
            param("RateLimit", "waf.rate_limit", &self.rate_limit),
            param(
                "RateEvaluationWindowSec",
                "waf.rate_window",
                &self.rate_window,
            ),
            param(
                "LogRetentionDays",
                "waf.log_retention_days",
                &self.waf_log_retention_days,
            ),
            list_param("AllowIpv4", "waf.allow_ips", &self.allow_ips, v4),
            list_param("AllowIpv6", "waf.allow_ips", &self.allow_ips, v6),
            list_param("BlockIpv4", "waf.block_ips", &self.block_ips, v4),
            list_param("BlockIpv6", "waf.block_ips", &self.block_ips, v6),
            list_param(
                "AllowCountries",
                "waf.allow_countries",
                &self.allow_countries,
                |_| true,
            ),
            list_param(
                "BlockCountries",
                "waf.block_countries",
                &self.block_countries,
                |_| true,
            ),
            param(
                "LogsExpirationDays",
                "storage.logs_expiration_days",
                &self.logs_expiration_days,
            ),
            param("AlarmEmail", "alarms.email", &self.alarm_email),
            param(
                "MonthlyBudgetUsd",
                "alarms.monthly_budget_usd",
                &self.monthly_budget_usd,
            ),
        ]
    }
}

/// Every parameter within CloudFormation's 4,096 bytes, or which one is not.
pub fn check_parameter_sizes(params: &[Param], stack: &str) -> Result<(), SettingError> {
    for p in params {
        if p.value.len() > MAX_PARAMETER_BYTES {
            return Err(SettingError {
                at: p.source.to_string(),
                message: format!(
                    "the {stack} stack's parameter `{}`{} would be {} bytes; CloudFormation takes at most {MAX_PARAMETER_BYTES} in one parameter",
                    p.name,
                    if p.key.is_empty() {
                        String::new()
                    } else {
                        format!(" (`{}`)", p.key)
                    },
                    p.value.len()
                ),
            });
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ value checks

/// A DNS name CloudFront accepts as an alternate domain name: lowercase labels of letters,
/// digits and hyphens, optionally a leading `*.` wildcard.
fn check_hostname(name: &str) -> Result<(), String> {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = bare.split('.').collect();
    let ok = !bare.is_empty()
        && name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a domain name CloudFront can answer to (e.g. img.example.com or *.example.com)"
        ))
    }
}

/// An address SNS can send to: one `@`, a dotted domain, no spaces (SNS itself checks no
/// more; the confirmation email is the real test).
fn check_email(email: &str) -> Result<(), String> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{email}` is not an email address (ops@example.com)"
        ))
    }
}

fn check_certificate_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6
        || parts[0] != "arn"
        || !parts[1].starts_with("aws")
        || parts[2] != "acm"
        || parts[4].len() != 12
        || !parts[4].bytes().all(|b| b.is_ascii_digit())
        || !parts[5].starts_with("certificate/")
    {
        return Err(format!(
            "`{arn}` is not an ACM certificate ARN (arn:aws:acm:us-east-1:ACCOUNT:certificate/ID)"
        ));
    }
    if parts[3] != "us-east-1" {
        return Err(format!(
            "the certificate is in {}, but CloudFront only uses ACM certificates from us-east-1: request or import it there",
            parts[3]
        ));
    }
    Ok(())
}

fn check_cors_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let bad = || {
        format!(
            "`{origin}` is not an origin: use `*` or scheme://host[:port] with no path (e.g. https://app.example.com)"
        )
    };
    let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return Err(bad());
    }
    let host = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            if port.parse::<u16>().is_err() {
                return Err(bad());
            }
            host
        }
        _ => rest,
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    {
        return Err(bad());
    }
    Ok(())
}

/// A CIDR as WAF takes it: the network address (host bits zero) and a prefix of /1 or
/// more. A bare address is its own /32 or /128.
fn check_cidr(text: &str) -> Result<String, String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!("`{text}` is not an IP address or CIDR (e.g. 203.0.113.0/24, 2001:db8::/32)")
    })?;
    let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = match prefix {
        None => bits,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| (1..=bits).contains(p))
            .ok_or_else(|| format!("`{text}`: the prefix length must be 1 to {bits}"))?,
    };
    let value: u128 = match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    };
    let host_bits = bits - prefix;
    let mask: u128 = if host_bits == 0 {
        0
    } else {
        (1u128 << host_bits) - 1
    };
    if value & mask != 0 {
        let network = value & !mask;
        let net: IpAddr = match ip {
            IpAddr::V4(_) => IpAddr::V4((network as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(network.into()),
        };
        return Err(format!(
            "`{text}` has host bits set: the network is {net}/{prefix}"
        ));
    }
    Ok(format!("{ip}/{prefix}"))
}

/// S3's rules for a bucket name (general purpose buckets).
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !name.starts_with("xn--")
        && !name.ends_with("-s3alias");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<StackSettings, SettingError> {
        let tables = parse_file("imgflex.toml", text)?;
        StackSettings::resolve(Some(("imgflex.toml", text, &tables)), &[])
    }

    fn err(text: &str) -> SettingError {
        settings(text).unwrap_err()
    }

    #[test]
    fn no_tables_is_every_default() {
        let s = settings("max_width = 2000\n[presets.thumb]\nw = 300\n").unwrap();
        assert_eq!(s.memory, Setting::default(2048));
        assert_eq!(s.origin_shield.value, Shield::On(None));
        assert!(s.domain.is_none() && s.originals_bucket.is_none());
        let params = s.main_parameters("eu-west-1");
        assert!(params.iter().all(|p| p.source == Source::Default));
    }

    #[test]
    fn every_value_keeps_its_line() {
        let text = "\
max_width = 2000

[handler]
memory = 4096
reserved_concurrency = 20

[cdn]
origin_shield_region = \"eu-central-1\"
cors_origins = [\"https://app.example.com\"]
price_class = \"All\"

[waf]
allow_ips = [\"203.0.113.7\", \"2001:db8::/32\"]
block_countries = [\"kp\"]

[domain]
aliases = [\"IMG.example.com\"]
certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/abc-123\"
";
        let s = settings(text).unwrap();
        assert_eq!(s.memory.value, 4096);
        assert_eq!(s.memory.source, Source::File("imgflex.toml:4".into()));
        assert_eq!(
            s.reserved_concurrency.source,
            Source::File("imgflex.toml:5".into())
        );
        assert_eq!(
            s.origin_shield.value,
            Shield::On(Some("eu-central-1".into()))
        );
        assert_eq!(s.price_class.value, "PriceClass_All");
        assert_eq!(s.allow_ips.value, ["203.0.113.7/32", "2001:db8::/32"]);
        assert_eq!(s.block_countries.value, ["KP"]);
        let d = s.domain.as_ref().unwrap();
        assert_eq!(d.aliases.value, ["img.example.com"]);

        let main = s.main_parameters("eu-west-1");
        let get = |name: &str| main.iter().find(|p| p.name == name).unwrap().clone();
        assert_eq!(get("MemorySize").value, "4096");
        assert_eq!(get("OriginShieldRegion").value, "eu-central-1");
        assert_eq!(get("CorsAllowedOrigins").value, "https://app.example.com");
        assert_eq!(get("Aliases").value, "img.example.com");
        assert_eq!(get("Timeout").source, Source::Default);
        let edge = s.edge_parameters();
        let get = |name: &str| edge.iter().find(|p| p.name == name).unwrap().value.clone();
        assert_eq!(get("AllowIpv4"), "203.0.113.7/32");
        assert_eq!(get("AllowIpv6"), "2001:db8::/32");
        assert_eq!(get("BlockIpv4"), "");
        assert_eq!(get("BlockCountries"), "KP");
    }

    #[test]
    fn a_flag_wins_over_the_file_and_says_so() {
        let text = "[handler]\nmemory = 4096\n";
        let tables = parse_file("imgflex.toml", text).unwrap();
        let flags = vec![
            (
                "handler.memory=1024".to_string(),
                parse_flag("handler.memory=1024").unwrap(),
            ),
            (
                "cdn.price_class=PriceClass_200".to_string(),
                parse_flag("cdn.price_class=PriceClass_200").unwrap(),
            ),
            (
                "cdn.origin_shield=false".to_string(),
                parse_flag("cdn.origin_shield=false").unwrap(),
            ),
        ];
        let s = StackSettings::resolve(Some(("imgflex.toml", text, &tables)), &flags).unwrap();
        assert_eq!(s.memory.value, 1024);
        assert_eq!(
            s.memory.source,
            Source::Flag("--set handler.memory=1024".into())
        );
        assert_eq!(s.price_class.value, "PriceClass_200");
        assert_eq!(s.origin_shield.value, Shield::Off);
        let main = s.main_parameters("eu-west-1");
        assert_eq!(
            main.iter()
                .find(|p| p.name == "OriginShieldRegion")
                .unwrap()
                .value,
            ""
        );

        assert!(
            parse_flag("handler.memry=1")
                .unwrap_err()
                .message
                .contains("not a stack setting")
        );
        assert!(
            parse_flag("handler.memory")
                .unwrap_err()
                .message
                .contains("KEY=VALUE")
        );
        assert!(parse_flag("handler.memory=\"lots\"").is_err());
    }

    #[test]
    fn refusals_name_the_line_and_the_key() {
        let e = err("[handler]\nmemory = 64\n");
        assert_eq!(e.at, "imgflex.toml:2", "{e:?}");
        assert!(
            e.message.contains("handler.memory") && e.message.contains("128"),
            "{e:?}"
        );

        let e = err("\n[handler]\nmemroy = 4096\n");
        assert_eq!(e.at, "imgflex.toml:3", "{e:?}");
        assert!(e.message.contains("memroy"), "{e:?}");

        let e = err("[handler]\ntimeout = 90\n");
        assert!(e.message.contains("60 s"), "{e:?}");
        let e = err("[handler]\nlog_retention_days = 10\n");
        assert!(e.message.contains("14"), "{e:?}");

        let e = err(
            "[domain]\naliases = [\"img.example.com\"]\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/x\"\n",
        );
        assert_eq!(e.at, "imgflex.toml:3");
        assert!(e.message.contains("us-east-1"), "{e:?}");
        let e = err("[domain]\naliases = [\"img.example.com\"]\n");
        assert!(e.message.contains("certificate_arn"), "{e:?}");
        let e = err(
            "[domain]\naliases = [\"img_example\"]\ncertificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/x\"\n",
        );
        assert!(e.message.contains("img_example"), "{e:?}");

        let e = err("[cdn]\nminimum_tls = \"TLSv1.2_2021\"\n");
        assert!(e.message.contains("[domain]"), "{e:?}");
        let e = err("[cdn]\norigin_shield_region = \"mars-1\"\n");
        assert!(e.message.contains("mars-1"), "{e:?}");
        let e = err("[cdn]\norigin_shield = false\norigin_shield_region = \"eu-west-1\"\n");
        assert!(e.message.contains("remove one"), "{e:?}");
        let e = err("[cdn]\ncors_origins = [\"https://app.example.com/path\"]\n");
        assert!(e.message.contains("no path"), "{e:?}");
        let e = err("[cdn]\ncors_origins = [\"*\", \"https://a.example.com\"]\n");
        assert!(e.message.contains("alone"), "{e:?}");

        let e = err("[waf]\nblock_ips = [\"10.0.0.1/8\"]\n");
        assert!(e.message.contains("10.0.0.0/8"), "{e:?}");
        let e = err("[waf]\nblock_ips = [\"10.0.0.0/0\"]\n");
        assert!(e.message.contains("1 to 32"), "{e:?}");
        let e = err("[waf]\nallow_ips = [\"10.0.0.0/8\"]\nblock_ips = [\"10.0.0.0/8\"]\n");
        assert!(e.message.contains("both"), "{e:?}");
        let e = err("[waf]\nallow_countries = [\"USA\"]\n");
        assert!(e.message.contains("USA"), "{e:?}");
        let e = err("[waf]\nallow_countries = [\"US\"]\nblock_countries = [\"KP\"]\n");
        assert!(e.message.contains("not both"), "{e:?}");
        let e = err("[waf]\nrate_window = 30\n");
        assert!(e.message.contains("300"), "{e:?}");
        let e = err("[waf]\nrate_limit = 5\n");
        assert!(e.message.contains("between 10"), "{e:?}");

        let e = err("[originals]\nbucket = \"My_Bucket\"\n");
        assert!(e.message.contains("My_Bucket"), "{e:?}");
        let e = err("[storage]\nvariants_expiration_days = 0\n");
        assert!(
            e.message.contains("storage.variants_expiration_days"),
            "{e:?}"
        );
    }

    #[test]
    fn cidrs_and_hosts() {
        assert_eq!(check_cidr("192.0.2.0/24").unwrap(), "192.0.2.0/24");
        assert_eq!(check_cidr("192.0.2.9").unwrap(), "192.0.2.9/32");
        assert_eq!(check_cidr("2001:db8::1").unwrap(), "2001:db8::1/128");
        assert!(
            check_cidr("2001:db8::1/64")
                .unwrap_err()
                .contains("2001:db8::/64")
        );
        assert!(check_cidr("300.1.1.1/8").is_err());
        assert!(check_cidr("10.0.0.0/33").is_err());
        for ok in ["img.example.com", "*.example.com", "a-b.c.example"] {
            assert!(check_hostname(ok).is_ok(), "{ok}");
        }
        for bad in [
            "localhost",
            "-a.example.com",
            "a..b",
            "*.",
            "a.example.com/x",
        ] {
            assert!(check_hostname(bad).is_err(), "{bad}");
        }
        for ok in [
            "*",
            "https://a.example.com",
            "http://localhost:3000",
            "https://*.example.com",
        ] {
            assert!(check_cors_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a.example.com",
            "ftp://a.example.com",
            "https://a.example.com/",
            "https://",
        ] {
            assert!(check_cors_origin(bad).is_err(), "{bad}");
        }
        assert!(check_bucket_name("my-bucket.1").is_ok());
        for bad in ["ab", "1.2.3.4", "a..b", "-ab", "xn--ab", "ab-s3alias"] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_oversized_parameter_is_named() {
        let text = format!(
            "[waf]\nblock_ips = [{}]\n",
            (0..400)
                .map(|i| format!("\"10.{}.{}.0/24\"", i / 256, i % 256))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let s = settings(&text).unwrap();
        let e = check_parameter_sizes(&s.edge_parameters(), "edge").unwrap_err();
        assert!(
            e.message.contains("BlockIpv4") && e.message.contains("waf.block_ips"),
            "{e:?}"
        );
        assert_eq!(e.at, "imgflex.toml:2");
        assert!(check_parameter_sizes(&settings("").unwrap().edge_parameters(), "edge").is_ok());
    }
}
