//! `eventTime` → Unix milliseconds, without allocating.
//!
//! CloudTrail writes `YYYY-MM-DDTHH:MM:SSZ`; fractional seconds (`…SS.sssZ`, any number of digits,
//! truncated to milliseconds) and numeric offsets (`+HH:MM`) are accepted too, since other
//! producers of the same format write them. Anything else is `None`, never a guess.

/// Parses an RFC 3339 timestamp as CloudTrail writes it into Unix milliseconds.
pub fn parse_event_time(text: &[u8]) -> Option<i64> {
    if text.len() < 20 {
        return None;
    }
    let year = digits(&text[0..4])?;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    let separators_ok = text[4] == b'-'
        && text[7] == b'-'
        && matches!(text[10], b'T' | b't')
        && text[13] == b':'
        && text[16] == b':';
    if !separators_ok
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let [b'.', fraction @ ..] = rest {
        let count = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        for (i, b) in fraction[..count.min(3)].iter().enumerate() {
            millis += i64::from(b - b'0') * [100, 10, 1][i];
        }
        rest = &fraction[count..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// The top-level `eventTime` of a complete record, given the stretches of the record that are at
/// its own level (see `Scanner::top_level`). `None` when absent or not a timestamp. When the key is
/// repeated the first one counts (the search stops there; AWS never repeats it). An escaped
/// spelling of the key (`"event\u0054ime"`) is not recognised: no producer writes one.
pub(super) fn top_level_event_time(
    record: &[u8],
    top_level: &[usize],
    finder: &memchr::memmem::Finder<'_>,
) -> Option<i64> {
    for at in finder.find_iter(record) {
        let Some(region) = top_level.chunks_exact(2).find(|r| r[0] <= at && at < r[1]) else {
            continue; // inside a nested value
        };
        if !starts_a_string(record, region[0], at) {
            continue; // inside a string value
        }
        let mut rest = &record[at + EVENT_TIME_KEY.len()..];
        rest = skip_whitespace(rest);
        let [b':', after_colon @ ..] = rest else {
            continue; // a string value that reads "eventTime"
        };
        return string_timestamp(skip_whitespace(after_colon));
    }
    None
}

/// What [`top_level_event_time`]'s finder looks for.
pub(super) const EVENT_TIME_KEY: &[u8] = b"\"eventTime\"";

/// Whether a string starts at `at`, scanning from `from` (which is outside any string).
fn starts_a_string(record: &[u8], from: usize, at: usize) -> bool {
    let mut pos = from;
    while let Some(quote) = memchr::memchr(b'"', &record[pos..at]) {
        // a string opens at pos + quote: find where it closes
        let mut i = pos + quote + 1;
        loop {
            let Some(next) = memchr::memchr2(b'"', b'\\', &record[i..]) else {
                return false;
            };
            if record[i + next] == b'\\' {
                i += next + 2;
                continue;
            }
            i += next + 1;
            break;
        }
        if i > at {
            return false;
        }
        pos = i;
    }
    true
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &bytes[n..]
}

/// The timestamp in a JSON string value at the start of `value`.
fn string_timestamp(value: &[u8]) -> Option<i64> {
    let [b'"', text @ ..] = value else {
        return None;
    };
    let close = memchr::memchr2(b'"', b'\\', text)?;
    if text[close] == b'"' {
        return parse_event_time(&text[..close]);
    }
    // Escapes inside a timestamp: decode it properly (never seen in real files).
    let mut de = serde_json::Deserializer::from_slice(value);
    let decoded: String = serde::Deserialize::deserialize(&mut de).ok()?;
    parse_event_time(decoded.as_bytes())
}

fn digits(bytes: &[u8]) -> Option<i64> {
    let mut value = 0i64;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(value)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_event_time as p;

    fn via_time_crate(s: &str) -> i64 {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    #[test]
    fn cloudtrail_form() {
        assert_eq!(p(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p(b"2023-07-10T11:42:07Z"), Some(1_688_989_327_000));
        assert_eq!(
            p(b"2000-02-29T23:59:59Z"),
            Some(via_time_crate("2000-02-29T23:59:59Z"))
        );
        assert_eq!(p(b"1969-12-31T23:59:59Z"), Some(-1_000));
    }

    #[test]
    fn fractions_and_offsets() {
        assert_eq!(p(b"2023-07-10T11:42:07.5Z"), Some(1_688_989_327_500));
        assert_eq!(
            p(b"2023-07-10T11:42:07.123456789Z"),
            Some(1_688_989_327_123)
        );
        assert_eq!(p(b"2023-07-10T11:42:07.12Z"), Some(1_688_989_327_120));
        assert_eq!(p(b"2023-07-10T13:42:07+02:00"), Some(1_688_989_327_000));
        assert_eq!(p(b"2023-07-10T09:12:07-02:30"), Some(1_688_989_327_000));
        assert_eq!(p(b"2023-07-10t11:42:07z"), Some(1_688_989_327_000));
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for bad in [
            &b""[..],
            b"2023-07-10T11:42:07",
            b"2023-07-10 11:42:07Z",
            b"2023-13-10T11:42:07Z",
            b"2023-02-29T11:42:07Z",
            b"2023-04-31T11:42:07Z",
            b"2023-07-10T24:00:00Z",
            b"2023-07-10T11:60:00Z",
            b"2023-07-10T11:42:61Z",
            b"2023-07-10T11:42:07.Z",
            b"2023-07-10T11:42:07ZZ",
            b"2023-07-10T11:42:07+0200",
            b"2023/07/10T11:42:07Z",
            b"Jul 10, 2023, 12:17:04 PM",
            b"+023-07-10T11:42:07Z",
        ] {
            assert_eq!(p(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_time_crate(secs in -62_000_000_000i64..250_000_000_000, ms in 0i64..1000) {
            let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap()
                + time::Duration::milliseconds(ms);
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second(), ms
            );
            proptest::prop_assume!(t.year() >= 0 && t.year() <= 9999);
            proptest::prop_assert_eq!(p(text.as_bytes()), Some(secs * 1000 + ms));
        }
    }
}
