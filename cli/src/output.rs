//! Where things are printed: results on stdout as text or JSON, everything else on stderr.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

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

    /// Prints a result on stderr, as text or JSON: for when stdout carries data of its own
    /// (`transform -o -`).
    pub fn report<T: Serialize + Display>(&self, value: &T) {
        match self.format {
            OutputFormat::Text => eprintln!("{value}"),
            OutputFormat::Json => match serde_json::to_string(value) {
                Ok(json) => eprintln!("{json}"),
                Err(e) => eprintln!("cannot encode the report: {e}"),
            },
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

    /// Something the user should act on that does not stop the command; shown even under
    /// `--quiet`, on stderr.
    pub fn warn(&self, line: impl Display) {
        eprintln!("warning: {line}");
    }

    /// Detail for `-v`.
    pub fn verbose(&self, line: impl Display) {
        if self.verbose > 0 {
            eprintln!("{line}");
        }
    }

    /// A live progress display on stderr, built from `template` (indicatif's syntax), when
    /// stderr is a terminal and not `--quiet`; `None` otherwise, and the caller prints plain
    /// lines instead. `len` is the bar's total, `None` for a spinner; both tick on their own.
    pub fn progress(&self, template: &str, len: Option<u64>) -> Option<ProgressBar> {
        if self.quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = len.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(bar)
    }

    /// A failure: always as text on stderr (unless already given as data), and with
    /// `--output json` also as one JSON object on stdout, so a script reading stdout sees
    /// every outcome, `{"error": {"message", "hint", "detail"}}`.
    pub fn error(&self, err: &CliError) {
        if err.reported && self.format == OutputFormat::Json {
            return;
        }
        eprintln!("{err}");
        if self.verbose > 0
            && let Some(detail) = &err.detail
        {
            eprintln!("  detail: {detail}");
        }
        if self.format == OutputFormat::Json {
            let doc = serde_json::json!({
                "error": {"message": err.message, "hint": err.hint, "detail": err.detail}
            });
            let _ = self.json(&doc);
        }
    }
}

/// Asks a yes/no question on the terminal; anything but yes is no, and no terminal is no.
pub fn ask(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn finish(written: std::io::Result<()>) -> Result<(), CliError> {
    match written {
        Ok(()) => Ok(()),
        // A closed pipe (`imgflex url … | head -1`) is not our failure to report.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(format!("cannot write to stdout: {e}"))),
    }
}
