//! The AWS regions there are, in every partition, as published on 2026-12-07 (AWS General
//! Reference, "AWS Region billing codes": commercial regions; plus aws-cn, aws-us-gov, aws-eusc
//! and the ISO partitions).
//!
//! Used for one decision only: when CloudTrail's public keys cannot be fetched for a digest's
//! region, a region that AWS does not have means the digest's claims were forged (a consistently
//! forged region name makes `ListPublicKeys` fail on DNS, which would otherwise look like an
//! outage and end as an infrastructure error, not a finding). A region launched after this list
//! still verifies normally as long as its key service answers.

/// Every region code, sorted.
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-isoe-west-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` is a region code AWS has (see [`KNOWN_REGIONS`]).
pub fn is_known_region(region: &str) -> bool {
    KNOWN_REGIONS.binary_search(&region).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique_so_binary_search_is_exact() {
        assert!(KNOWN_REGIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn real_regions_are_known_and_forged_ones_are_not() {
        for r in [
            "us-east-1",
            "eu-west-1",
            "cn-north-1",
            "us-gov-west-1",
            "ap-southeast-7",
        ] {
            assert!(is_known_region(r), "{r}");
        }
        for r in ["zz-fake-9", "us-east-99", "", "US-EAST-1", "us-east-1 "] {
            assert!(!is_known_region(r), "{r:?}");
        }
    }
}
