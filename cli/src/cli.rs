//! The command line: global flags and the subcommands, whose doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// On-the-fly image resizing on AWS: S3, CloudFront and a Rust Lambda, deployed and run
/// from one command line.
#[derive(Debug, Parser)]
#[command(
    name = "imgflex",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// AWS region of the stack [default: from the profile, or AWS_REGION]
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        value_name = "REGION"
    )]
    pub region: Option<String>,

    /// AWS named profile [default: AWS_PROFILE, or `default`]
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        value_name = "NAME"
    )]
    pub profile: Option<String>,

    /// Send AWS API calls here instead of AWS (a moto server in tests)
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,

    /// How results are printed on stdout
    #[arg(help_heading = "Global options", long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Say more on stderr (repeat for more)
    #[arg(help_heading = "Global options", short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing but results and errors
    #[arg(help_heading = "Global options", short, long, global = true)]
    pub quiet: bool,

    /// The policy file [default: ./imgflex.toml if present, else built-in defaults]
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        value_name = "FILE",
        env = "IMGFLEX_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// How often to poll AWS for progress (change sets, stack events, invalidations), in
    /// milliseconds [default: 2000-5000, by what is polled]. Tests against moto, which
    /// answers at once, set a few.
    #[arg(
        long,
        global = true,
        hide = true,
        value_name = "MS",
        env = "IMGFLEX_POLL_MS"
    )]
    pub poll_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text
    Text,
    /// One JSON document, for scripts
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole request path on this machine: the edge rewrite, a cache, the handler
    ///
    /// Serves http://127.0.0.1:PORT/{key}?w=…, exactly as the deployed stack answers it: the
    /// edge's URL grammar and policy (400 for junk), the canonical variant key as the cache
    /// key, a folder as the variants bucket, and on a miss the resize Lambda's own code, in
    /// process. Responses say `x-imgflex-cache: HIT|MISS` and the key in `x-imgflex-key`.
    /// Identical concurrent misses are rendered once. `/` is a page to try URLs on; one line
    /// per request is logged on stderr. No AWS account, no Docker.
    ///
    /// Examples:
    ///   imgflex dev                                  # the built-in sample images
    ///   imgflex dev --originals ./photos --port 9000
    ///   curl -sI 'http://127.0.0.1:8080/rocket.jpg?w=300&fm=webp'
    #[command(verbatim_doc_comment)]
    Dev(DevArgs),

    /// Show what the edge does with a URL: the canonical variant key, or the 400 it answers
    ///
    /// Examples:
    ///   imgflex url photos/cat.jpg 'w=400&h=300&fm=webp'
    ///   imgflex url '/photos/cat.jpg?w=400&fm=auto' --accept 'image/avif,image/webp'
    ///   imgflex url '/photos/cat.jpg?w=auto' --hint 'Sec-CH-Width: 412'
    ///   imgflex url /photos/cat.jpg/w_400,c_fill/cat.webp --output json
    ///   imgflex url --policy                           # the variant space of imgflex.toml
    #[command(verbatim_doc_comment)]
    Url(UrlArgs),

    /// Write the CloudFormation templates, with the edge function generated from the policy,
    /// for review
    ///
    /// Writes main.yaml (the stack, with the CloudFront Function's code compiled from
    /// imgflex.toml), edge.yaml (the us-east-1 WAF stack), bootstrap.yaml (the artifacts
    /// bucket) and edge-function.js, and reports the function's size against CloudFront's
    /// 10 KB limit.
    Render(RenderArgs),

    /// Run a URL's transform on a local file, exactly as the Lambda would
    ///
    /// QUERY is what follows `?` in an image URL. Prints the output's dimensions, bytes and
    /// the time the transform took. Nothing is written when the input or the query is bad.
    ///
    /// Examples:
    ///   imgflex transform photo.jpg 'w=300&fit=cover&h=300&fm=webp' -o thumb.webp
    ///   imgflex transform logo.png 'w=200&fm=auto' --accept 'image/avif' -o logo.avif
    #[command(verbatim_doc_comment)]
    Transform(TransformArgs),

    /// Measure the pipeline on a folder of images, op by op, as a sharp benchmark measures
    /// sharp
    ///
    /// Runs each op (thumb, card, hero, avif, png-small, decode-only) on every image,
    /// single-threaded, input in memory, and reports the median time, output bytes and size,
    /// and the process's peak RSS during the op. Use it to size the Lambda's memory: see the
    /// README. With --reference (the outputs of `sharp_bench.js --write-outputs DIR`), adds
    /// the SSIM of each output against sharp's.
    #[command(verbatim_doc_comment)]
    Bench(BenchArgs),

    /// Cross-compile the resize Lambda into the zip `deploy` uploads
    ///
    /// Builds the handler sources bundled in this binary with `cargo lambda build --release`
    /// (cargo-lambda, with Zig as the cross linker) and prints the zip's path, size and
    /// sha256. A zip already built from the same sources, architecture and toolchain is
    /// reused. Needs cargo-lambda (`pip install cargo-lambda`, or the checkout's `.venv` from
    /// `.ci/setup`) and the Rust target of the architecture.
    ///
    /// Examples:
    ///   imgflex build
    ///   imgflex build --arch x86_64 --out dist --output json
    #[command(verbatim_doc_comment)]
    Build(BuildArgs),

    /// Deploy (or update) the whole stack: artifacts bucket, handler zip, WAF, CDN
    ///
    /// Renders the templates from imgflex.toml, builds the handler (as `imgflex build`) and
    /// uploads it under its sha256, then brings three stacks to their templates, each through
    /// a change set that is shown before it runs: the bootstrap stack (the artifacts bucket,
    /// in the stack's region), the edge stack (the WAF web ACL, always in us-east-1) and the
    /// main stack. Running it again with nothing changed changes nothing. Changes that would
    /// replace or delete a bucket or a log group stop unless --allow-replace is given.
    ///
    /// Examples:
    ///   imgflex deploy --region eu-west-1
    ///   imgflex deploy --dry-run
    ///   imgflex deploy --yes --handler-zip dist/imgflex-handler.zip --output json
    #[command(verbatim_doc_comment)]
    Deploy(DeployArgs),

    /// Show where a deployment stands: stacks, distribution, WAF, function, invalidations
    ///
    /// Works with nothing deployed, and says so.
    Status(StatusArgs),

    /// Delete the stacks; the originals bucket and its images are kept
    ///
    /// Empties the variants and logs buckets (generated data), then deletes the main stack
    /// and the edge stack, following each to the end. The originals bucket is retained by
    /// the stack and kept by this command unless --delete-originals is given and confirmed.
    /// The bootstrap stack (shared by every stack of the account and region) is kept.
    ///
    /// Examples:
    ///   imgflex destroy
    ///   imgflex destroy --stack-name imgflex-staging --yes
    #[command(verbatim_doc_comment)]
    Destroy(DestroyArgs),

    /// Put original images in place and print their CDN URLs
    ///
    /// Each file is checked first (it must be an image imgflex can resize: JPEG, PNG, WebP
    /// or GIF within the source limits); a file that is not is refused with the reason and
    /// the others go on (exit 1 if any was refused). Large files go up in parallel parts.
    /// Replacing an original that has variants purges them, so no stale image is served.
    /// A directory uploads the images directly in it; --recursive descends into it, keys
    /// keeping the relative path.
    ///
    /// Examples:
    ///   imgflex upload cat.jpg
    ///   imgflex upload photos/ --recursive --prefix photos/
    ///   imgflex upload banner-v2.png --key home/banner.png
    #[command(verbatim_doc_comment)]
    Upload(UploadArgs),

    /// Invalidate the CDN's copies of originals and all their variants
    ///
    /// PATH is `/photos/cat.jpg`, `photos/cat.jpg`, a prefix `/photos/*`, or a full CDN
    /// URL; each covers the original and every variant derived from it. One invalidation
    /// request is made for all of them; its id is printed.
    ///
    /// Examples:
    ///   imgflex invalidate /photos/cat.jpg
    ///   imgflex invalidate '/photos/*' --wait
    #[command(verbatim_doc_comment)]
    Invalidate(InvalidateArgs),

    /// Print the `srcset` and `<img>` a front end needs for an original already in place
    ///
    /// Reads the original's dimensions from the originals bucket and offers the policy's
    /// widths (or 320 to 1920) up to the original's own, each with `fm=auto`.
    ///
    /// Examples:
    ///   imgflex srcset photos/cat.jpg
    ///   imgflex srcset photos/cat.jpg --output json
    #[command(verbatim_doc_comment)]
    Srcset(SrcsetArgs),

    /// Delete the stored variants of originals (never the originals), then invalidate them
    ///
    /// The next request renders each variant again from its original. Only the variants
    /// bucket is listed or touched, and only keys that are canonical variant keys are
    /// deleted. Purging everything (`/*`) asks first unless --yes is given.
    ///
    /// Examples:
    ///   imgflex purge /photos/cat.jpg
    ///   imgflex purge '/photos/*' --dry-run
    #[command(verbatim_doc_comment)]
    Purge(PurgeArgs),

    /// Sign a URL for a policy with `signing` on: prints it with `kid`, `exp` and `sig`
    ///
    /// Signs with the newest key (or --key) of the deployed stack (its secrets in SSM
    /// Parameter Store) or, with --local, of the keyring `imgflex dev` verifies with. Takes
    /// either URL form, a path or a full CDN URL; the README's "Signed URLs" gives the
    /// format, for signing in a front end without imgflex.
    ///
    /// Examples:
    ///   imgflex sign '/photos/cat.jpg?w=400&fm=auto' --expires 7d
    ///   imgflex sign https://cdn.example.com/photos/cat.jpg/w_400/cat.webp
    ///   imgflex sign --local 'http://127.0.0.1:8080/rocket.jpg?w=300'
    #[command(verbatim_doc_comment)]
    Sign(SignArgs),

    /// List, rotate and retire the keys signed URLs are checked with
    ///
    /// A deployed stack's keys live twice: the secrets in SSM Parameter Store (SecureString,
    /// for signers) and a copy in the stack's CloudFront KeyValueStore, which the edge
    /// function verifies with. `rotate` adds a key, which signs from then on, while every
    /// older key still verifies; `retire` removes one from the edge, then from SSM. With
    /// --local they are the keys of `imgflex dev`.
    ///
    /// Examples:
    ///   imgflex keys rotate
    ///   imgflex keys list --output json
    ///   imgflex keys retire k20261201-x7q2
    ///   imgflex keys rotate --local
    #[command(verbatim_doc_comment)]
    Keys(KeysArgs),
    /// Check a deployment's contract through its CDN address, as a viewer would
    ///
    /// Asks the CDN (the stack's, or --url) for an original and for variants of it, and
    /// checks: the original is served with its type; a variant nobody asked for is a `Miss`,
    /// then a `Hit` (CloudFront's x-cache); another spelling of it (`width=` for `w=`) is
    /// the same cache entry; an unknown parameter is a 400 from the edge function (no
    /// Lambda run); `fm=auto` follows Accept; with signatures on, an unsigned URL is a 403;
    /// the function URL and the buckets refuse direct requests. Each check is ok, FAIL or
    /// skip; exits 1 when one fails. Needs an image in the originals bucket (the first is
    /// used, or --key).
    ///
    /// Examples:
    ///   imgflex verify
    ///   imgflex verify --junit verify.xml --output json
    ///   imgflex verify --url http://127.0.0.1:8080      # imgflex dev
    #[command(verbatim_doc_comment)]
    Verify(VerifyArgs),

    /// Render variants ahead of their first viewer, through the CDN
    ///
    /// Asks the CDN for each original (KEYS, or every image of the originals bucket with
    /// --all) at each width (the policy's, or --widths) as `fm=auto` in each format (the
    /// Accept a browser sends for it), a few at a time, and reports what each cost. A
    /// variant already cached is a hit and costs nothing. Variants are stored in the
    /// variants bucket, so every edge location gets them from there, not from a render.
    ///
    /// Examples:
    ///   imgflex warm photos/cat.jpg photos/dog.jpg
    ///   imgflex warm --all --widths 320,640,1280 --formats avif,webp
    ///   imgflex warm --all --preset thumb
    #[command(verbatim_doc_comment)]
    Warm(WarmArgs),

    /// Check the deployment's settings in AWS, each with what to do when it is wrong
    ///
    /// Reads back what the request path depends on and says ok, warn or FAIL for each, with
    /// a hint: the credentials and account; the stacks; the function URL's auth type
    /// (AWS_IAM) and both Lambda permissions for this distribution; the deployed code
    /// against the local build; the reserved concurrency against the account's; the origin
    /// access controls on every origin; the bucket policies, scoped to this distribution;
    /// the logs bucket's ownership (CloudFront's logs need ACLs); the web ACL's scope and
    /// attachment; a custom domain's certificate (us-east-1, issued, covering the aliases)
    /// and each alias's DNS. Exits 1 when a check fails.
    ///
    /// Examples:
    ///   imgflex doctor
    ///   imgflex doctor --stack-name imgflex-staging --output json
    #[command(verbatim_doc_comment)]
    Doctor(DoctorArgs),

    /// The resize Lambda's log lines, as a table or JSON lines
    ///
    /// Reads the handler's JSON log lines (one per request: status, key, source, timings)
    /// from its CloudWatch log group. --follow keeps reading new lines until interrupted.
    ///
    /// Examples:
    ///   imgflex logs --since 1h
    ///   imgflex logs --status 5xx --key photos/
    ///   imgflex logs --follow --output json
    #[command(verbatim_doc_comment)]
    Logs(LogsArgs),

    /// What the CDN served: requests, hit ratio, bytes, renders, top URLs, from its logs
    ///
    /// Reads the distribution's CloudFront standard logs (gzip, W3C fields) from the logs
    /// bucket, file by file as a stream, and the renders from the variants bucket's access
    /// logs (one PUT per render). CloudFront delivers its logs within about an hour; the
    /// top lists stay exact up to 1,024 distinct URLs each and are marked approximate past
    /// that.
    ///
    /// Examples:
    ///   imgflex stats
    ///   imgflex stats --since 7d --output json
    #[command(verbatim_doc_comment)]
    Stats(StatsArgs),

    /// Print the shell completion script for SHELL on stdout
    ///
    /// Examples:
    ///   imgflex completions bash > ~/.local/share/bash-completion/completions/imgflex
    ///   imgflex completions zsh > "${fpath[1]}/_imgflex"
    ///   imgflex completions fish > ~/.config/fish/completions/imgflex.fish
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),

    /// Print the man page (roff) on stdout
    ///
    /// Examples:
    ///   imgflex man > ~/.local/share/man/man1/imgflex.1 && man imgflex
    #[command(verbatim_doc_comment)]
    Man,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The CDN address to check (scheme and host) instead of the stack's; `imgflex dev`'s
    /// too
    #[arg(long, value_name = "BASE")]
    pub url: Option<String>,

    /// The original to check with [default: the first image of the originals bucket, or
    /// of `imgflex dev`]
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    /// Also write the results as JUnit XML, for CI
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Seconds one request may take
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,

    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Originals to warm (S3 keys)
    #[arg(
        value_name = "KEY",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub keys: Vec<String>,

    /// Every image in the originals bucket (or of `imgflex dev`)
    #[arg(long)]
    pub all: bool,

    /// A preset of the policy, instead of widths
    #[arg(long, value_name = "P", conflicts_with = "widths")]
    pub preset: Option<String>,

    /// Widths to render [default: the policy's `widths`, else 320,640,960,1280,1920]
    #[arg(long, value_delimiter = ',', value_name = "W,…")]
    pub widths: Vec<u32>,

    /// Formats to render, each as a browser asking for it with `fm=auto` gets it
    /// [default: avif,webp and the fallback]
    #[arg(long, value_delimiter = ',', value_name = "F,…")]
    pub formats: Vec<String>,

    /// Requests in flight at once (each a render on a miss; the Lambda's reserved
    /// concurrency is the real ceiling)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// The CDN address to warm through instead of the stack's
    #[arg(long, value_name = "BASE")]
    pub url: Option<String>,

    /// Seconds one request may take
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,

    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep reading new lines until interrupted
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// How far back to start (`30m`, `1h`, `2d`)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::keyring::parse_duration)]
    pub since: u64,

    /// Only responses of this status or class (`404`, `4xx`, `5xx`)
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,

    /// Only requests for keys starting with this (an original's key or folder)
    #[arg(long, value_name = "PREFIX")]
    pub key: Option<String>,

    /// The most lines to print (without --follow)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: usize,

    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The window to report on, back from now (`1h`, `24h`, `7d`)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = crate::keyring::parse_duration)]
    pub since: u64,

    /// The end of the window [default: now], UTC in RFC 3339 (`2026-12-01T12:00:00Z`)
    #[arg(long, value_name = "TIME", value_parser = parse_utc)]
    pub until: Option<i64>,

    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The URL: a path with its query, a path-form URL or a full CDN URL
    #[arg(value_name = "URL")]
    pub url: String,

    /// How long the URL works (`90s`, `15m`, `1h`, `7d`, `2w`) [default: for ever]
    #[arg(long, value_name = "DURATION", value_parser = crate::keyring::parse_duration)]
    pub expires: Option<u64>,

    /// The key to sign with [default: the newest]
    #[arg(long = "key", value_name = "KID")]
    pub kid: Option<String>,

    /// Sign with the local keyring (`imgflex dev`'s) instead of the deployed stack's keys
    #[arg(long)]
    pub local: bool,

    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub action: KeysAction,

    /// The local keyring (`imgflex dev`'s) instead of the deployed stack's keys
    #[arg(long, global = true)]
    pub local: bool,

    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Every key, when it was made, which one signs, and whether the edge holds it
    List,
    /// Add a new key; it signs from now on and the older keys still verify
    Rotate,
    /// Remove a key: URLs signed with it are refused from then on
    Retire {
        /// The key id (`imgflex keys list` shows them)
        #[arg(value_name = "KID")]
        kid: String,
        /// Retire it even if it is the last key, which leaves no URL that verifies
        #[arg(long)]
        force: bool,
    },
}

/// Where the day-to-day commands find the deployment: the stack's outputs, unless given.
#[derive(Debug, Clone, Args)]
pub struct LocationArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// The CloudFront distribution [default: from the stack]
    #[arg(long, value_name = "ID")]
    pub distribution_id: Option<String>,

    /// The originals bucket [default: from the stack]
    #[arg(long, value_name = "BUCKET")]
    pub originals_bucket: Option<String>,

    /// The variants bucket [default: from the stack]
    #[arg(long, value_name = "BUCKET")]
    pub variants_bucket: Option<String>,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Image files, or directories of them
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,

    /// The folder the keys go into: `photos` (or `photos/`) puts cat.jpg at photos/cat.jpg
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,

    /// The key of the one file given (instead of its name)
    #[arg(long, value_name = "K", conflicts_with_all = ["prefix", "recursive"])]
    pub key: Option<String>,

    /// Descend into directories
    #[arg(long, short = 'r')]
    pub recursive: bool,

    /// Check and list what would be uploaded, upload nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub location: LocationArgs,
}

#[derive(Debug, Args)]
pub struct SrcsetArgs {
    /// The original's key (`photos/cat.jpg`, or its CDN URL)
    #[arg(value_name = "KEY")]
    pub key: String,

    #[command(flatten)]
    pub location: LocationArgs,
}

#[derive(Debug, Args)]
pub struct InvalidateArgs {
    /// Originals, prefixes (`/photos/*`) or CDN URLs
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,

    /// Wait until CloudFront reports the invalidation done
    #[arg(long)]
    pub wait: bool,

    #[command(flatten)]
    pub location: LocationArgs,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Originals, prefixes (`/photos/*`) or CDN URLs whose variants go
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,

    /// List what would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask before purging everything
    #[arg(long, short = 'y')]
    pub yes: bool,

    #[command(flatten)]
    pub location: LocationArgs,
}

/// Which deployment a command works on.
#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    /// The main stack's name; the edge stack is NAME-REGION-edge (in us-east-1)
    #[arg(
        long,
        value_name = "NAME",
        default_value = "imgflex",
        env = "IMGFLEX_STACK"
    )]
    pub stack_name: String,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Execute change sets without asking. On a terminal deploy asks; without one, a change
    /// set that changes a deployed parameter is refused unless --yes is given
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Show the change sets, then delete them: nothing is created, uploaded or changed
    #[arg(long)]
    pub dry_run: bool,

    /// Allow changes that replace or delete a bucket or a log group (data is lost)
    #[arg(long)]
    pub allow_replace: bool,

    /// Deploy this handler zip instead of building one
    #[arg(long, value_name = "FILE")]
    pub handler_zip: Option<PathBuf>,

    /// The Lambda's CPU architecture, for this run [default: `handler.architecture` in
    /// imgflex.toml, else arm64]
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,

    /// Override one stack setting of imgflex.toml for this run, e.g. `handler.memory=4096`
    /// or `waf.block_ips=["203.0.113.0/24"]` (repeatable; the README lists the keys)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Do not ask before deleting (asking only happens on a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// List what would be deleted and what would be kept, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Also empty and delete the originals bucket: every uploaded image, every version
    #[arg(long)]
    pub delete_originals: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The Lambda's CPU architecture
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,

    /// Directory that keeps the zips, named by a hash of what went into them [default:
    /// target/imgflex/handler in a checkout, else imgflex/handler in the user cache directory]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// Graviton (aarch64-unknown-linux-gnu), what the stack deploys by default
    #[value(name = "arm64", alias = "aarch64")]
    Arm64,
    /// x86_64-unknown-linux-gnu
    #[value(name = "x86_64", alias = "x86-64", alias = "amd64")]
    X86_64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory to write into (created if missing)
    #[arg(long, value_name = "DIR", default_value = "imgflex-rendered")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TransformArgs {
    /// The original image
    pub input: PathBuf,

    /// The query string, as in a URL without the `?` (`w=300&fm=webp`)
    pub query: String,

    /// Where to write the result; `-` writes the image to stdout (and the report to stderr).
    /// The input file itself is refused
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub output_file: PathBuf,

    /// The viewer's `Accept` header, for `fm=auto`
    #[arg(long, value_name = "ACCEPT")]
    pub accept: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Folder of images (the checkout's tests/fixtures/corpus has 16)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub corpus: PathBuf,

    /// Ops to run, comma-separated [default: all]
    #[arg(long, value_delimiter = ',', value_name = "OPS")]
    pub ops: Vec<String>,

    /// Timed runs per cell, after one warm-up; the median is reported (AVIF cells run at
    /// most 5)
    #[arg(long, default_value_t = 9, value_name = "N")]
    pub reps: usize,

    /// Also write the rows as JSON (one object per cell: image, op, median ms, bytes, size,
    /// peak RSS), the shape a comparison with sharp's rows reads
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// sharp's outputs of the same ops (`sharp_bench.js --write-outputs DIR`), to add the
    /// SSIM of every output against them
    #[arg(long, value_name = "DIR")]
    pub reference: Option<PathBuf>,

    /// Internal: run one cell (IMAGE:OP) in this process and print its row as JSON. The bench
    /// runs every cell in a child of its own, so each peak RSS is that cell's alone.
    #[arg(long, hide = true, value_name = "IMAGE:OP")]
    pub cell: Option<String>,
}

#[derive(Debug, Args)]
pub struct UrlArgs {
    /// The original's key or the request path, optionally with its query
    /// (`photos/cat.jpg`, `/photos/cat.jpg?w=400`, a path-form URL or a full CDN URL)
    #[arg(required_unless_present = "policy")]
    pub key: Option<String>,

    /// Instead of a URL: how many variants one original can have under the policy, signed
    /// and unsigned, and which parameter leaves it unbounded
    #[arg(long, conflicts_with_all = ["key", "query"])]
    pub policy: bool,

    /// The query string, as in a URL without the `?` (`w=400&fit=cover&fm=webp`)
    pub query: Option<String>,

    /// The viewer's `Accept` header, which `fm=auto` negotiates against [default: none, so
    /// `auto` picks the legacy fallback]
    #[arg(long, value_name = "ACCEPT")]
    pub accept: Option<String>,

    /// A client hint the viewer sends, as `NAME: VALUE` (`Sec-CH-DPR: 2`, `Sec-CH-Width: 412`,
    /// `Save-Data: on`, or the legacy `DPR`, `Width`), for `dpr=auto`, `w=auto` and the
    /// Save-Data quality drop. Repeatable
    #[arg(long = "hint", value_name = "NAME: VALUE", value_parser = parse_hint)]
    pub hints: Vec<(String, String)>,

    /// The keyring a signature is checked with [default: the local keyring, as `imgflex
    /// dev` checks]
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,

    /// Check an expiry as of this time (unix seconds) [default: now]
    #[arg(long, value_name = "UNIX")]
    pub at: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Folder of originals, served read-only as the originals bucket (keys are paths below
    /// it) [default: the sample images built into imgflex]
    #[arg(long, value_name = "DIR")]
    pub originals: Option<PathBuf>,

    /// Port to listen on, on 127.0.0.1 only
    #[arg(long, default_value_t = 8080, value_name = "PORT")]
    pub port: u16,

    /// Folder for the server's state; variants are stored in DIR/variants [default: one
    /// folder per originals folder under imgflex/dev in the user cache directory, e.g.
    /// ~/.cache/imgflex/dev/samples]
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Delete the stored variants before starting (after changing an original in place)
    #[arg(long)]
    pub fresh: bool,

    /// Largest image answered directly; bigger ones are stored and redirected, as the
    /// Lambda does past its response limit (200 MB streamed, 6 MB buffered; for tests)
    #[arg(
        long,
        hide = true,
        value_name = "BYTES",
        env = "IMGFLEX_MAX_RESPONSE_BYTES"
    )]
    pub max_response_bytes: Option<usize>,
}

/// `2026-12-01T12:00:00Z` as seconds since the epoch.
fn parse_utc(text: &str) -> Result<i64, String> {
    aws_smithy_types::DateTime::from_str(text.trim(), aws_smithy_types::date_time::Format::DateTime)
        .map(|t| t.secs())
        .map_err(|_| {
            format!("`{text}` is not a time: give UTC in RFC 3339, e.g. 2026-12-01T12:00:00Z")
        })
}

/// `--hint 'Sec-CH-DPR: 2'`: one of the client hint headers the edge reads, by any case.
fn parse_hint(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("expected `NAME: VALUE`, got `{text}`"))?;
    let name = name.trim().to_ascii_lowercase();
    if !imgflex_core::HINT_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "`{name}` is not a client hint the edge reads (one of {})",
            imgflex_core::HINT_HEADERS.join(", ")
        ));
    }
    Ok((name, value.trim().to_string()))
}
