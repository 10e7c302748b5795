//! One module per subcommand; `run` dispatches.

mod bench;
mod build;
mod deploy;
mod destroy;
mod dev;
mod invalidate;
mod purge;
mod render;
mod status;
mod transform;
mod upload;
mod url;

use crate::cli::{Cli, Command};
use crate::error::CliError;
use crate::output::Output;

pub fn run(cli: Cli, out: &Output) -> Result<(), CliError> {
    match cli.command {
        Command::Url(args) => url::run(args, &cli.global, out),
        Command::Render(args) => render::run(args, &cli.global, out),
        Command::Transform(args) => transform::run(args, &cli.global, out),
        Command::Bench(args) => bench::run(args, out),
        Command::Build(args) => build::run(args, out),
        Command::Deploy(args) => deploy::run(args, &cli.global, out),
        Command::Status(args) => status::run(args, &cli.global, out),
        Command::Destroy(args) => destroy::run(args, &cli.global, out),
        Command::Upload(args) => upload::run(args, &cli.global, out),
        Command::Invalidate(args) => invalidate::run(args, &cli.global, out),
        Command::Purge(args) => purge::run(args, &cli.global, out),
        Command::Dev(args) => dev::run(args, &cli.global, out),
    }
}
