//! Where things are printed: results on stdout as text or JSON, everything else on stderr.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::CliError;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
}

impl Output {
    pub fn new(global: &GlobalArgs) -> Output {
        Output {
            format: global.output,
            quiet: global.quiet,
            verbose: global.verbose,
        }
    }

    /// Prints a result: its `Display` on a text run, its JSON otherwise.
    pub fn data<T: Serialize + Display>(&self, value: &T) -> Result<(), CliError> {
        match self.format {
            OutputFormat::Text => finish(writeln!(std::io::stdout().lock(), "{value}")),
            OutputFormat::Json => self.json(value),
        }
    }

    /// Prints JSON whatever the format: for results that only exist for scripts.
    pub fn json<T: Serialize>(&self, value: &T) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        finish(
            serde_json::to_writer_pretty(&mut stdout, value)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(stdout)),
        )
    }

    /// A line for the user about what is happening; silent under `--quiet`.
    #[allow(dead_code)] // the AWS subcommands report progress through this
    pub fn status(&self, line: impl Display) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// Detail for `-v`.
    pub fn verbose(&self, line: impl Display) {
        if self.verbose > 0 {
            eprintln!("{line}");
        }
    }

    pub fn error(&self, err: &CliError) {
        if !err.reported || self.format == OutputFormat::Text {
            eprintln!("{err}");
        }
    }
}

fn finish(written: std::io::Result<()>) -> Result<(), CliError> {
    match written {
        Ok(()) => Ok(()),
        // A closed pipe (`imgflex url … | head -1`) is not our failure to report.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(format!("cannot write to stdout: {e}"))),
    }
}
