//! Behaviour of the record reader on good, strange and broken input.

use std::io::{self, Read, Write};

use flate2::{Compression, write::GzEncoder};

use super::*;

pub(super) type Out = Vec<(String, Option<i64>)>;

pub(super) fn read_all_with<R: Read>(input: R, limits: ReaderLimits) -> Result<Out, RecordsError> {
    let mut reader = RecordReader::new(input, limits);
    let mut out = Vec::new();
    while let Some(record) = reader.next_record()? {
        out.push((record.json.to_string(), record.event_time_ms));
    }
    assert_eq!(reader.records_read(), out.len() as u64);
    Ok(out)
}

pub(super) fn read_all(bytes: &[u8]) -> Result<Out, RecordsError> {
    read_all_with(bytes, ReaderLimits::default())
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Gives at most `step` bytes per read, to put every boundary somewhere awkward.
pub(super) struct Trickle<'a> {
    pub data: &'a [u8],
    pub step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Fails after giving `ok_bytes` bytes, like a connection reset mid-body.
struct Failing<'a> {
    data: &'a [u8],
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset",
            ));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

const T1: i64 = 1_688_989_327_000; // 2023-07-10T11:42:07Z
const R1: &str = r#"{"eventVersion":"1.08","eventTime":"2023-07-10T11:42:07Z","eventName":"A"}"#;
const R2: &str =
    r#"{"eventName":"B \"}]{[","requestParameters":{"eventTime":"1999-01-01T00:00:00Z"}}"#;

fn file_of(records: &[&str]) -> String {
    format!(r#"{{"Records":[{}]}}"#, records.join(","))
}

fn texts(out: &Out) -> Vec<&str> {
    out.iter().map(|(json, _)| json.as_str()).collect()
}

#[test]
fn plain_and_gzip_give_the_same_exact_records() {
    let file = file_of(&[R1, R2]);
    let plain = read_all(file.as_bytes()).unwrap();
    assert_eq!(texts(&plain), [R1, R2]);
    assert_eq!(plain[0].1, Some(T1));
    assert_eq!(plain[1].1, None, "a nested eventTime is not the record's");
    assert_eq!(read_all(&gzip(file.as_bytes())).unwrap(), plain);

    let gz = gzip(file.as_bytes());
    let mut reader = RecordReader::new(&gz[..], ReaderLimits::default());
    assert_eq!(reader.encoding(), None);
    reader.next_record().unwrap();
    assert_eq!(reader.encoding(), Some(Encoding::Gzip));
}

#[test]
fn whitespace_bom_and_pretty_printing() {
    let file = format!("\u{feff}\n  {{ \"Records\" : [\n {R1} ,\n\t{R2}\n ] }}\n\n");
    assert_eq!(texts(&read_all(file.as_bytes()).unwrap()), [R1, R2]);
    assert_eq!(texts(&read_all(&gzip(file.as_bytes())).unwrap()), [R1, R2]);
}

#[test]
fn every_read_size_gives_the_same_records() {
    let file = format!(r#"{{"a":"x\\\"y","Records":[{R1},{R2}],"z":[1,{{"b":null}}]}}"#);
    let gz = gzip(file.as_bytes());
    for step in 1..40 {
        let plain = read_all_with(
            Trickle {
                data: file.as_bytes(),
                step,
            },
            ReaderLimits::default(),
        );
        assert_eq!(texts(&plain.unwrap()), [R1, R2], "plain, step {step}");
        let zipped = read_all_with(Trickle { data: &gz, step }, ReaderLimits::default());
        assert_eq!(texts(&zipped.unwrap()), [R1, R2], "gzip, step {step}");
    }
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let file = file_of(&[R1, R2, R1]);
    for cut in [1, 12, 40, file.len() / 2, file.len() - 1] {
        let mut members = gzip(&file.as_bytes()[..cut]);
        members.extend(gzip(&file.as_bytes()[cut..]));
        assert_eq!(
            texts(&read_all(&members).unwrap()),
            [R1, R2, R1],
            "cut at {cut}"
        );
    }
}

#[test]
fn concatenated_documents_are_read_in_turn() {
    let mut both = gzip(file_of(&[R1]).as_bytes());
    both.extend(gzip(file_of(&[R2]).as_bytes()));
    assert_eq!(texts(&read_all(&both).unwrap()), [R1, R2]);
    let text = format!("{}\n{}", file_of(&[R1]), r#"{"other":1}"#);
    assert!(matches!(
        read_all(text.as_bytes()),
        Err(RecordsError::NotCloudTrail(_))
    ));
}

#[test]
fn records_need_not_come_first() {
    let file = format!(
        r#"{{"meta":{{"Records":[{{"eventName":"decoy"}}],"s":"]}}"}},"n":-1.5e3,"t":true,"x":null,"Records":[{R1}],"after":"x"}}"#
    );
    assert_eq!(texts(&read_all(file.as_bytes()).unwrap()), [R1]);
    let escaped_key = format!(r#"{{"Rec\u006frds":[{R1}]}}"#);
    assert_eq!(texts(&read_all(escaped_key.as_bytes()).unwrap()), [R1]);
}

#[test]
fn empty_records_is_a_file_without_events() {
    for file in [
        r#"{"Records":[]}"#,
        "{\"Records\": [ ]}\n",
        "{\n  \"Records\": [\n  ]\n}",
    ] {
        assert_eq!(read_all(file.as_bytes()).unwrap(), vec![]);
        assert_eq!(read_all(&gzip(file.as_bytes())).unwrap(), vec![]);
    }
}

fn not_cloudtrail(bytes: &[u8]) -> String {
    match read_all(bytes) {
        Err(RecordsError::NotCloudTrail(why)) => why,
        other => panic!(
            "expected NotCloudTrail for {:?}, got {other:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

#[test]
fn what_is_not_a_cloudtrail_file() {
    assert!(not_cloudtrail(b"").contains("zero bytes"));
    assert!(not_cloudtrail(&gzip(b"")).contains("zero bytes"));
    assert!(not_cloudtrail(b"  \n ").contains("whitespace"));
    assert!(not_cloudtrail(b"{}").contains("no \"Records\""));
    assert!(not_cloudtrail(br#"{"eventName":"x","Record":[]}"#).contains("no \"Records\""));
    assert!(not_cloudtrail(br#"[{"eventName":"x"}]"#).contains("array"));
    assert!(not_cloudtrail(br#"{"Records":null}"#).contains("not an array"));
    assert!(not_cloudtrail(b"hello world").contains("offset 0"));
    assert!(not_cloudtrail(b"\n\nPK\x03\x04").contains("offset 2"));
    assert!(not_cloudtrail(b"\x1f\x00binary").contains("0x1f"));
}

fn malformed(bytes: &[u8]) -> (u64, String) {
    match read_all(bytes) {
        Err(RecordsError::Malformed { offset, detail }) => (offset, detail),
        other => panic!(
            "expected Malformed for {:?}, got {other:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

#[test]
fn broken_json_is_malformed_with_its_offset() {
    assert_eq!(malformed(br#"{"Records":[{"a":1},2]}"#).0, 20);
    assert!(
        malformed(br#"{"Records":[null]}"#)
            .1
            .contains("not a JSON object")
    );
    assert!(
        malformed(br#"{"Records":["x"]}"#)
            .1
            .contains("not a JSON object")
    );
    assert_eq!(
        malformed(br#"{"Records":[{"a":[1}]}"#),
        (19, "closing bracket does not match the open one".into())
    );
    assert_eq!(malformed(br#"{"Records":[{"a":1},]}"#).0, 20);
    assert_eq!(malformed(br#"{"Records":[{"a":1}{"b":2}]}"#).0, 19);
    assert_eq!(malformed(br#"{"Records":[] "x":1}"#).0, 14);
    assert_eq!(malformed(br#"{"Records":[]} trailing"#).0, 15);
    assert_eq!(malformed(br#"{"Records" []}"#).0, 11);
}

#[test]
fn truncation_anywhere_is_an_error_never_a_short_file() {
    let file = format!("{{\"Records\":[{R1},\n{R2}]}}");
    for cut in 0..file.len() {
        let result = read_all(&file.as_bytes()[..cut]);
        assert!(
            matches!(
                result,
                Err(RecordsError::Malformed { .. } | RecordsError::NotCloudTrail(_))
            ),
            "plain cut at {cut}: {result:?}"
        );
    }
    let gz = gzip(file.as_bytes());
    for cut in 2..gz.len() {
        let result = read_all(&gz[..cut]);
        assert!(
            matches!(result, Err(RecordsError::Gzip(_))),
            "gzip cut at {cut}: {result:?}"
        );
    }
}

#[test]
fn corrupt_gzip_is_a_gzip_error() {
    let mut gz = gzip(file_of(&[R1, R2]).as_bytes());
    let len = gz.len();
    gz[len - 6] ^= 0xff; // CRC
    assert!(matches!(read_all(&gz), Err(RecordsError::Gzip(_))));
    let mut gz = gzip(file_of(&[R1, R2]).as_bytes());
    gz[12] ^= 0x55; // deflate data
    assert!(matches!(read_all(&gz), Err(RecordsError::Gzip(_))));
    let mut trailing = gzip(file_of(&[R1]).as_bytes());
    trailing.extend_from_slice(b"garbage after the member");
    assert!(matches!(read_all(&trailing), Err(RecordsError::Gzip(_))));
}

#[test]
fn a_failing_source_is_an_io_error_not_corruption() {
    let file = file_of(&[R1, R2]);
    for data in [file.as_bytes().to_vec(), gzip(file.as_bytes())] {
        let cut = &data[..data.len() / 2];
        let result = read_all_with(Failing { data: cut }, ReaderLimits::default());
        match result {
            Err(RecordsError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected Io, got {other:?}"),
        }
    }
}

#[test]
fn invalid_utf8_in_a_record_is_an_error() {
    let mut file = file_of(&[R1, r#"{"eventName":"Xy"}"#]).into_bytes();
    let at = file.windows(2).position(|w| w == b"Xy").unwrap();
    file[at] = 0xC3; // start of a two-byte sequence, followed by ASCII
    let (offset, detail) = malformed(&file);
    assert_eq!(offset, at as u64);
    assert!(detail.contains("record 1 is not valid UTF-8"), "{detail}");
    let mut reader = RecordReader::new(&file[..], ReaderLimits::default());
    assert!(reader.next_record().unwrap().is_some());
    assert!(reader.next_record().is_err());
    assert!(
        reader.next_record().is_err(),
        "stays failed after a UTF-8 error"
    );
    let ok = file_of(&[r#"{"m":"caf\u00e9 \u{1F916} 정"}"#]);
    assert_eq!(read_all(ok.as_bytes()).unwrap().len(), 1);
}

#[test]
fn a_one_megabyte_record_is_read_whole() {
    let big = format!(
        r#"{{"eventTime":"2023-07-10T11:42:07Z","blob":"{}"}}"#,
        "ab\\\"".repeat(256 * 1024)
    );
    assert!(big.len() > 1 << 20);
    let file = file_of(&[R1, &big, R2]);
    let out = read_all(&gzip(file.as_bytes())).unwrap();
    assert_eq!(texts(&out), [R1, big.as_str(), R2]);
    assert_eq!(out[1].1, Some(T1));
    let limits = ReaderLimits {
        max_record_bytes: 1 << 20,
        ..ReaderLimits::default()
    };
    match read_all_with(file.as_bytes(), limits) {
        Err(RecordsError::RecordTooLarge { index: 1, limit }) => assert_eq!(limit, 1 << 20),
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    let mut bomb = b"{\"Records\":[".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 8 << 20));
    bomb.extend_from_slice(b"]}");
    let gz = gzip(&bomb);
    assert!(gz.len() < 100_000);
    let limits = ReaderLimits {
        max_decompressed_bytes: 1 << 20,
        ..ReaderLimits::default()
    };
    let mut reader = RecordReader::new(&gz[..], limits);
    assert!(matches!(
        reader.next_record(),
        Err(RecordsError::TooLarge { limit: 1_048_576 })
    ));
    assert!(reader.decompressed_bytes() <= (1 << 20) + READ_CHUNK as u64);
    assert_eq!(
        read_all(&gz).unwrap(),
        vec![],
        "under the default limit it is a valid empty file"
    );
}

#[test]
fn event_time_is_the_top_level_key_only() {
    let cases: &[(&str, Option<i64>)] = &[
        (r#"{"eventTime":"2023-07-10T11:42:07Z"}"#, Some(T1)),
        (
            r#"{ "eventTime" : "2023-07-10T11:42:07.250Z" }"#,
            Some(T1 + 250),
        ),
        (r#"{"a":{"eventTime":"2023-07-10T11:42:07Z"}}"#, None),
        (r#"{"a":[{"eventTime":"2023-07-10T11:42:07Z"}]}"#, None),
        (r#"{"x":"eventTime","y":"2023-07-10T11:42:07Z"}"#, None),
        (r#"{"eventTime":1688989327000}"#, None),
        (r#"{"eventTime":"Jul 10, 2023, 12:17:04 PM"}"#, None),
        (r#"{"event\u0054ime":"2023-07-10T11:42:07Z"}"#, None),
        (
            r#"{"a":"\"eventTime\":\"2023-07-10T11:42:07Z\"","b":1}"#,
            None,
        ),
        (
            r#"{"a":{"b":"\"eventTime\":1"},"eventTime":"2023-07-10T11:42:07Z"}"#,
            Some(T1),
        ),
        (r#"{"eventTime":"2023-07-10T11:42:0\u0037Z"}"#, Some(T1)),
        (r#"{"a":"\"","eventTime":"2023-07-10T11:42:07Z"}"#, Some(T1)),
        (
            r#"{"eventTime":"2023-07-10T11:42:07Z","eventTime":"1999-01-01T00:00:00Z"}"#,
            Some(T1),
        ),
        (r#"{"eventTimes":"2023-07-10T11:42:07Z"}"#, None),
    ];
    for (record, want) in cases {
        let out = read_all(file_of(&[record]).as_bytes()).unwrap();
        assert_eq!(out, vec![(record.to_string(), *want)], "{record}");
    }
}

#[test]
fn after_an_error_the_reader_stays_failed() {
    let mut reader = RecordReader::new(
        &br#"{"Records":[{"a":1},7,{"b":2}]}"#[..],
        ReaderLimits::default(),
    );
    assert!(reader.next_record().unwrap().is_some());
    assert!(reader.next_record().is_err());
    assert!(reader.next_record().is_err());
}

#[test]
fn counts_bytes_on_both_sides() {
    let file = file_of(&[R1, R2]);
    let gz = gzip(file.as_bytes());
    let mut reader = RecordReader::new(&gz[..], ReaderLimits::default());
    while reader.next_record().unwrap().is_some() {}
    assert_eq!(reader.decompressed_bytes(), file.len() as u64);
    assert_eq!(reader.input_bytes(), gz.len() as u64);
}

/// Produces `{"Records":[R1,R2,R1,…]}` with `count` records without holding it.
struct Generated {
    pending: Vec<u8>,
    left: usize,
    finished: bool,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() && !self.finished {
            match self.left {
                0 => {
                    self.pending.extend_from_slice(b"]}");
                    self.finished = true;
                }
                n => {
                    let record = if n % 2 == 0 { R1 } else { R2 };
                    self.pending.extend_from_slice(record.as_bytes());
                    self.pending.push(if n == 1 { b'\n' } else { b',' });
                }
            }
            self.left = self.left.saturating_sub(1);
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn memory_does_not_grow_with_the_file() {
    let count = 300_000; // ~25 MB
    let source = Generated {
        pending: b"{\"Records\":[".to_vec(),
        left: count,
        finished: false,
    };
    let mut reader = RecordReader::new(source, ReaderLimits::default());
    let mut n = 0;
    while let Some(record) = reader.next_record().unwrap() {
        assert_eq!(record.json, if n % 2 == 0 { R1 } else { R2 });
        n += 1;
    }
    assert_eq!(n, count);
    assert!(reader.decompressed_bytes() > 20_000_000);
    assert_eq!(
        reader.buf.len(),
        INITIAL_BUFFER,
        "the buffer grew beyond its initial size"
    );
}

#[test]
fn other_top_level_values_are_skipped_without_being_held() {
    let limits = ReaderLimits {
        max_record_bytes: 1000,
        ..ReaderLimits::default()
    };
    let big_string = "x\\\"".repeat(1 << 20);
    let big_object = format!(r#"{{"a":[{}]}}"#, r#"{"k":"v"},"#.repeat(300_000) + "1");
    let file = format!(
        r#"{{"s":"{big_string}","o":{big_object},"Records":[{R1}],"n":12345678901234567890}}"#
    );
    let mut reader = RecordReader::new(file.as_bytes(), limits);
    assert_eq!(reader.next_record().unwrap().unwrap().json, R1);
    assert!(reader.next_record().unwrap().is_none());
    assert_eq!(reader.buf.len(), INITIAL_BUFFER);
}
