//! `imgflex`: on-the-fly image resizing on AWS. The entry point parses the command line,
//! runs one subcommand and turns its outcome into an exit code (0 ok, 1 failure, 2 usage).

mod aws;
mod buckets;
mod build_support;
mod cli;
mod commands;
mod config;
mod deployed;
mod dev;
mod edge;
mod error;
mod output;
mod stack;
mod templates;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let out = output::Output::new(&cli.global);
    match commands::run(cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            out.error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
