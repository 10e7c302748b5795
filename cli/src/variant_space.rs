//! The variant space of a policy (`imgflex_core::variant_space`) in words: `imgflex url
//! --policy`, `render` and `deploy` all say it the same way.

use imgflex_core::{Count, Policy, Signing, VariantSpace, variant_space};

/// `12,345`, or `about 2.9e18` past a million millions.
pub fn number(n: u128) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if digits.len() > 12 {
        format!(
            "about {}.{}e{}",
            &digits[..1],
            &digits[1..2],
            digits.len() - 1
        )
    } else {
        grouped
    }
}

pub fn count(c: Count) -> String {
    match c {
        Count::Finite(n) => number(n),
        Count::Unbounded(param) => format!("unbounded (`{param}`)"),
    }
}

/// One line: what any URL can make of one original, and what an unsigned one can.
pub fn summary(policy: &Policy) -> (VariantSpace, String) {
    let space = variant_space(policy);
    let line = match policy.signing {
        Signing::Off => format!("variants per original: {}", count(space.any)),
        _ => format!(
            "variants per original: {} signed, {} without a signature",
            count(space.any),
            count(space.unsigned)
        ),
    };
    (space, line)
}

/// What `deploy` warns of: anyone can make an unbounded number of variants (each a Lambda
/// run and a stored object) without a signature.
pub fn warning(policy: &Policy) -> Option<String> {
    let space = variant_space(policy);
    let Count::Unbounded(param) = space.unsigned else {
        return None;
    };
    let mut without_v = policy.clone();
    without_v.versions = false;
    Some(format!(
        "this policy lets anyone make an unbounded number of variants of each original without a \
         signature (`{param}` takes any of 62^32 tokens; each new one is a Lambda run and a \
         stored object): set `versions = false`, or `signing = \"ad-hoc\"` or \"required\", in \
         imgflex.toml ({} without `v`)",
        count(variant_space(&without_v).unsigned)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(0), "0");
        assert_eq!(number(1_234), "1,234");
        assert_eq!(number(999_999_999_999), "999,999,999,999");
        assert_eq!(number(2_900_000_000_000_000_000), "about 2.9e18");
    }

    #[test]
    fn the_default_policy_is_warned_of_and_a_bounded_one_is_not() {
        let default = Policy::default();
        let warning = warning(&default).unwrap_or_default();
        assert!(
            warning.contains("`v`") && warning.contains("versions = false"),
            "{warning}"
        );
        let bounded = Policy::from_toml_str("versions = false").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(super::warning(&bounded), None);
        let signed =
            Policy::from_toml_str("signing = \"required\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(super::warning(&signed), None);
        let (_, line) = summary(&signed);
        assert_eq!(
            line,
            "variants per original: unbounded (`v`) signed, 0 without a signature"
        );
    }
}
