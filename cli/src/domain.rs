//! A custom domain: the ACM certificate checked (us-east-1, issued, covering every alias)
//! before anything is deployed, and the DNS records to create once the distribution exists.

use serde::Serialize;

use crate::aws::{Aws, EDGE_REGION, sdk_error};
use crate::error::CliError;
use crate::stack_config::Domain;

/// CloudFront's hosted zone id, the same for every distribution: what a Route 53 alias
/// record names.
pub const CLOUDFRONT_HOSTED_ZONE: &str = "Z2FDTNDATAQYW2";

/// Whether a certificate name (`example.com`, `*.example.com`) covers `alias`. A wildcard
/// covers exactly one label, as in TLS.
pub fn covers(name: &str, alias: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name == alias {
        return true;
    }
    match (name.strip_prefix("*."), alias.split_once('.')) {
        (Some(parent), Some((label, rest))) => !label.is_empty() && label != "*" && rest == parent,
        _ => alias.starts_with("*.") && name == alias,
    }
}

/// The certificate exists in us-east-1, is issued, and covers every alias.
pub async fn check_certificate(aws: &Aws, domain: &Domain) -> Result<(), CliError> {
    let arn = &domain.certificate_arn.value;
    let at = &domain.certificate_arn.source;
    let acm = aws.acm_edge();
    let r = acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| {
            if crate::aws::error_code(&e) == Some("ResourceNotFoundException") {
                CliError::new(format!(
                    "the certificate `{arn}` ({at}) does not exist in {EDGE_REGION} for this account"
                ))
                .hint("check the ARN in `[domain]`; CloudFront only uses ACM certificates from us-east-1")
            } else {
                sdk_error(&format!("cannot read the certificate `{arn}`"), e)
            }
        })?;
    let Some(cert) = r.certificate() else {
        return Err(CliError::new(format!("ACM returned nothing for `{arn}`")));
    };
    let status = cert.status().map_or("UNKNOWN", |s| s.as_str());
    if status != "ISSUED" {
        return Err(CliError::new(format!(
            "the certificate `{arn}` is {status}, not ISSUED: CloudFront cannot use it yet"
        ))
        .hint(
            "finish its validation in ACM (us-east-1): the DNS records ACM asks for must exist",
        ));
    }
    let mut names: Vec<&str> = cert
        .subject_alternative_names()
        .iter()
        .map(String::as_str)
        .collect();
    names.extend(cert.domain_name());
    let uncovered: Vec<&str> = domain
        .aliases
        .value
        .iter()
        .map(String::as_str)
        .filter(|alias| !names.iter().any(|n| covers(n, alias)))
        .collect();
    if !uncovered.is_empty() {
        return Err(CliError::new(format!(
            "the certificate `{arn}` does not cover {} (it covers {})",
            uncovered.join(", "),
            names.join(", ")
        ))
        .hint("add the names to the certificate (a new request in ACM, us-east-1), or remove them from `domain.aliases`"));
    }
    Ok(())
}

/// One DNS record the user creates for an alias.
#[derive(Debug, Clone, Serialize)]
pub struct DnsRecord {
    pub name: String,
    /// `CNAME`; with Route 53, an alias `A` and `AAAA` record to the same target is the
    /// apex-capable alternative.
    pub kind: &'static str,
    pub target: String,
    pub route53_alias_zone: &'static str,
}

pub fn records(domain: &Domain, distribution_domain: &str) -> Vec<DnsRecord> {
    domain
        .aliases
        .value
        .iter()
        .map(|alias| DnsRecord {
            name: alias.clone(),
            kind: "CNAME",
            target: distribution_domain.to_string(),
            route53_alias_zone: CLOUDFRONT_HOSTED_ZONE,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("img.example.com", "img.example.com"));
        assert!(covers("IMG.example.com", "img.example.com"));
        assert!(covers("*.example.com", "img.example.com"));
        assert!(!covers("*.example.com", "a.img.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("example.com", "img.example.com"));
    }
}
