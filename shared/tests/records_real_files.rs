//! The record reader on real CloudTrail files (see `data/cloudtrail/PROVENANCE.md`): every record
//! comes out verbatim, in order, equal to what a full JSON parse of the file finds, with its time.

use std::io::Read;
use std::path::PathBuf;

use trailwatch_shared::records::{ReaderLimits, RecordReader, parse_event_time};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloudtrail")
}

fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/cloudtrail exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "gz"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "expected the copied real files, found {files:?}"
    );
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
fn real_files_split_exactly_like_a_full_parse() {
    let mut total = 0;
    for path in files() {
        let bytes = std::fs::read(&path).unwrap();
        let text = decoded_text(&bytes);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let expected = doc["Records"].as_array().unwrap();

        let mut reader = RecordReader::new(&bytes[..], ReaderLimits::default());
        let mut search_from = 0;
        let mut got = 0;
        while let Some(record) = reader.next_record().unwrap() {
            let name = path.display();
            // verbatim: the exact bytes, found in order in the decompressed file
            let at = text[search_from..]
                .find(record.json)
                .unwrap_or_else(|| panic!("{name}: not verbatim"));
            search_from += at + record.json.len();
            let parsed: serde_json::Value = serde_json::from_str(record.json).unwrap();
            assert_eq!(&parsed, &expected[got], "{name}: record {got}");
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
        assert_eq!(got, expected.len(), "{}", path.display());
        assert_eq!(reader.decompressed_bytes(), text.len() as u64);
        total += got;
    }
    // 2 + 2 (trailscraper pair) + 8 (invictus) + 85 (flaws) + n (flaws gz) + 0 (empty)
    assert!(total > 95, "only {total} records read");
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
