//! Facts about AWS regions that CloudFront's features depend on: where Origin Shield runs
//! and which of its regions AWS recommends for an origin, and the regions whose buckets
//! cannot receive CloudFront's standard logs.

/// The regions that host an Origin Shield.
pub const ORIGIN_SHIELD_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "sa-east-1",
];

/// AWS's recommended Origin Shield region for an origin in `region` (the table in "Choosing
/// the AWS Region for Origin Shield", CloudFront developer guide): the same region where it
/// has one, else the table's choice; `None` for a region the table does not list (the newer
/// opt-in regions), where the stack leaves Origin Shield off unless a region is configured.
pub fn origin_shield_region(region: &str) -> Option<&'static str> {
    if let Some(same) = ORIGIN_SHIELD_REGIONS.iter().find(|r| **r == region) {
        return Some(same);
    }
    Some(match region {
        "us-west-1" => "us-west-2",
        "af-south-1" => "eu-west-1",
        "ap-east-1" => "ap-southeast-1",
        "ca-central-1" => "us-east-1",
        "eu-south-1" => "eu-central-1",
        "eu-west-3" | "eu-north-1" => "eu-west-2",
        "me-south-1" => "ap-south-1",
        _ => return None,
    })
}

/// Regions whose S3 buckets cannot receive CloudFront standard logs (legacy): the stack's
/// own logs bucket would get nothing, so the edge stack makes one in us-east-1 instead.
/// The developer guide names af-south-1, ap-east-1, eu-south-1 and me-south-1; the opt-in
/// regions opened since are listed too, because nothing documents delivery to them, and a
/// bucket in us-east-1 receives the logs whatever the stack's region.
pub const NO_CDN_LOGS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

pub fn cdn_logs_stay_in_region(region: &str) -> bool {
    !NO_CDN_LOGS_REGIONS.contains(&region)
}

/// Whether `region` is shaped like an AWS region code: a partition word, one or more words,
/// and a number (`us-east-1`, `ap-southeast-4`, `us-gov-west-1`, `eusc-de-east-1`). A typo
/// (`mars-1`, `eu-west`, `EU-WEST-1`) is refused before any call, where the SDK would only
/// fail to reach an endpoint that does not exist. A region AWS opens later still passes.
pub fn is_region_code(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && words[0].len() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes() {
        for ok in [
            "us-east-1",
            "ap-southeast-4",
            "us-gov-west-1",
            "eusc-de-east-1",
            "il-central-1",
        ] {
            assert!(is_region_code(ok), "{ok}");
        }
        for bad in [
            "mars-1",
            "eu-west",
            "EU-WEST-1",
            "eu-west-1 ",
            "",
            "eu--1",
            "eu-west-100",
            "e-west-1",
        ] {
            assert!(!is_region_code(bad), "{bad:?}");
        }
    }

    #[test]
    fn every_mapping_lands_on_an_origin_shield_region() {
        for region in ORIGIN_SHIELD_REGIONS.iter().chain(NO_CDN_LOGS_REGIONS) {
            if let Some(shield) = origin_shield_region(region) {
                assert!(
                    ORIGIN_SHIELD_REGIONS.contains(&shield),
                    "{region} -> {shield}"
                );
            }
        }
        assert_eq!(origin_shield_region("eu-north-1"), Some("eu-west-2"));
        assert_eq!(origin_shield_region("me-central-1"), None);
        assert_eq!(origin_shield_region("eu-west-1"), Some("eu-west-1"));
        assert_eq!(origin_shield_region("us-west-1"), Some("us-west-2"));
        assert_eq!(origin_shield_region("mars-1"), None);
        assert!(cdn_logs_stay_in_region("eu-west-1"));
        assert!(!cdn_logs_stay_in_region("af-south-1"));
    }
}
