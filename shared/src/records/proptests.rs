//! Property tests: whatever records are written, exactly those come back; on any input (random
//! or a mutated file) the reader keeps the module's promises: no panic, every record it gives is a
//! structurally sound JSON object found verbatim in the input, `records_read` counts what it
//! gave, it stays failed after an error, and when the input is a valid `{"Records":[…]}` JSON
//! document it gives exactly that document's records, each of which parses as JSON.

use proptest::prelude::*;
use serde_json::{Map, Value};

use std::io::Read;

use super::tests::{Trickle, gzip, read_all, read_all_with};
use super::*;

pub(super) fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _:/.-]{0,12}",
        "[\"\\\\{}\\[\\],:\\u{0}-\\u{1f}é😀\u{2028}]{0,6}",
        Just("eventTime".to_string()),
        Just("Records".to_string()),
    ]
}

pub(in crate::records) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((json_string(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A record: an object, maybe with a top-level `eventTime` (which the reader must find).
fn record() -> impl Strategy<Value = (Value, Option<i64>)> {
    (
        prop::collection::vec((json_string(), json_value()), 0..6),
        prop::option::of(0i64..4_102_444_800_000),
    )
        .prop_map(|(fields, time)| {
            let mut map: Map<String, Value> = fields
                .into_iter()
                .filter(|(k, _)| k != "eventTime")
                .collect();
            if let Some(ms) = time {
                let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                    .unwrap();
                let text = t
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap();
                map.insert("eventTime".into(), Value::String(text));
            }
            (Value::Object(map), time)
        })
}

/// What the reader gave for one input: its records and how it ended.
struct Outcome {
    records: Vec<String>,
    error: Option<RecordsError>,
}

/// Reads `input` to the end or the first error, checking the promises that hold for any input:
/// `records_read` equals the records given, and after an error the reader stays failed.
fn read_checked<R: Read>(input: R, limits: ReaderLimits) -> Result<Outcome, TestCaseError> {
    let mut reader = RecordReader::new(input, limits);
    let mut records = Vec::new();
    let error = loop {
        match reader.next_record() {
            Ok(Some(record)) => records.push(record.json.to_owned()),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    prop_assert_eq!(reader.records_read(), records.len() as u64);
    if error.is_some() {
        prop_assert!(reader.next_record().is_err(), "a failed reader gave more");
    }
    Ok(Outcome { records, error })
}

/// Independent of `scan.rs`: an object whose brackets balance and match in kind and whose
/// strings are closed (the structural soundness the module promises for every record).
fn structurally_sound_object(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'{') || bytes.last() != Some(&b'}') {
        return false;
    }
    let mut stack = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => stack.push(b),
            b'}' | b']' => {
                let open = if b == b'}' { b'{' } else { b'[' };
                if stack.pop() != Some(open) || (stack.is_empty() && i + 1 != bytes.len()) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty() && !in_string
}

/// The promises for any input: sound records, found verbatim and in order in the decompressed
/// bytes `text` (when known).
fn check_records(outcome: &Outcome, text: Option<&[u8]>) -> Result<(), TestCaseError> {
    let mut from = 0;
    for (i, record) in outcome.records.iter().enumerate() {
        prop_assert!(
            structurally_sound_object(record),
            "record {} unsound: {:?}",
            i,
            record
        );
        if let Some(text) = text {
            let at = memchr::memmem::find(&text[from..], record.as_bytes());
            prop_assert!(at.is_some(), "record {} not verbatim: {:?}", i, record);
            from += at.unwrap_or(0) + record.len();
        }
    }
    Ok(())
}

/// When `text` is a valid JSON document with a `Records` array of objects, the reader must give
/// exactly its records: as many, each parsing as JSON to the same value.
fn check_against_full_parse(outcome: &Outcome, text: &[u8]) -> Result<(), TestCaseError> {
    let Ok(doc) = serde_json::from_slice::<Value>(text) else {
        return Ok(());
    };
    let Some(expected) = doc.get("Records").and_then(Value::as_array) else {
        return Ok(());
    };
    if !expected.iter().all(Value::is_object) {
        return Ok(());
    }
    prop_assert!(
        outcome.error.is_none(),
        "valid file refused: {:?}",
        outcome.error
    );
    prop_assert_eq!(outcome.records.len(), expected.len());
    for (record, want) in outcome.records.iter().zip(expected) {
        let parsed = serde_json::from_str::<Value>(record);
        prop_assert!(parsed.is_ok(), "record is not JSON: {:?}", record);
        prop_assert_eq!(&parsed.unwrap_or_default(), want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn returns_exactly_the_serialized_records(
        records in prop::collection::vec(record(), 0..12),
        pretty in any::<bool>(),
        members in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        step in 1usize..5000,
    ) {
        let serialized: Vec<String> = records
            .iter()
            .map(|(v, _)| if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) }.unwrap())
            .collect();
        let sep = if pretty { ",\n    " } else { "," };
        let file = format!("{{\"Records\":[{}]}}", serialized.join(sep));
        // Split the file into gzip members at random points.
        let mut cuts: Vec<usize> = members.iter().map(|i| i.index(file.len() + 1)).collect();
        cuts.push(0);
        cuts.push(file.len());
        cuts.sort_unstable();
        let gz: Vec<u8> = cuts.windows(2).flat_map(|w| gzip(&file.as_bytes()[w[0]..w[1]])).collect();

        let out = read_all_with(Trickle { data: &gz, step }, ReaderLimits::default()).unwrap();
        prop_assert_eq!(out.len(), records.len());
        for ((json, time), (text, (_, want_time))) in out.iter().zip(serialized.iter().zip(&records)) {
            prop_assert_eq!(json, text);
            prop_assert_eq!(time, want_time);
        }
        prop_assert_eq!(read_all(file.as_bytes()).unwrap(), out);
    }

    #[test]
    fn random_bytes_keep_the_promises(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let plain = read_checked(&bytes[..], ReaderLimits::default())?;
        check_records(&plain, Some(&bytes))?;
        check_against_full_parse(&plain, &bytes)?;
        let zipped = read_checked(&gzip(&bytes)[..], ReaderLimits::default())?;
        check_records(&zipped, Some(&bytes))?;
        check_against_full_parse(&zipped, &bytes)?;
    }

    #[test]
    fn mutated_files_keep_the_promises(
        records in prop::collection::vec(record(), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        zipped in any::<bool>(),
    ) {
        let body: Vec<String> = records.iter().map(|(v, _)| v.to_string()).collect();
        let mut bytes = format!("{{\"Records\":[{}]}}", body.join(",")).into_bytes();
        if zipped {
            bytes = gzip(&bytes);
        }
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        // The decompressed text, when the (mutated) gzip still inflates.
        let text: Option<Vec<u8>> = if zipped {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).ok().map(|_| out)
        } else {
            Some(bytes.clone())
        };
        let whole = read_checked(&bytes[..], ReaderLimits::default())?;
        check_records(&whole, text.as_deref())?;
        if !zipped {
            check_against_full_parse(&whole, &bytes)?;
        }
        let limits = ReaderLimits { max_decompressed_bytes: 1 << 16, max_record_bytes: 300 };
        let trickled = read_checked(Trickle { data: &bytes, step: 7 }, limits)?;
        check_records(&trickled, text.as_deref())?;
        // Smaller limits may stop it earlier, never make it give other records.
        prop_assert!(whole.records.starts_with(&trickled.records) || trickled.records.starts_with(&whole.records));
    }
}
