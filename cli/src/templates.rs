//! The CloudFormation templates, embedded in the binary, and their rendering: the only thing
//! a policy changes in them is the edge function's code; everything else varies through
//! Parameters and Conditions at deploy time.

use std::fmt::Write as _;

use imgflex_core::Policy;

use crate::edge::function_code;
use crate::error::CliError;

pub const MAIN: &str = include_str!("../../templates/main.yaml");
pub const EDGE: &str = include_str!("../../templates/edge.yaml");
pub const BOOTSTRAP: &str = include_str!("../../templates/bootstrap.yaml");

/// Everything `render` writes and `deploy` sends.
#[derive(Debug)]
pub struct Rendered {
    pub main: String,
    pub edge: String,
    pub bootstrap: String,
    pub function_code: String,
}

pub fn render(policy: &Policy) -> Result<Rendered, CliError> {
    let function_code = function_code(policy)?;
    Ok(Rendered {
        main: with_function_code(MAIN, &function_code)?,
        edge: EDGE.to_string(),
        bootstrap: BOOTSTRAP.to_string(),
        function_code,
    })
}

/// Replaces the `FunctionCode: |` literal block of the edge function with `code`.
///
/// Code cannot be a Parameter (parameter values stop at 4 KB and the function may take 10),
/// so this is the one place the template is spliced. A literal block holds any text at a
/// deeper indentation, so the splice cannot change the YAML around it.
fn with_function_code(template: &str, code: &str) -> Result<String, CliError> {
    const KEY: &str = "FunctionCode: |";
    let lines: Vec<&str> = template.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start() == KEY)
        .ok_or_else(|| CliError::new("templates/main.yaml has no `FunctionCode: |` block (a build of imgflex from a broken checkout?)"))?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && l.len() - l.trim_start().len() <= indent)
        .map_or(lines.len(), |i| start + 1 + i);
    let pad = " ".repeat(indent + 2);
    let mut out = String::with_capacity(template.len() + code.len());
    for line in &lines[..=start] {
        out.push_str(line);
        out.push('\n');
    }
    for line in code.lines() {
        let _ = writeln!(out, "{pad}{line}");
    }
    out.push('\n');
    for line in &lines[end..] {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_replaced_and_nothing_else_moves() {
        let template = "a:\n  FunctionCode: |\n    old();\n\n    more();\n  Next: 1\nb: 2\n";
        let out = with_function_code(template, "new();\nx();").unwrap();
        assert_eq!(
            out,
            "a:\n  FunctionCode: |\n    new();\n    x();\n\n  Next: 1\nb: 2\n"
        );
    }

    #[test]
    fn the_main_template_gets_the_generated_code() {
        let rendered = render(&Policy::default()).unwrap();
        assert!(
            rendered
                .main
                .contains("        import cf from\"cloudfront\";import crypto from\"crypto\";var ")
        );
        assert!(rendered.main.contains("={\"W\":4096"));
        assert!(!rendered.main.contains("__IMGFLEX_POLICY__"));
        assert!(
            !rendered
                .main
                .contains("Object.keys(request.querystring).length === 0"),
            "the placeholder code is gone"
        );
        // Everything after the block is intact.
        let tail = MAIN.split_once("  UriOnlyCachePolicy:").unwrap().1;
        assert!(rendered.main.ends_with(tail));
    }
}
