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
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// AWS named profile [default: AWS_PROFILE, or `default`]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Send AWS API calls here instead of AWS (a moto server in tests)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// How results are printed on stdout
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Say more on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing but results and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// The policy file [default: ./imgflex.toml if present, else built-in defaults]
    #[arg(long, global = true, value_name = "FILE", env = "IMGFLEX_CONFIG")]
    pub config: Option<PathBuf>,
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
    /// Show what the edge does with a URL: the canonical variant key, or the 400 it answers
    ///
    /// Examples:
    ///   imgflex url photos/cat.jpg 'w=400&h=300&fm=webp'
    ///   imgflex url '/photos/cat.jpg?w=400&fm=auto' --accept 'image/avif,image/webp'
    ///   imgflex url /photos/cat.jpg/w_400,c_fill/cat.webp --output json
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

    /// Measure the pipeline on a folder of images, the way ../shared/bench measures sharp
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

    /// Where to write the result
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub output_file: PathBuf,

    /// The viewer's `Accept` header, for `fm=auto`
    #[arg(long, value_name = "ACCEPT")]
    pub accept: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Folder of images [default: the current directory]
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub corpus: PathBuf,

    /// Ops to run, comma-separated [default: all]
    #[arg(long, value_delimiter = ',', value_name = "OPS")]
    pub ops: Vec<String>,

    /// Timed runs per cell, after one warm-up; the median is reported [AVIF: at most 5]
    #[arg(long, default_value_t = 9, value_name = "N")]
    pub reps: usize,

    /// Also write the rows as JSON (the shape ../shared/bench/compare.py reads)
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
    pub key: String,

    /// The query string, as in a URL without the `?` (`w=400&fit=cover&fm=webp`)
    pub query: Option<String>,

    /// The viewer's `Accept` header, which `fm=auto` negotiates against [default: none, so
    /// `auto` picks the legacy fallback]
    #[arg(long, value_name = "ACCEPT")]
    pub accept: Option<String>,
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
    /// Lambda does past its 6 MB response limit (for tests)
    #[arg(
        long,
        hide = true,
        value_name = "BYTES",
        env = "IMGFLEX_MAX_RESPONSE_BYTES"
    )]
    pub max_response_bytes: Option<usize>,
}
