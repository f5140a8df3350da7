use super::*;

fn location(
    prefix: Option<&str>,
    org: Option<&str>,
    account: &str,
    region: &str,
    time: i64,
) -> KeyLocation {
    KeyLocation {
        prefix: prefix.map(str::to_owned),
        organization_id: org.map(str::to_owned),
        account: account.to_owned(),
        region: region.to_owned(),
        time,
    }
}

fn skip(key: &str) -> SkipReason {
    match classify(key) {
        ObjectKind::Other(reason) => reason,
        other => panic!("{key:?} should be skipped, got {other:?}"),
    }
}

fn digest(key: &str) -> DigestRef {
    match classify(key) {
        ObjectKind::Digest(digest) => digest,
        other => panic!("{key:?} should be a digest, got {other:?}"),
    }
}

// 2023-07-10T11:45:00Z, from the invictus-ir corpus file name.
const T_20230710_1145: i64 = 1_688_989_500;

#[test]
fn log_file_without_prefix() {
    let key = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json.gz";
    assert_eq!(
        classify(key),
        ObjectKind::LogFile(LogFileRef {
            location: location(None, None, "218007301253", "us-east-1", T_20230710_1145),
            unique_id: "7xgocspSowgK0Gto".into(),
        })
    );
}

#[test]
fn uncompressed_log_file_is_accepted() {
    let key = "AWSLogs/111111111111/CloudTrail/eu-central-1/2017/12/11/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json";
    let ObjectKind::LogFile(log) = classify(key) else {
        panic!("{key}")
    };
    assert_eq!(log.unique_id, "A6kvhMoVeCsc7v8U");
    assert_eq!(log.location.time, 1_513_004_700); // 2017-12-11T15:05:00Z
}

#[test]
fn organization_trail_log_file_with_slashed_prefix() {
    let key = "org/trails/AWSLogs/o-exampleorgid/111122223333/CloudTrail/ap-southeast-2/2024/02/29/111122223333_CloudTrail_ap-southeast-2_20240229T2355Z_abcdefABCDEF0123.json.gz";
    let ObjectKind::LogFile(log) = classify(key) else {
        panic!("{key}")
    };
    assert_eq!(
        log.location,
        location(
            Some("org/trails"),
            Some("o-exampleorgid"),
            "111122223333",
            "ap-southeast-2",
            1_709_250_900, // 2024-02-29T23:55:00Z (leap day)
        )
    );
}

#[test]
fn prefix_may_itself_contain_awslogs() {
    let key = "AWSLogs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0000Z_0123456789abcdef.json.gz";
    let ObjectKind::LogFile(log) = classify(key) else {
        panic!("{key}")
    };
    assert_eq!(log.location.prefix.as_deref(), Some("AWSLogs"));
}

#[test]
fn govcloud_and_china_regions() {
    for region in ["us-gov-west-1", "cn-north-1", "il-central-1"] {
        let key = format!(
            "AWSLogs/123456789012/CloudTrail/{region}/2024/01/02/123456789012_CloudTrail_{region}_20240102T0000Z_0123456789abcdef.json.gz"
        );
        let ObjectKind::LogFile(log) = classify(&key) else {
            panic!("{key}")
        };
        assert_eq!(log.location.region, region);
    }
}

#[test]
fn insight_file() {
    let key = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2019/12/24/123456789012_CloudTrail-Insight_us-east-1_20191224T1840Z_FiT5gcVkXjDfw1bn.json.gz";
    assert_eq!(
        classify(key),
        ObjectKind::InsightFile(InsightFileRef {
            location: location(None, None, "123456789012", "us-east-1", 1_577_212_800),
            unique_id: "FiT5gcVkXjDfw1bn".into(),
        })
    );
}

#[test]
fn digest_with_distinct_source_and_home_regions() {
    // The llm-guard corpus digest's name, placed under its folders.
    let key = "AWSLogs/327878933619/CloudTrail-Digest/ap-northeast-1/2023/10/15/327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json.gz";
    assert_eq!(
        digest(key),
        DigestRef {
            location: location(None, None, "327878933619", "ap-northeast-1", 1_697_411_044),
            trail_name: "llm-guard-trail".into(),
            home_region: "us-west-2".into(),
            backfill: false,
            timestamp: "20231015T230404Z".into(),
        }
    );
}

#[test]
fn digest_trail_name_with_underscores_is_parsed_from_the_right() {
    let key = "logs/AWSLogs/o-aa11bb22cc/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/123456789012_CloudTrail-Digest_eu-west-1_my_org_trail_v2_us-east-1_20240102T030405Z.json.gz";
    let d = digest(key);
    assert_eq!(d.trail_name, "my_org_trail_v2");
    assert_eq!(d.home_region, "us-east-1");
    assert_eq!(d.location.region, "eu-west-1");
    assert_eq!(d.location.organization_id.as_deref(), Some("o-aa11bb22cc"));
    assert_eq!(d.location.prefix.as_deref(), Some("logs"));
    assert!(!d.backfill);
}

#[test]
fn backfill_digest() {
    let key = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20260314T091209Z_backfill.json.gz";
    let d = digest(key);
    assert!(d.backfill);
    assert_eq!(d.timestamp, "20260314T091209Z");
    assert_eq!(d.trail_name, "management-events");
}

#[test]
fn trail_named_backfill_is_not_a_backfill_digest() {
    let key = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/14/123456789012_CloudTrail-Digest_us-east-1_x_backfill_us-east-1_20260314T091209Z.json.gz";
    let d = digest(key);
    assert!(!d.backfill);
    assert_eq!(d.trail_name, "x_backfill");
}

#[test]
fn digest_key_round_trip() {
    let keys = [
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20260314T091209Z.json.gz",
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20260314T091209Z_backfill.json.gz",
        "a/b/c/AWSLogs/o-aa11bb22cc/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/123456789012_CloudTrail-Digest_eu-west-1_my_org.trail_us-east-1_20240102T030405Z.json.gz",
    ];
    for key in keys {
        let d = DigestRef::parse(key).unwrap_or_else(|| panic!("{key}"));
        assert_eq!(d.key(), key);
    }
    assert_eq!(
        DigestRef::parse(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2023/07/10/123456789012_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json.gz"
        ),
        None
    );
}

#[test]
fn digest_must_be_gzip_named() {
    let key = "AWSLogs/327878933619/CloudTrail-Digest/ap-northeast-1/2023/10/15/327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json";
    assert_eq!(skip(key), SkipReason::MalformedName);
}

#[test]
fn listing_prefixes() {
    assert_eq!(
        digest_key_prefix(None, None, "123456789012", "us-east-1"),
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/"
    );
    assert_eq!(
        digest_key_prefix(
            Some("a/b"),
            Some("o-aa11bb22cc"),
            "123456789012",
            "eu-west-1"
        ),
        "a/b/AWSLogs/o-aa11bb22cc/123456789012/CloudTrail-Digest/eu-west-1/"
    );
    assert_eq!(
        log_key_prefix(Some(""), None, "123456789012", "us-east-1"),
        "AWSLogs/123456789012/CloudTrail/us-east-1/"
    );
    assert_eq!(
        insight_key_prefix(Some("p"), None, "123456789012", "us-east-1"),
        "p/AWSLogs/123456789012/CloudTrail-Insight/us-east-1/"
    );
    // Every digest key starts with the listing prefix built from its own location.
    let key = "a/b/AWSLogs/o-aa11bb22cc/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/123456789012_CloudTrail-Digest_eu-west-1_t_us-east-1_20240102T030405Z.json.gz";
    let l = digest(key).location;
    assert!(key.starts_with(&digest_key_prefix(
        l.prefix.as_deref(),
        l.organization_id.as_deref(),
        &l.account,
        &l.region
    )));
}

#[test]
fn digest_timestamp_formats_like_names() {
    assert_eq!(
        digest_timestamp(1_697_411_044).as_deref(),
        Some("20231015T230404Z")
    );
    assert_eq!(digest_timestamp(0).as_deref(), Some("19700101T000000Z"));
    assert_eq!(digest_timestamp(i64::MAX), None);
}

#[test]
fn folder_markers() {
    for key in [
        "AWSLogs/",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/",
        "prefix/",
    ] {
        assert_eq!(skip(key), SkipReason::FolderMarker, "{key}");
    }
}

#[test]
fn config_objects() {
    for key in [
        "AWSLogs/123456789012/Config/us-east-1/2024/1/2/ConfigSnapshot/123456789012_Config_us-east-1_ConfigSnapshot_20240102T030405Z_0a1b2c3d-1234-5678-9abc-def012345678.json.gz",
        "p/AWSLogs/123456789012/Config/us-east-1/2024/1/2/ConfigHistory/123456789012_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240102T000000Z_20240102T060000Z_1.json.gz",
        "AWSLogs/123456789012/Config/ConfigWritabilityCheckFile",
    ] {
        assert_eq!(skip(key), SkipReason::ConfigSnapshot, "{key}");
    }
}

#[test]
fn foreign_objects() {
    for key in [
        "",
        "index.html",
        "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/01/02/x.log.gz",
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/02/123456789012_vpcflowlogs_us-east-1_fl-1_20240102T0000Z_abcd.log.gz",
    ] {
        assert_eq!(skip(key), SkipReason::NotCloudTrail, "{key:?}");
    }
}

const GOOD_LOG: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.json.gz";

#[test]
fn the_good_log_key_used_by_the_mutations_below_parses() {
    assert!(matches!(classify(GOOD_LOG), ObjectKind::LogFile(_)));
}

#[test]
fn malformed_names_and_inconsistent_keys() {
    let cases = [
        // account in path != account in name
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/210987654321_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.json.gz",
        // region in path != region in name
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-west-2_20240102T0304Z_0123456789abcdef.json.gz",
        // folder date != name date
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/03/123456789012_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.json.gz",
        // impossible dates, in the folders and in the name
        "AWSLogs/123456789012/CloudTrail/us-east-1/2023/02/30/123456789012_CloudTrail_us-east-1_20230230T0304Z_0123456789abcdef.json.gz",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2023/02/28/123456789012_CloudTrail_us-east-1_20230228T2460Z_0123456789abcdef.json.gz",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2023/2/28/123456789012_CloudTrail_us-east-1_20230228T0304Z_0123456789abcdef.json.gz",
        // account not 12 digits
        "AWSLogs/12345678901/CloudTrail/us-east-1/2024/01/02/12345678901_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.json.gz",
        // organization id too short (o-abcd: the umccr corpus' hand-made path)
        "AWSLogs/o-abcd/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.json.gz",
        // wrong kind in the name, non-alphanumeric id, missing id, wrong extension, seconds in a log name
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_20240102T0304Z_0123456789abcdef.json.gz",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0304Z_0123456789abc-ef.json.gz",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0304Z.json.gz",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.gz",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T030405Z_0123456789abcdef.json.gz",
        // non-ASCII where digits belong must not panic
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_2024é102T0304Z_0123456789abcdef.json.gz",
        // a file directly in the region folder
        "AWSLogs/123456789012/CloudTrail/us-east-1/123456789012_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.json.gz",
        // digests: mismatched source region, bad home region, bad trail name, no seconds
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_eu-west-1_t_us-east-1_20240102T030405Z.json.gz",
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_t_useast1_20240102T030405Z.json.gz",
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_my trail_us-east-1_20240102T030405Z.json.gz",
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240102T0304Z.json.gz",
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1__us-east-1_20240102T030405Z.json.gz",
        // unknown CloudTrail-like folder under AWSLogs
        "AWSLogs/123456789012/CloudTrail-Lake/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0304Z_0123456789abcdef.json.gz",
    ];
    for key in cases {
        assert_eq!(skip(key), SkipReason::MalformedName, "{key}");
    }
}

#[test]
fn umccr_corpus_keys_are_malformed() {
    // shared/data/cloudtrail/flaws-excerpt-umccr: hand-made org-trail paths (`o-abcd` is shorter
    // than any real organization id) and names without the `_<HHmmZ>_<id>` tail. CloudTrail never
    // writes such keys, so they are counted as malformed rather than guessed at.
    for key in [
        "AWSLogs/o-abcd/811596193553/CloudTrail/ap-southeast-1/2020/09/30/811596193553_CloudTrail_ap-southeast-1-20200930T2358.json",
        "AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/09/30/811596193553_CloudTrail_us-east-1-20200930T2200.json",
        "AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/09/30/811596193553_CloudTrail_us-east-1-20200930T2300.json",
        "AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/811596193553_CloudTrail_us-east-1-20201001T0000.json.gz",
        "AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/811596193553_CloudTrail_us-east-1-20201001T0003.json",
    ] {
        assert_eq!(skip(key), SkipReason::MalformedName, "{key}");
    }
    // The same files renamed the way CloudTrail names them, under a real-shaped org id, parse.
    let key = "AWSLogs/o-abcd123456/811596193553/CloudTrail/us-east-1/2020/09/30/811596193553_CloudTrail_us-east-1_20200930T2200Z_AbCdEfGh12345678.json";
    let ObjectKind::LogFile(log) = classify(key) else {
        panic!("{key}")
    };
    assert_eq!(
        log.location.organization_id.as_deref(),
        Some("o-abcd123456")
    );
    assert_eq!(log.location.time, 1_601_503_200); // 2020-09-30T22:00:00Z
}

#[test]
fn shape_checks() {
    assert!(is_organization_id("o-a1b2c3d4e5"));
    assert!(is_organization_id(&format!("o-{}", "a".repeat(32))));
    assert!(!is_organization_id(&format!("o-{}", "a".repeat(33))));
    assert!(!is_organization_id("o-A1B2C3D4E5"));
    assert!(!is_organization_id("o-a1b2c3d4e"));
    assert!(is_account("000000000000"));
    assert!(!is_account("12345678901a"));
    for region in [
        "us-east-1",
        "us-gov-west-1",
        "ap-southeast-4",
        "us-isob-east-1",
    ] {
        assert!(is_region(region), "{region}");
    }
    for region in [
        "",
        "us",
        "us-east",
        "useast1",
        "US-east-1",
        "us--east-1",
        "-east-1",
        "us-east-1-",
    ] {
        assert!(!is_region(region), "{region:?}");
    }
}

#[test]
fn skip_reason_names_are_stable() {
    assert_eq!(SkipReason::MalformedName.as_str(), "malformed_name");
    assert_eq!(SkipReason::FolderMarker.as_str(), "folder_marker");
}

mod properties {
    use super::super::*;
    use proptest::prelude::*;

    const KEY: &str = "p/AWSLogs/o-aa11bb22cc/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_t_x_us-east-1_20240102T030405Z_backfill.json.gz";

    proptest! {
        /// Any key classifies (never a panic), and what a classification claims is in the key:
        /// a 12-digit account and the region under `AWSLogs/`, the folder of its kind, and for a
        /// digest the exact key back.
        #[test]
        fn any_key_classifies_to_what_the_key_says(key in "\\PC{0,200}") {
            let location = match classify(&key) {
                ObjectKind::LogFile(f) => {
                    prop_assert!(key.contains("/CloudTrail/"), "{key}");
                    f.location
                }
                ObjectKind::InsightFile(f) => {
                    prop_assert!(key.contains("/CloudTrail-Insight/"), "{key}");
                    f.location
                }
                ObjectKind::Digest(d) => {
                    prop_assert_eq!(d.key(), key.clone());
                    d.location
                }
                ObjectKind::Other(_) => return Ok(()),
            };
            prop_assert!(location.account.len() == 12 && location.account.bytes().all(|b| b.is_ascii_digit()));
            let account_folder = format!("/{}/", location.account);
            let region_folder = format!("/{}/", location.region);
            prop_assert!(key.contains(&account_folder), "{key}");
            prop_assert!(key.contains(&region_folder), "{key}");
        }

        /// The classifier does find work: keys built from the layout are classified as such.
        #[test]
        fn generated_log_keys_are_log_files(
            account in "[0-9]{12}",
            region in "(us|eu|ap)-(east|west|south)-[1-3]",
            id in "[A-Za-z0-9]{16}",
        ) {
            let key = format!(
                "AWSLogs/{account}/CloudTrail/{region}/2024/01/02/{account}_CloudTrail_{region}_20240102T0305Z_{id}.json.gz"
            );
            match classify(&key) {
                ObjectKind::LogFile(f) => {
                    prop_assert_eq!(f.location.account, account);
                    prop_assert_eq!(f.location.region, region);
                    prop_assert_eq!(f.unique_id, id);
                }
                other => prop_assert!(false, "{key} classified as {other:?}"),
            }
        }

        /// Any one-character change of a valid key either still parses consistently or is skipped.
        #[test]
        fn mutated_keys_never_panic_and_digests_round_trip(
            position in 0..KEY.len(),
            replacement in "[\\PC/_]",
        ) {
            prop_assume!(KEY.is_char_boundary(position) && KEY.is_char_boundary(position + 1));
            let key = format!("{}{}{}", &KEY[..position], replacement, &KEY[position + 1..]);
            if let ObjectKind::Digest(digest) = classify(&key) {
                prop_assert_eq!(digest.key(), key);
            }
        }
    }
}
