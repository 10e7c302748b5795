//! The CLI's failures: a message that says what went wrong and, for what the user can fix,
//! a hint that says how.

use std::fmt;

/// A failure to report. Messages are lowercase with values in backticks; the hint, when
/// there is one, is a full instruction.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
    /// Everything known about the cause (an SDK error's whole chain, its request id), shown
    /// with `-v` and in the JSON error.
    pub detail: Option<String>,
    /// Already printed as data (`--output json`), so only the exit code remains.
    pub reported: bool,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            hint: None,
            detail: None,
            reported: false,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> CliError {
        self.detail = Some(detail.into());
        self
    }

    pub fn reported(mut self) -> CliError {
        self.reported = true;
        self
    }

    /// 1: a failure the user can do something about. Usage errors (2) never get here:
    /// clap reports them itself.
    pub fn exit_code(&self) -> u8 {
        1
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}
