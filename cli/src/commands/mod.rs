//! One module per subcommand; `run` dispatches.

mod bench;
mod build;
mod dev;
mod render;
mod transform;
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
        Command::Dev(args) => dev::run(args, &cli.global, out),
    }
}
