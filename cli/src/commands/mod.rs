//! One module per subcommand; `run` dispatches.

mod bench;
mod build;
mod deploy;
mod destroy;
mod dev;
mod doctor;
mod invalidate;
mod keys;
mod logs;
mod purge;
mod render;
mod sign;
mod srcset;
mod stats;
mod status;
mod transform;
mod upload;
mod url;
mod verify;
mod warm;

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
        Command::Srcset(args) => srcset::run(args, &cli.global, out),
        Command::Purge(args) => purge::run(args, &cli.global, out),
        Command::Sign(args) => sign::run(args, &cli.global, out),
        Command::Keys(args) => keys::run(args, &cli.global, out),
        Command::Dev(args) => dev::run(args, &cli.global, out),
        Command::Verify(args) => verify::run(args, &cli.global, out),
        Command::Warm(args) => warm::run(args, &cli.global, out),
        Command::Stats(args) => stats::run(args, &cli.global, out),
        Command::Logs(args) => logs::run(args, &cli.global, out),
        Command::Doctor(args) => doctor::run(args, &cli.global, out),
        Command::Completions(args) => completions(args.shell),
        Command::Man => man(),
    }
}

/// clap_complete's script for `shell`, from the same definition the parser uses.
fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "imgflex", &mut std::io::stdout());
    Ok(())
}

/// clap_mangen's page for the command line (its SUBCOMMANDS section lists each command).
fn man() -> Result<(), CliError> {
    let command = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| CliError::new(format!("cannot render the man page: {e}")))?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &page)
        .map_err(|e| CliError::new(format!("cannot write to stdout: {e}")))
}
