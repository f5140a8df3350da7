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

/// The `eventTime` value after a candidate key at `record[key_start..key_end]`: `None` when the string
/// was not a key called `eventTime`; `Some(None)` when it was but the value is not a timestamp.
pub(super) fn value_after_key(
    record: &[u8],
    key_start: usize,
    key_end: usize,
) -> Option<Option<i64>> {
    let key = &record[key_start..key_end];
    // The candidate may be an escaped spelling of the key: decode it before comparing.
    if key != b"\"eventTime\"" && serde_json::from_slice::<String>(key).ok()? != "eventTime" {
        return None;
    }
    let rest = &record[key_end..];
    let mut i = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[i] != b':' {
        return None; // a string value that happens to read "eventTime"
    }
    i += 1;
    i += rest[i..].iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[i] != b'"' {
        return Some(None);
    }
    let value = &rest[i + 1..];
    let close = memchr::memchr2(b'"', b'\\', value)?;
    if value[close] == b'"' {
        return Some(parse_event_time(&value[..close]));
    }
    // Escapes inside a timestamp: decode it properly (never seen in real files).
    let mut de = serde_json::Deserializer::from_slice(&rest[i..]);
    let text: String = serde::Deserialize::deserialize(&mut de).ok()?;
    Some(parse_event_time(text.as_bytes()))
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
