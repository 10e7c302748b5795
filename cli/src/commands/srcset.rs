//! `imgflex srcset KEY`: the `srcset` and `<img>` for an original already in the bucket, its
//! dimensions read from the first bytes of the object (the whole object only when its
//! header lies further in).

use std::fmt;

use imgflex_core::Target;
use imgflex_handler::pipeline::probe;
use serde::Serialize;

use crate::aws::{Aws, runtime, sdk_error};
use crate::cli::{GlobalArgs, SrcsetArgs};
use crate::config::load_policy;
use crate::deployed::{Needs, locate};
use crate::error::CliError;
use crate::output::Output;
use crate::srcset::{Snippet, snippet};

/// Enough for the header of every JPEG short of one with huge metadata segments.
const HEAD_BYTES: u64 = 1 << 20;

#[derive(Debug, Serialize)]
struct Report {
    key: String,
    width: u32,
    height: u32,
    #[serde(flatten)]
    snippet: Snippet,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({}x{})", self.key, self.width, self.height)?;
        writeln!(f, "srcset: {}", self.snippet.srcset)?;
        write!(f, "{}", self.snippet.img)
    }
}

pub fn run(args: SrcsetArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    let policy = load_policy(global.config.as_deref())?;
    let key = match Target::parse(&args.key) {
        Ok(Target::Original(key)) => key,
        Ok(_) | Err(_) => {
            return Err(
                CliError::new(format!("`{}` is not an original's key", args.key))
                    .hint("give the key of one original, such as `photos/cat.jpg`"),
            );
        }
    };
    runtime()?.block_on(async {
        let aws = Aws::connect(global).await?;
        let needs = Needs {
            originals: true,
            distribution: true,
            ..Needs::default()
        };
        let loc = locate(&aws, &args.location, needs).await?;
        let bucket = loc.originals.clone().unwrap_or_default();
        let cdn = loc.cdn.clone().ok_or_else(|| {
            CliError::new("the distribution has no domain yet")
                .hint("check it with `imgflex status`")
        })?;
        if let Some(id) = &loc.distribution_id {
            let hosts = crate::deployed::distribution_hosts(&aws, id).await?;
            crate::cdn::check_hosts(std::slice::from_ref(&args.key), &hosts, id)?;
        }
        let s3 = aws.s3();
        let read = |range: Option<String>| {
            let s3 = s3.clone();
            let (bucket, key) = (bucket.clone(), key.clone());
            async move {
                let got = s3
                    .get_object()
                    .bucket(&bucket)
                    .key(&key)
                    .set_range(range)
                    .send()
                    .await
                    .map_err(|e| {
                        if e.as_service_error().is_some_and(|e| e.is_no_such_key()) {
                            CliError::new(format!("no original `{key}` in s3://{bucket}"))
                                .hint("upload it with `imgflex upload`")
                        } else {
                            sdk_error(&format!("cannot read s3://{bucket}/{key}"), e)
                        }
                    })?;
                let total = got
                    .content_range()
                    .and_then(|r| r.rsplit('/').next())
                    .and_then(|n| n.parse::<u64>().ok());
                let bytes = got
                    .body
                    .collect()
                    .await
                    .map_err(|e| CliError::new(format!("cannot read s3://{bucket}/{key}: {e}")))?
                    .into_bytes();
                Ok::<_, CliError>((bytes, total))
            }
        };
        let (head, total) = read(Some(format!("bytes=0-{}", HEAD_BYTES - 1))).await?;
        // `probe` sizes what it is given against the byte limit: a prefix is never too big.
        let header = match probe(&head, &policy.limits) {
            Ok(h) => h,
            Err(_) if total.is_some_and(|t| t > head.len() as u64) => {
                let (whole, _) = read(None).await?;
                probe(&whole, &policy.limits).map_err(|e| {
                    CliError::new(format!("`{key}` is not an image imgflex can resize: {e}"))
                })?
            }
            Err(e) => {
                return Err(CliError::new(format!(
                    "`{key}` is not an image imgflex can resize: {e}"
                )));
            }
        };
        let (width, height) = header.displayed();
        out.data(&Report {
            snippet: snippet(&policy, &cdn, &key, width, height),
            key,
            width,
            height,
        })
    })
}
