//! `imgflex build`: builds (or reuses) the resize Lambda's zip and says where it is. The job
//! itself is `build_support::ensure`, which `deploy` calls too.

use crate::build_support::ensure;
use crate::cli::BuildArgs;
use crate::error::CliError;
use crate::output::Output;

pub fn run(args: BuildArgs, out: &Output) -> Result<(), CliError> {
    let report = ensure(args.arch, args.out.as_deref(), out)?;
    out.data(&report)
}
