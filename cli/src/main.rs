//! `imgflex`: on-the-fly image resizing on AWS. The entry point parses the command line,
//! runs one subcommand and turns its outcome into an exit code (0 ok, 1 failure, 2 usage).

mod access_log;
mod alarms;
mod aws;
mod buckets;
mod build_support;
mod cdn;
mod cli;
mod commands;
mod config;
mod deployed;
mod dev;
mod domain;
mod edge;
mod edge_keys;
mod error;
mod files;
mod keyring;
mod output;
mod regions;
mod retained;
mod srcset;
mod stack;
mod stack_config;
mod templates;
mod variant_space;
mod variants;
mod viewer;
mod web;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use imgflex_handler::pipeline::Acceleration;

fn main() -> ExitCode {
    let cli = match cli::Cli::command()
        .long_version(long_version(Acceleration::of_this_build()))
        .try_get_matches()
        .and_then(|matches| cli::Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let out = output::Output::new(&cli.global);
    match commands::run(cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            out.error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}

/// `imgflex --version`: the version, and whether the codecs run with their SIMD, so a slow
/// build says so (`-V` prints the version alone).
fn long_version(acceleration: Acceleration) -> String {
    let mut text = format!("{}\ncodecs: {acceleration}", env!("CARGO_PKG_VERSION"));
    for line in acceleration.missing() {
        text.push_str("\nwarning: ");
        text.push_str(line);
    }
    text
}
