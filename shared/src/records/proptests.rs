//! Property tests: whatever records are written, exactly those come back; no input panics.

use proptest::prelude::*;
use serde_json::{Map, Value};

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
    fn never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_all(&bytes);
        let _ = read_all(&gzip(&bytes));
    }

    #[test]
    fn never_panics_on_mutated_files(
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
        let _ = read_all(&bytes);
        let _ = read_all_with(Trickle { data: &bytes, step: 7 }, ReaderLimits { max_decompressed_bytes: 1 << 16, max_record_bytes: 300 });
    }
}
