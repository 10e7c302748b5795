//! Finding and loading the policy file, `imgflex.toml`.

use std::path::Path;

use imgflex_core::Policy;

use crate::error::CliError;

pub const DEFAULT_FILE: &str = "imgflex.toml";

/// The policy from `--config FILE` (which must exist), else `./imgflex.toml` if there is
/// one, else the built-in defaults.
pub fn load_policy(explicit: Option<&Path>) -> Result<Policy, CliError> {
    let path = match explicit {
        Some(path) => path,
        None if Path::new(DEFAULT_FILE).is_file() => Path::new(DEFAULT_FILE),
        None => return Ok(Policy::default()),
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
    Policy::from_toml_str(&source).map_err(|e| {
        let place = match e.line {
            Some(line) => format!("{}:{line}", path.display()),
            None => path.display().to_string(),
        };
        CliError::new(format!("invalid policy `{place}`: {}", e.message))
            .hint("see the Policy section of the README for every setting and its default")
    })
}
