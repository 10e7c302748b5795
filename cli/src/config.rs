//! Finding and loading `imgflex.toml`: the policy (core's `Policy`, with its limits) and the
//! stack's tables (`stack_config`), from one file, each refusal naming its line.

use std::path::{Path, PathBuf};

use imgflex_core::Policy;

use crate::error::CliError;
use crate::stack_config::{self, SettingError, StackSettings, Tables};

pub const DEFAULT_FILE: &str = "imgflex.toml";

/// The whole file, parsed.
#[derive(Debug)]
pub struct Config {
    pub policy: Policy,
    /// The file's path and text, and its stack tables; `None` for the built-in defaults.
    file: Option<(PathBuf, String, Tables)>,
}

/// The policy from `--config FILE` (which must exist), else `./imgflex.toml` if there is
/// one, else the built-in defaults.
pub fn load_policy(explicit: Option<&Path>) -> Result<Policy, CliError> {
    Ok(load(explicit)?.policy)
}

/// The file `--config` (or `IMGFLEX_CONFIG`) names, else `./imgflex.toml` if there is one,
/// else the defaults. A file that exists is read whole: a broken stack table fails every
/// command, not only the next deploy.
pub fn load(explicit: Option<&Path>) -> Result<Config, CliError> {
    let path = match explicit {
        Some(path) => path,
        None if Path::new(DEFAULT_FILE).is_file() => Path::new(DEFAULT_FILE),
        None => {
            return Ok(Config {
                policy: Policy::default(),
                file: None,
            });
        }
    };
    let source = std::fs::read_to_string(path).map_err(|e| {
        let err = CliError::new(format!("cannot read `{}`: {e}", path.display()));
        if e.kind() == std::io::ErrorKind::NotFound {
            err.hint(
                "pass the path of an existing imgflex.toml, or leave out --config for the defaults",
            )
        } else {
            err
        }
    })?;
    let policy = Policy::from_toml_str(&source).map_err(|e| {
        let place = match e.line {
            Some(line) => format!("{}:{line}", path.display()),
            None => path.display().to_string(),
        };
        CliError::new(format!("invalid policy `{place}`: {}", e.message))
            .hint("see the Policy section of the README for every setting and its default")
    })?;
    let tables =
        stack_config::parse_file(&path.display().to_string(), &source).map_err(setting_error)?;
    Ok(Config {
        policy,
        file: Some((path.to_path_buf(), source, tables)),
    })
}

fn setting_error(e: SettingError) -> CliError {
    CliError::new(format!("invalid setting `{}`: {}", e.at, e.message))
        .hint("see the Stack settings section of the README for every key and its default")
}

impl Config {
    /// Where the policy comes from: the file, or the built-in defaults.
    pub fn source(&self) -> crate::stack_config::Source {
        match &self.file {
            Some((path, _, _)) => crate::stack_config::Source::File(path.display().to_string()),
            None => crate::stack_config::Source::Default,
        }
    }

    /// The stack settings: the file's tables, then each `--set KEY=VALUE` over them.
    pub fn stack_settings(&self, sets: &[String]) -> Result<StackSettings, CliError> {
        let flags = sets
            .iter()
            .map(|s| Ok((s.clone(), stack_config::parse_flag(s)?)))
            .collect::<Result<Vec<_>, SettingError>>()
            .map_err(setting_error)?;
        let path = self.file.as_ref().map(|(p, _, _)| p.display().to_string());
        let file = self
            .file
            .as_ref()
            .zip(path.as_deref())
            .map(|((_, text, tables), path)| (path, text.as_str(), tables));
        StackSettings::resolve(file, &flags).map_err(setting_error)
    }
}

/// A setting refused after resolution (a parameter too big, a region without a default).
pub fn refused(e: SettingError) -> CliError {
    setting_error(e)
}
