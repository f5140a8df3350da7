//! The record reader on real CloudTrail files (see `data/cloudtrail/PROVENANCE.md` and the
//! `PROVENANCE.md` of each subfolder): every file under `tests/data/cloudtrail/`, at any depth, is
//! read; every record comes out verbatim, in order, equal to what a full JSON parse of the file
//! finds, with its time; and each file yields exactly the number of records in [`EXPECTED`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use trailwatch_shared::records::{ReaderLimits, RecordReader, RecordsError, parse_event_time};

/// Every data file under `tests/data/cloudtrail/` (all but the `PROVENANCE.md` files) and its
/// record count: `Some(n)` for a `{"Records":[…]}` file of n records, `None` for a file that is
/// not in the delivery format and must be refused as not CloudTrail.
///
/// Computed independently of the reader, with Python 3's `json` and `gzip` modules: for each file
/// (walked with `os.walk`, `.md` skipped), gunzip if it starts with `1f 8b`, `json.loads`, then
/// `len(doc["Records"])` for an object, `None` for a top-level array.
const EXPECTED: &[(&str, Option<usize>)] = &[
    (
        "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json",
        Some(2),
    ),
    (
        "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
        Some(2),
    ),
    (
        "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json",
        Some(29),
    ),
    (
        "811596193553_CloudTrail_ap-southeast-1-20200930T2358.json",
        Some(0),
    ),
    (
        "811596193553_CloudTrail_us-east-1-20200930T2300.json",
        Some(85),
    ),
    (
        "811596193553_CloudTrail_us-east-1-20201001T0000.json.gz",
        Some(5),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json",
        Some(29),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json",
        Some(51),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json",
        Some(2),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1200Z_iLj9fb7yyUG9X4Bf.json",
        Some(394),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1200Z_x9kHmzMa7cx6l9wM.json",
        Some(132),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_1dM7GQM67kudSyGD.json",
        Some(13),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_86g9Vok9HiUCgSI7.json",
        Some(19),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_SjF3IkuNXJkoHyar.json",
        Some(26),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json",
        Some(55),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_dOIWyEekdNWhkpqY.json",
        Some(26),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_lKy08gyrqqRJyzsn.json",
        Some(1),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_nx9Yx1FyJdBaTqKj.json",
        Some(10),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_zs3JGxETHr59VpkX.json",
        Some(196),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1210Z_2ru8PrDKZmsO3yWC.json",
        Some(3),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1210Z_6CICdbJQM3beT7n3.json",
        Some(246),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1210Z_QY5iPRtGUt0EpVaH.json",
        Some(69),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1210Z_RBxlxVrF890sGHGg.json",
        Some(20),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1210Z_ZgEBhdXGdLTXGoIe.json",
        Some(1),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1210Z_bXGZYqBeCCsqWq1U.json",
        Some(6),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1210Z_vj0QE0Tf5ZmzMsCo.json",
        Some(149),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_5f9a6SYejzdNeREZ.json",
        Some(31),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_MifI13MOmOjRfXzJ.json",
        Some(59),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_P0WZuP2zvLW2RcUo.json",
        Some(33),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_YMDRJwtmC82bUwAo.json",
        Some(156),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_YxpR6PTmNBivhnJJ.json",
        Some(26),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_Z8x5aqgtcXn5NEG9.json",
        Some(117),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_dTTFsx4I2m3om5Oy.json",
        Some(1),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_nBsuPO1qSTEVerMD.json",
        Some(222),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_8sBQhbu5YO94UV8p.json",
        Some(6),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_AkYyuTYmKtOUB1Lx.json",
        Some(12),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_WMiHxZgr5Hdd6UDc.json",
        Some(13),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_ovtmbuX3ENJ119uH.json",
        Some(56),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_r7NFD65BgeDMqD23.json",
        Some(71),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_sM25jC0Ku0QcGkDa.json",
        Some(10),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json",
        Some(12),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1225Z_QqgbBkK0L13H8Wbv.json",
        Some(3),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1225Z_RL8g7SsRoNFvvVBW.json",
        Some(5),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1225Z_qWyTCPHzELqDMshA.json",
        Some(4),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1225Z_vMAR90Iiaqr6M5sR.json",
        Some(16),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_04rtp9DpvIpSZzMr.json",
        Some(17),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_9JM8uKEITHqwJKXr.json",
        Some(22),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_9SJSsrxJ0ChF5VFb.json",
        Some(84),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_9dKPuRzdLzqZRjqm.json",
        Some(2),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_AvIajGd5rkz6vTy4.json",
        Some(63),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_GyyPwrInk2rgv8V0.json",
        Some(2),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_KV9LZlfXqBel7nqf.json",
        Some(47),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_OU6Ha25B4GGhUIMr.json",
        Some(5),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_ZtUNbBkwAu98FPZb.json",
        Some(68),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_lHgkh3VeI3XnjZSL.json",
        Some(92),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_s2m4APJ8BhmXSIE6.json",
        Some(2),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_soULWstxp7lqsODg.json",
        Some(3),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1235Z_Vp7r3boWJKtPb3wM.json",
        Some(1),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1235Z_YbVFCP9AYzJDhHV9.json",
        Some(185),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1235Z_kboLbHJlz2H6cLyo.json",
        Some(4),
    ),
    (
        "invictus-ir-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1240Z_C1qUFaqvZS64BcIN.json",
        Some(2),
    ),
    // a top-level JSON array of 1 events, not a delivery file
    (
        "stratus-red-team-detonation-logs/aws.defense-evasion.cloudtrail-stop.json",
        None,
    ),
    // a top-level JSON array of 1 events, not a delivery file
    (
        "stratus-red-team-detonation-logs/aws.initial-access.console-login-without-mfa.json",
        None,
    ),
];

/// The sum of the `Some` counts of [`EXPECTED`] (Python, as above: 3023 records in 61 files).
const EXPECTED_TOTAL: usize = 3023;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloudtrail")
}

/// Every file below `dir`, recursively, as paths relative to `root` with `/` separators.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if path.file_name().is_some_and(|n| n != "PROVENANCE.md") {
            let relative = path.strip_prefix(root).unwrap();
            let parts: Vec<_> = relative.iter().map(|p| p.to_str().unwrap()).collect();
            out.push(parts.join("/"));
        }
    }
}

fn files() -> Vec<String> {
    let mut files = Vec::new();
    walk(&data_dir(), &data_dir(), &mut files);
    files.sort();
    files
}

fn decoded_text(bytes: &[u8]) -> String {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

#[test]
fn the_table_lists_exactly_the_files_on_disk() {
    let listed: Vec<String> = EXPECTED.iter().map(|(f, _)| (*f).to_owned()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, listed, "EXPECTED is sorted, without duplicates");
    assert_eq!(files(), listed, "files on disk vs EXPECTED");
    let total: usize = EXPECTED.iter().filter_map(|(_, n)| *n).sum();
    assert_eq!(total, EXPECTED_TOTAL);
}

/// Reads one delivery file through the reader, checking each record against a full parse;
/// returns the number of records the reader gave.
fn check_delivery_file(name: &str, bytes: &[u8]) -> usize {
    let text = decoded_text(bytes);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = doc["Records"].as_array().unwrap();

    let mut reader = RecordReader::new(bytes, ReaderLimits::default());
    let mut search_from = 0;
    let mut got = 0;
    while let Some(record) = reader
        .next_record()
        .unwrap_or_else(|e| panic!("{name}: record {got}: {e}"))
    {
        // verbatim: the exact bytes, found in order in the decompressed file
        let at = text[search_from..]
            .find(record.json)
            .unwrap_or_else(|| panic!("{name}: record {got} not verbatim"));
        search_from += at + record.json.len();
        let parsed: serde_json::Value = serde_json::from_str(record.json)
            .unwrap_or_else(|e| panic!("{name}: record {got} is not JSON: {e}"));
        assert_eq!(Some(&parsed), expected.get(got), "{name}: record {got}");
        let time = parsed["eventTime"].as_str().unwrap();
        assert_eq!(
            record.event_time_ms,
            parse_event_time(time.as_bytes()),
            "{name}: record {got}"
        );
        assert!(
            record.event_time_ms.is_some(),
            "{name}: record {got} has a real eventTime"
        );
        got += 1;
    }
    assert_eq!(reader.records_read(), got as u64, "{name}");
    assert_eq!(reader.decompressed_bytes(), text.len() as u64, "{name}");
    got
}

#[test]
fn every_real_file_gives_exactly_its_records() {
    let mut counts: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    for (name, want) in EXPECTED {
        let bytes = std::fs::read(data_dir().join(name)).unwrap();
        let got = match want {
            Some(_) => Some(check_delivery_file(name, &bytes)),
            None => {
                let mut reader = RecordReader::new(&bytes[..], ReaderLimits::default());
                match reader.next_record() {
                    Err(RecordsError::NotCloudTrail(_)) => None,
                    other => panic!("{name}: expected NotCloudTrail, got {other:?}"),
                }
            }
        };
        counts.insert(name, got);
    }
    let expected: BTreeMap<&str, Option<usize>> = EXPECTED.iter().copied().collect();
    assert_eq!(counts, expected);
    let total: usize = counts.values().filter_map(|n| *n).sum();
    assert_eq!(total, EXPECTED_TOTAL);
}

#[test]
fn gzip_and_plain_copies_of_one_file_agree() {
    let dir = data_dir();
    let name = "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json";
    let read = |file: &str| {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let mut reader = RecordReader::new(&bytes[..], ReaderLimits::default());
        let mut out = Vec::new();
        while let Some(r) = reader.next_record().unwrap() {
            out.push((r.json.to_string(), r.event_time_ms));
        }
        out
    };
    let plain = read(name);
    assert_eq!(plain.len(), 2);
    assert_eq!(plain, read(&format!("{name}.gz")));
}
