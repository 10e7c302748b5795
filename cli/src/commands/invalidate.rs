//! `imgflex invalidate`: the paths users type, invalidated at the CDN in one request (the
//! mapping and the request are `crate::cdn`'s), optionally waiting for it.

use serde::Serialize;
use std::fmt;

use crate::aws::{Aws, runtime};
use crate::cdn::{check_hosts, create, invalidation_paths, targets, wait};
use crate::cli::{GlobalArgs, InvalidateArgs};
use crate::deployed::{Needs, distribution_hosts, locate};
use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, Serialize)]
struct Report {
    distribution_id: String,
    invalidation_id: String,
    status: String,
    paths: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalidation {} on {}: {}",
            self.invalidation_id, self.distribution_id, self.status
        )?;
        for p in &self.paths {
            writeln!(f, "  {p}")?;
        }
        if !self.status.eq_ignore_ascii_case("completed") {
            write!(
                f,
                "CloudFront usually takes a minute or two; `--wait` waits for it"
            )?;
        }
        Ok(())
    }
}

pub fn run(args: InvalidateArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let targets = targets(&args.paths)?;
    let paths = invalidation_paths(&targets)?;
    runtime()?.block_on(async {
        let aws = Aws::connect(global).await?;
        let needs = Needs {
            distribution: true,
            ..Needs::default()
        };
        let loc = locate(&aws, &args.location, needs).await?;
        let distribution_id = loc.distribution_id.unwrap_or_default();
        let hosts = distribution_hosts(&aws, &distribution_id).await?;
        check_hosts(&args.paths, &hosts, &distribution_id)?;
        let (id, mut status) = create(&aws, &distribution_id, &paths).await?;
        if args.wait {
            status = wait(&aws, &distribution_id, &id, out).await?;
        }
        out.data(&Report {
            distribution_id,
            invalidation_id: id,
            status,
            paths,
        })
    })
}
