//! The CloudFront Function: `templates/edge-function.js` (the JS twin of `imgflex-core`'s
//! routing), minified by terser into `edge-function.min.js` (`tools/edge/minify.mjs`), with
//! the policy compiled in and held to CloudFront's size limit.

use std::collections::BTreeMap;

use imgflex_core::{Format, Policy, Signing};
use serde::Serialize;

use crate::error::CliError;

const MINIFIED: &str = include_str!("../../templates/edge-function.min.js");
const POLICY_SLOT: &str = "__IMGFLEX_POLICY__";

/// CloudFront's limit on a function's code: 10 KB.
pub const MAX_FUNCTION_BYTES: usize = 10 * 1024;

/// The policy as the JS reads it (`P`): one- and two-letter names (the function's 10 KB is
/// shared with the presets), presets as the strings the TOML gave, re-parsed at the edge by
/// the same rules as URL values.
#[derive(Serialize)]
struct EdgePolicy<'a> {
    #[serde(rename = "W")]
    max_width: u32,
    #[serde(rename = "H")]
    max_height: u32,
    #[serde(rename = "ws")]
    widths: &'a [u32],
    #[serde(rename = "hs")]
    heights: &'a [u32],
    #[serde(rename = "qs")]
    qualities: &'a [u8],
    #[serde(rename = "bs")]
    backgrounds: &'a [String],
    #[serde(rename = "v")]
    versions: bool,
    #[serde(rename = "f")]
    formats: Vec<&'static str>,
    #[serde(rename = "q")]
    quality: BTreeMap<&'static str, u8>,
    #[serde(rename = "p")]
    presets: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
    #[serde(rename = "o")]
    only: bool,
    /// 0 off, 1 every URL, 2 all but presets and plain originals (`Signing`).
    #[serde(rename = "s")]
    sign: u8,
    /// `dpr_steps` in tenths, as the grammar's dpr is.
    #[serde(rename = "d")]
    dpr_steps: &'a [u8],
    #[serde(rename = "sd")]
    save_data_quality_drop: u8,
}

/// The function code for `policy`, ready for `AWS::CloudFront::Function.FunctionCode`.
pub fn function_code(policy: &Policy) -> Result<String, CliError> {
    let quality = [Format::Jpeg, Format::Webp, Format::Avif]
        .into_iter()
        .filter_map(|f| policy.quality.for_format(f).map(|q| (f.as_str(), q)))
        .collect();
    let edge = EdgePolicy {
        max_width: policy.max_width,
        max_height: policy.max_height,
        widths: &policy.widths,
        heights: &policy.heights,
        qualities: &policy.qualities,
        backgrounds: &policy.backgrounds,
        versions: policy.versions,
        formats: policy.formats.iter().map(|f| f.as_str()).collect(),
        quality,
        presets: policy
            .presets
            .iter()
            .map(|(name, p)| (name.as_str(), &p.values))
            .collect(),
        only: policy.presets_only,
        sign: match policy.signing {
            Signing::Off => 0,
            Signing::Required => 1,
            Signing::AdHoc => 2,
        },
        dpr_steps: policy.dpr_steps.tenths(),
        save_data_quality_drop: policy.save_data_quality_drop,
    };
    let json = serde_json::to_string(&edge)
        .map_err(|e| CliError::new(format!("cannot encode the policy: {e}")))?;
    let code = MINIFIED.replacen(POLICY_SLOT, &json, 1);
    if code.len() > MAX_FUNCTION_BYTES {
        return Err(CliError::new(format!(
            "the edge function would be {} bytes, over CloudFront's limit of {MAX_FUNCTION_BYTES}",
            code.len()
        ))
        .hint("the policy is compiled into it: use fewer or shorter presets, or fewer `widths`"));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_fits_with_room_to_spare() {
        let code = function_code(&Policy::default()).unwrap();
        // Room for the policy's presets and widths: about 8 presets of 45 bytes. Signed URLs
        // (the HMAC check, the KeyValueStore read) took 1.1 KB of the 1.5 KB there was.
        assert!(
            code.len() < MAX_FUNCTION_BYTES - 384,
            "{} bytes",
            code.len()
        );
        assert!(
            code.starts_with("import cf from\"cloudfront\";"),
            "the import must stay first"
        );
        assert!(!code.contains(POLICY_SLOT));
        assert!(
            code.contains(r#"={"W":4096,"H":4096,"ws":[],"hs":[],"qs":[],"bs":[],"v":true,"#),
            "{code}"
        );
    }

    #[test]
    fn an_oversized_policy_is_refused_with_a_hint() {
        let mut toml = String::new();
        for i in 0..60 {
            toml.push_str(&format!(
                "[presets.preset_number_{i}]\nw = {}\nh = 300\nfit = \"cover\"\n",
                100 + i
            ));
        }
        let policy = Policy::from_toml_str(&toml).unwrap();
        let err = function_code(&policy).unwrap_err();
        assert!(
            err.message.contains("over CloudFront's limit of 10240"),
            "{}",
            err.message
        );
        assert!(err.hint.is_some());
    }
}
