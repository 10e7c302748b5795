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
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory to write into (created if missing)
    #[arg(long, value_name = "DIR", default_value = "imgflex-rendered")]
    pub out: PathBuf,
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
